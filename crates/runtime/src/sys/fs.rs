//! Files and directories through descriptors: `openat`, `openat2` confined to a root,
//! `mkdirat`, `mknodat`, `symlinkat`, `fstat`, `fstatfs`, renames and removals, `chdir`,
//! `umask`, `flock`, and `/proc/self/fd/N` paths.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_int, c_long};

use super::{result, Errno};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `struct open_how` for `openat2`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat(dir, path, flags, mode)` (`dir` may be `AT_FDCWD`).
pub(crate) fn openat(dir: RawFd, path: &CStr, flags: c_int, mode: u32) -> Result<RawFd, Errno> {
    // SAFETY: a NUL-terminated path alive for the call; integers otherwise.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat,
            dir,
            path.as_ptr(),
            flags as c_long,
            mode as c_long,
        )
    };
    result(r).map(|fd| fd as RawFd)
}

/// `openat2(root, path, O_PATH | O_CLOEXEC | extra, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
/// `path` resolved as if `root` were `/`, so no symlink leads outside it.
pub(crate) fn open_in_root(root: RawFd, path: &CStr, extra: c_int) -> Result<RawFd, Errno> {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC | extra) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: a NUL-terminated path and `how` on this stack with its size, alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            path.as_ptr(),
            ptr::addr_of!(how),
            std::mem::size_of::<OpenHow>(),
        )
    };
    result(r).map(|fd| fd as RawFd)
}

/// `mkdirat(dir, name, mode)`.
pub(crate) fn mkdirat(dir: RawFd, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated name alive for the call.
    result(unsafe { libc::syscall(libc::SYS_mkdirat, dir, name.as_ptr(), mode as c_long) })
        .map(drop)
}

/// `mknodat(dir, name, mode, dev)`.
pub(crate) fn mknodat(dir: RawFd, name: &CStr, mode: u32, dev: u64) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated name alive for the call; integers otherwise.
    result(unsafe {
        libc::syscall(
            libc::SYS_mknodat,
            dir,
            name.as_ptr(),
            mode as c_long,
            dev as c_long,
        )
    })
    .map(drop)
}

/// `symlinkat(target, dir, name)`.
pub(crate) fn symlinkat(target: &CStr, dir: RawFd, name: &CStr) -> Result<(), Errno> {
    // SAFETY: two NUL-terminated strings alive for the call.
    result(unsafe { libc::syscall(libc::SYS_symlinkat, target.as_ptr(), dir, name.as_ptr()) })
        .map(drop)
}

/// Whether the descriptor (`O_PATH` will do) names a directory.
pub(crate) fn is_dir(fd: RawFd) -> Result<bool, Errno> {
    // SAFETY: stat is plain data; all zeroes is a valid value.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat with an empty path (AT_EMPTY_PATH) fills `st` on this stack.
    let r = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            fd,
            c"".as_ptr(),
            ptr::addr_of_mut!(st),
            libc::AT_EMPTY_PATH as c_long,
        )
    };
    result(r)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// The mount flags (`ST_*`) of the file system holding the descriptor (`fstatfs`).
pub(crate) fn mount_flags(fd: RawFd) -> Result<u64, Errno> {
    // SAFETY: statfs is plain data; all zeroes is a valid value.
    let mut st: libc::statfs64 = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs fills `st` on this stack.
    result(unsafe { libc::syscall(libc::SYS_fstatfs, fd, ptr::addr_of_mut!(st)) })?;
    Ok(st.f_flags as u64)
}

/// `fchown(fd, uid, -1)`: the owner, the group unchanged.
pub(crate) fn fchown_user(fd: RawFd, uid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_fchown, fd, uid as c_long, -1 as c_long) }).map(drop)
}

/// `chdir(path)`.
pub(crate) fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path alive for the call.
    result(unsafe { libc::syscall(libc::SYS_chdir, path.as_ptr()) }).map(drop)
}

/// `umask(mask)`: returns the previous mask.
pub(crate) fn umask(mask: u32) -> u32 {
    // SAFETY: an integer argument; umask cannot fail.
    unsafe { libc::syscall(libc::SYS_umask, mask as c_long) as u32 }
}

/// `unlinkat(dir, name, flags)`.
pub(crate) fn unlinkat(dir: RawFd, name: &CStr, flags: c_int) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated name alive for the call.
    result(unsafe { libc::syscall(libc::SYS_unlinkat, dir, name.as_ptr(), flags as c_long) })
        .map(drop)
}

/// `renameat(old_dir, old, new_dir, new)`.
pub(crate) fn renameat(
    old_dir: RawFd,
    old: &CStr,
    new_dir: RawFd,
    new: &CStr,
) -> Result<(), Errno> {
    // SAFETY: two NUL-terminated names alive for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_renameat,
            old_dir,
            old.as_ptr(),
            new_dir,
            new.as_ptr(),
        )
    })
    .map(drop)
}

/// `rmdir(path)`.
pub(crate) fn rmdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path alive for the call.
    result(unsafe { libc::syscall(libc::SYS_rmdir, path.as_ptr()) }).map(drop)
}

/// `fsync(fd)`.
pub(crate) fn fsync(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: an integer argument.
    result(unsafe { libc::syscall(libc::SYS_fsync, fd) }).map(drop)
}

/// `flock(fd, operation)`.
pub(crate) fn flock(fd: RawFd, operation: c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_flock, fd, operation as c_long) }).map(drop)
}

/// `lseek(fd, 0, SEEK_END)`: the file's length (and the offset is moved there).
pub(crate) fn seek_end(fd: RawFd) -> Result<u64, Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_lseek, fd, 0 as c_long, libc::SEEK_END) })
        .map(|n| n as u64)
}

/// `/proc/self/fd/N` for a descriptor, written into `buf` (no allocation).
pub(crate) fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths() {
        let mut buf = [0u8; 32];
        assert_eq!(fd_path(0, &mut buf), c"/proc/self/fd/0");
        assert!(buf.starts_with(b"/proc/self/fd/0\0"));
        assert_eq!(fd_path(1234, &mut buf), c"/proc/self/fd/1234");
        assert!(buf.starts_with(b"/proc/self/fd/1234\0"));
    }
}
