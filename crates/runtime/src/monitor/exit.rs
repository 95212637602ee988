//! After the init has exited: reaping it, the `exit` file, the container's cgroups, and
//! `--rm`'s move of the container to the trash (also that of a container whose owner ended).

use std::ffi::CString;
use std::os::fd::RawFd;

use libc::c_int;

use crate::sys::{self};

/// Auto-removal (`--rm`, or an owner that ended) done by the monitor once the exit is
/// recorded. What needs allocation — releasing the volumes, deleting the directory — is left
/// to the next store operation that empties the trash.
#[derive(Debug)]
pub(crate) struct AutoRemove {
    /// The store's lock file, its own open file description (flock is per description).
    pub(crate) lock_fd: RawFd,
    /// `ROOT/names`, and the container's name in it.
    pub(crate) names_fd: RawFd,
    pub(crate) name: CString,
    /// `ROOT/containers` and `ROOT/trash`: the container's directory moves from one to the
    /// other (the next store operation deletes it).
    pub(crate) containers_fd: RawFd,
    pub(crate) trash_fd: RawFd,
    pub(crate) id: CString,
}

/// Reaps the init: `(kind, value)` as in the `exit` file — `E` and the exit code, `S` and the
/// signal, or `U` (unknown) and 0 when it cannot be waited for.
pub(crate) fn reap(pid: i32) -> (u8, c_int) {
    let waited = loop {
        match sys::process::waitid(libc::P_PID, pid, libc::WEXITED) {
            Ok(w) => break Some(w),
            Err(libc::EINTR) => {}
            Err(_) => break None,
        }
    };
    match waited {
        None => (b'U', 0),
        Some(w) if w.code == libc::CLD_EXITED => (b'E', w.status),
        Some(w) => (b'S', w.status),
    }
}

/// Writes the exit to `exit.tmp` in the container's directory, synced, and renames it to
/// `exit`: `"E 0 1700000000123456789\n"` (exited/signaled/unknown, code or signal, when in
/// nanoseconds since the epoch).
pub(crate) fn record(dir_fd: RawFd, kind: u8, value: c_int) {
    let mut text = [0u8; 64];
    let mut len = 0;
    text[0] = kind;
    text[1] = b' ';
    len += 2;
    push_decimal(&mut text, &mut len, value as u64);
    text[len] = b' ';
    len += 1;
    push_decimal(&mut text, &mut len, sys::time::realtime_ns());
    text[len] = b'\n';
    len += 1;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
    if let Ok(f) = sys::fs::openat(dir_fd, c"exit.tmp", flags, 0o644) {
        let _ = sys::io::write(f, &text[..len]);
        let _ = sys::fs::fsync(f);
        sys::io::close(f);
        let _ = sys::fs::renameat(dir_fd, c"exit.tmp", dir_fd, c"exit");
    }
}

/// Removes the container's cgroups, innermost first, retrying for a second while the kernel
/// still counts the exited processes (`EBUSY`).
pub(crate) fn remove_cgroups(dirs: &[CString]) {
    for dir in dirs.iter().rev() {
        for _ in 0..200 {
            match sys::fs::rmdir(dir) {
                Err(libc::EBUSY) => sys::time::sleep_ns(5_000_000),
                _ => break,
            }
        }
    }
}

/// `--rm`: under the store's lock, removes the container's name and moves its directory to
/// the trash.
pub(crate) fn auto_remove(rm: &AutoRemove) {
    let _ = sys::fs::flock(rm.lock_fd, libc::LOCK_EX);
    if !rm.name.is_empty() {
        let _ = sys::fs::unlinkat(rm.names_fd, &rm.name, 0);
    }
    let _ = sys::fs::renameat(rm.containers_fd, &rm.id, rm.trash_fd, &rm.id);
    sys::io::close(rm.lock_fd);
}

/// Writes `n` in decimal at the end of `buf[..*len]`.
fn push_decimal(buf: &mut [u8], len: &mut usize, n: u64) {
    let mut digits = [0u8; 20];
    let mut n = n;
    let mut k = 0;
    loop {
        digits[k] = b'0' + (n % 10) as u8;
        k += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..k {
        if *len < buf.len() {
            buf[*len] = digits[k - 1 - i];
            *len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let mut buf = [0u8; 8];
        let mut len = 0;
        push_decimal(&mut buf, &mut len, 0);
        push_decimal(&mut buf, &mut len, 1234);
        assert_eq!(&buf[..len], b"01234");
        push_decimal(&mut buf, &mut len, 98_765);
        assert_eq!(&buf[..len], b"01234987");
    }
}
