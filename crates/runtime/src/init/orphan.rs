//! A program started outside the caller's process tree (slirp4netns for a detached
//! container), re-parented to init (or the nearest subreaper).

use std::convert::Infallible;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

use libc::c_uint;

use crate::sys::process::{exit_now, CStrArray, Spawned};
use crate::sys::{self};

/// A program started outside the caller's process tree: prepared before the clone.
#[derive(Debug)]
pub(crate) struct OrphanPlan {
    /// The executable, `argv` and `envp`.
    pub(crate) path: CString,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
    /// The working directory.
    pub(crate) cwd: CString,
    /// `(source, target)`: each source is installed as target (0, 1, 2 and a few above), the
    /// only descriptors the program gets. Every source must be above every target.
    pub(crate) fds: Vec<(RawFd, RawFd)>,
}

/// Starts a program that is not the caller's child: a first child leaves the caller's session
/// and clones the program's process, then exits, so the program is re-parented to init (or
/// the nearest subreaper), which reaps it. The program starts with every signal unblocked and
/// at its default, and only the descriptors of `plan.fds`.
///
/// Returns the first child (the caller reaps it at once).
pub(crate) fn spawn_orphan(plan: &OrphanPlan) -> io::Result<Spawned> {
    let argv = CStrArray::new(&plan.argv);
    let envp = CStrArray::new(&plan.envp);
    sys::process::spawn_pidfd(0, || {
        let _ = sys::process::setsid();
        let r = sys::process::clone(0, libc::SIGCHLD as u64, || run(plan, &argv, &envp));
        exit_now(if r.is_err() { 1 } else { 0 })
    })
}

/// The program's process: its descriptors, directory and signals, then `execve`.
fn run(plan: &OrphanPlan, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> Infallible {
    let _ = sys::io::close_range(3, c_uint::MAX, sys::io::CLOSE_RANGE_CLOEXEC);
    for &(src, dst) in &plan.fds {
        if sys::io::dup3(src, dst).is_err() {
            exit_now(127)
        }
    }
    if sys::fs::chdir(&plan.cwd).is_err() {
        exit_now(127)
    }
    for sig in 1..sys::signal::NSIG {
        let _ = sys::signal::set_default(sig);
    }
    let _ = sys::signal::set_mask(0);
    let _ = sys::process::execve(&plan.path, argv, envp);
    exit_now(127)
}
