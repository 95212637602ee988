//! What a path is in the layers under a step (their snapshot dirs, topmost first), and
//! giving the directories a step's layer holds only as parents the metadata they have there,
//! as BuildKit's diff does (a `COPY x /tmp/` layer keeps `/tmp` at 1777).

use std::fs::{self, Metadata};
use std::os::unix::fs::{lchown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::copy::inside;
use crate::error::BuildError;

/// `path`'s metadata in the overlay of `roots` (snapshot dirs, top first): the topmost layer
/// that has the path decides; a whiteout (a 0:0 character device) hides it.
pub(crate) fn lower_meta(roots: &[PathBuf], path: &str) -> Option<Metadata> {
    for root in roots {
        match inside(root, path).symlink_metadata() {
            Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => return None,
            Ok(m) => return Some(m),
            Err(_) => {}
        }
    }
    None
}

/// Whether `path` is a directory (not a link to one) in the overlay of `roots`.
pub(crate) fn is_dir_in(roots: &[PathBuf], path: &str) -> bool {
    lower_meta(roots, path).is_some_and(|m| m.is_dir())
}

/// The paths from the first component of `path` (absolute in the image) down to `path`.
pub(crate) fn prefixes(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        cur.push('/');
        cur.push_str(c);
        out.push(cur.clone());
    }
    out
}

/// For `dest` and each directory above it in the staged tree `staged`: when the lower layers
/// have it as a directory, gives the staged one their mode, owner and group (the step only
/// passes through it).
pub(crate) fn keep_lower_dirs(
    staged: &Path,
    roots: &[PathBuf],
    dest: &str,
) -> Result<(), BuildError> {
    for p in prefixes(dest) {
        let here = inside(staged, &p);
        let staged_dir = here.symlink_metadata().is_ok_and(|m| m.is_dir());
        let Some(lower) = lower_meta(roots, &p).filter(|m| m.is_dir() && staged_dir) else {
            continue;
        };
        fs::set_permissions(&here, fs::Permissions::from_mode(lower.mode() & 0o7777))
            .map_err(BuildError::io("chmod", &here))?;
        lchown(&here, Some(lower.uid()), Some(lower.gid()))
            .map_err(BuildError::io("chown", &here))?;
    }
    Ok(())
}
