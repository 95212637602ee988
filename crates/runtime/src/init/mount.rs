//! One mount step of the plan, in the child before `pivot_root`. Every destination is resolved
//! inside the root with `openat2(RESOLVE_IN_ROOT)` and created on the way if missing; mounts go
//! on `/proc/self/fd/N` of the resolved descriptor, so no symlink of the image can send a mount
//! to the host. Errors are the errno (the caller reports the step and the mount's index).

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::c_ulong;

use crate::plan::{InRoot, Kind, MountStep};
use crate::sys::fs::{fd_path, open_in_root};
use crate::sys::io::close;
use crate::sys::mount::mount;
use crate::sys::{self, Errno};

/// One mount step; returns the errno on failure.
pub(crate) fn mount_step(root: RawFd, m: &MountStep) -> Result<(), Errno> {
    match m {
        MountStep::Fs {
            fstype,
            source,
            dest,
            flags,
            data,
        } => mount_fs(
            root,
            fstype,
            source,
            dest,
            *flags as c_ulong,
            data.as_deref(),
        ),
        MountStep::Bind {
            source,
            dest,
            kind,
            recursive,
            readonly,
        } => bind(root, source, dest, *kind, *recursive, *readonly),
        MountStep::Mknod { dest, mode, dev } => create_in_parent(root, dest, |parent, name| {
            sys::fs::mknodat(parent, name, *mode, *dev)
        }),
        MountStep::Symlink { target, dest } => create_in_parent(root, dest, |parent, name| {
            sys::fs::symlinkat(target, parent, name)
        }),
        MountStep::Mask { dest } => mask(root, dest),
        MountStep::Mkdir { dest } => {
            close(ensure(root, dest, Kind::Dir)?);
            Ok(())
        }
        MountStep::ReadOnly { dest } => bind_readonly(root, dest),
    }
}

/// The whole path inside the root (`a/b/c`).
fn whole(dest: &InRoot) -> &CStr {
    &dest.prefixes[dest.names.len() - 1]
}

/// Mounts a file system on a directory of the root (created if missing).
fn mount_fs(
    root: RawFd,
    fstype: &CStr,
    source: &CStr,
    dest: &InRoot,
    flags: c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let fd = ensure(root, dest, Kind::Dir)?;
    let mut buf = [0u8; 32];
    let r = mount(
        Some(source),
        fd_path(fd, &mut buf),
        Some(fstype),
        flags,
        data,
    );
    close(fd);
    r
}

/// Binds a host path into the root (the destination created as `kind`), read-only if asked.
fn bind(
    root: RawFd,
    source: &CStr,
    dest: &InRoot,
    kind: Kind,
    recursive: bool,
    readonly: bool,
) -> Result<(), Errno> {
    let fd = ensure(root, dest, kind)?;
    let mut flags = libc::MS_BIND;
    if recursive {
        flags |= libc::MS_REC;
    }
    let mut buf = [0u8; 32];
    let r = mount(Some(source), fd_path(fd, &mut buf), None, flags, None);
    close(fd);
    r?;
    if readonly {
        // Reopen: the old descriptor names what is now covered by the mount.
        let top = open_in_root(root, whole(dest), 0)?;
        // A recursive bind carries the source's submounts, still writable: make them all
        // read-only at once (Linux 5.12); older kernels get the top mount only.
        let r = match recursive.then(|| sys::mount::readonly_recursive(top)) {
            Some(Err(libc::ENOSYS)) | None => remount_readonly(fd_path(top, &mut buf), top),
            Some(r) => r,
        };
        close(top);
        r?;
    }
    Ok(())
}

/// Hides a path: `/dev/null` over a file, an empty read-only tmpfs over a directory. A missing
/// path is left alone.
fn mask(root: RawFd, dest: &InRoot) -> Result<(), Errno> {
    let fd = match open_in_root(root, whole(dest), 0) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 32];
    let r = match sys::fs::is_dir(fd) {
        Ok(true) => mount(
            Some(c"tmpfs"),
            fd_path(fd, &mut buf),
            Some(c"tmpfs"),
            libc::MS_RDONLY,
            Some(c"size=0"),
        ),
        Ok(false) => mount(
            Some(c"/dev/null"),
            fd_path(fd, &mut buf),
            None,
            libc::MS_BIND,
            None,
        ),
        Err(e) => Err(e),
    };
    close(fd);
    r
}

/// Makes a path read-only: a recursive bind of itself, remounted read-only. A missing path is
/// left alone.
fn bind_readonly(root: RawFd, dest: &InRoot) -> Result<(), Errno> {
    let fd = match open_in_root(root, whole(dest), 0) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 32];
    let path = fd_path(fd, &mut buf);
    let r = mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None);
    close(fd);
    r?;
    let top = open_in_root(root, whole(dest), 0)?;
    let r = remount_readonly(fd_path(top, &mut buf), top);
    close(top);
    r
}

/// Remounts the mount at `path` (`fd`) read-only, keeping the flags a user namespace may not
/// clear.
pub(crate) fn remount_readonly(path: &CStr, fd: RawFd) -> Result<(), Errno> {
    let f = sys::fs::mount_flags(fd)? as c_ulong;
    let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    mount(None, path, None, flags, None)
}

/// Resolves `dest` in the root, creating missing directories (and the last component as
/// `kind`) on the way. Returns an `O_PATH` descriptor.
fn ensure(root: RawFd, dest: &InRoot, kind: Kind) -> Result<RawFd, Errno> {
    match open_in_root(root, whole(dest), 0) {
        Ok(fd) => return Ok(fd),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    create_in_parent(root, dest, |parent, name| {
        if kind == Kind::Dir {
            sys::fs::mkdirat(parent, name, 0o755)
        } else {
            let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
            close(sys::fs::openat(parent, name, flags, 0o644)?);
            Ok(())
        }
    })?;
    open_in_root(root, whole(dest), 0)
}

/// Makes the last component of `dest` with `make(parent, name)`, its parent directories
/// created first; one that exists already is fine.
fn create_in_parent(
    root: RawFd,
    dest: &InRoot,
    make: impl FnOnce(RawFd, &CStr) -> Result<(), Errno>,
) -> Result<(), Errno> {
    let parent = ensure_parent(root, dest)?;
    let r = make(parent, &dest.names[dest.names.len() - 1]);
    if parent != root {
        close(parent);
    }
    match r {
        Err(e) if e != libc::EEXIST => Err(e),
        _ => Ok(()),
    }
}

/// The directory that holds the last component, created if missing.
fn ensure_parent(root: RawFd, dest: &InRoot) -> Result<RawFd, Errno> {
    let n = dest.names.len();
    if n == 1 {
        return Ok(root);
    }
    match open_in_root(root, &dest.prefixes[n - 2], libc::O_DIRECTORY) {
        Ok(fd) => Ok(fd),
        Err(libc::ENOENT) => {
            ensure_dirs(root, dest, n - 1)?;
            open_in_root(root, &dest.prefixes[n - 2], libc::O_DIRECTORY)
        }
        Err(e) => Err(e),
    }
}

/// Creates the first `count` components of `dest` as directories.
fn ensure_dirs(root: RawFd, dest: &InRoot, count: usize) -> Result<(), Errno> {
    for i in 0..count {
        match open_in_root(root, &dest.prefixes[i], 0) {
            Ok(fd) => {
                close(fd);
                continue;
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let parent = open_parent_dir(root, dest, i)?;
        let r = sys::fs::mkdirat(parent, &dest.names[i], 0o755);
        if parent != root {
            close(parent);
        }
        match r {
            Err(e) if e != libc::EEXIST => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Opens the directory that holds component `i` of `dest`, resolved in the root (the root
/// itself for the first component). The caller closes it unless it is `root`.
fn open_parent_dir(root: RawFd, dest: &InRoot, i: usize) -> Result<RawFd, Errno> {
    if i == 0 {
        Ok(root)
    } else {
        open_in_root(root, &dest.prefixes[i - 1], libc::O_DIRECTORY)
    }
}
