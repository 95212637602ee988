//! The stat cache: (path, size, mtime, ctime, inode, mode) -> blake3 of the content, saved between builds.
//!
//! An unchanged context file is recognised by its `lstat` fields and not read again. A record
//! is trusted only when the file's mtime and ctime are older than the moment it was hashed by
//! more than a *racy window* (git's "racy clean" problem: a write landing in the same
//! timestamp granule as the hashing leaves every stat field unchanged).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::ContextError;

/// The default racy window: a file whose mtime or ctime is this close to (or after) the
/// moment its content was hashed is hashed again next time. Two seconds covers every Linux
/// filesystem's timestamp granule (ext3 and FAT are the coarsest).
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// First bytes of a saved cache file, then a format version.
const MAGIC: &[u8; 8] = b"BWSTAT\0\x01";

/// The `lstat` fields a record is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatKey {
    /// Device number.
    pub(crate) dev: u64,
    /// Inode number.
    pub(crate) ino: u64,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub(crate) mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub(crate) ctime_ns: i64,
    /// The full `st_mode` (type and permission bits).
    pub(crate) mode: u32,
}

impl StatKey {
    /// The key of a file's `lstat` result.
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }
}

/// One cached content hash.
#[derive(Debug, Clone, Copy)]
struct Record {
    key: StatKey,
    /// When the content was read, nanoseconds since the epoch (taken before reading).
    hashed_at_ns: i64,
    hash: [u8; 32],
}

/// Content hashes of context files, keyed by absolute path and valid while the file's
/// `lstat` fields are unchanged.
///
/// Load it from the store's cache directory before a build and save it after; a missing or
/// corrupt file gives an empty cache (logged with `tracing`), never an error. The cache counts
/// how many files it had to read ([`StatCache::files_hashed`]), which is how tests prove that
/// an unchanged context is not read again.
#[derive(Debug, Clone)]
pub struct StatCache {
    records: HashMap<PathBuf, Record>,
    racy_window_ns: i64,
    files_hashed: u64,
    dirty: bool,
}

impl Default for StatCache {
    fn default() -> Self {
        Self::new()
    }
}

impl StatCache {
    /// An empty cache with the [`DEFAULT_RACY_WINDOW`].
    pub fn new() -> Self {
        StatCache {
            records: HashMap::new(),
            racy_window_ns: duration_ns(DEFAULT_RACY_WINDOW),
            files_hashed: 0,
            dirty: false,
        }
    }

    /// Set the racy window (see [`DEFAULT_RACY_WINDOW`]). A shorter one trusts records of
    /// recently written files sooner; only lower it on filesystems with fine timestamps.
    pub fn with_racy_window(mut self, window: Duration) -> Self {
        self.racy_window_ns = duration_ns(window);
        self
    }

    /// Load a cache saved by [`StatCache::save`]. A missing file gives an empty cache; an
    /// unreadable or corrupt one too, with a `tracing` warning.
    pub fn load(path: &Path) -> Self {
        let mut cache = Self::new();
        match fs::read(path) {
            Ok(bytes) => match decode(&bytes) {
                Some(records) => cache.records = records,
                None => {
                    tracing::warn!(path = %path.display(), "stat cache is corrupt; starting empty")
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "no stat cache yet; starting empty");
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the stat cache; starting empty");
            }
        }
        cache
    }

    /// Write the cache to `path` atomically: a temporary sibling, fsync, rename, fsync of the
    /// directory. The directory must exist.
    pub fn save(&self, path: &Path) -> Result<(), ContextError> {
        let tmp = tmp_path(path);
        let err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| ContextError::SaveCache { path: p, source }
        };
        let bytes = encode(&self.records);
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(err(&tmp)(e));
        }
        fs::rename(&tmp, path).map_err(err(path))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(err(dir))?;
        }
        Ok(())
    }

    /// How many file contents this cache has hashed (cache misses) since it was made or loaded.
    pub fn files_hashed(&self) -> u64 {
        self.files_hashed
    }

    /// How many records the cache holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// `true` when the cache holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// `true` when records were added or replaced since the cache was made or loaded.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Keep only the records whose path satisfies `keep` (for example, files that still exist).
    pub fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        let before = self.records.len();
        self.records.retain(|p, _| keep(p));
        self.dirty |= self.records.len() != before;
    }

    /// The cached hash of `path` if the record matches `key` and is not racy.
    pub(crate) fn get(&self, path: &Path, key: &StatKey) -> Option<[u8; 32]> {
        let r = self.records.get(path)?;
        let settled = r.hashed_at_ns.saturating_sub(self.racy_window_ns);
        (r.key == *key && key.mtime_ns < settled && key.ctime_ns < settled).then_some(r.hash)
    }

    /// Record a freshly computed hash; `hashed_at` is when reading began.
    pub(crate) fn insert(
        &mut self,
        path: PathBuf,
        key: StatKey,
        hashed_at: SystemTime,
        hash: [u8; 32],
    ) {
        self.files_hashed += 1;
        self.dirty = true;
        let hashed_at_ns = hashed_at.duration_since(UNIX_EPOCH).map_or(0, duration_ns);
        self.records.insert(
            path,
            Record {
                key,
                hashed_at_ns,
                hash,
            },
        );
    }
}

/// Nanoseconds of a duration, saturating.
fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// `NAME.tmp.PID` beside `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

/// The file format: MAGIC, record count (u64 LE), records, then blake3 of all that.
/// A record: path length (u32 LE), path bytes, dev, ino, size (u64 LE), mtime, ctime (i64 LE),
/// mode (u32 LE), hashed_at (i64 LE), hash (32 bytes).
fn encode(records: &HashMap<PathBuf, Record>) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::with_capacity(16 + records.len() * 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for (path, r) in records {
        let p = path.as_os_str().as_bytes();
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
        for v in [r.key.dev, r.key.ino, r.key.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&r.key.mtime_ns.to_le_bytes());
        out.extend_from_slice(&r.key.ctime_ns.to_le_bytes());
        out.extend_from_slice(&r.key.mode.to_le_bytes());
        out.extend_from_slice(&r.hashed_at_ns.to_le_bytes());
        out.extend_from_slice(&r.hash);
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Decode [`encode`]'s format; `None` when anything is off.
fn decode(bytes: &[u8]) -> Option<HashMap<PathBuf, Record>> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let body_len = bytes.len().checked_sub(32)?;
    let (body, sum) = bytes.split_at(body_len);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut r = Reader(body);
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let count = r.u64()?;
    let mut records = HashMap::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
    for _ in 0..count {
        let len = usize::try_from(r.u32()?).ok()?;
        let path = PathBuf::from(OsStr::from_bytes(r.take(len)?));
        let key = StatKey {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime_ns: r.i64()?,
            ctime_ns: r.i64()?,
            mode: r.u32()?,
        };
        let hashed_at_ns = r.i64()?;
        let hash = r.take(32)?.try_into().ok()?;
        records.insert(
            path,
            Record {
                key,
                hashed_at_ns,
                hash,
            },
        );
    }
    r.0.is_empty().then_some(records)
}

/// A cursor over the cache file's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)?.try_into().ok().map(i64::from_le_bytes)
    }
}
