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

use crate::blob::BlobStore;
use crate::digest::sha256;
use crate::store::{Store, StoreError};

/// The chain IDs of a stack of layers given by their diffIDs, base first: the first is its
/// diffID; each next is `sha256(parent chain ID + " " + diffID)`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => sha256(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
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

/// Removes snapshot directories that no reachable image config's layers need.
pub(crate) fn gc_snapshots(
    store: &Store,
    reachable: &BTreeSet<String>,
    young: &dyn Fn(&Path) -> bool,
) -> Result<Vec<String>, StoreError> {
    let mut wanted = BTreeSet::new();
    for digest in reachable {
        let Ok(digest) = digest.parse::<Digest>() else {
            continue;
        };
        // Configs are the reachable blobs with rootfs.diff_ids; others fail cheaply or lack it.
        let Ok(Some(size)) = store.blobs().stat(&digest) else {
            continue;
        };
        if size > crate::store::MAX_JSON_BLOB {
            continue;
        }
        let Ok(config) = store.config(&digest) else {
            continue;
        };
        if let Ok(ids) = config.diff_ids() {
            wanted.extend(chain_ids(&ids).into_iter().map(|c| c.digest().to_string()));
        }
    }
    let dir = store.root().join("snapshots");
    let mut removed = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => {
            return Err(StoreError::Io {
                path: dir,
                source: e,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if wanted.contains(&name) || young(&entry.path()) {
            continue;
        }
        remove_tree(&entry.path())?;
        removed.push(name);
    }
    Ok(removed)
}

/// Checks that every snapshot directory is complete and named for its chain ID.
pub(crate) fn fsck_snapshots(
    store: &Store,
    push: &mut dyn FnMut(String, String),
) -> Result<(), StoreError> {
    let dir = store.root().join("snapshots");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Io {
                path: dir,
                source: e,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let subject = format!("snapshot {name}");
        let meta_path = entry.path().join("meta.json");
        let meta: Option<SnapshotMeta> = fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match meta {
            None => push(subject, "meta.json missing or unreadable".into()),
            Some(meta) if meta.chain_id.digest() != name => push(
                subject,
                format!("meta.json names chain ID {}", meta.chain_id),
            ),
            Some(_) if !entry.path().join("fs").is_dir() => push(subject, "fs/ missing".into()),
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
