//! Content-addressed blobs: the [`BlobStore`] trait, its on-disk implementation ([`DiskBlobs`],
//! the `blobs/sha256/` directory of an OCI layout) and an in-memory one ([`MemoryBlobs`]).
//!
//! A blob becomes visible only once complete: writers stream into a temporary file beside the
//! store, hashing as they go, check the expected digest and size when given, `fsync`, and
//! `rename` into place. Two writers of the same blob at once both succeed and leave one copy. A
//! crash leaves at most an unreferenced temporary file, which [`DiskBlobs::clean_tmp`] removes.
//!
//! How the staging directory (`tmp`, `ROOT/tmp` in a store) is guarded, across threads and
//! processes, all with `flock`:
//! - each staging entry (a blob's file, a store file's, a snapshot's directory) is locked
//!   exclusively by its writer until it is renamed away or removed, so a locked entry is live;
//! - a writer creates and locks its entry while holding a *shared* lock on the `tmp` directory
//!   itself ([`lock_tmp`]), and [`DiskBlobs::clean_tmp`] holds it *exclusively* while it scans
//!   and removes; so the cleaner never sees an entry between its creation and its lock, and
//!   removes only what a dead writer left (a writer's locks go with its process). Code outside
//!   this crate that stages in `tmp` takes the shared lock with [`DiskBlobs::stage_guard`].

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

use crate::digest::{sha256_hex, Sha256Writer};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The store has no blob with this digest.
    #[error("blob {digest} not found")]
    NotFound {
        /// The digest asked for.
        digest: Digest,
    },
    /// The digest is not a sha256 digest of 64 lowercase hex digits.
    #[error("unsupported digest {digest}: only sha256 with 64 lowercase hex digits is stored")]
    UnsupportedDigest {
        /// The digest given.
        digest: Digest,
    },
    /// What was written (or read back) does not hash to the digest expected; nothing was kept.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the bytes actually seen.
        actual: Digest,
    },
    /// What was written does not have the size expected; nothing was kept.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest expected.
        digest: Digest,
        /// The size the caller expected.
        expected: u64,
        /// The number of bytes written.
        actual: u64,
    },
    /// A blob is larger than the caller allowed to read into memory.
    #[error("blob {digest} is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An I/O error on a path of the store.
    #[error("i/o failed on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl BlobError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BlobError {
        let path = path.into();
        move |source| BlobError::Io { path, source }
    }
}

/// A blob that has been committed: its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobInfo {
    /// The sha256 digest of the content.
    pub digest: Digest,
    /// The size in bytes.
    pub size: u64,
}

/// A reader of a blob's content. When `verify` was asked for, reading to the end checks the
/// content against its digest and fails with [`io::ErrorKind::InvalidData`] on a mismatch.
pub type BlobReader = Box<dyn Read + Send>;

/// A blob being written. Dropping it without [`BlobWrite::commit`] discards what was written.
pub trait BlobWrite: Write + Send {
    /// Bytes written so far.
    fn written(&self) -> u64;

    /// Makes the blob visible. When `expected` is given, the content must hash to that digest
    /// (and have that size, when given); otherwise nothing is kept and the mismatch is reported.
    fn commit(
        self: Box<Self>,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<BlobInfo, BlobError>;
}

/// Content-addressed blob storage (sha256), the store's seam: the builder, the registry adapter
/// and tests see blobs only through it.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// The size of the blob if the store has it.
    fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError>;

    /// Opens a blob for reading. With `verify`, reading it to the end checks its digest.
    fn open(&self, digest: &Digest, verify: bool) -> Result<BlobReader, BlobError>;

    /// Starts writing a new blob.
    fn writer(&self) -> Result<Box<dyn BlobWrite>, BlobError>;

    /// Removes a blob; `false` if it was not there.
    fn delete(&self, digest: &Digest) -> Result<bool, BlobError>;

    /// Every blob's digest, in digest order.
    fn list(&self) -> Result<Vec<Digest>, BlobError>;

    /// Whether the store has the blob.
    fn has(&self, digest: &Digest) -> Result<bool, BlobError> {
        Ok(self.stat(digest)?.is_some())
    }

    /// Reads a whole blob into memory, verified, refusing blobs over `limit` bytes.
    fn read_all(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, BlobError> {
        let size = self.stat(digest)?.ok_or_else(|| BlobError::NotFound {
            digest: digest.clone(),
        })?;
        if size > limit {
            return Err(BlobError::TooLarge {
                digest: digest.clone(),
                size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut reader = self.open(digest, false)?;
        reader
            .by_ref()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(BlobError::io(digest.to_string()))?;
        let actual = crate::digest::sha256(&bytes);
        if &actual != digest {
            return Err(BlobError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Writes a blob from bytes already in memory.
    fn write_all(&self, bytes: &[u8]) -> Result<BlobInfo, BlobError> {
        let mut writer = self.writer()?;
        writer
            .write_all(bytes)
            .map_err(BlobError::io("<blob writer>"))?;
        writer.commit(None, Some(bytes.len() as u64))
    }

    /// Streams a blob from `reader`, checking it against `expected` (and `size`) when given.
    fn write_from(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<BlobInfo, BlobError> {
        let mut writer = self.writer()?;
        io::copy(reader, &mut writer).map_err(BlobError::io("<blob writer>"))?;
        writer.commit(expected, size)
    }
}

fn check_digest(digest: &Digest) -> Result<&str, BlobError> {
    sha256_hex(digest).ok_or_else(|| BlobError::UnsupportedDigest {
        digest: digest.clone(),
    })
}

/// Wraps a reader so that reaching its end checks the content's digest.
struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    expected: Digest,
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = self.hasher.as_mut() {
            if n > 0 || buf.is_empty() {
                hasher.update(&buf[..n]);
            } else if let Some(hasher) = self.hasher.take() {
                let actual = crate::digest::digest_of(hasher);
                if actual != self.expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        BlobError::DigestMismatch {
                            expected: self.expected.clone(),
                            actual,
                        },
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// The blobs of an OCI layout on disk: `DIR/sha256/<hex>`, staged in a temporary directory on
/// the same filesystem.
#[derive(Debug, Clone)]
pub struct DiskBlobs {
    blobs: PathBuf,
    tmp: PathBuf,
}

/// A shared hold on the staging directory's lock, from [`DiskBlobs::stage_guard`]; released
/// when dropped.
#[derive(Debug)]
pub struct StageGuard {
    _dir: File,
}

static WRITER_SEQ: AtomicU64 = AtomicU64::new(0);

impl DiskBlobs {
    /// Blobs under `blobs` (the layout's `blobs` directory), staged in `tmp`. Both are created if
    /// missing; `tmp` must be on the same filesystem as `blobs`.
    pub fn open(blobs: impl Into<PathBuf>, tmp: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let blobs = blobs.into();
        let tmp = tmp.into();
        let sha = blobs.join("sha256");
        fs::create_dir_all(&sha).map_err(BlobError::io(&sha))?;
        fs::create_dir_all(&tmp).map_err(BlobError::io(&tmp))?;
        Ok(DiskBlobs { blobs, tmp })
    }

    /// The staging directory (`ROOT/tmp` in a store).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Takes the staging directory's lock shared, for code outside this crate that stages its
    /// own entries in [`DiskBlobs::tmp_dir`] (a build's scratch directory): create the entry
    /// and take its exclusive `flock` (held while it lives) while holding the returned guard,
    /// then drop the guard. Otherwise [`DiskBlobs::clean_tmp`] in another process may remove
    /// the entry between its creation and its lock. The rule is in the module documentation.
    pub fn stage_guard(&self) -> Result<StageGuard, BlobError> {
        Ok(StageGuard {
            _dir: lock_tmp(&self.tmp, false)?,
        })
    }

    /// The path a blob has (or would have) in the store.
    pub fn path(&self, digest: &Digest) -> Result<PathBuf, BlobError> {
        Ok(self.blobs.join("sha256").join(check_digest(digest)?))
    }

    /// Removes staging files and directories left by writers that died (a crash or a kill
    /// mid-write). A live writer holds a lock on what it stages, so those are left alone; the
    /// `tmp` directory's own lock, held exclusively here, keeps out writers between creating
    /// an entry and locking it (the rule in the module documentation). Returns how many went.
    pub fn clean_tmp(&self) -> Result<usize, BlobError> {
        let mut removed = 0;
        let _guard = match lock_tmp(&self.tmp, true) {
            Ok(guard) => guard,
            Err(BlobError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(0)
            }
            Err(e) => return Err(e),
        };
        let entries = match fs::read_dir(&self.tmp) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(BlobError::Io {
                    path: self.tmp.clone(),
                    source: e,
                })
            }
        };
        for entry in entries {
            let entry = entry.map_err(BlobError::io(&self.tmp))?;
            let path = entry.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            // A writer that is alive holds an exclusive lock: try_lock fails and we keep it.
            // Staging directories (snapshots being unpacked) are locked the same way.
            if file.try_lock().is_ok() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let gone = if is_dir {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                match gone {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(BlobError::Io { path, source: e }),
                }
            }
        }
        Ok(removed)
    }
}

/// A blob being written to disk.
struct DiskWriter {
    out: Option<Sha256Writer<BufWriter<File>>>,
    tmp_path: PathBuf,
    blobs: PathBuf,
}

impl Write for DiskWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.out.as_mut() {
            Some(out) => out.write(buf),
            None => Err(io::Error::other("blob writer already finished")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.write_all(buf),
            None => Err(io::Error::other("blob writer already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: discard. Best effort; clean_tmp catches what this misses.
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

impl BlobWrite for DiskWriter {
    fn written(&self) -> u64 {
        self.out.as_ref().map_or(0, Sha256Writer::len)
    }

    fn commit(
        mut self: Box<Self>,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<BlobInfo, BlobError> {
        let Some(out) = self.out.take() else {
            return Err(BlobError::Io {
                path: self.tmp_path.clone(),
                source: io::Error::other("blob writer already finished"),
            });
        };
        let tmp_path = self.tmp_path.clone();
        let discard = |err: BlobError| {
            let _ = fs::remove_file(&tmp_path);
            err
        };
        let (buffered, digest, len) = out.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| discard(BlobError::io(&tmp_path)(e.into_error())))?;
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(discard(BlobError::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                }));
            }
        }
        if let Some(size) = size {
            if size != len {
                return Err(discard(BlobError::SizeMismatch {
                    digest,
                    expected: size,
                    actual: len,
                }));
            }
        }
        let hex = check_digest(&digest).map_err(discard)?;
        let dest = self.blobs.join("sha256").join(hex);
        file.sync_all()
            .map_err(|e| discard(BlobError::io(&tmp_path)(e)))?;
        // Content addressing makes a concurrent writer of the same blob harmless: the rename
        // replaces identical bytes, atomically.
        fs::rename(&tmp_path, &dest).map_err(|e| discard(BlobError::io(&dest)(e)))?;
        drop(file);
        sync_dir(&self.blobs.join("sha256"))?;
        tracing::debug!(%digest, size = len, "blob committed");
        Ok(BlobInfo { digest, size: len })
    }
}

/// Opens the staging directory `tmp` and `flock`s the directory itself, shared (a writer, from
/// creating its staging entry to locking it) or exclusive ([`DiskBlobs::clean_tmp`], while it
/// scans); held until the returned file is dropped. The rule is in the module documentation.
pub(crate) fn lock_tmp(tmp: &Path, exclusive: bool) -> Result<File, BlobError> {
    let dir = File::open(tmp).map_err(BlobError::io(tmp))?;
    if exclusive {
        dir.lock()
    } else {
        dir.lock_shared()
    }
    .map_err(BlobError::io(tmp))?;
    Ok(dir)
}

/// Creates a new staging file at `path` (failing if it exists), not yet locked: call it with
/// [`lock_tmp`] held shared, and lock the file before dropping that.
fn create_staging_file(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// fsyncs a directory so a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BlobError::io(dir))
}

impl BlobStore for DiskBlobs {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        let path = self.path(digest)?;
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError::Io { path, source: e }),
        }
    }

    fn open(&self, digest: &Digest, verify: bool) -> Result<BlobReader, BlobError> {
        let path = self.path(digest)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound {
                    digest: digest.clone(),
                })
            }
            Err(e) => return Err(BlobError::Io { path, source: e }),
        };
        if verify {
            Ok(Box::new(VerifyingReader {
                inner: file,
                hasher: Some(Sha256::new()),
                expected: digest.clone(),
            }))
        } else {
            Ok(Box::new(file))
        }
    }

    fn writer(&self) -> Result<Box<dyn BlobWrite>, BlobError> {
        let seq = WRITER_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp_path = self
            .tmp
            .join(format!("blob-{}-{seq}-{nanos:09}", std::process::id()));
        // Created and locked under tmp's shared lock, so clean_tmp never sees it unlocked.
        let guard = lock_tmp(&self.tmp, false)?;
        let file = create_staging_file(&tmp_path).map_err(BlobError::io(&tmp_path))?;
        // Held until the file is renamed or removed: tells clean_tmp the writer is alive.
        file.lock().map_err(BlobError::io(&tmp_path))?;
        drop(guard);
        Ok(Box::new(DiskWriter {
            out: Some(Sha256Writer::new(BufWriter::with_capacity(1 << 20, file))),
            tmp_path,
            blobs: self.blobs.clone(),
        }))
    }

    fn delete(&self, digest: &Digest) -> Result<bool, BlobError> {
        let path = self.path(digest)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobError::Io { path, source: e }),
        }
    }

    fn list(&self) -> Result<Vec<Digest>, BlobError> {
        let dir = self.blobs.join("sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(BlobError::io(&dir))? {
            let entry = entry.map_err(BlobError::io(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Ok(digest) = format!("sha256:{name}").parse::<Digest>() {
                if sha256_hex(&digest).is_some() {
                    out.push(digest);
                }
            }
        }
        out.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        Ok(out)
    }
}

/// Blobs in memory, for tests of crates that consume a [`BlobStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryBlobs {
    blobs: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
}

impl MemoryBlobs {
    /// An empty store.
    pub fn new() -> Self {
        MemoryBlobs::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<u8>>>> {
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct MemoryWriter {
    out: Sha256Writer<Vec<u8>>,
    blobs: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWrite for MemoryWriter {
    fn written(&self) -> u64 {
        self.out.len()
    }

    fn commit(
        self: Box<Self>,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<BlobInfo, BlobError> {
        let MemoryWriter { out, blobs } = *self;
        let (bytes, digest, len) = out.finish();
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(BlobError::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        if let Some(size) = size {
            if size != len {
                return Err(BlobError::SizeMismatch {
                    digest,
                    expected: size,
                    actual: len,
                });
            }
        }
        blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_string(), Arc::new(bytes));
        Ok(BlobInfo { digest, size: len })
    }
}

/// Reads an `Arc<Vec<u8>>` without copying it.
struct SharedBytes {
    bytes: Arc<Vec<u8>>,
    pos: usize,
}

impl Read for SharedBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl BlobStore for MemoryBlobs {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        check_digest(digest)?;
        Ok(self.map().get(digest.as_ref()).map(|b| b.len() as u64))
    }

    fn open(&self, digest: &Digest, verify: bool) -> Result<BlobReader, BlobError> {
        check_digest(digest)?;
        let bytes =
            self.map()
                .get(digest.as_ref())
                .cloned()
                .ok_or_else(|| BlobError::NotFound {
                    digest: digest.clone(),
                })?;
        let reader = SharedBytes { bytes, pos: 0 };
        if verify {
            Ok(Box::new(VerifyingReader {
                inner: reader,
                hasher: Some(Sha256::new()),
                expected: digest.clone(),
            }))
        } else {
            Ok(Box::new(reader))
        }
    }

    fn writer(&self) -> Result<Box<dyn BlobWrite>, BlobError> {
        Ok(Box::new(MemoryWriter {
            out: Sha256Writer::new(Vec::new()),
            blobs: self.blobs.clone(),
        }))
    }

    fn delete(&self, digest: &Digest) -> Result<bool, BlobError> {
        check_digest(digest)?;
        Ok(self.map().remove(digest.as_ref()).is_some())
    }

    fn list(&self) -> Result<Vec<Digest>, BlobError> {
        Ok(self.map().keys().filter_map(|k| k.parse().ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    /// The steps of [`DiskBlobs::writer`] taken one by one, with `clean_tmp` (as another
    /// process's `Store::open` or gc runs it) started between creating the staging file and
    /// locking it: the file must survive, and go once its writer is gone.
    #[test]
    fn clean_tmp_never_takes_an_entry_between_its_creation_and_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        let blobs = DiskBlobs::open(dir.path().join("blobs"), &tmp).unwrap();
        let path = tmp.join("blob-staged");

        let guard = blobs.stage_guard().unwrap();
        let file = create_staging_file(&path).unwrap();
        let cleaner = {
            let blobs = blobs.clone();
            std::thread::spawn(move || blobs.clean_tmp().unwrap())
        };
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            path.exists(),
            "clean_tmp removed a staging file its live writer had not locked yet"
        );
        file.lock().unwrap();
        drop(guard);
        assert_eq!(cleaner.join().unwrap(), 0, "clean_tmp removed a live entry");
        assert!(path.exists());

        // Its writer gone (the lock with it), the file is a leftover and goes.
        drop(file);
        assert_eq!(blobs.clean_tmp().unwrap(), 1);
        assert!(!path.exists());
    }
}
