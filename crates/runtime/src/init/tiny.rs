//! `--init`: PID 1 of the container once its root is in place, in the manner of tini. It
//! starts the command as PID 2, takes the command's identity and filters, closes every
//! descriptor, then forwards signals and reaps zombies until the command ends, and exits with
//! its status.

use std::convert::Infallible;

use libc::c_int;

use super::fail::{fail_exit, Fail};
use super::process;
use crate::plan::{ChildPlan, MmLayout, Step};
use crate::sys;
use crate::sys::process::{exit_now, CStrArray, MmMap};

/// Every signal (the init's mask, and what it waits for).
const ALL: u64 = !0;

/// Signals the init never forwards: `SIGCHLD` is its own business (reaping), `SIGKILL` and
/// `SIGSTOP` cannot be caught.
fn forwarded(sig: c_int) -> bool {
    sig != libc::SIGCHLD && sig != libc::SIGKILL && sig != libc::SIGSTOP
}

/// The exit code of the init for the command's `waitid` result: its exit code, or 128 + the
/// signal that killed it (as tini and Docker report it).
fn init_exit_code(code: c_int, status: c_int) -> c_int {
    if code == libc::CLD_EXITED {
        status & 0xff
    } else {
        128 + status
    }
}

/// `prctl(PR_SET_DUMPABLE, 0)` for the init (no core dump, no ptrace, no `/proc/1/mem`);
/// `index` tells the two calls apart in a failure report.
fn undumpable(index: u32) -> Result<(), Fail> {
    sys::process::set_dumpable(false).map_err(Fail::at(Step::Init, index))
}

/// The init. Returns only on a failure before the command started (the caller reports it on
/// the error pipe).
///
/// It is still a copy of the (possibly multi-threaded) caller: raw system calls on prepared
/// data only.
pub(crate) fn init(
    p: &ChildPlan,
    argv: &CStrArray<'_>,
    envp: &CStrArray<'_>,
) -> Result<Infallible, Fail> {
    // Every signal stays blocked: they are only taken with sigtimedwait below, so no handler
    // of the caller ever runs here, and a blocked signal is queued even though the init of a
    // PID namespace would otherwise drop it under the default disposition.
    sys::signal::set_mask(ALL).map_err(Fail::at(Step::Init, 0))?;
    // A copy of the caller's memory: no core dump, no ptrace, no /proc/1/mem from inside
    // (the command inherits this until its execve, which resets it).
    undumpable(1)?;
    let _ = sys::process::set_name(c"init");
    // Its /proc/1/cmdline (readable by anyone, with no ptrace check) would show the caller's
    // arguments: point it at "init" with PR_SET_MM_MAP, which needs no capability when the
    // executable is left alone. Best effort (a kernel without CONFIG_CHECKPOINT_RESTORE
    // refuses it). The kernel reads a command line from anonymous memory only: it lives on
    // this stack, in a frame that never returns.
    let cmdline: [u8; 5] = *b"init\0";
    if let Some(l) = &p.init_mm {
        let _ = sys::process::set_mm_map(&mm_map(l, &cmdline));
    }

    let cmd = sys::process::clone(0, libc::SIGCHLD as u64, || command(p, argv, envp))
        .map_err(Fail::at(Step::Init, 2))?;
    // Nothing is needed any more but the error pipe (until the privileges are dropped): not
    // the stdio, not the terminal socket, nothing of the host.
    sys::io::close_except(&[p.error_fd]);
    for fd in 0..3 {
        sys::io::close(fd);
    }

    // The command's privileges, for the init too.
    let dropped = process::identity(p).and_then(|()| {
        // A change of credentials may have made it dumpable again (suid_dumpable).
        undumpable(3)?;
        process::install_seccomp(p)
    });
    if let Err(f) = dropped {
        let _ = sys::signal::kill(cmd, libc::SIGKILL);
        return Err(f);
    }
    // The command has its own copy: the caller sees EOF once the command has executed.
    sys::io::close(p.error_fd);
    supervise(cmd)
}

/// The memory layout the init shows in `/proc/1`, with its command line at `cmdline`.
fn mm_map(l: &MmLayout, cmdline: &[u8]) -> MmMap {
    let args = cmdline.as_ptr() as u64;
    MmMap {
        start_code: l.start_code,
        end_code: l.end_code,
        start_data: l.start_data,
        end_data: l.end_data,
        start_brk: l.start_brk,
        brk: sys::process::current_brk(),
        start_stack: l.start_stack,
        arg_start: args,
        arg_end: args + cmdline.len() as u64,
        env_start: l.env_start,
        env_end: l.env_end,
        auxv: 0,
        auxv_size: 0,
        exe_fd: u32::MAX,
    }
}

/// Forwards every signal but `SIGCHLD` to the command, reaps every zombie on `SIGCHLD`, and
/// exits with the command's status when it ends.
fn supervise(cmd: i32) -> ! {
    loop {
        let sig = match sys::signal::wait(ALL) {
            Ok(sig) => sig,
            Err(libc::EINTR | libc::EAGAIN) => continue,
            // Signals cannot be taken (a seccomp profile that denies sigtimedwait): reap,
            // without forwarding, rather than spin.
            Err(_) => reap_only(cmd),
        };
        if forwarded(sig) {
            let _ = sys::signal::kill(cmd, sig);
            continue;
        }
        if sig == libc::SIGCHLD {
            reap_exited(cmd);
        }
    }
}

/// `SIGCHLD` coalesces: reaps every child that has exited, and exits with the command's
/// status if it is one of them.
fn reap_exited(cmd: i32) {
    loop {
        let w = match sys::process::waitid(libc::P_ALL, 0, libc::WEXITED | libc::WNOHANG) {
            Ok(w) => w,
            Err(libc::EINTR) => continue,
            Err(_) => break,
        };
        if w.pid == 0 {
            break;
        }
        if w.pid == cmd {
            exit_now(init_exit_code(w.code, w.status))
        }
    }
}

/// The init's fallback when it cannot take signals: blocking `waitid` for every child until
/// the command exits (255 if even that fails).
fn reap_only(cmd: i32) -> ! {
    loop {
        match sys::process::waitid(libc::P_ALL, 0, libc::WEXITED) {
            Ok(w) if w.pid == cmd => exit_now(init_exit_code(w.code, w.status)),
            Ok(_) | Err(libc::EINTR) => {}
            Err(_) => exit_now(255),
        }
    }
}

/// The command, PID 2, cloned by the init: the usual process setup and `execve`; a failure
/// goes on the error pipe (the init then exits with the command's 127).
fn command(p: &ChildPlan, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> Infallible {
    match process::process_setup(p, argv, envp) {
        Ok(never) => match never {},
        Err(f) => fail_exit(p.error_fd, f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_forwarding() {
        assert_eq!(init_exit_code(libc::CLD_EXITED, 3), 3);
        assert_eq!(init_exit_code(libc::CLD_KILLED, libc::SIGKILL), 137);
        assert!(forwarded(libc::SIGTERM) && !forwarded(libc::SIGCHLD));
    }
}
