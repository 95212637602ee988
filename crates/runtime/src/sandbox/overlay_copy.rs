//! The overlay fallback: an overlay's merged view, materialized into a plain directory.
//!
//! Used when the kernel refuses the overlay mount, or when asked ([`OverlayMode`]). The layers
//! are applied bottom first with overlayfs' rules: a whiteout (a 0:0 character device, or a
//! file with the `overlay.whiteout` xattr) removes what lies below; a directory marked opaque
//! (`trusted.overlay.opaque` or `user.overlay.opaque` = `y`) hides the contents of the
//! directories below it; anything else replaces what is below it, except a directory over a
//! directory, whose contents merge. Modes, owners, extended attributes (but overlayfs' own),
//! symlinks, device nodes, hard links (within a layer) and timestamps are kept.
//!
//! [`OverlayMode`]: crate::OverlayMode

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags, CWD,
};

use crate::error::Error;

/// Overlayfs' private extended attributes, never copied.
fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

fn has_flag(path: &Path, names: [&str; 2]) -> bool {
    let mut buf = [0u8; 8];
    names
        .iter()
        .any(|n| matches!(rustix::fs::lgetxattr(path, *n, &mut buf[..]), Ok(1) if buf[0] == b'y'))
}

fn xattr_present(path: &Path, names: [&str; 2]) -> bool {
    let mut buf = [0u8; 0];
    names
        .iter()
        .any(|n| rustix::fs::lgetxattr(path, *n, &mut buf[..]).is_ok())
}

struct Merger {
    root: bool,
    /// (layer, device, inode) of a multiply-linked file → its first copy.
    links: HashMap<(usize, u64, u64), PathBuf>,
    /// Directory timestamps, set last (adding entries changes them), topmost layer's.
    dir_times: HashMap<PathBuf, (i64, i64, i64, i64)>,
    buf: Vec<u8>,
    value: Vec<u8>,
}

/// Materializes the merged view of `lower` (bottom first) and `upper` into `dest`, which must
/// not exist: built in `dest.tmp` (removed first if left over) and renamed at the end, so
/// `dest` exists only complete.
pub(crate) fn materialize(lower: &[PathBuf], upper: &Path, dest: &Path) -> Result<(), Error> {
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs::symlink_metadata(&tmp) {
        Ok(_) => fs::remove_dir_all(&tmp).map_err(|e| Error::io("removing", &tmp, e))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("reading", &tmp, e)),
    }
    fs::create_dir(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    let mut m = Merger {
        root: rustix::process::geteuid().is_root(),
        links: HashMap::new(),
        dir_times: HashMap::new(),
        buf: vec![0; 65536],
        value: vec![0; 65536],
    };
    for (i, layer) in lower
        .iter()
        .map(PathBuf::as_path)
        .chain([upper])
        .enumerate()
    {
        let meta = fs::symlink_metadata(layer).map_err(|e| Error::io("reading", layer, e))?;
        m.attributes(layer, &tmp, &meta)?;
        m.dir_times.insert(tmp.clone(), times(&meta));
        m.layer(i, layer, &tmp)?;
    }
    let mut dirs: Vec<_> = m.dir_times.drain().collect();
    // Deepest first: setting a directory's times never changes its parent's.
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (p, t) in dirs {
        // A directory a later layer removed has no times to set.
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            set_times(&p, t)?;
        }
    }
    fs::rename(&tmp, dest).map_err(|e| Error::io("renaming into place", dest, e))?;
    tracing::info!(dest = %dest.display(), layers = lower.len() + 1, "overlay materialized");
    Ok(())
}

fn times(m: &fs::Metadata) -> (i64, i64, i64, i64) {
    (m.atime(), m.atime_nsec(), m.mtime(), m.mtime_nsec())
}

fn set_times(p: &Path, (a, an, m, mn): (i64, i64, i64, i64)) -> Result<(), Error> {
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: a,
            tv_nsec: an as _,
        },
        last_modification: Timespec {
            tv_sec: m,
            tv_nsec: mn as _,
        },
    };
    rustix::fs::utimensat(CWD, p, &ts, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("setting the times of", p, e.into()))
}

fn remove(p: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).map_err(|e| Error::io("removing", p, e)),
        Ok(_) => fs::remove_file(p).map_err(|e| Error::io("removing", p, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("reading", p, e)),
    }
}

impl Merger {
    /// Applies one layer's directory `src` onto `dst` (an existing real directory).
    fn layer(&mut self, index: usize, src: &Path, dst: &Path) -> Result<(), Error> {
        let entries = fs::read_dir(src).map_err(|e| Error::io("reading", src, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("reading", src, e))?;
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).map_err(|e| Error::io("reading", &from, e))?;
            let ft = meta.file_type();
            let whiteout = (ft.is_char_device() && meta.rdev() == 0)
                || (ft.is_file()
                    && meta.len() == 0
                    && xattr_present(&from, ["trusted.overlay.whiteout", "user.overlay.whiteout"]));
            if whiteout {
                remove(&to)?;
                continue;
            }
            if ft.is_dir() {
                let existing = fs::symlink_metadata(&to).ok();
                let opaque = has_flag(&from, ["trusted.overlay.opaque", "user.overlay.opaque"]);
                match existing {
                    Some(e) if e.is_dir() && !opaque => {}
                    Some(_) => {
                        remove(&to)?;
                        fs::create_dir(&to).map_err(|e| Error::io("creating", &to, e))?;
                    }
                    None => fs::create_dir(&to).map_err(|e| Error::io("creating", &to, e))?,
                }
                self.attributes(&from, &to, &meta)?;
                self.dir_times.insert(to.clone(), times(&meta));
                self.layer(index, &from, &to)?;
                continue;
            }
            remove(&to)?;
            self.dir_times.remove(&to);
            if meta.nlink() > 1 {
                let key = (index, meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key) {
                    fs::hard_link(first, &to).map_err(|e| Error::io("linking", &to, e))?;
                    continue;
                }
                self.links.insert(key, to.clone());
            }
            if ft.is_file() {
                let mut r = fs::File::from(
                    rustix::fs::open(
                        &from,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| Error::io("opening", &from, e.into()))?,
                );
                let mut w = fs::File::from(
                    rustix::fs::open(
                        &to,
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )
                    .map_err(|e| Error::io("creating", &to, e.into()))?,
                );
                // copy_file_range underneath: a reflink where the file system can.
                io::copy(&mut r, &mut w).map_err(|e| Error::io("copying", &from, e))?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&from).map_err(|e| Error::io("reading", &from, e))?;
                std::os::unix::fs::symlink(&target, &to)
                    .map_err(|e| Error::io("creating", &to, e))?;
            } else {
                // FIFO, socket or device node.
                let kind = FileType::from_raw_mode(meta.mode());
                rustix::fs::mknodat(CWD, &to, kind, Mode::from_raw_mode(0o600), meta.rdev())
                    .map_err(|e| Error::io("creating", &to, e.into()))?;
            }
            self.attributes(&from, &to, &meta)?;
            set_times(&to, times(&meta))?;
        }
        Ok(())
    }

    /// Owner, mode (after the owner: `chown` clears set-id bits) and extended attributes.
    fn attributes(&mut self, from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), Error> {
        let owner = rustix::fs::chownat(
            CWD,
            to,
            Some(Uid::from_raw(meta.uid())),
            Some(Gid::from_raw(meta.gid())),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        match owner {
            Ok(()) => {}
            // Unprivileged: the files stay the caller's.
            Err(e) if !self.root && e == rustix::io::Errno::PERM => {}
            Err(e) => return Err(Error::io("changing the owner of", to, e.into())),
        }
        let symlink = meta.file_type().is_symlink();
        if !symlink {
            rustix::fs::chmod(to, Mode::from_raw_mode(meta.mode() & 0o7777))
                .map_err(|e| Error::io("changing the mode of", to, e.into()))?;
        }
        let n = match rustix::fs::llistxattr(from, &mut self.buf[..]) {
            Ok(n) => n,
            Err(rustix::io::Errno::NOTSUP) => return Ok(()),
            Err(e) => {
                return Err(Error::io(
                    "listing the extended attributes of",
                    from,
                    e.into(),
                ))
            }
        };
        let names: Vec<Vec<u8>> = self.buf[..n]
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty() && !is_overlay_xattr(s))
            .map(<[u8]>::to_vec)
            .collect();
        for name in names {
            let cname = std::ffi::CString::new(name).unwrap_or_default();
            let len = match rustix::fs::lgetxattr(from, cname.as_c_str(), &mut self.value[..]) {
                Ok(len) => len,
                Err(rustix::io::Errno::NODATA) => continue,
                Err(e) => {
                    return Err(Error::io(
                        "reading the extended attributes of",
                        from,
                        e.into(),
                    ))
                }
            };
            match rustix::fs::lsetxattr(
                to,
                cname.as_c_str(),
                &self.value[..len],
                XattrFlags::empty(),
            ) {
                Ok(()) => {}
                // `user.*` is refused on symlinks; `trusted.*` and `security.*` to the
                // unprivileged.
                Err(rustix::io::Errno::PERM) if symlink || !self.root => {}
                Err(e) => {
                    return Err(Error::io(
                        "setting the extended attributes of",
                        to,
                        e.into(),
                    ))
                }
            }
        }
        Ok(())
    }
}
