//! The monitor of a detached container (see the crate docs, *The monitor*): a copy of the
//! caller, re-parented to init, that clones the container's init, relays its stdio to the log
//! and to attached clients, records its exit, and cleans up after it.
//!
//! It is a post-clone child of a possibly multi-threaded program, so it keeps the rules of
//! `init`: raw system calls (`crate::sys`) on data prepared before the first clone, buffers on
//! its stack.
//!
//! - [`relay`]: the `ppoll` loop over the command's output, the log and the attach clients;
//! - [`exit`]: reaping the init, the `exit` file, cgroups and `--rm` after it (or the
//!   removal of a container whose owner has ended: the relay polls the owner's pidfd and
//!   kills the init when it is readable);
//! - [`proto`]: the attach socket's wire format and the log's timestamps, shared with the
//!   client side (`attach`, `logs`).

use std::convert::Infallible;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

use crate::plan::ChildPlan;
use crate::sys::process::{exit_now, CStrArray, Spawned};
use crate::sys::{self};

pub(crate) mod exit;
pub(crate) mod proto;
pub(crate) mod relay;

pub(crate) use exit::AutoRemove;
pub(crate) use relay::RelayPlan;

/// What the monitor of a detached container needs, prepared before the first clone.
#[derive(Debug)]
pub(crate) struct MonitorPlan {
    /// Installed as the monitor's 0, 1 and 2, which the container's init inherits.
    pub(crate) stdio: [RawFd; 3],
    /// Every descriptor the monitor and the init use, sorted; all others are closed.
    pub(crate) keep: Vec<RawFd>,
    /// The init's descriptors, closed by the monitor once the init is cloned.
    pub(crate) close_after: Vec<RawFd>,
    /// The monitor writes `[init pid, monitor pid]` (2 x i32) here; a negative init pid is
    /// the errno of the failed clone.
    pub(crate) report_fd: RawFd,
    /// The monitor reads it to EOF before reaping the init, so the caller can read the init's
    /// start time while its PID cannot be reused.
    pub(crate) ack_fd: RawFd,
    /// The container's directory: the status goes to `exit.tmp`, renamed to `exit`.
    pub(crate) dir_fd: RawFd,
    /// cgroup directories to remove after the exit.
    pub(crate) cgroup_dirs: Vec<CString>,
    /// What removing the container takes; present with `--rm` or an owner.
    pub(crate) removal: Option<AutoRemove>,
    /// `--rm`: remove the container whenever its command ends (else only when its owner has
    /// ended).
    pub(crate) auto_remove: bool,
    /// A pidfd of the process the container is tied to ([`CreateOptions::owner`]), verified
    /// against its start time before the clone; -1 when none. Once it is readable the init is
    /// killed and the container removed.
    ///
    /// [`CreateOptions::owner`]: crate::CreateOptions::owner
    pub(crate) owner_fd: RawFd,
    /// The command's stdio, its log and the attach socket (see [`RelayPlan`]).
    pub(crate) relay: RelayPlan,
}

/// Starts a detached container: a first child leaves the caller's session and clones the
/// monitor, then exits (so the monitor is re-parented to init or the nearest subreaper and
/// outlives the caller); the monitor clones the init with `flags`, waits for it and records
/// its exit status in the container's directory.
///
/// Returns the first child (the caller reaps it at once).
pub(crate) fn spawn_detached(
    plan: &ChildPlan,
    flags: u64,
    mon: &MonitorPlan,
) -> io::Result<Spawned> {
    let argv = CStrArray::new(&plan.argv);
    let envp = CStrArray::new(&plan.envp);
    sys::process::spawn_pidfd(0, || {
        let _ = sys::process::setsid();
        let r = sys::process::clone(0, libc::SIGCHLD as u64, || {
            monitor(plan, flags, mon, &argv, &envp)
        });
        exit_now(if r.is_err() { 1 } else { 0 })
    })
}

/// The monitor. Never returns.
fn monitor(
    plan: &ChildPlan,
    flags: u64,
    mon: &MonitorPlan,
    argv: &CStrArray<'_>,
    envp: &CStrArray<'_>,
) -> Infallible {
    let (pid, pidfd) = start_init(plan, flags, mon, argv, envp);
    wait_for_ack(mon.ack_fd);

    // Relays the command's output to the log and to attached clients, and their input to the
    // command, until the init has exited and its output is drained.
    let mut relay = relay::Relay::new(&mon.relay);
    let owner_ended = relay.run(pidfd, mon.owner_fd);
    sys::io::close(pidfd);
    if mon.owner_fd >= 0 {
        sys::io::close(mon.owner_fd);
    }

    let (kind, value) = exit::reap(pid);
    exit::record(mon.dir_fd, kind, value);
    // Attached clients learn the exit once it is recorded.
    relay.finish(mon.dir_fd, kind, value);
    exit::remove_cgroups(&mon.cgroup_dirs);
    if let Some(rm) = &mon.removal {
        if mon.auto_remove || owner_ended {
            exit::auto_remove(rm);
        }
    }
    exit_now(0)
}

/// Installs the monitor's stdio, closes every other descriptor it does not keep, clones the
/// container's init and reports `[init pid, monitor pid]`; exits if the clone failed.
/// Returns the init's PID and pidfd.
fn start_init(
    plan: &ChildPlan,
    flags: u64,
    mon: &MonitorPlan,
    argv: &CStrArray<'_>,
    envp: &CStrArray<'_>,
) -> (i32, RawFd) {
    for (i, fd) in mon.stdio.iter().enumerate() {
        let _ = sys::io::dup3(*fd, i as RawFd);
    }
    sys::io::close_except(&mon.keep);

    let cloned = sys::process::clone_pidfd(flags, || crate::init::child(plan, argv, envp));
    let pid = match cloned {
        Ok((pid, _)) => pid,
        Err(errno) => -errno,
    };
    for fd in &mon.close_after {
        sys::io::close(*fd);
    }
    let me = sys::process::getpid();
    let mut report = [0u8; 8];
    report[..4].copy_from_slice(&pid.to_ne_bytes());
    report[4..].copy_from_slice(&me.to_ne_bytes());
    let _ = sys::io::write(mon.report_fd, &report);
    sys::io::close(mon.report_fd);
    match cloned {
        Ok(init) => init,
        Err(_) => exit_now(1),
    }
}

/// Reads the caller's acknowledgement pipe to its end (the caller has read what it needs of
/// the init while its PID cannot be reused).
fn wait_for_ack(ack_fd: RawFd) {
    let mut b = [0u8; 16];
    loop {
        match sys::io::read(ack_fd, &mut b) {
            Ok(0) => break,
            Ok(_) | Err(libc::EINTR) => {}
            Err(_) => break,
        }
    }
    sys::io::close(ack_fd);
}
