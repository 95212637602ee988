//! Terminals: unlocking a pty and opening its peer, the controlling terminal, the window size.

use std::os::fd::RawFd;
use std::ptr;

use libc::{c_int, c_long, c_ulong};

use super::{result, Errno};

/// `ioctl(master, TIOCSPTLCK, 0)`: unlocks the pty's slave.
pub(crate) fn unlock_pty(master: RawFd) -> Result<(), Errno> {
    let unlock: c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int on this stack.
    result(unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            master,
            libc::TIOCSPTLCK as c_ulong,
            ptr::addr_of!(unlock),
        )
    })
    .map(drop)
}

/// `ioctl(master, TIOCGPTPEER, flags)`: opens the pty's slave through its master (in the
/// master's devpts instance, whatever the mount namespace).
pub(crate) fn open_peer(master: RawFd, flags: c_int) -> Result<RawFd, Errno> {
    // SAFETY: integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            master,
            libc::TIOCGPTPEER as c_ulong,
            flags as c_long,
        )
    };
    result(r).map(|fd| fd as RawFd)
}

/// `ioctl(fd, TIOCSCTTY, 0)`: the terminal becomes the session's controlling terminal.
pub(crate) fn set_controlling(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::TIOCSCTTY as c_ulong, 0 as c_long) })
        .map(drop)
}

/// `ioctl(fd, TIOCSWINSZ)`: the terminal's size (its foreground process group gets
/// `SIGWINCH`).
pub(crate) fn set_window_size(fd: RawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize on this stack.
    result(unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            fd,
            libc::TIOCSWINSZ as c_ulong,
            ptr::addr_of!(ws),
        )
    })
    .map(drop)
}
