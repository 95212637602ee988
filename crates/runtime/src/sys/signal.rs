//! Signals: dispositions, masks (a process's, and the calling thread's around a clone),
//! waiting for a signal and sending one.

use std::ptr;

use libc::{c_int, c_long, c_ulong};

use super::{result, Errno};

/// Highest signal number (exclusive) whose disposition a child resets.
pub(crate) const NSIG: c_int = 65;

/// The kernel's `struct sigaction` for `rt_sigaction`.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: c_ulong,
    restorer: usize,
    mask: u64,
}

/// `rt_sigaction(sig, SIG_DFL)`: the default disposition.
pub(crate) fn set_default(sig: c_int) -> Result<(), Errno> {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: a kernel sigaction on this stack, the old-action pointer NULL, the mask's size.
    result(unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig as c_long,
            ptr::addr_of!(default),
            ptr::null_mut::<KernelSigaction>(),
            8 as c_ulong,
        )
    })
    .map(drop)
}

/// `rt_sigprocmask(SIG_SETMASK, mask)`: the blocked signals (bit `n - 1` for signal `n`).
pub(crate) fn set_mask(mask: u64) -> Result<(), Errno> {
    // SAFETY: a mask on this stack of the size passed; the old-mask pointer is NULL.
    result(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as c_long,
            ptr::addr_of!(mask),
            ptr::null_mut::<u64>(),
            8 as c_ulong,
        )
    })
    .map(drop)
}

/// `rt_sigtimedwait(mask)` without a timeout: takes one pending signal of `mask`.
pub(crate) fn wait(mask: u64) -> Result<c_int, Errno> {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the mask and `info` live on this stack for the call; no timeout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigtimedwait,
            ptr::addr_of!(mask),
            ptr::addr_of_mut!(info),
            ptr::null::<libc::timespec>(),
            8 as c_ulong,
        )
    };
    result(r).map(|sig| sig as c_int)
}

/// `kill(pid, sig)`.
pub(crate) fn kill(pid: i32, sig: c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_kill, pid as c_long, sig as c_long) }).map(drop)
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: a signal to the process a pidfd names (never to
/// a process that took its PID after it ended).
pub(crate) fn pidfd_send_signal(pidfd: c_int, sig: c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments and a null siginfo, which the kernel allows.
    result(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd as c_long,
            sig as c_long,
            ptr::null::<libc::siginfo_t>(),
            0 as c_ulong,
        )
    })
    .map(drop)
}

/// Blocks every signal in the calling thread; returns the mask to restore.
pub(crate) fn block_all_in_thread() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all zeroes is a valid (empty) set.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigfillset and pthread_sigmask write sets on this stack; pthread_sigmask
    // changes only this thread's mask.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    old
}

/// Restores the calling thread's mask saved by [`block_all_in_thread`].
pub(crate) fn restore_thread_mask(old: &libc::sigset_t) {
    // SAFETY: a set on the caller's stack; only this thread's mask changes.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, ptr::null_mut());
    }
}
