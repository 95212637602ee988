//! Snapshots: each layer unpacked once, keyed by its chain ID, and shared by every image that
//! has it. A snapshot is `ROOT/snapshots/<chain-id hex>/` holding `fs/` — the layer in overlayfs
//! form (whiteouts as 0:0 character devices, opaque dirs by xattr), usable directly as an
//! overlay lower dir — and `meta.json`, written last. Snapshots are built in `ROOT/tmp` and
//! renamed into place, so a half-unpacked snapshot is never visible.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use std::io::BufReader;

use crate::apply::{apply_layer, ApplyError, ApplyOptions, WhiteoutMode};
use crate::blob::{BlobError, BlobStore};
use crate::digest::sha256;
use crate::store::{Image, Store, StoreError};

/// The chain IDs of a stack of layers given by their diffIDs, base first: the first is its
/// diffID; each next is `sha256(parent chain ID + " " + diffID)`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = next_chain_id(out.last(), diff_id);
        out.push(next);
    }
    out
}

/// The chain ID of layer `diff_id` on top of the chain `parent` (`None` for a base layer).
pub(crate) fn next_chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(parent) => sha256(format!("{parent} {diff_id}").as_bytes()),
    }
}

/// What `meta.json` of a snapshot records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The snapshot's chain ID.
    pub chain_id: Digest,
    /// The diffID of its top layer.
    pub diff_id: Digest,
    /// The chain ID of the snapshot below, if any.
    pub parent: Option<Digest>,
    /// The (compressed) blob it was unpacked from.
    pub blob: Digest,
}

/// A snapshot ready to use as an overlay lower dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its chain ID.
    pub chain_id: Digest,
    /// The directory holding the layer's files (overlay form).
    pub dir: PathBuf,
}

/// Why a snapshot or an unpack failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A layer could not be applied (a refused entry, a corrupt blob, I/O).
    #[error("applying layer {layer} failed")]
    Apply {
        /// The layer blob.
        layer: Digest,
        /// What went wrong.
        #[source]
        source: ApplyError,
    },
    /// A layer's uncompressed content is not what the image config says.
    #[error("layer {}: diffID is {}, the config says {}", .0.layer, .0.actual, .0.expected)]
    DiffIdMismatch(Box<DiffIdMismatch>),
    /// A directory offered to [`Store::adopt_snapshot`] holds something its layer does not
    /// carry as it is on disk; the layer is unpacked instead when its snapshot is needed.
    #[error("{}: not adoptable as a snapshot: {reason}", .path.display())]
    NotAdoptable {
        /// The entry.
        path: PathBuf,
        /// What it is.
        reason: &'static str,
    },
    /// The manifest and the config disagree on the number of layers.
    #[error("image {image}: the manifest has {layers} layers, the config {diff_ids} diffIDs")]
    LayerCount {
        /// The image ID.
        image: Digest,
        /// Layers in the manifest.
        layers: usize,
        /// diffIDs in the config.
        diff_ids: usize,
    },
}

/// The details of [`SnapshotError::DiffIdMismatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffIdMismatch {
    /// The layer blob.
    pub layer: Digest,
    /// The config's diffID.
    pub expected: Digest,
    /// The diffID of the content.
    pub actual: Digest,
}

impl From<BlobError> for SnapshotError {
    fn from(e: BlobError) -> Self {
        SnapshotError::Store(StoreError::Blob(e))
    }
}

/// Maps an I/O error on `path` to a [`SnapshotError`].
pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| {
        SnapshotError::Store(StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The layers of `image` with their diffIDs, checked to agree in number.
fn layers_of(
    store: &Store,
    image: &Image,
) -> Result<Vec<(oci_spec::image::Descriptor, Digest)>, SnapshotError> {
    let diff_ids = store.config(&image.id)?.diff_ids()?;
    if diff_ids.len() != image.layers().len() {
        return Err(SnapshotError::LayerCount {
            image: image.id.clone(),
            layers: image.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    Ok(image.layers().iter().cloned().zip(diff_ids).collect())
}

/// Applies one layer blob onto `dir`, checking its content and its diffID.
fn apply_blob(
    store: &Store,
    layer: &Digest,
    diff_id: &Digest,
    dir: &Path,
    whiteouts: WhiteoutMode,
) -> Result<(), SnapshotError> {
    let reader = BufReader::with_capacity(1 << 20, store.blobs().open(layer, true)?);
    let target =
        cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority()).map_err(io(dir))?;
    let options = ApplyOptions {
        whiteouts,
        ..ApplyOptions::default()
    };
    let stats = apply_layer(reader, &target, &options).map_err(|source| SnapshotError::Apply {
        layer: layer.clone(),
        source,
    })?;
    if &stats.diff_id != diff_id {
        return Err(SnapshotError::DiffIdMismatch(Box::new(DiffIdMismatch {
            layer: layer.clone(),
            expected: diff_id.clone(),
            actual: stats.diff_id,
        })));
    }
    Ok(())
}

impl Store {
    /// The snapshots of `image`'s layers, base first, unpacking each layer that no image has
    /// unpacked before. Their `dir`s, top first, are the overlay `lowerdir` list of a container
    /// of the image. Safe to call from several processes at once: a layer is unpacked once.
    pub fn snapshots(&self, image: &Image) -> Result<Vec<Snapshot>, SnapshotError> {
        let layers = layers_of(self, image)?;
        let diff_ids: Vec<Digest> = layers.iter().map(|(_, d)| d.clone()).collect();
        let chains = chain_ids(&diff_ids);
        let mut out = Vec::with_capacity(layers.len());
        for (i, ((layer, diff_id), chain_id)) in layers.iter().zip(&chains).enumerate() {
            let parent = i.checked_sub(1).and_then(|p| chains.get(p)).cloned();
            let dir = self.snapshot_path(chain_id);
            if !dir.join("meta.json").is_file() {
                self.unpack_snapshot(layer.digest(), diff_id, chain_id, parent)?;
            }
            out.push(Snapshot {
                chain_id: chain_id.clone(),
                dir: dir.join("fs"),
            });
        }
        Ok(out)
    }

    /// `ROOT/snapshots/<chain-id hex>`.
    pub(crate) fn snapshot_path(&self, chain_id: &Digest) -> PathBuf {
        self.root().join("snapshots").join(chain_id.digest())
    }

    /// Takes the lock of the snapshot `chain_id`: one writer per chain ID across processes
    /// (the others wait and then find it done). Held until the returned file is dropped.
    pub(crate) fn lock_snapshot(&self, chain_id: &Digest) -> Result<fs::File, SnapshotError> {
        let lock_path = self
            .root()
            .join("locks")
            .join(format!("snapshot-{}.lock", chain_id.digest()));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        Ok(lock)
    }

    /// Builds the snapshot `meta.chain_id` in a locked stage under `ROOT/tmp`: `fill` puts the
    /// layer's files at the path it is given (the stage's `fs`, not yet existing), then
    /// `meta.json` is written last and the stage renamed into place. Call it holding
    /// [`Store::lock_snapshot`], with the snapshot not there (no `meta.json`).
    pub(crate) fn install_snapshot(
        &self,
        meta: &SnapshotMeta,
        fill: impl FnOnce(&Path) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        let dest = self.snapshot_path(&meta.chain_id);
        let _lease = self.lease()?;
        let stage = self.tmp_dir().join(format!(
            "snapshot-{}-{}",
            meta.chain_id.digest(),
            std::process::id()
        ));
        remove_tree(&stage)?;
        // Created and locked under tmp's shared lock (the rule in `crate::blob`), so clean_tmp
        // never sees the stage unlocked.
        let guard = crate::blob::lock_tmp(&self.tmp_dir(), false)?;
        fs::create_dir_all(&stage).map_err(io(&stage))?;
        // Held while filling: tells clean_tmp in other processes that the stage is alive.
        let stage_handle = fs::File::open(&stage).map_err(io(&stage))?;
        stage_handle.lock().map_err(io(&stage))?;
        drop(guard);
        let result = (|| {
            fill(&stage.join("fs"))?;
            let bytes = serde_json::to_vec(meta).map_err(|e| StoreError::Json {
                what: "meta.json".into(),
                source: e,
            })?;
            fs::write(stage.join("meta.json"), bytes).map_err(io(&stage))?;
            remove_tree(&dest)?; // an incomplete leftover (no meta.json) from a crash
            fs::rename(&stage, &dest).map_err(io(&dest))?;
            crate::blob::sync_dir(&self.root().join("snapshots"))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&stage);
        }
        result
    }

    fn unpack_snapshot(
        &self,
        layer: &Digest,
        diff_id: &Digest,
        chain_id: &Digest,
        parent: Option<Digest>,
    ) -> Result<(), SnapshotError> {
        let _lock = self.lock_snapshot(chain_id)?;
        if self.snapshot_path(chain_id).join("meta.json").is_file() {
            return Ok(());
        }
        let meta = SnapshotMeta {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            parent,
            blob: layer.clone(),
        };
        let result = self.install_snapshot(&meta, |fs_dir| {
            fs::create_dir(fs_dir).map_err(io(fs_dir))?;
            apply_blob(self, layer, diff_id, fs_dir, WhiteoutMode::Overlay)
        });
        tracing::debug!(%chain_id, %layer, ok = result.is_ok(), "snapshot unpacked");
        result
    }

    /// Unpacks `image` flattened into `target` (an existing directory, normally empty): every
    /// layer applied in order with whiteouts honoured — a root filesystem, as `umoci unpack`
    /// gives without the bundle. Each layer is checked against its diffID.
    pub fn unpack(&self, image: &Image, target: &Path) -> Result<(), SnapshotError> {
        for (layer, diff_id) in layers_of(self, image)? {
            apply_blob(self, layer.digest(), &diff_id, target, WhiteoutMode::Apply)?;
        }
        Ok(())
    }
}

/// Removes snapshot directories that the layers of no image config in `configs` need.
pub(crate) fn gc_snapshots(
    store: &Store,
    configs: &BTreeSet<String>,
    young: &dyn Fn(&Path) -> bool,
) -> Result<Vec<String>, StoreError> {
    let mut wanted = BTreeSet::new();
    for digest in configs {
        let Ok(digest) = digest.parse::<Digest>() else {
            continue;
        };
        // A missing or unreadable config is fsck's business; its snapshots are not kept for it.
        let Ok(config) = store.config(&digest) else {
            continue;
        };
        if let Ok(ids) = config.diff_ids() {
            wanted.extend(chain_ids(&ids).into_iter().map(|c| c.digest().to_string()));
        }
    }
    let mut removed = Vec::new();
    for (name, path) in snapshot_dirs(store)? {
        if wanted.contains(&name) || young(&path) {
            continue;
        }
        remove_tree(&path)?;
        removed.push(name);
    }
    Ok(removed)
}

/// The snapshot directories (name, path); none when `snapshots/` does not exist.
fn snapshot_dirs(store: &Store) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let dir = store.root().join("snapshots");
    let io_err = |source| StoreError::Io {
        path: dir.clone(),
        source,
    };
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    entries
        .map(|entry| {
            let entry = entry.map_err(io_err)?;
            Ok((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ))
        })
        .collect()
}

/// Checks that every snapshot directory is complete and named for its chain ID.
pub(crate) fn fsck_snapshots(
    store: &Store,
    push: &mut dyn FnMut(String, String),
) -> Result<(), StoreError> {
    for (name, path) in snapshot_dirs(store)? {
        let subject = format!("snapshot {name}");
        let meta_path = path.join("meta.json");
        let meta: Option<SnapshotMeta> = fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match meta {
            None => push(subject, "meta.json missing or unreadable".into()),
            Some(meta) if meta.chain_id.digest() != name => push(
                subject,
                format!("meta.json names chain ID {}", meta.chain_id),
            ),
            Some(_) if !path.join("fs").is_dir() => push(subject, "fs/ missing".into()),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Removes a directory tree, making read-only directories writable first if needed.
pub(crate) fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256(format!("{a} {b}").as_bytes()));
    }
}
