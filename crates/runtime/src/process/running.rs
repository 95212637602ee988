//! A started container: its init's pidfd, its streams, waiting and exit status.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};

use rustix::process::{Signal, WaitId, WaitIdOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::error::Error;
use crate::process::net::NetHandle;
use crate::process::tty::Pty;
use crate::sandbox::cgroup::Cgroup;
use crate::sandbox::etc_files::TempEtc;
use crate::sandbox::network::PublishedPort;

/// The command's stdin, when piped.
pub type ChildStdin = pipe::Sender;
/// The command's stdout, when piped.
pub type ChildStdout = pipe::Receiver;
/// The command's stderr, when piped.
pub type ChildStderr = pipe::Receiver;

/// How a container's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The exit code as Docker reports it: the code, or 128 + the signal (137 for `SIGKILL`,
    /// which is also what the kernel's OOM killer sends).
    pub fn code(&self) -> i32 {
        match self {
            ExitStatus::Exited(c) => *c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self {
            ExitStatus::Signaled(s) => Some(*s),
            ExitStatus::Exited(_) => None,
        }
    }

    /// Exited with 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s} (exit code {})", 128 + s),
        }
    }
}

/// A finished container's status and collected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote on stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote on stderr.
    pub stderr: Vec<u8>,
}

/// A running (or finished, not yet waited for) container started attached.
///
/// Dropping a `Child` whose command still runs kills it (`SIGKILL` to its PID 1, which takes the
/// whole PID namespace with it) and removes its cgroup: an attached container does not outlive
/// its handle. Detached containers are later work.
#[derive(Debug)]
pub struct Child {
    id: String,
    pid: i32,
    pidfd: AsyncFd<OwnedFd>,
    cgroup: Option<Cgroup>,
    status: Option<ExitStatus>,
    /// Port proxies and slirp4netns, stopped when the container exits.
    net: Option<NetHandle>,
    published: Vec<PublishedPort>,
    /// The private directory of its `/etc` files, removed once it is reaped.
    etc: Option<TempEtc>,
    /// The command's stdin, when [`Stdio::Piped`](crate::Stdio::Piped).
    pub stdin: Option<ChildStdin>,
    /// The command's stdout, when [`Stdio::Piped`](crate::Stdio::Piped).
    pub stdout: Option<ChildStdout>,
    /// The command's stderr, when [`Stdio::Piped`](crate::Stdio::Piped).
    pub stderr: Option<ChildStderr>,
    /// The master of the command's terminal, when started with one
    /// ([`ContainerBuilder::tty`](crate::ContainerBuilder::tty)).
    pub pty: Option<Pty>,
}

impl Child {
    pub(crate) fn new(
        id: String,
        pid: i32,
        pidfd: OwnedFd,
        cgroup: Option<Cgroup>,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    ) -> Result<Self, Error> {
        let reg = |e| Error::sys("registering with the tokio reactor", e);
        // The pidfd first: whatever fails next, the Child exists and its Drop cleans up.
        let pidfd = crate::sys::register_pidfd(pidfd).map_err(reg)?;
        let mut child = Child {
            id,
            pid,
            pidfd,
            cgroup,
            status: None,
            net: None,
            published: Vec::new(),
            etc: None,
            stdin: None,
            stdout: None,
            stderr: None,
            pty: None,
        };
        child.stdin = stdin
            .map(pipe::Sender::from_owned_fd)
            .transpose()
            .map_err(reg)?;
        child.stdout = stdout
            .map(pipe::Receiver::from_owned_fd)
            .transpose()
            .map_err(reg)?;
        child.stderr = stderr
            .map(pipe::Receiver::from_owned_fd)
            .transpose()
            .map_err(reg)?;
        Ok(child)
    }

    /// The container's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host PID of the container's PID 1.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The cgroup directories the container's limits live in (empty without limits).
    pub fn cgroup_paths(&self) -> Vec<std::path::PathBuf> {
        self.cgroup
            .as_ref()
            .map(|c| c.dirs().to_vec())
            .unwrap_or_default()
    }

    /// Sends a signal to the container's PID 1 (through its pidfd: never to a recycled PID).
    pub fn kill(&self, signal: i32) -> Result<(), Error> {
        if self.status.is_some() {
            return Ok(());
        }
        let sig = Signal::from_named_raw(signal).ok_or_else(|| {
            Error::sys(
                "pidfd_send_signal",
                std::io::Error::from_raw_os_error(libc::EINVAL),
            )
        })?;
        match rustix::process::pidfd_send_signal(self.pidfd.get_ref(), sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(Error::sys("pidfd_send_signal", e)),
        }
    }

    /// Reaps the init if it has exited; records the status and removes the cgroup.
    fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>, Error> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let mut opts = WaitIdOptions::EXITED;
        if !block {
            opts |= WaitIdOptions::NOHANG;
        }
        let st = loop {
            match rustix::process::waitid(WaitId::PidFd(self.pidfd.get_ref().as_fd()), opts) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other.map_err(|e| Error::sys("waitid", e))?,
            }
        };
        let Some(st) = st else { return Ok(None) };
        let status = if let Some(code) = st.exit_status() {
            ExitStatus::Exited(code)
        } else if let Some(sig) = st.terminating_signal() {
            ExitStatus::Signaled(sig)
        } else {
            return Ok(None);
        };
        self.status = Some(status);
        self.net = None;
        self.etc = None;
        if let Some(mut cg) = self.cgroup.take() {
            cg.remove();
        }
        Ok(Some(status))
    }

    /// The status if the command has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        self.reap(false)
    }

    /// Waits for the command (the container's PID 1) to exit. The PID namespace dies with it.
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn wait(&mut self) -> Result<ExitStatus, Error> {
        drop(self.stdin.take());
        loop {
            if let Some(s) = self.reap(false)? {
                return Ok(s);
            }
            let mut guard = self
                .pidfd
                .readable()
                .await
                .map_err(|e| Error::sys("polling the pidfd", e))?;
            guard.clear_ready();
        }
    }

    /// Waits for the command to exit, blocking the calling thread.
    pub fn wait_blocking(&mut self) -> Result<ExitStatus, Error> {
        drop(self.stdin.take());
        loop {
            if let Some(s) = self.reap(true)? {
                return Ok(s);
            }
        }
    }

    /// Reads stdout and stderr to their ends while waiting for the command.
    pub async fn wait_with_output(mut self) -> Result<Output, Error> {
        async fn read_to_end(r: Option<ChildStdout>) -> Result<Vec<u8>, Error> {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                r.read_to_end(&mut buf)
                    .await
                    .map_err(|e| Error::sys("read", e))?;
            }
            Ok(buf)
        }
        drop(self.stdin.take());
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (stdout, stderr, status) =
            tokio::try_join!(read_to_end(stdout), read_to_end(stderr), self.wait())?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// The ports published on the host for this container (with the chosen port where 0 was
    /// asked for). A rootful caller's proxy connects to the container's `127.0.0.1`; a rootless
    /// caller's ports are forwarded by slirp4netns to the container's `tap0` address
    /// (10.0.2.100), so the server must listen on `0.0.0.0`.
    pub fn published_ports(&self) -> &[PublishedPort] {
        &self.published
    }

    pub(crate) fn set_etc(&mut self, etc: Option<TempEtc>) {
        self.etc = etc;
    }

    pub(crate) fn set_net(&mut self, net: Option<NetHandle>) {
        if let Some(n) = &net {
            self.published = n.ports.clone();
        }
        self.net = net;
    }

    /// Whether the init has been reaped (its PID may then belong to another process).
    pub(crate) fn is_reaped(&self) -> bool {
        self.status.is_some()
    }

    /// Kills and reaps at once (for error paths and drop).
    pub(crate) fn kill_now(&mut self) {
        if self.status.is_none() {
            let _ = rustix::process::pidfd_send_signal(self.pidfd.get_ref(), Signal::KILL);
            let _ = self.reap(true);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_now();
    }
}
