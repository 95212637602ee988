//! Adopting a directory a layer was just made from as that layer's snapshot, so that a build
//! step's files are not written a second time by unpacking the layer again.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::image::Digest;
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

use crate::snapshot::{io, next_chain_id, Snapshot, SnapshotError, SnapshotMeta};
use crate::store::Store;

/// The largest list of extended attribute names Linux returns (`XATTR_LIST_MAX`).
const XATTR_LIST_MAX: usize = 65536;

impl Store {
    /// Makes `dir` the snapshot of layer `layer` (its compressed blob, already in the store)
    /// with diffID `diff_id`, on top of the snapshot chain `parent` (`None` for a base layer),
    /// instead of unpacking the layer again later; returns the snapshot.
    ///
    /// `dir` must be the tree the layer was made from by [`crate::create_layer`] with
    /// [`crate::LayerSource::Directory`] and `source_date_epoch` as in its
    /// [`crate::CreateOptions`], unchanged since, and lie on the store's filesystem (under
    /// [`crate::DiskBlobs::tmp_dir`], in an entry its caller keeps locked as the rule there
    /// says): it is renamed, not copied. Before that, its entries are given what unpacking the
    /// layer would give them: every mtime in whole seconds, clamped to `source_date_epoch`, with
    /// the access time set to it where it changes. Its root, which a layer has no entry for, is
    /// kept as it is.
    ///
    /// Under the snapshot's lock: when the snapshot already exists, `dir` is left untouched
    /// (the caller removes it) and the existing snapshot is returned. Otherwise `dir` is
    /// normalized as above and renamed to the snapshot's `fs/`, and `meta.json` written last,
    /// exactly as when a layer is unpacked.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::NotAdoptable`] when `dir` holds something the layer does not carry as
    /// it is on disk (a socket, a 0:0 character device, an overlayfs `trusted.overlay.*` or
    /// `user.overlay.*` attribute): then `dir` may have had mtimes changed but is still where
    /// it was, and the layer is unpacked when its snapshot is needed. I/O errors as
    /// [`SnapshotError::Store`]; on any error `dir` is the caller's to remove, wherever it is
    /// left, and no snapshot is made.
    pub fn adopt_snapshot(
        &self,
        parent: Option<&Digest>,
        layer: &Digest,
        diff_id: &Digest,
        dir: &Path,
        source_date_epoch: Option<i64>,
    ) -> Result<Snapshot, SnapshotError> {
        let chain_id = next_chain_id(parent, diff_id);
        let snapshot = Snapshot {
            chain_id: chain_id.clone(),
            dir: self.snapshot_path(&chain_id).join("fs"),
        };
        let _lock = self.lock_snapshot(&chain_id)?;
        if self.snapshot_path(&chain_id).join("meta.json").is_file() {
            tracing::debug!(%chain_id, "snapshot already there, not adopted");
            return Ok(snapshot);
        }
        let mut names = vec![0u8; XATTR_LIST_MAX];
        normalize(dir, source_date_epoch, &mut names)?;
        let meta = SnapshotMeta {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            parent: parent.cloned(),
            blob: layer.clone(),
        };
        self.install_snapshot(&meta, |fs_dir| fs::rename(dir, fs_dir).map_err(io(fs_dir)))?;
        tracing::debug!(%chain_id, %layer, "snapshot adopted");
        Ok(snapshot)
    }
}

/// Gives every entry below `dir` the mtime its layer records (whole seconds, clamped to
/// `epoch`), refusing what the layer does not carry as it is. `names` is scratch space.
fn normalize(dir: &Path, epoch: Option<i64>, names: &mut [u8]) -> Result<(), SnapshotError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(io(&path))?;
        let ft = meta.file_type();
        let refuse = |reason: &'static str| SnapshotError::NotAdoptable {
            path: path.clone(),
            reason,
        };
        if ft.is_socket() {
            return Err(refuse("a socket, which layers do not carry"));
        }
        if ft.is_char_device() && meta.rdev() == 0 {
            return Err(refuse("a 0:0 character device, an overlayfs whiteout"));
        }
        if has_overlay_xattr(&path, names).map_err(|e| io(&path)(e.into()))? {
            return Err(refuse("an overlayfs attribute, which layers do not carry"));
        }
        let want = epoch.map_or(meta.mtime(), |epoch| meta.mtime().min(epoch));
        if meta.mtime_nsec() != 0 || meta.mtime() != want {
            let time = Timespec {
                tv_sec: want,
                tv_nsec: 0,
            };
            let times = Timestamps {
                last_access: time,
                last_modification: time,
            };
            rustix::fs::utimensat(CWD, &path, &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io(&path)(e.into()))?;
        }
        if ft.is_dir() {
            normalize(&path, epoch, names)?;
        }
    }
    Ok(())
}

/// Whether `path` (not followed) has an overlayfs private attribute.
fn has_overlay_xattr(path: &Path, names: &mut [u8]) -> rustix::io::Result<bool> {
    let len = match rustix::fs::llistxattr(path, &mut *names) {
        Ok(len) => len,
        Err(rustix::io::Errno::NOTSUP) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(names[..len]
        .split(|&b| b == 0)
        .any(|name| name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")))
}
