//! `docker exec`: a second process in a running container.
//!
//! A first child joins the namespaces in which the container's init differs from the caller
//! (user, mount, PID, UTS, IPC, network, cgroup) with one `setns(pidfd, flags)` on a pidfd of
//! the init — checked against the init's start time, so a recycled PID is never joined. (A
//! rootless caller may not join our non-dumpable `--init`: it then joins a child of the init,
//! which runs the container's own program.) Joining
//! a PID namespace applies to children only, so that child clones the process that runs the
//! command, with `CLONE_PARENT`: it is the caller's own child, waited for through its pidfd like
//! an attached container. That process joins the container's cgroups, then takes the same
//! path as the container's init from its terminal on: rlimits, user, capabilities,
//! `no_new_privs`, seccomp, descriptors closed, `execve` after a `$PATH` search done inside
//! the container.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags};

use crate::error::Error;
use crate::init::{self, Fail, JoinPlan};
use crate::process::handshake::{executed, read_all, reap_first, reported_error};
use crate::process::proc::{children, parent_of, verified_pidfd};
use crate::process::running::Child;
use crate::sandbox::container::{Container, Stdio};
use crate::sandbox::prepare::{pipe, Prepared};
use crate::sandbox::rootfs::RootFs;

/// Options of [`Containers::exec`](crate::Containers::exec) (`docker exec` flags).
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Extra environment variables (`-e K=V`), over the container's.
    pub env: Vec<(String, String)>,
    /// The working directory (`-w`); the container's by default.
    pub workdir: Option<PathBuf>,
    /// A terminal (`-t`): see [`Child::pty`]; the stdio settings are then ignored.
    pub tty: bool,
    /// Where the process's stdin comes from (default [`Stdio::Null`]).
    pub stdin: Stdio,
    /// Where its stdout goes (default [`Stdio::Piped`]).
    pub stdout: Stdio,
    /// Where its stderr goes (default [`Stdio::Piped`]).
    pub stderr: Stdio,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            env: Vec::new(),
            workdir: None,
            tty: false,
            stdin: Stdio::Null,
            stdout: Stdio::Piped,
            stderr: Stdio::Piped,
        }
    }
}

/// The namespaces of `pid` that differ from ours, as `CLONE_NEW*` flags.
fn differing_namespaces(pid: i32) -> u64 {
    let mut flags = 0u64;
    for (name, flag) in [
        ("user", libc::CLONE_NEWUSER),
        ("mnt", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("uts", libc::CLONE_NEWUTS),
        ("ipc", libc::CLONE_NEWIPC),
        ("net", libc::CLONE_NEWNET),
        ("cgroup", libc::CLONE_NEWCGROUP),
    ] {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
        if let (Ok(t), Ok(o)) = (theirs, ours) {
            use std::os::unix::fs::MetadataExt;
            if (t.dev(), t.ino()) != (o.dev(), o.ino()) {
                flags |= flag as u64;
            }
        }
    }
    flags
}

/// A running container's init, as `exec` needs it.
pub(crate) struct RunningInit {
    pub(crate) id: String,
    pub(crate) pid: i32,
    pub(crate) start: u64,
    pub(crate) cgroup_dirs: Vec<PathBuf>,
    pub(crate) spec: Spec,
    pub(crate) rootfs: RootFs,
}

impl RunningInit {
    /// A process whose namespaces and root the caller may open, and a pidfd of it: the
    /// container's init — or, when the kernel refuses the caller access to it (a rootless
    /// caller and our non-dumpable `--init`, whose memory belongs to the caller's user
    /// namespace), one of the init's children, which have executed the container's own
    /// programs and so belong to the container's user namespace.
    ///
    /// Every candidate is checked after its pidfd is opened: the init by its start time, a
    /// child by having the init as its parent, so a recycled PID is never chosen.
    pub(crate) fn anchor(&self) -> Result<(i32, OwnedFd), Error> {
        let not_running = || Error::NotRunning {
            id: self.id.clone(),
        };
        let init_fd = verified_pidfd(Some(self.pid), Some(self.start)).ok_or_else(not_running)?;
        let accessible = |pid: i32| fs::metadata(format!("/proc/{pid}/ns/mnt")).is_ok();
        if accessible(self.pid) {
            return Ok((self.pid, init_fd));
        }
        for child in children(self.pid) {
            let Some(fd) = Pid::from_raw(child)
                .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok())
            else {
                continue;
            };
            if parent_of(child) == Some(self.pid) && accessible(child) {
                tracing::debug!(
                    init = self.pid,
                    child,
                    "joining the container through a child of its init"
                );
                return Ok((child, fd));
            }
        }
        let path = format!("/proc/{}/ns", self.pid);
        Err(Error::io(
            "opening the namespaces of the container's init",
            path,
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ))
    }
}

/// Runs `cmd` (not empty) in the running container `init` as `opts` say; see
/// [`Containers::exec`](crate::Containers::exec).
pub(crate) async fn exec(
    init: &RunningInit,
    cmd: Vec<String>,
    opts: &ExecOptions,
) -> Result<Child, Error> {
    let (anchor, init_pidfd) = init.anchor()?;
    let ns_flags = differing_namespaces(anchor);
    tracing::debug!(ns_flags = format_args!("{ns_flags:#x}"), "exec: joining");

    let mut spec = init.spec.clone();
    if let Some(process) = spec.process_mut() {
        process.set_args(Some(cmd));
        let mut env = process.env().clone().unwrap_or_default();
        for (k, v) in &opts.env {
            env.retain(|e| !e.starts_with(&format!("{k}=")));
            env.push(format!("{k}={v}"));
        }
        process.set_env(Some(env));
        if let Some(w) = &opts.workdir {
            process.set_cwd(w.clone());
        }
        process.set_terminal(Some(opts.tty));
    }
    // No cgroup of its own: it joins the container's.
    if let Some(linux) = spec.linux_mut() {
        linux.set_resources(None);
    }
    let mut container = Container::new(spec, init.rootfs.clone())?.with_id(init.id.clone());
    container.set_stdio(opts.stdin, opts.stdout, opts.stderr);
    let Prepared {
        mut plan,
        error_r,
        stdin_w,
        stdout_r,
        stderr_r,
        child_fds,
        terminal,
        ..
    } = container.prepare(None, false)?;
    let mut cgroup_procs = Vec::new();
    for d in &init.cgroup_dirs {
        let path = d.join("cgroup.procs");
        let fd = rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::io("opening", &path, e.into()))?;
        cgroup_procs.push(fd);
    }
    plan.cgroup_procs = cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect();
    // Only in the init: the exec'd process must not wait for a user-namespace map.
    plan.sync_fd = None;

    let (report_r, report_w) = pipe()?;
    let join = JoinPlan {
        pidfd: init_pidfd.as_raw_fd(),
        ns_flags,
        report_fd: report_w.as_raw_fd(),
    };
    let first = init::spawn_exec(&plan, &join).map_err(|e| Error::sys("clone3", e))?;
    drop((child_fds, cgroup_procs, report_w));
    reap_first(&first.pidfd)?;
    let mut report = [0u8; 4];
    let got = read_all(report_r, &mut report).await?;
    let mut buf = [0u8; Fail::LEN];
    if got != report.len() {
        // The first child failed (setns) and said why on the error pipe.
        let n = read_all(error_r, &mut buf).await?;
        return Err(reported_error(&plan, &buf, n));
    }
    let pid = i32::from_ne_bytes(report);
    let pidfd = Pid::from_raw(pid).ok_or(Error::InitDied).and_then(|p| {
        rustix::process::pidfd_open(p, PidfdFlags::empty()).map_err(|e| Error::sys("pidfd_open", e))
    })?;
    let child = Child::new(
        init.id.clone(),
        pid,
        pidfd,
        None,
        stdin_w,
        stdout_r,
        stderr_r,
    )?;
    executed(child, error_r, terminal, &plan).await
}
