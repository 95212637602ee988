//! The command's process setup, once the root is in place (or, for `exec`, once the
//! container's namespaces are joined): terminal, rlimits, identity, privileges, descriptors,
//! working directory, signals, seccomp, and the `$PATH` search ending in `execve`.

use std::convert::Infallible;

use libc::c_uint;

use super::fail::Fail;
use super::terminal;
use crate::plan::{ChildPlan, Step};
use crate::sys::{self, process::CStrArray};

/// The process setup, ending in `execve` of the command; returns only its failure.
pub(crate) fn process_setup(
    p: &ChildPlan,
    argv: &CStrArray<'_>,
    envp: &CStrArray<'_>,
) -> Result<Infallible, Fail> {
    if let Some(sock) = p.terminal {
        terminal::terminal(sock, p.uid).map_err(|(errno, index)| Fail {
            step: Step::Terminal,
            errno,
            index,
        })?;
    }
    identity(p)?;
    // Nothing of the host's leaks past execve: everything above 2 becomes close-on-exec
    // (the error pipe already is; it must stay open until execve).
    sys::io::close_range(3, c_uint::MAX, sys::io::CLOSE_RANGE_CLOEXEC)
        .map_err(Fail::at(Step::CloseFds, 0))?;
    sys::fs::chdir(&p.cwd).map_err(Fail::at(Step::Chdir, 0))?;
    if let Some(mask) = p.umask {
        sys::fs::umask(mask);
    }
    reset_signals()?;
    install_seccomp(p)?;
    Err(exec_search(p, argv, envp))
}

/// Every signal's disposition back to the default, and none blocked.
fn reset_signals() -> Result<(), Fail> {
    for sig in 1..sys::signal::NSIG {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || (32..34).contains(&sig) {
            continue;
        }
        sys::signal::set_default(sig).map_err(Fail::at(Step::Signals, sig as u32))?;
    }
    sys::signal::set_mask(0).map_err(Fail::at(Step::Signals, 0))
}

/// The `$PATH` search: `execve` of each candidate; ENOENT/ENOTDIR/EACCES move on to the next,
/// as `execvp`. Returns the failure to report.
fn exec_search(p: &ChildPlan, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> Fail {
    let mut saved = libc::ENOENT;
    let mut saved_index = 0u32;
    for (i, path) in p.exec.iter().enumerate() {
        let e = sys::process::execve(path, argv, envp);
        match e {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => {
                saved = e;
                saved_index = i as u32;
            }
            _ => {
                return Fail {
                    step: Step::Exec,
                    errno: e,
                    index: i as u32,
                }
            }
        }
    }
    Fail {
        step: Step::Exec,
        errno: saved,
        index: saved_index,
    }
}

/// Resource limits, user, groups, capabilities and `no_new_privs` of the plan (the command's,
/// and under `--init` the init's too).
pub(crate) fn identity(p: &ChildPlan) -> Result<(), Fail> {
    for (i, r) in p.rlimits.iter().enumerate() {
        sys::process::setrlimit(r.resource, r.soft, r.hard)
            .map_err(Fail::at(Step::Rlimit, i as u32))?;
    }
    if let Some(caps) = &p.caps {
        for c in &caps.bounding_drop {
            match sys::caps::drop_bounding(*c) {
                Err(e) if e != libc::EINVAL => return Err(Fail::at(Step::Capabilities, *c)(e)),
                _ => {}
            }
        }
    }
    sys::caps::set_keepcaps(true).map_err(Fail::at(Step::Capabilities, 100))?;
    if let Some(groups) = &p.groups {
        sys::process::setgroups(groups).map_err(Fail::at(Step::SetGroups, 0))?;
    }
    sys::process::setresgid(p.gid).map_err(Fail::at(Step::SetGid, 0))?;
    sys::process::setresuid(p.uid).map_err(Fail::at(Step::SetUid, 0))?;
    sys::caps::set_keepcaps(false).map_err(Fail::at(Step::Capabilities, 101))?;
    if let Some(caps) = &p.caps {
        sys::caps::capset(caps.effective, caps.permitted, caps.inheritable)
            .map_err(Fail::at(Step::Capabilities, 102))?;
        sys::caps::clear_ambient().map_err(Fail::at(Step::Capabilities, 103))?;
        for c in &caps.ambient {
            sys::caps::raise_ambient(*c).map_err(Fail::at(Step::Capabilities, *c))?;
        }
    }
    if p.no_new_privs {
        sys::caps::set_no_new_privs().map_err(Fail::at(Step::NoNewPrivs, 0))?;
    }
    Ok(())
}

/// Installs the plan's seccomp filters, in order.
pub(crate) fn install_seccomp(p: &ChildPlan) -> Result<(), Fail> {
    for (i, prog) in p.seccomp.iter().enumerate() {
        sys::caps::set_seccomp_filter(prog).map_err(Fail::at(Step::Seccomp, i as u32))?;
    }
    Ok(())
}
