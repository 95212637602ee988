//! Mount stubs: the empty files and directories the runtime makes in a step's root as mount
//! points (`/proc`, `/dev`, `/sys`, `/etc/hosts`, a `RUN --mount` target…), found before the
//! step and removed from its upper dir after it, so the layer holds only the step's changes
//! (`/proc`, `/dev` and `/sys` aside, which BuildKit's layers keep).

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, FileTypeExt, MetadataExt};

/// The overlayfs xattrs that make a directory opaque (rootful, then `userxattr` mounts).
const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// Mount points the runtime makes that stay in the layer, as runc leaves them under BuildKit.
const KEPT: [&str; 3] = ["proc", "dev", "sys"];

/// What the step's mounts will add to an empty upper dir that is no change of the step's.
#[derive(Debug, Default)]
pub(super) struct Stubs {
    /// Paths (relative to the root) missing from the lower dirs, that the runtime creates as
    /// mount points.
    created: Vec<PathBuf>,
    /// Directories of the lower dirs holding a stub, that overlayfs copies up to create it,
    /// with their mode, owner and group in the lower dirs.
    copied_up: Vec<(PathBuf, (u32, u32, u32))>,
}

impl Stubs {
    /// The stubs `destinations` (absolute paths in the root) need over `lower` (topmost
    /// first). A path whose presence cannot be told is taken as present: it is then never
    /// removed. The working directory `workdir` and its parents are no stubs: the runtime
    /// creates a missing one for the step, as Docker does, and it stays.
    pub(super) fn find<'a>(
        lower: &[PathBuf],
        destinations: impl IntoIterator<Item = &'a Path>,
        workdir: &Path,
    ) -> io::Result<Self> {
        let workdir = relative(workdir).unwrap_or_default();
        let layers = lower
            .iter()
            .map(|l| Dir::open_ambient_dir(l, ambient_authority()))
            .collect::<io::Result<Vec<_>>>()?;
        let mut stubs = Stubs::default();
        for dest in destinations {
            let Some(mut rel) = relative(dest) else {
                continue;
            };
            while !rel.as_os_str().is_empty() && lookup(&layers, &rel).is_none() {
                if workdir.starts_with(&rel) {
                    break;
                }
                stubs.created.push(rel.clone());
                rel.pop();
            }
            // `rel` exists below: every directory from it up is copied up for the stub.
            while !rel.as_os_str().is_empty() {
                if stubs.copied_up.iter().all(|(p, _)| *p != rel) {
                    match lookup(&layers, &rel) {
                        Some(Some(meta)) if meta.is_dir() => stubs
                            .copied_up
                            .push((rel.clone(), (meta.mode(), meta.uid(), meta.gid()))),
                        // Not a plain directory of a lower dir: leave it be.
                        _ => break,
                    }
                }
                rel.pop();
            }
        }
        // `/proc`, `/dev` and `/sys` made for a step stay in its layer, as with BuildKit's
        // runc (a base without them gains them with its first RUN).
        stubs
            .created
            .retain(|p| !KEPT.iter().any(|k| p.as_os_str() == *k));
        let depth = |p: &Path| std::cmp::Reverse(p.components().count());
        stubs.created.sort_by_key(|p| depth(p));
        stubs.created.dedup();
        stubs.copied_up.sort_by_key(|(p, _)| depth(p));
        Ok(stubs)
    }

    /// Removes from `upper`, after the step, the stubs still empty and the copied-up
    /// directories that hold nothing else and whose mode and owner are the lower dirs'
    /// (their time aside, the merged view is then as before).
    pub(super) fn remove(&self, upper: &Path) -> io::Result<()> {
        let upper = Dir::open_ambient_dir(upper, ambient_authority())?;
        for rel in &self.created {
            let Ok(meta) = upper.symlink_metadata(rel) else {
                continue;
            };
            let removed = if meta.is_file() && meta.len() == 0 {
                upper.remove_file(rel)
            } else if meta.is_dir() {
                upper.remove_dir(rel)
            } else {
                Ok(())
            };
            if let Err(error) = removed {
                tracing::debug!(path = %rel.display(), %error, "mount stub kept");
            }
        }
        // Deepest first: a directory kept holds its parents, which are then not empty.
        for (rel, lower) in &self.copied_up {
            if unchanged_copy(&upper, rel, *lower) {
                if let Err(error) = upper.remove_dir(rel) {
                    tracing::debug!(path = %rel.display(), %error, "copied-up directory kept");
                }
            }
        }
        Ok(())
    }
}

/// `dest` relative to the root, when it is absolute and plain (no `..`).
fn relative(dest: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for c in dest.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => rel.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (dest.is_absolute() && !rel.as_os_str().is_empty()).then_some(rel)
}

/// Looks `rel` up in the lower dirs, topmost first: `None` when no layer has it or the
/// topmost that does whites it out, `Some(None)` when it cannot be told (taken as present),
/// else its metadata in the topmost layer having it.
fn lookup(layers: &[Dir], rel: &Path) -> Option<Option<cap_std::fs::Metadata>> {
    for layer in layers {
        match layer.symlink_metadata(rel) {
            Ok(meta) if meta.file_type().is_char_device() && meta.rdev() == 0 => return None,
            Ok(meta) => return Some(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => return Some(None),
        }
    }
    None
}

/// Whether `rel` in `upper` is an empty, non-opaque directory with the lower dirs' mode,
/// owner and group: a copy-up that carries no change.
fn unchanged_copy(upper: &Dir, rel: &Path, (mode, uid, gid): (u32, u32, u32)) -> bool {
    let Ok(meta) = upper.symlink_metadata(rel) else {
        return false;
    };
    if !meta.is_dir() || (meta.mode(), meta.uid(), meta.gid()) != (mode, uid, gid) {
        return false;
    }
    let Ok(dir) = upper.open_dir(rel) else {
        return false;
    };
    let empty = dir.entries().is_ok_and(|mut e| e.next().is_none());
    let opaque = OPAQUE_XATTRS
        .iter()
        .any(|name| rustix::fs::fgetxattr(&dir, *name, &mut [0u8; 8]).is_ok());
    empty && !opaque
}
