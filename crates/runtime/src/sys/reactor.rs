//! Registering descriptors with tokio's reactor (`AsyncFd`), whose registration is `unsafe`.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Registers a pidfd with the tokio reactor (readable when the process exits).
pub(crate) fn register_pidfd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd's `as_raw_fd` returns the same descriptor for as long as it lives, and
    // the AsyncFd owns it from here until it is dropped, which deregisters it first.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// Registers a non-blocking descriptor (inotify) with the tokio reactor for reading.
pub(crate) fn register_readable(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: as in `register_pidfd`: the AsyncFd owns the descriptor until it is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// Registers a descriptor (a pty master) with the tokio reactor for reading and writing.
pub(crate) fn register_rw(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: as in `register_pidfd`: the AsyncFd owns the descriptor until it is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
        .map_err(|e| e.into_parts().1)
}
