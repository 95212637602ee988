//! The container's init after `clone3`, up to `execve`: its setup, the mount steps, the
//! command's process setup, the tiny init (`--init`), the process an `exec` starts, and a
//! program started outside the caller's process tree.
//!
//! # The rules this code keeps
//!
//! `spawn` is called from any thread of a multi-threaded program. The child of `clone3` is a
//! copy of that program with one thread; locks held by other threads stay held forever, and the
//! C library still believes the other threads exist. So the child:
//!
//! - never allocates, never takes a lock, never formats, never unwinds;
//! - only reads the [`ChildPlan`] prepared before the clone;
//! - makes *raw* system calls (`crate::sys`), never C library wrappers with hidden state
//!   (glibc's `setresuid` broadcasts to the threads it thinks exist; `setrlimit`, `mount` and
//!   friends are called as plain syscalls for the same reason);
//! - reports a failure as `(step, errno, index)` on a close-on-exec pipe and exits with
//!   `_exit(127)`; a successful `execve` closes that pipe, which the parent reads as success.
//!
//! All signals are blocked in the calling thread around `clone3`, so no handler of the host
//! program runs in the child; the child resets every handler to the default and unblocks
//! everything just before `execve`, so the command starts with a clean signal state.
//!
//! - [`setup`]: the init's steps, from the parent's go-ahead to `pivot_root`;
//! - [`mount`]: one mount step, its destination resolved (and created) inside the root;
//! - [`process`]: the command's process setup (also an exec'd process's): identity, signals,
//!   seccomp, the `$PATH` search;
//! - [`terminal`]: the pty opened in the container and made the controlling terminal;
//! - [`tiny`]: `--init`, PID 1 that starts the command and reaps zombies;
//! - [`exec`]: joining a running container for `exec`;
//! - [`orphan`]: a program re-parented to init (slirp4netns for a detached container);
//! - [`fail`]: the failure report on the error pipe.

use std::convert::Infallible;
use std::io;

use crate::plan::ChildPlan;
use crate::sys::process::{CStrArray, Spawned};

pub(crate) mod exec;
pub(crate) mod fail;
pub(crate) mod mount;
pub(crate) mod orphan;
pub(crate) mod process;
pub(crate) mod setup;
pub(crate) mod terminal;
pub(crate) mod tiny;

pub(crate) use exec::{spawn_exec, JoinPlan};
pub(crate) use fail::Fail;
pub(crate) use orphan::{spawn_orphan, OrphanPlan};

/// Starts the container's init with `clone3(flags | CLONE_PIDFD)`; the child runs `plan`.
pub(crate) fn spawn(plan: &ChildPlan, flags: u64) -> io::Result<Spawned> {
    // The pointer arrays execve wants, built now: the child cannot allocate.
    let argv = CStrArray::new(&plan.argv);
    let envp = CStrArray::new(&plan.envp);
    crate::sys::process::spawn_pidfd(flags, || child(plan, &argv, &envp))
}

/// The child: set up and exec; on failure, report and `_exit(127)`. Only to be run in a child
/// of `clone3` (by [`spawn`], and by the monitor of a detached container).
pub(crate) fn child(plan: &ChildPlan, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> Infallible {
    match setup::setup(plan, argv, envp) {
        Ok(never) => match never {},
        Err(f) => fail::fail_exit(plan.error_fd, f),
    }
}
