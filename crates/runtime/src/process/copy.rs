//! `cp` into and out of a container, running or stopped, with no symlink escape.
//!
//! # How paths inside the container are resolved
//!
//! Every path on the container's side is resolved with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` on a descriptor of the container's root directory: `..` stops at the
//! root, an absolute symlink is read relative to the root, and `/proc/*/root`-style magic links
//! are refused. That closes the CVE-2018-15664 class (a path checked, then swapped for a symlink
//! to the host, before it is used): there is no check-then-use by name, only descriptors.
//! Below the resolved directory, the tree copy works on descriptors too (`openat` with
//! `O_NOFOLLOW` on each name read from the directory, `fchown`/`fchmod`/`futimens` on the
//! opened descriptor), so a symlink found while copying is copied as a symlink, never
//! followed, and an entry swapped for a symlink mid-copy makes the copy fail, not escape.
//!
//! The root is:
//! - for a running container, `/proc/PID/root` of its init ([`ContainerRoot::of_child`]), which
//!   shows the container's whole mount tree (its overlay, volumes, bind mounts);
//! - for a stopped one ([`ContainerRoot::stopped`]), the root directory itself
//!   ([`RootFs::Dir`]), or for an overlay its merged view, mounted for the duration on a private
//!   (0700) temporary directory — which needs root. The container's upper dir receives what
//!   is copied in, exactly as if the container had written it.
//!
//! # What is copied
//!
//! Directories, regular files, symlinks, device nodes and FIFOs, with their modes (including
//! set-id bits), owners (when permitted) and modification/access times. Sockets are skipped;
//! extended attributes and hard links are not preserved (hard-linked files become copies).
//!
//! Docker's path rules apply: when the destination is an existing directory the source is copied
//! into it under its own name; a source ending in `/.` copies the directory's contents; a
//! source's own final symlink is copied as a link, not followed.

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::error::Error;
use crate::plan::RootMount;
use crate::process::running::Child;
use crate::sandbox::ids::new_id;
use crate::sandbox::rootfs::RootFs;

/// A container's root directory, opened for copying into and out of it.
#[derive(Debug)]
pub struct ContainerRoot {
    fd: OwnedFd,
    /// The temporary overlay mount of a stopped container, unmounted on drop.
    _mount: Option<TempMount>,
}

impl ContainerRoot {
    /// The root of a running container (`/proc/PID/root` of its init).
    pub fn of_child(child: &Child) -> Result<Self, Error> {
        if child.is_reaped() {
            return Err(Error::io(
                "opening the root of",
                format!("container {}", child.id()),
                io::Error::new(io::ErrorKind::NotFound, "the container is not running"),
            ));
        }
        Self::of_pid(child.pid())
    }

    /// The root of the running process `pid` (`/proc/PID/root`). The caller makes sure `pid`
    /// is the container's init (for example, a child it has not reaped).
    pub fn of_pid(pid: i32) -> Result<Self, Error> {
        let path = format!("/proc/{pid}/root");
        let fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening the container root", &path, e.into()))?;
        Ok(ContainerRoot { fd, _mount: None })
    }

    /// The files of a stopped container: its directory, or its overlay mounted read-write on a
    /// private temporary directory (root only) while the value lives.
    ///
    /// Not for a running container over an overlay: its upper dir is in use by the container's
    /// own mount (the kernel refuses or warns); use [`of_child`](Self::of_child) then.
    pub fn stopped(rootfs: &RootFs) -> Result<Self, Error> {
        // An overlay whose merged view was materialized runs over that copy.
        let rootfs = &rootfs.effective();
        match rootfs {
            RootFs::Dir(d) => Self::dir(d),
            RootFs::Overlay { .. } => {
                let (_, how) = rootfs.root_mount()?;
                let RootMount::Overlay { data } = how else {
                    return Err(Error::Unsupported {
                        what: "an overlay root without overlay options".into(),
                    });
                };
                TempMount::overlay(&data, false)?.into_root()
            }
        }
    }

    fn dir(d: &Path) -> Result<Self, Error> {
        let fd = rustix::fs::open(
            d,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening the container root", d, e.into()))?;
        Ok(ContainerRoot { fd, _mount: None })
    }

    /// Resolves `path` inside the root (symlinks followed, but only ever inside it).
    fn resolve(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        rustix::fs::openat2(
            &self.fd,
            rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(Into::into)
    }

    /// Copies the host path `src` into the container at `dst` (`docker cp SRC CONTAINER:DST`).
    pub fn copy_in(&self, src: &Path, dst: &str) -> Result<(), Error> {
        let src_text = src.as_os_str().as_bytes();
        let contents = src_text.ends_with(b"/.");
        let (sdir, sname) = host_parent(src)?;
        let err_dst = |e: io::Error| Error::Copy {
            path: dst.into(),
            source: e,
        };
        let (ddir, dname) = match self.resolve(dst, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(dir) => (dir, None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) || is_not_found(&e) => {
                if dst.ends_with('/') {
                    return Err(err_dst(io::Error::new(
                        e.kind(),
                        "the destination directory must exist",
                    )));
                }
                let (parent, name) = split(dst);
                let pdir = self
                    .resolve(parent, OFlags::RDONLY | OFlags::DIRECTORY)
                    .map_err(err_dst)?;
                (pdir, Some(name.to_owned()))
            }
            Err(e) => return Err(err_dst(e)),
        };
        let copier = Copier::new();
        copy_with_rules(
            &copier,
            (sdir.as_fd(), sname.as_deref(), contents, src),
            (
                ddir.as_fd(),
                dname.as_deref().map(OsStr::new),
                Path::new(dst),
            ),
        )
    }

    /// Copies `src` from the container to the host path `dst` (`docker cp CONTAINER:SRC DST`).
    pub fn copy_out(&self, src: &str, dst: &Path) -> Result<(), Error> {
        let contents = src.ends_with("/.") || src.trim_start_matches('/').is_empty();
        let err_src = |e: io::Error| Error::Copy {
            path: src.into(),
            source: e,
        };
        let (sdir, sname) = if contents {
            let dir = self
                .resolve(src, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(err_src)?;
            (dir, None)
        } else {
            let (parent, name) = split(src.trim_end_matches('/'));
            let dir = self
                .resolve(parent, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(err_src)?;
            (dir, Some(OsStr::new(name).to_owned()))
        };
        let (ddir, dname) = match std::fs::metadata(dst) {
            Ok(m) if m.is_dir() => (open_host_dir(dst)?, None),
            Ok(_) => {
                let (p, n) = host_parent(dst)?;
                (p, n)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (p, n) = host_parent(dst)?;
                (p, n)
            }
            Err(e) => return Err(Error::io("reading", dst, e)),
        };
        let copier = Copier::new();
        copy_with_rules(
            &copier,
            (sdir.as_fd(), sname.as_deref(), contents, Path::new(src)),
            (ddir.as_fd(), dname.as_deref(), dst),
        )
    }
}

/// Copies following Docker's rules. `src`: (directory, name in it or `None` for the directory
/// itself, contents-only, path for messages). `dst`: (directory, new name or `None` to copy
/// into the directory, path for messages).
fn copy_with_rules(
    copier: &Copier,
    src: (BorrowedFd<'_>, Option<&OsStr>, bool, &Path),
    dst: (BorrowedFd<'_>, Option<&OsStr>, &Path),
) -> Result<(), Error> {
    let (sdir, sname, contents, spath) = src;
    let (ddir, dname, dpath) = dst;
    match (sname, contents, dname) {
        // `SRC/.` (or the root) into an existing directory: its entries.
        (None, _, None) | (Some(_), true, None) => {
            let dir = match sname {
                Some(n) => openat_dir(sdir, n).map_err(|e| copy_err(spath, e))?,
                None => rustix::fs::openat(
                    sdir,
                    c".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| copy_err(spath, e.into()))?,
            };
            copier.copy_children(dir.as_fd(), ddir, spath)
        }
        // A directory's contents to a new name: the directory itself under that name.
        (None, _, Some(new)) => {
            // `sdir` is the directory; copy it by name from itself (`.`).
            copier.copy_entry(sdir, OsStr::new("."), ddir, new, spath)
        }
        (Some(n), _, Some(new)) => copier.copy_entry(sdir, n, ddir, new, spath),
        (Some(n), false, None) => copier.copy_entry(sdir, n, ddir, n, dpath),
    }
}

fn copy_err(path: &Path, e: io::Error) -> Error {
    Error::Copy {
        path: path.to_path_buf(),
        source: e,
    }
}

fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// `("/a/b", "c")` for `/a/b/c`; `("/", "c")` for `c` or `/c`.
fn split(path: &str) -> (&str, &str) {
    let p = path.trim_end_matches('/');
    match p.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((d, n)) => (d, n),
        None => ("/", p),
    }
}

fn open_host_dir(p: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", p, e.into()))
}

/// The host directory holding `p` and `p`'s last name (`None` for `DIR/.`: the directory
/// itself, opened).
fn host_parent(p: &Path) -> Result<(OwnedFd, Option<std::ffi::OsString>), Error> {
    let bytes = p.as_os_str().as_bytes();
    if bytes.ends_with(b"/.") || bytes == b"." {
        return Ok((open_host_dir(p)?, None));
    }
    let name = p.file_name().ok_or_else(|| Error::InvalidPath {
        path: p.to_path_buf(),
        reason: "names no file",
    })?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((open_host_dir(parent)?, Some(name.to_owned())))
}

fn openat_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Into::into)
}

/// Copies trees between directory descriptors, never following a symlink.
#[derive(Debug)]
pub(crate) struct Copier {
    /// Owners are set only when we may (`chown` failing with `EPERM` is ignored otherwise).
    root: bool,
}

impl Copier {
    pub(crate) fn new() -> Self {
        Copier {
            root: rustix::process::geteuid().is_root(),
        }
    }

    /// Copies each entry of `src` into `dst`.
    pub(crate) fn copy_children(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        at: &Path,
    ) -> Result<(), Error> {
        let mut dir = rustix::fs::Dir::read_from(src).map_err(|e| copy_err(at, e.into()))?;
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| copy_err(at, e.into()))?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let name = cstr_os(name);
            self.copy_entry(src, name, dst, name, &at.join(name))?;
        }
        Ok(())
    }

    /// Copies the entry `sname` of `sdir` to `dname` in `ddir`, recursively.
    pub(crate) fn copy_entry(
        &self,
        sdir: BorrowedFd<'_>,
        sname: &OsStr,
        ddir: BorrowedFd<'_>,
        dname: &OsStr,
        at: &Path,
    ) -> Result<(), Error> {
        let e = |err: io::Error| copy_err(at, err);
        let ee = |err: Errno| copy_err(at, err.into());
        let st = rustix::fs::statat(sdir, sname, AtFlags::SYMLINK_NOFOLLOW).map_err(ee)?;
        let meta = Meta::of(&st);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let src = openat_dir(sdir, sname).map_err(e)?;
                let dst = match openat_dir(ddir, dname) {
                    Ok(fd) => fd,
                    Err(err) if is_not_found(&err) => {
                        rustix::fs::mkdirat(ddir, dname, Mode::from_raw_mode(0o700)).map_err(ee)?;
                        openat_dir(ddir, dname).map_err(e)?
                    }
                    Err(err) if matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                        rustix::fs::unlinkat(ddir, dname, AtFlags::empty()).map_err(ee)?;
                        rustix::fs::mkdirat(ddir, dname, Mode::from_raw_mode(0o700)).map_err(ee)?;
                        openat_dir(ddir, dname).map_err(e)?
                    }
                    Err(err) => return Err(e(err)),
                };
                self.copy_children(src.as_fd(), dst.as_fd(), at)?;
                self.finish(dst.as_fd(), &meta).map_err(e)
            }
            FileType::RegularFile => {
                let src = rustix::fs::openat(
                    sdir,
                    sname,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(ee)?;
                remove_non_dir(ddir, dname).map_err(e)?;
                let dst = rustix::fs::openat(
                    ddir,
                    dname,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(ee)?;
                let mut from = std::fs::File::from(src);
                let mut to = std::fs::File::from(dst);
                io::copy(&mut from, &mut to).map_err(e)?;
                self.finish(to.as_fd(), &meta).map_err(e)
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(sdir, sname, Vec::new()).map_err(ee)?;
                remove_non_dir(ddir, dname).map_err(e)?;
                rustix::fs::symlinkat(target.as_c_str(), ddir, dname).map_err(ee)?;
                self.chown_result(rustix::fs::chownat(
                    ddir,
                    dname,
                    Some(rustix::fs::Uid::from_raw(meta.uid)),
                    Some(rustix::fs::Gid::from_raw(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                ))
                .map_err(e)?;
                rustix::fs::utimensat(ddir, dname, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(ee)
            }
            t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                remove_non_dir(ddir, dname).map_err(e)?;
                rustix::fs::mknodat(
                    ddir,
                    dname,
                    t,
                    Mode::from_raw_mode(0o600),
                    st.st_rdev as rustix::fs::Dev,
                )
                .map_err(ee)?;
                // An O_PATH descriptor of the node just made (O_NOFOLLOW: if it was swapped for
                // a symlink, this fails), then owner, mode and times through it.
                let fd = rustix::fs::openat(
                    ddir,
                    dname,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(ee)?;
                self.chown_result(rustix::fs::chownat(
                    &fd,
                    c"",
                    Some(rustix::fs::Uid::from_raw(meta.uid)),
                    Some(rustix::fs::Gid::from_raw(meta.gid)),
                    AtFlags::EMPTY_PATH,
                ))
                .map_err(e)?;
                let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
                rustix::fs::chmod(&proc, meta.mode).map_err(ee)?;
                rustix::fs::utimensat(rustix::fs::CWD, &proc, &meta.times, AtFlags::empty())
                    .map_err(ee)
            }
            _ => {
                tracing::debug!(path = %at.display(), "socket not copied");
                Ok(())
            }
        }
    }

    /// Owner, then mode (a chown clears set-id bits), then times, on an open descriptor.
    pub(crate) fn finish(&self, fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
        self.chown_result(rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
        ))?;
        rustix::fs::fchmod(fd, meta.mode)?;
        rustix::fs::futimens(fd, &meta.times)?;
        Ok(())
    }

    fn chown_result(&self, r: rustix::io::Result<()>) -> io::Result<()> {
        match r {
            Err(Errno::PERM | Errno::INVAL) if !self.root => Ok(()),
            other => other.map_err(Into::into),
        }
    }
}

/// What is preserved of an entry.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    uid: u32,
    gid: u32,
    mode: Mode,
    times: Timestamps,
}

impl Meta {
    pub(crate) fn of(st: &rustix::fs::Stat) -> Meta {
        Meta {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: Mode::from_raw_mode(st.st_mode & 0o7777),
            times: Timestamps {
                last_access: Timespec {
                    tv_sec: st.st_atime,
                    tv_nsec: st.st_atime_nsec as _,
                },
                last_modification: Timespec {
                    tv_sec: st.st_mtime,
                    tv_nsec: st.st_mtime_nsec as _,
                },
            },
        }
    }
}

/// Removes a non-directory at `name` (nothing there is fine; a directory is an error).
fn remove_non_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "cannot overwrite a directory with a non-directory",
        )),
        Err(e) => Err(e.into()),
    }
}

fn cstr_os(c: &CStr) -> &OsStr {
    OsStr::from_bytes(c.to_bytes())
}

/// A read-only view of the image's files at build time (for seeding volumes): the directory,
/// or the overlay's layers (upper included) mounted read-only on a private temporary directory.
pub(crate) fn image_view(rootfs: &RootFs) -> Result<ContainerRoot, Error> {
    match rootfs {
        RootFs::Dir(d) => ContainerRoot::dir(d),
        RootFs::Overlay { .. } => {
            let (_, how) = rootfs.root_mount()?;
            let RootMount::Overlay { data } = how else {
                return Err(Error::Unsupported {
                    what: "an overlay root without overlay options".into(),
                });
            };
            // lowerdir=L,upperdir=U,workdir=W  ->  lowerdir=U:L (read-only, no work dir).
            let text = data.to_string_lossy();
            let mut lower = "";
            let mut upper = "";
            for opt in text.split(',') {
                if let Some(v) = opt.strip_prefix("lowerdir=") {
                    lower = v;
                } else if let Some(v) = opt.strip_prefix("upperdir=") {
                    upper = v;
                }
            }
            let ro = crate::plan::cstring(&format!("lowerdir={upper}:{lower}"))?;
            TempMount::overlay(&ro, true)?.into_root()
        }
    }
}

/// Copies the image's content at `dest` into the empty volume directory `data`, with the
/// directory's own owner and mode (Docker's volume seeding). Nothing at `dest`: nothing copied.
pub(crate) fn seed(view: &ContainerRoot, dest: &Path, data: &Path) -> Result<(), Error> {
    let Some(dest_text) = dest.to_str() else {
        return Err(Error::InvalidPath {
            path: dest.to_path_buf(),
            reason: "not UTF-8",
        });
    };
    let src = match view.resolve(dest_text, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if is_not_found(&e) || e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(copy_err(dest, e)),
    };
    let dst = open_host_dir(data)?;
    let copier = Copier::new();
    copier.copy_children(src.as_fd(), dst.as_fd(), dest)?;
    let st = rustix::fs::fstat(&src).map_err(|e| copy_err(dest, e.into()))?;
    copier
        .finish(dst.as_fd(), &Meta::of(&st))
        .map_err(|e| copy_err(data, e))
}

/// An overlay mounted on a private temporary directory; unmounted and removed on drop.
#[derive(Debug)]
struct TempMount {
    dir: PathBuf,
}

impl TempMount {
    fn overlay(data: &CStr, read_only: bool) -> Result<TempMount, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("boxwright-mnt-{}", &new_id()[..16]));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("creating a mount point", &dir, e))?;
        let mut flags = rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV;
        if read_only {
            flags |= rustix::mount::MountFlags::RDONLY;
        }
        if let Err(e) = rustix::mount::mount("overlay", &dir, "overlay", flags, Some(data)) {
            let _ = std::fs::remove_dir(&dir);
            return Err(Error::io(
                "mounting the container's overlay (needs root)",
                &dir,
                e.into(),
            ));
        }
        Ok(TempMount { dir })
    }

    fn into_root(self) -> Result<ContainerRoot, Error> {
        let fd = rustix::fs::open(
            &self.dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening the container root", &self.dir, e.into()))?;
        Ok(ContainerRoot {
            fd,
            _mount: Some(self),
        })
    }
}

impl Drop for TempMount {
    fn drop(&mut self) {
        // Detached: a descriptor still open below it does not keep the mount point busy.
        if let Err(e) = rustix::mount::unmount(&self.dir, rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "unmounting a temporary overlay");
            return;
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(split("/a/b/c"), ("/a/b", "c"));
        assert_eq!(split("/c"), ("/", "c"));
        assert_eq!(split("c"), ("/", "c"));
        assert_eq!(split("/a/b/"), ("/a", "b"));
    }
}
