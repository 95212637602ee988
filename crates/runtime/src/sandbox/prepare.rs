//! From spec to plan: everything the container's init needs, and every descriptor it uses,
//! prepared in the parent before `clone3` (see `plan`). No process is started here.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType};
use rustix::fs::{Mode, OFlags};
use rustix::pipe::PipeFlags;

use crate::error::Error;
use crate::plan::{cpath, cstring, ChildPlan, InRoot, MountStep, Rlimit};
use crate::sandbox::caps;
use crate::sandbox::cgroup::{Cgroup, Limits};
use crate::sandbox::container::{Container, Stdio};
use crate::sandbox::defaults::DEFAULT_PATH;
use crate::sandbox::etc_files;
use crate::sandbox::rootfs::{mount_steps, MountContext};
use crate::sandbox::seccomp;

/// Everything prepared in the parent: the plan and the descriptors it names.
pub(crate) struct Prepared {
    pub(crate) plan: ChildPlan,
    pub(crate) flags: u64,
    pub(crate) rootless: bool,
    /// Parent ends, kept.
    pub(crate) error_r: OwnedFd,
    pub(crate) sync_w: Option<OwnedFd>,
    pub(crate) stdin_w: Option<OwnedFd>,
    pub(crate) stdout_r: Option<OwnedFd>,
    pub(crate) stderr_r: Option<OwnedFd>,
    /// Child ends and cgroup files, closed in the parent right after the clone.
    pub(crate) child_fds: Vec<OwnedFd>,
    pub(crate) cgroup: Option<Cgroup>,
    /// With a terminal: the socket on which the child sends the pty master.
    pub(crate) terminal: Option<OwnedFd>,
}

/// A descriptor at 3 or above, so installing it as 0, 1 or 2 never clobbers another.
pub(crate) fn high(fd: OwnedFd) -> Result<OwnedFd, Error> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| Error::sys("fcntl", e))
}

/// A close-on-exec pipe, both ends at 3 or above.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
    Ok((high(r)?, high(w)?))
}

/// A socket pair (a Unix stream), both ends at 3 or above: the terminal's, on which the child
/// sends the pty master, and an attach client's before the monitor exists.
pub(crate) fn socketpair() -> Result<(OwnedFd, OwnedFd), Error> {
    let (a, b) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((high(a)?, high(b)?))
}

/// The command's three streams as the child gets them, and the parent's ends of its pipes.
struct StdioEnds {
    /// Descriptors the child installs as 0, 1 and 2 (`None`: the caller's).
    child: [Option<std::os::fd::RawFd>; 3],
    stdin_w: Option<OwnedFd>,
    stdout_r: Option<OwnedFd>,
    stderr_r: Option<OwnedFd>,
}

/// Opens `/dev/null` or a pipe for each stream; the child's ends are pushed to `child_fds`.
fn stdio_ends(streams: [Stdio; 3], child_fds: &mut Vec<OwnedFd>) -> Result<StdioEnds, Error> {
    let mut ends = StdioEnds {
        child: [None; 3],
        stdin_w: None,
        stdout_r: None,
        stderr_r: None,
    };
    for (i, how) in streams.into_iter().enumerate() {
        let child_end = match how {
            Stdio::Inherit => continue,
            Stdio::Null => {
                let flags = if i == 0 {
                    OFlags::RDONLY
                } else {
                    OFlags::WRONLY
                };
                let fd = rustix::fs::open("/dev/null", flags | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| Error::io("opening", "/dev/null", e.into()))?;
                high(fd)?
            }
            Stdio::Piped => {
                let (r, w) = pipe()?;
                match i {
                    0 => {
                        ends.stdin_w = Some(w);
                        r
                    }
                    1 => {
                        ends.stdout_r = Some(r);
                        w
                    }
                    _ => {
                        ends.stderr_r = Some(r);
                        w
                    }
                }
            }
        };
        ends.child[i] = Some(child_end.as_raw_fd());
        child_fds.push(child_end);
    }
    Ok(ends)
}

/// The `clone3` flags for the namespaces asked for (always a mount namespace: without one
/// there is no private root to pivot into).
fn clone_flags(namespaces: &[LinuxNamespaceType], user_ns: bool) -> u64 {
    let mut flags = libc::CLONE_NEWNS as u64;
    for (t, f) in [
        (LinuxNamespaceType::Pid, libc::CLONE_NEWPID),
        (LinuxNamespaceType::Uts, libc::CLONE_NEWUTS),
        (LinuxNamespaceType::Ipc, libc::CLONE_NEWIPC),
        (LinuxNamespaceType::Network, libc::CLONE_NEWNET),
    ] {
        if namespaces.contains(&t) {
            flags |= f as u64;
        }
    }
    if user_ns {
        flags |= libc::CLONE_NEWUSER as u64;
    }
    flags
}

/// The rlimits of the spec, each clamped to the caller's hard limit (never raised).
fn rlimits(process: &oci_spec::runtime::Process) -> Vec<Rlimit> {
    process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| {
            let resource = rlimit_resource(r.typ());
            let current = rustix::process::getrlimit(rlimit_kind(r.typ()));
            let cap = current.maximum.unwrap_or(u64::MAX);
            let hard = r.hard().min(cap);
            Rlimit {
                resource,
                soft: r.soft().min(hard),
                hard,
            }
        })
        .collect()
}

/// The command as the child executes it.
struct Command {
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// The paths `execve` tries.
    exec: Vec<CString>,
    /// The working directory (absolute).
    cwd: CString,
}

impl Command {
    fn of(process: &oci_spec::runtime::Process) -> Result<Self, Error> {
        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let argv = args
            .iter()
            .map(|a| cstring(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = env
            .iter()
            .map(|e| cstring(e))
            .collect::<Result<Vec<_>, _>>()?;
        let first = args.first().ok_or(Error::NoCommand)?;
        let exec = exec_candidates(first, &env)?;
        let cwd = process.cwd();
        if !cwd.is_absolute() {
            return Err(Error::InvalidPath {
                path: cwd.clone(),
                reason: "the working directory must be absolute",
            });
        }
        Ok(Command {
            argv,
            envp,
            exec,
            cwd: cpath(cwd)?,
        })
    }
}

/// The highest capability number the kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl Container {
    /// Builds the child's plan and opens every descriptor it needs; `etc_dir` holds the
    /// container's `/etc` files to bind (see [`etc_files`]); `net_sync`: the init waits for
    /// the parent to set its network up (slirp4netns).
    pub(crate) fn prepare(
        &self,
        etc_dir: Option<&Path>,
        net_sync: bool,
    ) -> Result<Prepared, Error> {
        let process = self.spec.process().as_ref().ok_or(Error::NoCommand)?;
        let linux = self.spec.linux().clone().unwrap_or_default();
        let namespaces = self.namespaces();
        let rootless = !rustix::process::geteuid().is_root();
        let user_ns = self.user_ns();
        let has = |t: LinuxNamespaceType| namespaces.contains(&t);
        let flags = clone_flags(&namespaces, user_ns);

        // Pipes: errors (child writes), sync (rootless: parent writes after the id maps).
        let mut child_fds = Vec::new();
        let (error_r, error_w) = pipe()?;
        let (sync_fd, sync_w) = if user_ns || net_sync {
            let (r, w) = pipe()?;
            let raw = r.as_raw_fd();
            child_fds.push(r);
            (Some(raw), Some(w))
        } else {
            (None, None)
        };
        // With a terminal the pty's slave is 0, 1 and 2.
        let streams = if process.terminal() == Some(true) {
            [Stdio::Inherit; 3]
        } else {
            self.stdio()
        };
        let ends = stdio_ends(streams, &mut child_fds)?;

        // cgroups.
        let limits = linux
            .resources()
            .as_ref()
            .map(Limits::from_resources)
            .unwrap_or_default();
        let (cgroup, cgroup_procs) = match Cgroup::create(&self.id, &limits)? {
            Some((cg, fds)) => {
                let raw = fds.iter().map(AsRawFd::as_raw_fd).collect();
                child_fds.extend(fds);
                (Some(cg), raw)
            }
            None => (None, Vec::new()),
        };

        // File system.
        let (root_path, root) = self.rootfs.effective().root_mount()?;
        let ctx = MountContext {
            rootless: user_ns,
            host_network: !has(LinuxNamespaceType::Network),
            cgroup: cgroup.as_ref(),
            cgroupns: has(LinuxNamespaceType::Cgroup),
        };
        let mut mounts = self.mount_plan(&linux, &ctx, etc_dir)?;

        // Process.
        let cmd = Command::of(process)?;
        if cmd.cwd.as_bytes() != b"/" {
            // Created like a mount destination, so a missing workdir exists as in Docker.
            mounts.push(MountStep::Mkdir {
                dest: InRoot::new(process.cwd())?,
            });
        }
        let user = process.user();
        let (terminal, terminal_child) = if process.terminal() == Some(true) {
            let (a, b) = socketpair()?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let plan = ChildPlan {
            sync_fd,
            error_fd: error_w.as_raw_fd(),
            stdio: ends.child,
            cgroup_procs,
            new_cgroupns: has(LinuxNamespaceType::Cgroup),
            hostname: match (self.spec.hostname(), has(LinuxNamespaceType::Uts)) {
                (Some(h), true) => Some(cstring(h)?),
                _ => None,
            },
            loopback_up: has(LinuxNamespaceType::Network),
            root_path,
            root,
            mounts,
            readonly_root: self
                .spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            rlimits: rlimits(process),
            uid: user.uid(),
            gid: user.gid(),
            groups: if user_ns && rootless {
                None
            } else {
                Some(user.additional_gids().clone().unwrap_or_default())
            },
            caps: process
                .capabilities()
                .as_ref()
                .map(|c| caps::plan(c, last_cap())),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            umask: user.umask(),
            cwd: cmd.cwd,
            seccomp: match linux.seccomp() {
                Some(p) => seccomp::compile(p)?,
                None => Vec::new(),
            },
            exec: cmd.exec,
            argv: cmd.argv,
            envp: cmd.envp,
            terminal: terminal_child.as_ref().map(AsRawFd::as_raw_fd),
            init: self.init,
            init_mm: if self.init {
                crate::plan::MmLayout::current()
            } else {
                None
            },
        };
        child_fds.push(error_w);
        child_fds.extend(terminal_child);
        Ok(Prepared {
            plan,
            flags,
            rootless: user_ns,
            error_r,
            sync_w,
            stdin_w: ends.stdin_w,
            stdout_r: ends.stdout_r,
            stderr_r: ends.stderr_r,
            child_fds,
            cgroup,
            terminal,
        })
    }

    /// The child's mount steps: the spec's mounts, the `/etc` files in `etc_dir` (unless the
    /// spec mounts those paths itself), the masked and the read-only paths.
    fn mount_plan(
        &self,
        linux: &oci_spec::runtime::Linux,
        ctx: &MountContext,
        etc_dir: Option<&Path>,
    ) -> Result<Vec<MountStep>, Error> {
        let spec_mounts = self.spec.mounts().as_deref().unwrap_or(&[]);
        let mut mounts = mount_steps(spec_mounts, ctx)?;
        if let Some(dir) = etc_dir {
            let taken: Vec<PathBuf> = spec_mounts
                .iter()
                .map(|m| m.destination().clone())
                .collect();
            mounts.extend(etc_files::mount_steps(dir, &taken)?);
        }
        for p in linux.masked_paths().iter().flatten() {
            mounts.push(MountStep::Mask {
                dest: InRoot::new(Path::new(p))?,
            });
        }
        for p in linux.readonly_paths().iter().flatten() {
            mounts.push(MountStep::ReadOnly {
                dest: InRoot::new(Path::new(p))?,
            });
        }
        Ok(mounts)
    }
}

/// The paths `execve` tries: the command itself when it has a slash, else each `$PATH` entry.
fn exec_candidates(cmd: &str, env: &[String]) -> Result<Vec<std::ffi::CString>, Error> {
    if cmd.contains('/') {
        return Ok(vec![cstring(cmd)?]);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| if d.is_empty() { "." } else { d })
        .map(|d| cstring(&format!("{}/{cmd}", d.trim_end_matches('/'))))
        .collect()
}

fn rlimit_resource(t: PosixRlimitType) -> u32 {
    rlimit_kind(t) as u32
}

fn rlimit_kind(t: PosixRlimitType) -> rustix::process::Resource {
    use rustix::process::Resource as R;
    match t {
        PosixRlimitType::RlimitCpu => R::Cpu,
        PosixRlimitType::RlimitFsize => R::Fsize,
        PosixRlimitType::RlimitData => R::Data,
        PosixRlimitType::RlimitStack => R::Stack,
        PosixRlimitType::RlimitCore => R::Core,
        PosixRlimitType::RlimitRss => R::Rss,
        PosixRlimitType::RlimitNproc => R::Nproc,
        PosixRlimitType::RlimitNofile => R::Nofile,
        PosixRlimitType::RlimitMemlock => R::Memlock,
        PosixRlimitType::RlimitAs => R::As,
        PosixRlimitType::RlimitLocks => R::Locks,
        PosixRlimitType::RlimitSigpending => R::Sigpending,
        PosixRlimitType::RlimitMsgqueue => R::Msgqueue,
        PosixRlimitType::RlimitNice => R::Nice,
        PosixRlimitType::RlimitRtprio => R::Rtprio,
        PosixRlimitType::RlimitRttime => R::Rttime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search_candidates() {
        let env = vec!["PATH=/usr/bin:/bin/".to_owned()];
        let c = exec_candidates("sh", &env).unwrap();
        assert_eq!(c, [c"/usr/bin/sh".to_owned(), c"/bin/sh".to_owned()]);
        assert_eq!(exec_candidates("./x", &env).unwrap(), [c"./x".to_owned()]);
        assert_eq!(exec_candidates("true", &[]).unwrap().len(), 6);
    }
}
