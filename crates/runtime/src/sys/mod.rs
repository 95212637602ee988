//! The only module with `unsafe`: one thin, safe function per system call, grouped by area.
//!
//! Each wrapper makes one raw system call (`libc::syscall`, never a C library wrapper with
//! hidden state: glibc's `setresuid` broadcasts to the threads it believes exist) inside a small
//! `unsafe` block with its own `// SAFETY:` line, and returns `Result<_, Errno>`. The wrappers
//! the post-clone child uses (`init`, `monitor`) are async-signal-safe: they never allocate,
//! take a lock or format; they take `&CStr`, raw descriptors and buffers the caller owns.
//!
//! - [`process`]: `clone3` (the child runs a closure), exit, namespaces, identity, `waitid`,
//!   `execve`, `prctl`;
//! - [`caps`]: capabilities, `no_new_privs`, seccomp;
//! - [`signal`]: dispositions, masks, waiting for and sending signals;
//! - [`fs`]: descriptors on paths (`openat2` in a root, `mkdirat`, …), `chdir`, `umask`;
//! - [`mount`]: `mount`, `pivot_root`, `mount_setattr`, the overlay probe;
//! - [`io`]: read, write, `writev`, `sendmsg` (with a descriptor), `ppoll`, descriptor tables;
//! - [`net`]: sockets and the loopback interface's flags;
//! - [`tty`]: pty and terminal `ioctl`s;
//! - [`time`]: clocks and sleeping;
//! - [`reactor`] and [`command`]: registering descriptors with tokio, descriptors passed to a
//!   `std::process::Command` (ordinary threads, not post-clone code).

#![allow(unsafe_code)]

use libc::c_long;

pub(crate) mod caps;
pub(crate) mod command;
pub(crate) mod fs;
pub(crate) mod io;
pub(crate) mod mount;
pub(crate) mod net;
pub(crate) mod process;
pub(crate) mod reactor;
pub(crate) mod signal;
pub(crate) mod time;
pub(crate) mod tty;

/// An `errno` value, as the wrappers return it.
pub(crate) type Errno = i32;

/// This thread's `errno`.
pub(crate) fn errno() -> Errno {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// A raw system call's return value, or `errno` when it failed.
fn result(ret: c_long) -> Result<c_long, Errno> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

// The wrappers the layers above use by their short path.
pub(crate) use self::command::pass_fds;
pub(crate) use self::mount::probe_overlay;
pub(crate) use self::reactor::{register_pidfd, register_readable, register_rw};
