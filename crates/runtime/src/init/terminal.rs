//! The command's terminal: a pty opened in the container's own `/dev/ptmx`, its master sent to
//! the caller, its slave the controlling terminal and stdio.

use std::os::fd::RawFd;

use crate::sys::{self, Errno};

/// Opens a pty in the container's own `/dev/ptmx` (so the command sees `/dev/pts/N` of its
/// devpts instance), sends the master on `sock` (`SCM_RIGHTS`), gives the slave to `uid`, makes
/// it the controlling terminal of a new session and installs it as 0, 1 and 2.
///
/// Returns `(errno, index of the failing call)`.
pub(crate) fn terminal(sock: RawFd, uid: u32) -> Result<(), (Errno, u32)> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let m = sys::fs::openat(libc::AT_FDCWD, c"/dev/ptmx", flags, 0).map_err(|e| (e, 0))?;
    sys::tty::unlock_pty(m).map_err(|e| (e, 1))?;
    let s = sys::tty::open_peer(m, flags).map_err(|e| (e, 2))?;
    sys::io::send_fd(sock, m).map_err(|e| (e, 3))?;
    sys::io::close(m);
    // Best effort, as runc: a user namespace may not map the owner.
    let _ = sys::fs::fchown_user(s, uid);
    sys::process::setsid().map_err(|e| (e, 4))?;
    sys::tty::set_controlling(s).map_err(|e| (e, 5))?;
    for i in 0..3 {
        sys::io::dup3(s, i).map_err(|e| (e, 6))?;
    }
    sys::io::close(s);
    Ok(())
}
