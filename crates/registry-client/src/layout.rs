//! [`OciDir`]: an OCI image layout directory as a [`BlobSink`] and a [`BlobSource`].

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

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`), as skopeo,
/// umoci and buildah write it.
///
/// Blobs are written to a temporary file in `blobs/sha256/`, synced, and renamed into place
/// only once verified, so a reader never sees a partial blob. `index.json` is replaced the
/// same way. Tags are `org.opencontainers.image.ref.name` annotations.
///
/// Limitation: updates of `index.json` are serialized within one `OciDir` value, not between
/// processes.
#[derive(Debug)]
pub struct OciDir {
    root: PathBuf,
    index_lock: tokio::sync::Mutex<()>,
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
    pub async fn create(path: &Path) -> Result<OciDir> {
        let blobs = path.join("blobs").join("sha256");
        tokio::fs::create_dir_all(&blobs)
            .await
            .map_err(io_at(&blobs))?;
        let layout = path.join("oci-layout");
        if !tokio::fs::try_exists(&layout)
            .await
            .map_err(io_at(&layout))?
        {
            write_atomic(path, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).await?;
        }
        let index = path.join("index.json");
        if !tokio::fs::try_exists(&index).await.map_err(io_at(&index))? {
            let empty = IndexFile {
                schema_version: 2,
                media_type: Some(crate::manifest::OCI_INDEX.into()),
                manifests: Vec::new(),
                annotations: None,
            };
            write_atomic(path, "index.json", &to_json(&empty, &index)?).await?;
        }
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
            index_lock: tokio::sync::Mutex::new(()),
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
    pub async fn set_ref(&self, tag: &str, descriptor: &Descriptor) -> Result<()> {
        let _guard = self.index_lock.lock().await;
        let mut index = self.read_index().await?;
        index.manifests.retain(|d| ref_name(d) != Some(tag));
        let mut d = descriptor.clone();
        let mut annotations = d.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_string(), tag.to_string());
        d.set_annotations(Some(annotations));
        index.manifests.push(d);
        let path = self.root.join("index.json");
        write_atomic(&self.root, "index.json", &to_json(&index, &path)?).await
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

/// Writes `dir/name` through a synced temporary file and a rename.
async fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(tmp_name(name));
    let target = dir.join(name);
    let result = async {
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(bytes).await?;
        f.sync_all().await?;
        drop(f);
        tokio::fs::rename(&tmp, &target).await?;
        sync_dir(dir).await
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result.map_err(io_at(&target))
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
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
