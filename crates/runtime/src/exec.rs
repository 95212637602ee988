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

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};

use crate::child::{Child, Stdio};
use crate::container::{pipe, read_all, setup_error, Container, Prepared};
use crate::error::Error;
use crate::store::Containers;
use crate::sys::{self, JoinPlan};

/// Options of [`Containers::exec`] (`docker exec` flags).
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

impl Containers {
    /// Runs `cmd` in the running container (`docker exec`), attached: streams on the returned
    /// [`Child`], which is waited for like an attached container (and killed if dropped while
    /// running). The process has the container's environment (plus `opts.env`), user,
    /// capabilities, seccomp profile, rlimits and cgroups.
    pub async fn exec<I, S>(&self, query: &str, cmd: I, opts: &ExecOptions) -> Result<Child, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cmd: Vec<String> = cmd.into_iter().map(Into::into).collect();
        if cmd.is_empty() {
            return Err(Error::NoCommand);
        }
        let init = self.running(query)?;
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
        } = container.prepare(None)?;
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
        let first = sys::spawn_exec(&plan, &join).map_err(|e| Error::sys("clone3", e))?;
        drop((child_fds, cgroup_procs, report_w));
        loop {
            match rustix::process::waitid(WaitId::PidFd(first.pidfd.as_fd()), WaitIdOptions::EXITED)
            {
                Err(rustix::io::Errno::INTR) => continue,
                other => {
                    other.map_err(|e| Error::sys("waitid", e))?;
                    break;
                }
            }
        }
        let mut report = [0u8; 4];
        let got = read_all(report_r, &mut report).await?;
        let mut buf = [0u8; sys::Fail::LEN];
        if got != report.len() {
            // The first child failed (setns) and said why on the error pipe.
            let n = read_all(error_r, &mut buf).await?;
            return Err(
                match (n == buf.len()).then(|| sys::Fail::decode(&buf)).flatten() {
                    Some(fail) => setup_error(&plan, fail),
                    None => Error::InitDied,
                },
            );
        }
        let pid = i32::from_ne_bytes(report);
        let pidfd = Pid::from_raw(pid).ok_or(Error::InitDied).and_then(|p| {
            rustix::process::pidfd_open(p, PidfdFlags::empty())
                .map_err(|e| Error::sys("pidfd_open", e))
        })?;
        let mut child: Child = Child::new(
            init.id.clone(),
            pid,
            pidfd,
            None,
            stdin_w,
            stdout_r,
            stderr_r,
        )?;
        let n = read_all(error_r, &mut buf).await?;
        if n == 0 {
            if let Some(sock) = terminal {
                match crate::tty::receive_master(&sock) {
                    Ok(pty) => child.pty = Some(pty),
                    Err(e) => {
                        child.kill_now();
                        return Err(e);
                    }
                }
            }
            return Ok(child);
        }
        let _ = child.wait().await;
        Err(
            match (n == buf.len()).then(|| sys::Fail::decode(&buf)).flatten() {
                Some(fail) => setup_error(&plan, fail),
                None => Error::InitDied,
            },
        )
    }
}
