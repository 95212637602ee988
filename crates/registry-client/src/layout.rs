//! [`OciDir`]: an OCI image layout directory as a [`BlobSink`] and a [`BlobSource`].
//!
//! The index lock rule, which the layer store follows too: every read-modify-write of a
//! layout's `index.json` holds an exclusive `flock` on [`INDEX_LOCK`] (`LAYOUT/index.json.lock`,
//! created if missing, never removed) from the read to the rename of the new file, written to a
//! temporary file in the layout, fsynced and renamed into place. Readers take no lock.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use oci_spec::image::{Descriptor, Digest};
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufWriter};

use crate::blob::{sha256_hex, BlobSink, BlobSource, BlobWriter, SourceBlob, Verified};
use crate::manifest::{Manifest, MAX_MANIFEST_SIZE};
use crate::{Error, Result};

/// The annotation that names a tag in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The index lock file of a layout, `LAYOUT/index.json.lock`: a program that changes
/// `index.json` holds an exclusive `flock` on it from reading the index to renaming the new one
/// into place (see the [module documentation](self)). boxwright's layer store takes the same.
pub const INDEX_LOCK: &str = "index.json.lock";

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`), as skopeo,
/// umoci and buildah write it.
///
/// Blobs are written to a temporary file in `blobs/sha256/`, synced, and renamed into place
/// only once verified, so a reader never sees a partial blob. `index.json` is replaced the
/// same way, under the index lock ([`INDEX_LOCK`]), so writers in any number of processes —
/// `OciDir`s, boxwright's layer store, any program that follows the rule — never lose each
/// other's entries. Tags are `org.opencontainers.image.ref.name` annotations.
#[derive(Debug)]
pub struct OciDir {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn tmp_name(stem: &str) -> String {
    format!(
        ".tmp-{stem}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IndexFile {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<std::collections::HashMap<String, String>>,
}

impl OciDir {
    /// Opens the layout at `path`, creating it (and the directory) if it does not exist.
    ///
    /// The missing files are written under the index lock, so processes creating one layout at
    /// once, and tagging in it, keep each other's tags.
    pub async fn create(path: &Path) -> Result<OciDir> {
        let root = path.to_path_buf();
        blocking(path, move || init_layout(&root)).await?;
        Self::open(path).await
    }

    /// Opens an existing layout; it must have `oci-layout` and `index.json`.
    pub async fn open(path: &Path) -> Result<OciDir> {
        let layout = path.join("oci-layout");
        let bytes = tokio::fs::read(&layout).await.map_err(io_at(&layout))?;
        #[derive(serde::Deserialize)]
        struct LayoutFile {
            #[serde(rename = "imageLayoutVersion")]
            version: String,
        }
        let parsed: LayoutFile = serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path: layout.clone(),
            reason: format!("not an oci-layout file: {e}"),
        })?;
        if !parsed.version.starts_with("1.") {
            return Err(Error::Layout {
                path: layout,
                reason: format!("unsupported layout version {:?}", parsed.version),
            });
        }
        let dir = OciDir {
            root: path.to_path_buf(),
        };
        dir.read_index().await?;
        Ok(dir)
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is (or would be) stored; `None` for a digest that is not a
    /// well-formed sha256.
    pub fn blob_path(&self, digest: &Digest) -> Option<PathBuf> {
        sha256_hex(digest).map(|hex| self.root.join("blobs").join("sha256").join(hex))
    }

    fn checked_blob_path(&self, digest: &Digest) -> io::Result<PathBuf> {
        self.blob_path(digest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{digest} is not a sha256 digest"),
            )
        })
    }

    async fn read_index(&self) -> Result<IndexFile> {
        let path = self.root.join("index.json");
        let bytes = tokio::fs::read(&path).await.map_err(io_at(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path,
            reason: format!("not an image index: {e}"),
        })
    }

    /// The descriptors `index.json` lists (tagged or not).
    pub async fn manifests(&self) -> Result<Vec<Descriptor>> {
        Ok(self.read_index().await?.manifests)
    }

    /// The descriptor tagged `tag`; with `None`, the only one the index lists.
    pub async fn resolve(&self, tag: Option<&str>) -> Result<Descriptor> {
        let index = self.read_index().await?;
        let not_found = || Error::TagNotFound {
            path: self.root.clone(),
            tag: tag.unwrap_or("").to_string(),
        };
        match tag {
            Some(tag) => index
                .manifests
                .into_iter()
                .find(|d| ref_name(d) == Some(tag))
                .ok_or_else(not_found),
            None if index.manifests.len() == 1 => {
                index.manifests.into_iter().next().ok_or_else(not_found)
            }
            None => Err(Error::Layout {
                path: self.root.join("index.json"),
                reason: format!(
                    "{} images and no tag given: name one",
                    index.manifests.len()
                ),
            }),
        }
    }

    /// Tags `descriptor` as `tag` in `index.json` (replacing what had that tag). The blob
    /// must already be in the layout.
    ///
    /// A read-modify-write under the index lock ([`INDEX_LOCK`]) on a blocking thread; every
    /// other field of the index and of its entries is kept as read. Once started, the update
    /// finishes even if the caller stops waiting.
    pub async fn set_ref(&self, tag: &str, descriptor: &Descriptor) -> Result<()> {
        let mut d = descriptor.clone();
        let mut annotations = d.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_string(), tag.to_string());
        d.set_annotations(Some(annotations));
        let index = self.root.join("index.json");
        let entry = serde_json::to_value(&d).map_err(|e| Error::Layout {
            path: index.clone(),
            reason: format!("cannot serialize: {e}"),
        })?;
        let (root, tag) = (self.root.clone(), tag.to_string());
        blocking(&self.root, move || {
            update_index(&root, |manifests| {
                manifests.retain(|m| {
                    m.pointer("/annotations/org.opencontainers.image.ref.name")
                        .and_then(serde_json::Value::as_str)
                        != Some(&tag)
                });
                manifests.push(entry);
            })
        })
        .await
    }

    /// Reads and verifies the manifest or index `descriptor` points to.
    pub async fn read_manifest(&self, descriptor: &Descriptor) -> Result<Manifest> {
        if descriptor.size() > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge {
                what: descriptor.digest().to_string(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let path = self
            .checked_blob_path(descriptor.digest())
            .map_err(|source| Error::Blob {
                digest: descriptor.digest().to_string(),
                source,
            })?;
        let mut bytes = Vec::new();
        tokio::fs::File::open(&path)
            .await
            .map_err(io_at(&path))?
            .take(MAX_MANIFEST_SIZE + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(io_at(&path))?;
        Manifest::from_descriptor(bytes, descriptor)
    }
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

fn to_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Layout {
        path: path.to_path_buf(),
        reason: format!("cannot serialize: {e}"),
    })
}

/// Runs the blocking `f` on tokio's blocking pool; `dir` names the layout if the task fails.
async fn blocking<T: Send + 'static>(
    dir: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: io::Error::other(e),
        })?
}

/// Takes the index lock of the layout `root`: an exclusive `flock` on `root/index.json.lock`,
/// held until the returned file is dropped. Blocks until it is free.
fn lock_index(root: &Path) -> Result<std::fs::File> {
    let path = root.join(INDEX_LOCK);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_at(&path))?;
    file.lock().map_err(io_at(&path))?;
    Ok(file)
}

/// Makes the layout `root` (its directories, `oci-layout`, an empty `index.json`) where
/// missing, under the index lock. Blocking.
fn init_layout(root: &Path) -> Result<()> {
    let blobs = root.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io_at(&blobs))?;
    let _lock = lock_index(root)?;
    let layout = root.join("oci-layout");
    if !layout.try_exists().map_err(io_at(&layout))? {
        write_atomic(root, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    let index = root.join("index.json");
    if !index.try_exists().map_err(io_at(&index))? {
        let empty = IndexFile {
            schema_version: 2,
            media_type: Some(crate::manifest::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: None,
        };
        write_atomic(root, "index.json", &to_json(&empty, &index)?)?;
    }
    Ok(())
}

/// Changes the `manifests` of `root/index.json` under the index lock: read, `change`, write
/// atomically. Every other field, known to us or not, is kept as read. Blocking.
fn update_index(root: &Path, change: impl FnOnce(&mut Vec<serde_json::Value>)) -> Result<()> {
    let _lock = lock_index(root)?;
    let path = root.join("index.json");
    let bytes = std::fs::read(&path).map_err(io_at(&path))?;
    let not_index = |reason: String| Error::Layout {
        path: path.clone(),
        reason,
    };
    let mut index: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| not_index(format!("not an image index: {e}")))?;
    let mut manifests = match index.remove("manifests") {
        Some(serde_json::Value::Array(items)) => items,
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(_) => return Err(not_index("\"manifests\" is not an array".into())),
    };
    change(&mut manifests);
    index.insert("manifests".into(), serde_json::Value::Array(manifests));
    write_atomic(root, "index.json", &to_json(&index, &path)?)
}

/// Writes `dir/name` through a synced temporary file in `dir` and a rename. Blocking.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let tmp = dir.join(tmp_name(name));
    let target = dir.join(name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &target)?;
        sync_dir_blocking(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_at(&target))
}

fn sync_dir_blocking(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || sync_dir_blocking(&dir))
        .await
        .map_err(io::Error::other)?
}

/// Creates the temporary file `tmp`. tokio's create runs on a blocking thread to its end even
/// when the caller stops waiting (a copy cancelled because another blob failed): then the file
/// is removed once made, or never made, instead of being left behind.
async fn create_tmp(tmp: PathBuf) -> io::Result<tokio::fs::File> {
    /// (the caller stopped waiting, the file exists)
    type State = std::sync::Arc<std::sync::Mutex<(bool, bool)>>;
    struct Abandoned {
        state: State,
        path: PathBuf,
        armed: bool,
    }
    impl Drop for Abandoned {
        fn drop(&mut self) {
            if !self.armed {
                return;
            }
            if let Ok(mut s) = self.state.lock() {
                s.0 = true;
                if s.1 {
                    let _ = std::fs::remove_file(&self.path);
                }
            }
        }
    }
    let state = State::default();
    let mut guard = Abandoned {
        state: state.clone(),
        path: tmp.clone(),
        armed: true,
    };
    let file = tokio::task::spawn_blocking(move || {
        let mut s = state
            .lock()
            .map_err(|_| io::Error::other("temporary file state poisoned"))?;
        if s.0 {
            return Err(io::Error::other("abandoned"));
        }
        let file = std::fs::File::create(&tmp)?;
        s.1 = true;
        Ok(file)
    })
    .await
    .map_err(io::Error::other)??;
    guard.armed = false;
    Ok(tokio::fs::File::from_std(file))
}

#[async_trait::async_trait]
impl BlobSink for OciDir {
    async fn has(&self, digest: &Digest) -> io::Result<bool> {
        tokio::fs::try_exists(self.checked_blob_path(digest)?).await
    }

    async fn create(&self, digest: &Digest, _size: u64) -> io::Result<Box<dyn BlobWriter>> {
        let target = self.checked_blob_path(digest)?;
        let dir = self.root.join("blobs").join("sha256");
        let tmp = dir.join(tmp_name(sha256_hex(digest).unwrap_or("blob")));
        let file = create_tmp(tmp.clone()).await?;
        Ok(Box::new(OciWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            tmp: Some(tmp),
            target,
            dir,
            expected: digest.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl BlobSource for OciDir {
    async fn open(&self, digest: &Digest) -> io::Result<SourceBlob> {
        let path = self.checked_blob_path(digest)?;
        let file = tokio::fs::File::open(&path).await?;
        let size = file.metadata().await?.len();
        Ok(SourceBlob {
            size,
            reader: Box::new(tokio::io::BufReader::with_capacity(1 << 20, file)),
        })
    }
}

/// A blob being written into an [`OciDir`]: a temporary file until committed.
struct OciWriter {
    file: BufWriter<tokio::fs::File>,
    tmp: Option<PathBuf>,
    target: PathBuf,
    dir: PathBuf,
    expected: Digest,
}

impl AsyncWrite for OciWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.file).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Shutting down a file does nothing more than flushing it; keep it open for commit.
        Pin::new(&mut self.file).poll_flush(cx)
    }
}

#[async_trait::async_trait]
impl BlobWriter for OciWriter {
    async fn commit(mut self: Box<Self>, verified: Verified) -> io::Result<()> {
        if verified.digest() != &self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "writer for {} given proof for {}",
                    self.expected,
                    verified.digest()
                ),
            ));
        }
        self.file.flush().await?;
        self.file.get_mut().sync_all().await?;
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        if let Err(e) = tokio::fs::rename(&tmp, &self.target).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        sync_dir(&self.dir).await
    }

    async fn abort(mut self: Box<Self>) -> io::Result<()> {
        match self.tmp.take() {
            Some(tmp) => tokio::fs::remove_file(tmp).await,
            None => Ok(()),
        }
    }
}

impl Drop for OciWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            // A writer dropped without commit or abort: remove its temporary file.
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_only_verified_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let oci = OciDir::create(&dir.path().join("l")).await.unwrap();
        let d = crate::blob::sha256(b"data");
        assert!(!oci.has(&d).await.unwrap());
        let mut w = oci.create(&d, 4).await.unwrap();
        w.write_all(b"data").await.unwrap();
        w.abort().await.unwrap();
        assert!(!oci.has(&d).await.unwrap());
        let mut w = oci.create(&d, 4).await.unwrap();
        w.write_all(b"data").await.unwrap();
        drop(w);
        let mut w = oci.create(&d, 4).await.unwrap();
        w.write_all(b"data").await.unwrap();
        let v = crate::blob::verify_bytes("t", b"data", &d).unwrap();
        w.commit(v).await.unwrap();
        assert!(oci.has(&d).await.unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("l/blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![d.digest().to_string()]);
        let mut s = String::new();
        BlobSource::open(&oci, &d)
            .await
            .unwrap()
            .reader
            .read_to_string(&mut s)
            .await
            .unwrap();
        assert_eq!(s, "data");
    }

    #[tokio::test]
    async fn tags_in_index_json() {
        let dir = tempfile::tempdir().unwrap();
        let oci = OciDir::create(dir.path()).await.unwrap();
        let d = Descriptor::new(
            oci_spec::image::MediaType::ImageManifest,
            2,
            crate::blob::sha256(b"{}"),
        );
        oci.set_ref("v1", &d).await.unwrap();
        oci.set_ref("v1", &d).await.unwrap();
        oci.set_ref("v2", &d).await.unwrap();
        assert_eq!(oci.manifests().await.unwrap().len(), 2);
        assert_eq!(oci.resolve(Some("v1")).await.unwrap().digest(), d.digest());
        assert!(matches!(
            oci.resolve(Some("v3")).await,
            Err(Error::TagNotFound { .. })
        ));
        assert!(oci.resolve(None).await.is_err());
        let again = OciDir::open(dir.path()).await.unwrap();
        assert_eq!(again.manifests().await.unwrap().len(), 2);
    }
}
