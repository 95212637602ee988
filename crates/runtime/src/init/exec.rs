//! `exec` in a running container: a first child joins the init's namespaces, then clones the
//! process that enters the PID namespace and runs the command.

use std::convert::Infallible;
use std::io;
use std::os::fd::RawFd;

use super::fail::{fail_exit, Fail};
use super::{process, setup};
use crate::plan::{ChildPlan, Step};
use crate::sys::process::{exit_now, CStrArray, Spawned};
use crate::sys::{self};

/// What `exec` joins: the container init's namespaces, through its pidfd.
#[derive(Debug)]
pub(crate) struct JoinPlan {
    /// A pidfd of the container's init.
    pub(crate) pidfd: RawFd,
    /// The `CLONE_NEW*` flags of the namespaces to join.
    pub(crate) ns_flags: u64,
    /// Where the first child reports the pid (4 bytes) of the process it started.
    pub(crate) report_fd: RawFd,
}

/// Starts a process in a running container: a first child joins the init's namespaces with
/// `setns(pidfd, flags)` (Linux 5.8), then clones — with `CLONE_PARENT`, so the caller is its
/// parent — the process that enters the PID namespace (`setns` of a PID namespace applies to
/// children only), finishes the setup of `plan` and executes the command.
///
/// Returns the first child (the caller reaps it at once); the process's pid comes on
/// `join.report_fd`.
pub(crate) fn spawn_exec(plan: &ChildPlan, join: &JoinPlan) -> io::Result<Spawned> {
    let argv = CStrArray::new(&plan.argv);
    let envp = CStrArray::new(&plan.envp);
    sys::process::spawn_pidfd(0, || join_and_clone(plan, join, &argv, &envp))
}

/// The first child: joins the namespaces, clones the exec'd process, reports its pid.
fn join_and_clone(
    plan: &ChildPlan,
    join: &JoinPlan,
    argv: &CStrArray<'_>,
    envp: &CStrArray<'_>,
) -> Infallible {
    if let Err(e) = sys::process::setns(join.pidfd, join.ns_flags) {
        fail_exit(plan.error_fd, Fail::at(Step::Setns, 0)(e))
    }
    // clone3 refuses an exit signal with CLONE_PARENT: the child gets this process's
    // (SIGCHLD), sent to the caller.
    let pid = match sys::process::clone(libc::CLONE_PARENT as u64, 0, || {
        exec_child(plan, argv, envp)
    }) {
        Ok(pid) => pid,
        Err(e) => fail_exit(plan.error_fd, Fail::at(Step::Setns, 1)(e)),
    };
    let _ = sys::io::write(join.report_fd, &pid.to_ne_bytes());
    exit_now(0)
}

/// The exec'd process, inside the container's namespaces: stdio, the container's cgroup, then
/// the same process setup as the init.
fn exec_child(plan: &ChildPlan, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> Infallible {
    let r = setup::stdio_and_cgroups(plan).and_then(|()| process::process_setup(plan, argv, envp));
    match r {
        Ok(never) => match never {},
        Err(f) => fail_exit(plan.error_fd, f),
    }
}
