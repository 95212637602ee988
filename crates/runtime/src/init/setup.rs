//! The init's setup, in order: the parent's go-ahead, stdio and cgroups, the namespaces' own
//! state (cgroup namespace, hostname, loopback), the root file system and its mounts,
//! `pivot_root`; then the tiny init or the command's process setup.

use std::convert::Infallible;
use std::os::fd::RawFd;

use libc::c_short;

use super::fail::Fail;
use super::{mount, process, tiny};
use crate::plan::{ChildPlan, RootMount, Step};
use crate::sys::{self, process::CStrArray};

/// The whole setup. Every call below is a raw system call on prepared data.
pub(crate) fn setup(
    p: &ChildPlan,
    argv: &CStrArray<'_>,
    envp: &CStrArray<'_>,
) -> Result<Infallible, Fail> {
    if let Some(fd) = p.sync_fd {
        wait_for_parent(fd)?;
    }
    stdio_and_cgroups(p)?;
    if p.new_cgroupns {
        sys::process::unshare(libc::CLONE_NEWCGROUP).map_err(Fail::at(Step::CgroupNamespace, 0))?;
    }
    if let Some(h) = &p.hostname {
        sys::process::sethostname(h).map_err(Fail::at(Step::Hostname, 0))?;
    }
    if p.loopback_up {
        loopback_up()?;
    }
    root_fs(p)?;
    if p.init {
        tiny::init(p, argv, envp)
    } else {
        process::process_setup(p, argv, envp)
    }
}

/// Rootless: reads the parent's one byte (the ID maps are written); EOF means it gave up.
fn wait_for_parent(fd: RawFd) -> Result<(), Fail> {
    let mut b = [0u8; 1];
    loop {
        match sys::io::read(fd, &mut b) {
            Ok(0) => {
                return Err(Fail {
                    step: Step::SyncWait,
                    errno: libc::ECANCELED,
                    index: 0,
                })
            }
            Ok(_) => return Ok(()),
            Err(libc::EINTR) => {}
            Err(e) => return Err(Fail::at(Step::SyncWait, 0)(e)),
        }
    }
}

/// Installs the plan's stdin, stdout and stderr and joins the container's cgroups (the init's
/// and an exec'd process's first steps). Raw system calls only.
pub(crate) fn stdio_and_cgroups(p: &ChildPlan) -> Result<(), Fail> {
    for (i, fd) in p.stdio.iter().enumerate() {
        if let Some(fd) = fd {
            sys::io::dup3(*fd, i as RawFd).map_err(Fail::at(Step::Stdio, i as u32))?;
        }
    }
    for (i, fd) in p.cgroup_procs.iter().enumerate() {
        sys::io::write(*fd, b"0").map_err(Fail::at(Step::Cgroup, i as u32))?;
    }
    Ok(())
}

/// Brings up `lo` in the new network namespace.
fn loopback_up() -> Result<(), Fail> {
    let s = sys::net::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC)
        .map_err(Fail::at(Step::Loopback, 0))?;
    let flags = sys::net::interface_flags(s, b"lo").map_err(Fail::at(Step::Loopback, 1))?;
    sys::net::set_interface_flags(s, b"lo", flags | libc::IFF_UP as c_short)
        .map_err(Fail::at(Step::Loopback, 2))?;
    sys::io::close(s);
    Ok(())
}

/// The file system: the root mounted (overlay or bind) in a private mount tree, the plan's
/// mount steps inside it, the root made read-only if asked, then `pivot_root` into it.
fn root_fs(p: &ChildPlan) -> Result<(), Fail> {
    // Device nodes get their modes exactly (0666, not 0644 through the caller's umask), which
    // is restored after pivot_root.
    let umask = sys::fs::umask(0);
    sys::mount::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(Fail::at(Step::MountPrivate, 0))?;
    let mounted = match &p.root {
        RootMount::Overlay { data } => sys::mount::mount(
            Some(c"overlay"),
            &p.root_path,
            Some(c"overlay"),
            0,
            Some(data),
        ),
        RootMount::Bind => sys::mount::mount(
            Some(&p.root_path),
            &p.root_path,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        ),
    };
    mounted.map_err(Fail::at(Step::MountRoot, 0))?;
    let root = sys::fs::openat(
        libc::AT_FDCWD,
        &p.root_path,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )
    .map_err(Fail::at(Step::OpenRoot, 0))?;
    for (i, m) in p.mounts.iter().enumerate() {
        mount::mount_step(root, m).map_err(Fail::at(Step::Mount, i as u32))?;
    }
    if p.readonly_root {
        mount::remount_readonly(&p.root_path, root).map_err(Fail::at(Step::MakeReadOnly, 0))?;
    }
    sys::io::close(root);
    pivot_root(p)?;
    sys::fs::umask(umask);
    Ok(())
}

/// `pivot_root` into the root (the old root stacked on it, then detached).
fn pivot_root(p: &ChildPlan) -> Result<(), Fail> {
    sys::fs::chdir(&p.root_path).map_err(Fail::at(Step::PivotRoot, 0))?;
    sys::mount::pivot_root(c".", c".").map_err(Fail::at(Step::PivotRoot, 1))?;
    sys::mount::umount2(c".", libc::MNT_DETACH).map_err(Fail::at(Step::PivotRoot, 2))?;
    sys::fs::chdir(c"/").map_err(Fail::at(Step::PivotRoot, 3))
}
