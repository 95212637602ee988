//! The parent's side of starting an init: the user namespace maps, then the report on the
//! error pipe — EOF once the command is executed (and then the pty master, with a terminal),
//! or the step that failed, made a typed error. Shared by attached runs, detached starts and
//! exec.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::error::Error;
use crate::plan::{ChildPlan, Step};
use crate::process::running::Child;
use crate::process::tty::receive_master;

/// Reads the error pipe to EOF (or until `buf` is full).
pub(crate) async fn read_all(fd: OwnedFd, buf: &mut [u8]) -> Result<usize, Error> {
    use tokio::io::AsyncReadExt;
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
        .map_err(|e| Error::sys("registering the error pipe", e))?;
    let mut n = 0;
    while n < buf.len() {
        match rx.read(&mut buf[n..]).await {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::sys("read", e)),
        }
    }
    Ok(n)
}

/// Writes `uid_map`/`gid_map` for a user namespace: the spec's maps, or the caller's own ids as
/// root (rootless).
pub(crate) fn write_id_maps(pid: i32, rootless: bool, spec: &Spec) -> Result<(), Error> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.filter(|m| !m.is_empty()).map(|m| {
            m.iter()
                .map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size()))
                .collect::<String>()
        })
    };
    let uid_map = fmt(linux.and_then(|l| l.uid_mappings().as_ref()))
        .unwrap_or_else(|| format!("0 {} 1\n", rustix::process::geteuid().as_raw()));
    let gid_map = fmt(linux.and_then(|l| l.gid_mappings().as_ref()))
        .unwrap_or_else(|| format!("0 {} 1\n", rustix::process::getegid().as_raw()));
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |name: &str, text: &str| {
        let path = proc.join(name);
        std::fs::write(&path, text).map_err(|source| Error::UserNamespace { path, source })
    };
    if rootless {
        write("setgroups", "deny")?;
    }
    write("uid_map", &uid_map)?;
    write("gid_map", &gid_map)
}

/// The typed error for a failure the child reported.
pub(crate) fn setup_error(plan: &ChildPlan, fail: crate::init::Fail) -> Error {
    let source = std::io::Error::from_raw_os_error(fail.errno);
    let index = fail.index as usize;
    match fail.step {
        Step::Exec => {
            let name = plan.argv[0].to_string_lossy().into_owned();
            if !name.contains('/') && fail.errno == libc::ENOENT {
                Error::ExecutableNotFound { name }
            } else {
                let path = plan
                    .exec
                    .get(index)
                    .map_or(name, |p| p.to_string_lossy().into_owned());
                Error::Exec { path, source }
            }
        }
        Step::Mount => Error::Setup {
            step: fail.step,
            detail: plan.mounts.get(index).map(|m| m.dest().to_owned()),
            source,
        },
        Step::Chdir => Error::Setup {
            step: fail.step,
            detail: Some(plan.cwd.to_string_lossy().into_owned()),
            source,
        },
        step => Error::Setup {
            step,
            detail: None,
            source,
        },
    }
}

/// The error for what the error pipe held (`n` bytes of `buf`): the step the child reported,
/// or [`Error::InitDied`] for a short report.
pub(crate) fn reported_error(
    plan: &ChildPlan,
    buf: &[u8; crate::init::Fail::LEN],
    n: usize,
) -> Error {
    match (n == buf.len())
        .then(|| crate::init::Fail::decode(buf))
        .flatten()
    {
        Some(fail) => setup_error(plan, fail),
        None => Error::InitDied,
    }
}

/// Waits for `child`'s command to be executed: EOF on `error_r`. Then, with a terminal, takes
/// the pty master from `terminal`. On a reported failure the child (which has exited with 127)
/// is reaped and the typed error returned.
pub(crate) async fn executed(
    mut child: Child,
    error_r: OwnedFd,
    terminal: Option<OwnedFd>,
    plan: &ChildPlan,
) -> Result<Child, Error> {
    let mut buf = [0u8; crate::init::Fail::LEN];
    let n = read_all(error_r, &mut buf).await?;
    if n == 0 {
        if let Some(sock) = terminal {
            match receive_master(&sock) {
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
    Err(reported_error(plan, &buf, n))
}

/// Whether the init failed because the kernel refused the overlay mount.
pub(crate) fn overlay_refused(e: &Error) -> bool {
    matches!(e, Error::Setup { step: Step::MountRoot, source, .. }
        if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EINVAL | libc::ENODEV)))
}

/// Reaps a first child (of a detached start or an exec), which exits once it has cloned
/// the next process.
pub(crate) fn reap_first(pidfd: &OwnedFd) -> Result<(), Error> {
    use rustix::process::{WaitId, WaitIdOptions};
    loop {
        match rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED) {
            Err(rustix::io::Errno::INTR) => continue,
            other => {
                other.map_err(|e| Error::sys("waitid", e))?;
                return Ok(());
            }
        }
    }
}
