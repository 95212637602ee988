//! The container's file system as the child builds it: paths split for resolution inside the
//! root ([`InRoot`]), the root's own mount and the mount steps.

use std::ffi::CString;
use std::path::Path;

use super::cstr::cstring;
use crate::error::Error;

/// A path inside the container's root, split the way the child walks it.
///
/// The child resolves every component relative to the root with `openat2(RESOLVE_IN_ROOT)`,
/// so a symlink in the image can never lead a mount outside the root.
#[derive(Debug)]
pub(crate) struct InRoot {
    /// `a/b/c` (no leading slash), for messages and for the last lookup.
    pub(crate) display: String,
    /// `a`, `a/b`, `a/b/c`.
    pub(crate) prefixes: Vec<CString>,
    /// `a`, `b`, `c`.
    pub(crate) names: Vec<CString>,
}

impl InRoot {
    /// Splits an absolute container path; `..` and empty components are refused.
    pub(crate) fn new(path: &Path) -> Result<Self, Error> {
        let text = path.to_str().ok_or_else(|| Error::InvalidPath {
            path: path.to_path_buf(),
            reason: "not UTF-8",
        })?;
        let mut prefixes = Vec::new();
        let mut names = Vec::new();
        let mut prefix = String::new();
        for name in text.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if name == ".." {
                return Err(Error::InvalidPath {
                    path: path.to_path_buf(),
                    reason: "contains `..`",
                });
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(name);
            prefixes.push(cstring(&prefix)?);
            names.push(cstring(name)?);
        }
        if names.is_empty() {
            return Err(Error::InvalidPath {
                path: path.to_path_buf(),
                reason: "names the root itself",
            });
        }
        Ok(Self {
            display: format!("/{prefix}"),
            prefixes,
            names,
        })
    }
}

/// What a mount destination must be when the child creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
}

/// One step of building the container's file system, run by the child before `pivot_root`.
#[derive(Debug)]
pub(crate) enum MountStep {
    /// Mount a file system (proc, tmpfs, devpts, sysfs, mqueue) on a directory in the root.
    Fs {
        fstype: CString,
        source: CString,
        dest: InRoot,
        flags: u64,
        data: Option<CString>,
    },
    /// Bind a host path (file or directory) into the root.
    Bind {
        source: CString,
        dest: InRoot,
        kind: Kind,
        recursive: bool,
        readonly: bool,
    },
    /// Create a device node (rootful).
    Mknod { dest: InRoot, mode: u32, dev: u64 },
    /// Create a symlink in the root (for `/dev/fd` and friends).
    Symlink { target: CString, dest: InRoot },
    /// Hide a path: `/dev/null` over a file, an empty read-only tmpfs over a directory.
    Mask { dest: InRoot },
    /// Make a path read-only (a read-only bind of itself). Missing paths are skipped.
    ReadOnly { dest: InRoot },
    /// Create a directory (the working directory) if missing.
    Mkdir { dest: InRoot },
}

impl MountStep {
    pub(crate) fn dest(&self) -> &str {
        match self {
            MountStep::Fs { dest, .. }
            | MountStep::Bind { dest, .. }
            | MountStep::Mknod { dest, .. }
            | MountStep::Symlink { dest, .. }
            | MountStep::Mask { dest }
            | MountStep::ReadOnly { dest }
            | MountStep::Mkdir { dest } => &dest.display,
        }
    }
}

/// How the root file system is mounted.
#[derive(Debug)]
pub(crate) enum RootMount {
    /// An overlay mounted on top of its own upper dir (in the child's private mount namespace).
    Overlay { data: CString },
    /// A directory bound onto itself.
    Bind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_root_splits_and_refuses_dotdot() {
        let p = InRoot::new(Path::new("/dev//pts/./x")).unwrap();
        assert_eq!(p.display, "/dev/pts/x");
        assert_eq!(p.prefixes.last().unwrap().to_str().unwrap(), "dev/pts/x");
        assert_eq!(p.names.len(), 3);
        assert!(InRoot::new(Path::new("/a/../b")).is_err());
        assert!(InRoot::new(Path::new("/")).is_err());
    }
}
