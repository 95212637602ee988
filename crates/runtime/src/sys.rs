//! The only module with `unsafe`: `clone3` and the container's init up to `execve`.
//!
//! # The rules this code keeps
//!
//! `spawn` is called from any thread of a multi-threaded program. The child of `clone3` is a
//! copy of that program with one thread; locks held by other threads stay held forever, and the
//! C library still believes the other threads exist. So the child:
//!
//! - never allocates, never takes a lock, never formats, never unwinds;
//! - only reads the [`ChildPlan`] prepared before the clone;
//! - makes *raw* system calls (`libc::syscall`), never C library wrappers with hidden state
//!   (glibc's `setresuid` broadcasts to the threads it thinks exist; `setrlimit`, `mount` and
//!   friends are called as plain syscalls for the same reason);
//! - reports a failure as `(step, errno, index)` on a close-on-exec pipe and exits with
//!   `_exit(127)`; a successful `execve` closes that pipe, which the parent reads as success.
//!
//! All signals are blocked in the calling thread around `clone3`, so no handler of the host
//! program runs in the child; the child resets every handler to the default and unblocks
//! everything just before `execve`, so the command starts with a clean signal state.

#![allow(unsafe_code)]

use std::convert::Infallible;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;

use libc::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

use crate::plan::{ChildPlan, InRoot, Kind, MountStep, RootMount, Step};

const CLONE_PIDFD: u64 = 0x1000;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;
const CLOSE_RANGE_CLOEXEC: c_uint = 4;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Highest signal number (exclusive) whose handler the child resets.
const NSIG: c_int = 65;

/// `struct clone_args` (Linux 5.7 layout, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `struct open_how` for `openat2`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit).
#[repr(C)]
struct IfReqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    pad: [u8; 22],
}

/// The kernel's `struct sigaction` for `rt_sigaction`.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: c_ulong,
    restorer: usize,
    mask: u64,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const crate::seccomp::Insn,
}

/// Registers a pidfd with the tokio reactor (readable when the process exits).
pub(crate) fn register_pidfd(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd's `as_raw_fd` returns the same descriptor for as long as it lives, and
    // the AsyncFd owns it from here until it is dropped, which deregisters it first.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Registers a non-blocking descriptor (inotify) with the tokio reactor for reading.
pub(crate) fn register_readable(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: as in `register_pidfd`: the AsyncFd owns the descriptor until it is dropped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Registers a descriptor (a pty master) with the tokio reactor for reading and writing.
pub(crate) fn register_rw(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: as in `register_pidfd`: the AsyncFd owns the descriptor until it is dropped.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(
            fd,
            tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE,
        )
    }
    .map_err(|e| e.into_parts().1)
}

/// The container's init, started.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: i32,
    pub(crate) pidfd: OwnedFd,
}

/// A failure in the child: the step, the errno, and which mount/exec candidate (or 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fail {
    pub(crate) step: Step,
    pub(crate) errno: i32,
    pub(crate) index: u32,
}

impl Fail {
    /// The 12 bytes written on the error pipe.
    pub(crate) const LEN: usize = 12;

    pub(crate) fn decode(b: &[u8; Self::LEN]) -> Option<Fail> {
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Fail {
            step: Step::from_u32(word(0))?,
            errno: word(4) as i32,
            index: word(8),
        })
    }
}

/// Starts the container's init with `clone3(flags | CLONE_PIDFD)`; the child runs `plan`.
pub(crate) fn spawn(plan: &ChildPlan, flags: u64) -> io::Result<Spawned> {
    // The pointer arrays execve wants, built now: the child cannot allocate.
    let argv = pointers(&plan.argv);
    let envp = pointers(&plan.envp);
    spawn_with_flags(flags, || -> Infallible {
        // SAFETY: we are the child of clone3 (a copy-on-write copy of this address space, so
        // the plan and the pointer arrays stay valid); see `child`'s contract.
        unsafe { child(plan, &argv, &envp) }
    })
}

/// The child: set up and exec; on failure, report and `_exit(127)`.
///
/// # Safety
/// Only to be called in the child of `clone3`, with `argv`/`envp` NULL-terminated arrays of
/// pointers into `plan`.
unsafe fn child(plan: &ChildPlan, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    let fail = match setup(plan, argv, envp) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let mut buf = [0u8; Fail::LEN];
    buf[0..4].copy_from_slice(&(fail.step as u32).to_ne_bytes());
    buf[4..8].copy_from_slice(&fail.errno.to_ne_bytes());
    buf[8..12].copy_from_slice(&fail.index.to_ne_bytes());
    // SAFETY: writing a stack buffer to a descriptor, then leaving without running any
    // destructor or atexit handler.
    unsafe {
        libc::syscall(
            libc::SYS_write,
            plan.error_fd,
            buf.as_ptr(),
            buf.len() as c_ulong,
        );
        libc::syscall(libc::SYS_exit_group, 127 as c_long);
        libc::_exit(127)
    }
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

fn check(ret: c_long, step: Step, index: u32) -> Result<c_long, Fail> {
    if ret < 0 {
        Err(Fail {
            step,
            errno: errno(),
            index,
        })
    } else {
        Ok(ret)
    }
}

/// The whole setup. Every call below is a raw system call on prepared data.
#[allow(clippy::too_many_lines)]
fn setup(
    p: &ChildPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> Result<Infallible, Fail> {
    // SAFETY (for every `syscall` in this function): each call passes integers and pointers to
    // NUL-terminated strings, structs or arrays that live in `p`, `argv`, `envp` or on this
    // stack for the duration of the call; none of them touches memory the kernel could not
    // validate, and none has user-space side effects beyond the documented ones.
    unsafe {
        if let Some(fd) = p.sync_fd {
            let mut b = 0u8;
            loop {
                let r = libc::syscall(libc::SYS_read, fd, ptr::addr_of_mut!(b), 1 as c_ulong);
                if r == 1 {
                    break;
                }
                if r == 0 {
                    return Err(Fail {
                        step: Step::SyncWait,
                        errno: libc::ECANCELED,
                        index: 0,
                    });
                }
                if errno() != libc::EINTR {
                    check(-1, Step::SyncWait, 0)?;
                }
            }
        }

        stdio_and_cgroups(p)?;
        if p.new_cgroupns {
            check(
                libc::syscall(libc::SYS_unshare, libc::CLONE_NEWCGROUP as c_long),
                Step::CgroupNamespace,
                0,
            )?;
        }

        if let Some(h) = &p.hostname {
            check(
                libc::syscall(
                    libc::SYS_sethostname,
                    h.as_ptr(),
                    h.as_bytes().len() as c_ulong,
                ),
                Step::Hostname,
                0,
            )?;
        }

        if p.loopback_up {
            let s = check(
                libc::syscall(
                    libc::SYS_socket,
                    libc::AF_INET as c_long,
                    (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as c_long,
                    0 as c_long,
                ),
                Step::Loopback,
                0,
            )?;
            let mut ifr = IfReqFlags {
                name: [0; 16],
                flags: 0,
                pad: [0; 22],
            };
            ifr.name[0] = b'l';
            ifr.name[1] = b'o';
            check(
                libc::syscall(
                    libc::SYS_ioctl,
                    s,
                    libc::SIOCGIFFLAGS as c_ulong,
                    ptr::addr_of_mut!(ifr),
                ),
                Step::Loopback,
                1,
            )?;
            ifr.flags |= libc::IFF_UP as libc::c_short;
            check(
                libc::syscall(
                    libc::SYS_ioctl,
                    s,
                    libc::SIOCSIFFLAGS as c_ulong,
                    ptr::addr_of_mut!(ifr),
                ),
                Step::Loopback,
                2,
            )?;
            libc::syscall(libc::SYS_close, s);
        }

        // File system. Device nodes get their modes exactly (0666, not 0644 through the
        // caller's umask), which is restored after pivot_root.
        let umask = libc::syscall(libc::SYS_umask, 0 as c_long);
        check(
            sys_mount(
                ptr::null(),
                c"/".as_ptr(),
                ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                ptr::null(),
            ),
            Step::MountPrivate,
            0,
        )?;
        match &p.root {
            RootMount::Overlay { data } => check(
                sys_mount(
                    c"overlay".as_ptr(),
                    p.root_path.as_ptr(),
                    c"overlay".as_ptr(),
                    0,
                    data.as_ptr().cast(),
                ),
                Step::MountRoot,
                0,
            )?,
            RootMount::Bind => check(
                sys_mount(
                    p.root_path.as_ptr(),
                    p.root_path.as_ptr(),
                    ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    ptr::null(),
                ),
                Step::MountRoot,
                0,
            )?,
        };
        let root = check(
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                p.root_path.as_ptr(),
                (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as c_long,
            ),
            Step::OpenRoot,
            0,
        )? as RawFd;
        for (i, m) in p.mounts.iter().enumerate() {
            mount_step(root, m).map_err(|errno| Fail {
                step: Step::Mount,
                errno,
                index: i as u32,
            })?;
        }
        if p.readonly_root {
            remount_readonly(p.root_path.as_ptr(), root).map_err(|errno| Fail {
                step: Step::MakeReadOnly,
                errno,
                index: 0,
            })?;
        }
        libc::syscall(libc::SYS_close, root);

        check(
            libc::syscall(libc::SYS_chdir, p.root_path.as_ptr()),
            Step::PivotRoot,
            0,
        )?;
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
            Step::PivotRoot,
            1,
        )?;
        check(
            libc::syscall(libc::SYS_umount2, c".".as_ptr(), libc::MNT_DETACH as c_long),
            Step::PivotRoot,
            2,
        )?;
        check(
            libc::syscall(libc::SYS_chdir, c"/".as_ptr()),
            Step::PivotRoot,
            3,
        )?;
        libc::syscall(libc::SYS_umask, umask);

        if p.init {
            init(p, argv, envp)
        } else {
            process_setup(p, argv, envp)
        }
    }
}

/// `struct prctl_mm_map` for `prctl(PR_SET_MM, PR_SET_MM_MAP)`.
#[repr(C)]
struct PrctlMmMap {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    auxv: u64,
    auxv_size: u32,
    exe_fd: u32,
}

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
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_DUMPABLE as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        )
    };
    check(r, Step::Init, index).map(drop)
}

/// `--init`: PID 1 of the container once its root is in place. Starts the command as PID 2,
/// takes the command's identity and filters, closes every descriptor, then forwards signals
/// and reaps zombies until the command ends, and exits with its status. Returns only on a
/// failure before the command started (the caller reports it on the error pipe).
///
/// It is still a copy of the (possibly multi-threaded) caller: raw system calls on prepared
/// data only.
fn init(p: &ChildPlan, argv: &[*const c_char], envp: &[*const c_char]) -> Result<Infallible, Fail> {
    // SAFETY (for every `syscall` in this function): integers, and pointers to constant C
    // strings or to values on this stack, alive for the duration of the call. The clone's
    // child branch never returns (`command` ends in execve or exit) and keeps this module's
    // rules.
    unsafe {
        // Every signal stays blocked: they are only taken with sigtimedwait below, so no
        // handler of the caller ever runs here, and a blocked signal is queued even though the
        // init of a PID namespace would otherwise drop it under the default disposition.
        let all: u64 = !0;
        check(
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as c_long,
                ptr::addr_of!(all),
                ptr::null_mut::<u64>(),
                8 as c_ulong,
            ),
            Step::Init,
            0,
        )?;
        // A copy of the caller's memory: no core dump, no ptrace, no /proc/1/mem from inside
        // (the command inherits this until its execve, which resets it).
        undumpable(1)?;
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_NAME as c_long,
            c"init".as_ptr(),
            0 as c_long,
            0 as c_long,
            0 as c_long,
        );
        // Its /proc/1/cmdline (readable by anyone, with no ptrace check) would show the
        // caller's arguments: point it at "init" with PR_SET_MM_MAP, which needs no capability
        // when the executable is left alone. Best effort (a kernel without
        // CONFIG_CHECKPOINT_RESTORE refuses it). The kernel reads a command line from
        // anonymous memory only: it lives on this stack, in a frame that never returns.
        let cmdline: [u8; 5] = *b"init\0";
        if let Some(l) = &p.init_mm {
            let args = cmdline.as_ptr() as u64;
            let map = PrctlMmMap {
                start_code: l.start_code,
                end_code: l.end_code,
                start_data: l.start_data,
                end_data: l.end_data,
                start_brk: l.start_brk,
                brk: libc::syscall(libc::SYS_brk, 0 as c_long) as u64,
                start_stack: l.start_stack,
                arg_start: args,
                arg_end: args + cmdline.len() as u64,
                env_start: l.env_start,
                env_end: l.env_end,
                auxv: 0,
                auxv_size: 0,
                exe_fd: u32::MAX,
            };
            libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_MM as c_long,
                libc::PR_SET_MM_MAP as c_long,
                ptr::addr_of!(map),
                std::mem::size_of::<PrctlMmMap>() as c_long,
                0 as c_long,
            );
        }

        let cmd = clone3(0, libc::SIGCHLD as u64, None);
        if cmd == 0 {
            command(p, argv, envp)
        }
        let cmd = check(cmd, Step::Init, 2)? as c_int;
        // Nothing is needed any more but the error pipe (until the privileges are dropped):
        // not the stdio, not the terminal socket, nothing of the host.
        close_except(&[p.error_fd]);
        for fd in 0..3 {
            close(fd);
        }

        // The command's privileges, for the init too.
        let dropped = identity(p).and_then(|()| {
            // A change of credentials may have made it dumpable again (suid_dumpable).
            undumpable(3)?;
            install_seccomp(p)
        });
        if let Err(f) = dropped {
            libc::syscall(libc::SYS_kill, cmd as c_long, libc::SIGKILL as c_long);
            return Err(f);
        }
        // The command has its own copy: the caller sees EOF once the command has executed.
        close(p.error_fd);

        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::syscall(
                libc::SYS_rt_sigtimedwait,
                ptr::addr_of!(all),
                ptr::addr_of_mut!(info),
                ptr::null::<libc::timespec>(),
                8 as c_ulong,
            );
            if sig < 0 {
                let e = errno();
                if e == libc::EINTR || e == libc::EAGAIN {
                    continue;
                }
                // Signals cannot be taken (a seccomp profile that denies sigtimedwait): reap,
                // without forwarding, rather than spin.
                reap_only(cmd)
            }
            let sig = sig as c_int;
            if forwarded(sig) {
                libc::syscall(libc::SYS_kill, cmd as c_long, sig as c_long);
                continue;
            }
            if sig != libc::SIGCHLD {
                continue;
            }
            // SIGCHLD coalesces: reap everything that has exited.
            loop {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let r = libc::syscall(
                    libc::SYS_waitid,
                    libc::P_ALL as c_long,
                    0 as c_long,
                    ptr::addr_of_mut!(info),
                    (libc::WEXITED | libc::WNOHANG) as c_long,
                    ptr::null_mut::<c_void>(),
                );
                if r < 0 {
                    if errno() == libc::EINTR {
                        continue;
                    }
                    break;
                }
                let pid = info.si_pid();
                if pid == 0 {
                    break;
                }
                if pid == cmd {
                    exit_now(init_exit_code(info.si_code, info.si_status()))
                }
            }
        }
    }
}

/// The init's fallback when it cannot take signals: blocking `waitid` for every child until
/// the command exits (255 if even that fails).
fn reap_only(cmd: c_int) -> ! {
    loop {
        // SAFETY: `info` is plain data on this stack, filled by the kernel.
        let (r, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::syscall(
                libc::SYS_waitid,
                libc::P_ALL as c_long,
                0 as c_long,
                ptr::addr_of_mut!(info),
                libc::WEXITED as c_long,
                ptr::null_mut::<c_void>(),
            );
            (r, info)
        };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            exit_now(255)
        }
        // SAFETY: waitid filled a SIGCHLD siginfo, whose pid and status fields are valid.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == cmd {
            exit_now(init_exit_code(info.si_code, status))
        }
    }
}

/// `--init`: the command, PID 2, cloned by the init: the usual process setup and `execve`; a
/// failure goes on the error pipe (the init then exits with the command's 127).
fn command(p: &ChildPlan, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    match process_setup(p, argv, envp) {
        Ok(never) => match never {},
        Err(f) => fail_exit(p.error_fd, f),
    }
}

/// The process part of the setup, once the root is in place (or, for `exec`, once the
/// container's namespaces are joined): terminal, rlimits, identity, privileges, `execve`.
#[allow(clippy::too_many_lines)]
fn process_setup(
    p: &ChildPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> Result<Infallible, Fail> {
    if let Some(sock) = p.terminal {
        terminal(sock, p.uid).map_err(|(errno, index)| Fail {
            step: Step::Terminal,
            errno,
            index,
        })?;
    }
    identity(p)?;
    // SAFETY (for every `syscall` in this function): as in `setup`, every pointer is to data in
    // `p`, `argv`, `envp` or this stack, alive for the duration of the call.
    unsafe {
        // Nothing of the host's leaks past execve: everything above 2 becomes close-on-exec
        // (the error pipe already is; it must stay open until execve).
        check(
            libc::syscall(
                libc::SYS_close_range,
                3 as c_uint,
                c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            ),
            Step::CloseFds,
            0,
        )?;
        check(
            libc::syscall(libc::SYS_chdir, p.cwd.as_ptr()),
            Step::Chdir,
            0,
        )?;
        if let Some(mask) = p.umask {
            libc::syscall(libc::SYS_umask, mask as c_long);
        }

        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for sig in 1..NSIG {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP || (32..34).contains(&sig) {
                continue;
            }
            check(
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig as c_long,
                    ptr::addr_of!(default),
                    ptr::null_mut::<KernelSigaction>(),
                    8 as c_ulong,
                ),
                Step::Signals,
                sig as u32,
            )?;
        }
        let empty: u64 = 0;
        check(
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as c_long,
                ptr::addr_of!(empty),
                ptr::null_mut::<u64>(),
                8 as c_ulong,
            ),
            Step::Signals,
            0,
        )?;

        install_seccomp(p)?;

        // The $PATH search: ENOENT/ENOTDIR/EACCES move on to the next candidate, as execvp.
        let mut saved = libc::ENOENT;
        let mut saved_index = 0u32;
        for (i, path) in p.exec.iter().enumerate() {
            libc::syscall(
                libc::SYS_execve,
                path.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
            );
            let e = errno();
            match e {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => {
                    saved = e;
                    saved_index = i as u32;
                }
                _ => {
                    return Err(Fail {
                        step: Step::Exec,
                        errno: e,
                        index: i as u32,
                    })
                }
            }
        }
        Err(Fail {
            step: Step::Exec,
            errno: saved,
            index: saved_index,
        })
    }
}

/// Resource limits, user, groups, capabilities and `no_new_privs` of the plan (the command's,
/// and under `--init` the init's too).
#[allow(clippy::too_many_lines)]
fn identity(p: &ChildPlan) -> Result<(), Fail> {
    use libc::SYS_prctl;
    // SAFETY (for every `syscall` in this function): every pointer is to data in `p` or on this
    // stack, alive for the duration of the call.
    unsafe {
        for (i, r) in p.rlimits.iter().enumerate() {
            let lim = libc::rlimit64 {
                rlim_cur: r.soft,
                rlim_max: r.hard,
            };
            check(
                libc::syscall(
                    libc::SYS_prlimit64,
                    0 as c_long,
                    r.resource as c_long,
                    ptr::addr_of!(lim),
                    ptr::null_mut::<libc::rlimit64>(),
                ),
                Step::Rlimit,
                i as u32,
            )?;
        }

        // Identity and privileges.
        if let Some(caps) = &p.caps {
            for c in &caps.bounding_drop {
                let r = libc::syscall(SYS_prctl, libc::PR_CAPBSET_DROP as c_long, *c as c_long);
                if r < 0 && errno() != libc::EINVAL {
                    check(r, Step::Capabilities, *c)?;
                }
            }
        }
        check(
            libc::syscall(SYS_prctl, libc::PR_SET_KEEPCAPS as c_long, 1 as c_long),
            Step::Capabilities,
            100,
        )?;
        if let Some(groups) = &p.groups {
            check(
                libc::syscall(
                    libc::SYS_setgroups,
                    groups.len() as c_ulong,
                    groups.as_ptr(),
                ),
                Step::SetGroups,
                0,
            )?;
        }
        check(
            libc::syscall(
                libc::SYS_setresgid,
                p.gid as c_ulong,
                p.gid as c_ulong,
                p.gid as c_ulong,
            ),
            Step::SetGid,
            0,
        )?;
        check(
            libc::syscall(
                libc::SYS_setresuid,
                p.uid as c_ulong,
                p.uid as c_ulong,
                p.uid as c_ulong,
            ),
            Step::SetUid,
            0,
        )?;
        check(
            libc::syscall(SYS_prctl, libc::PR_SET_KEEPCAPS as c_long, 0 as c_long),
            Step::Capabilities,
            101,
        )?;
        if let Some(caps) = &p.caps {
            let header = CapHeader {
                version: LINUX_CAPABILITY_VERSION_3,
                pid: 0,
            };
            let lo = |m: u64| m as u32;
            let hi = |m: u64| (m >> 32) as u32;
            let data = [
                CapData {
                    effective: lo(caps.effective),
                    permitted: lo(caps.permitted),
                    inheritable: lo(caps.inheritable),
                },
                CapData {
                    effective: hi(caps.effective),
                    permitted: hi(caps.permitted),
                    inheritable: hi(caps.inheritable),
                },
            ];
            check(
                libc::syscall(libc::SYS_capset, ptr::addr_of!(header), data.as_ptr()),
                Step::Capabilities,
                102,
            )?;
            check(
                libc::syscall(
                    SYS_prctl,
                    libc::PR_CAP_AMBIENT as c_long,
                    libc::PR_CAP_AMBIENT_CLEAR_ALL as c_long,
                    0 as c_long,
                    0 as c_long,
                    0 as c_long,
                ),
                Step::Capabilities,
                103,
            )?;
            for c in &caps.ambient {
                check(
                    libc::syscall(
                        SYS_prctl,
                        libc::PR_CAP_AMBIENT as c_long,
                        libc::PR_CAP_AMBIENT_RAISE as c_long,
                        *c as c_long,
                        0 as c_long,
                        0 as c_long,
                    ),
                    Step::Capabilities,
                    *c,
                )?;
            }
        }
        if p.no_new_privs {
            check(
                libc::syscall(
                    SYS_prctl,
                    libc::PR_SET_NO_NEW_PRIVS as c_long,
                    1 as c_long,
                    0 as c_long,
                    0 as c_long,
                    0 as c_long,
                ),
                Step::NoNewPrivs,
                0,
            )?;
        }
    }
    Ok(())
}

/// Installs the plan's seccomp filters, in order.
fn install_seccomp(p: &ChildPlan) -> Result<(), Fail> {
    for (i, prog) in p.seccomp.iter().enumerate() {
        let fprog = SockFprog {
            len: prog.len() as u16,
            filter: prog.as_ptr(),
        };
        // SAFETY: `fprog` points at a filter of `prog.len()` instructions in the plan, alive
        // for the duration of the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as c_long,
                0 as c_long,
                ptr::addr_of!(fprog),
            )
        };
        check(r, Step::Seccomp, i as u32)?;
    }
    Ok(())
}

/// `mount(2)` as a raw system call.
///
/// # Safety
/// Every pointer is NULL or a NUL-terminated string (`data` may be any readable buffer).
unsafe fn sys_mount(
    source: *const c_char,
    target: *const c_char,
    fstype: *const c_char,
    flags: c_ulong,
    data: *const c_void,
) -> c_long {
    // SAFETY: forwarded from the caller's contract.
    unsafe { libc::syscall(libc::SYS_mount, source, target, fstype, flags, data) }
}

/// `/proc/self/fd/N` for a descriptor, written into `buf`, NUL-terminated.
fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> *const c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    buf.as_ptr().cast()
}

/// `openat2(root, path, O_PATH | extra, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
fn resolve(root: RawFd, path: *const c_char, extra: c_int) -> Result<RawFd, i32> {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC | extra) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `path` is a NUL-terminated string from the plan; `how` lives on this stack.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            path,
            ptr::addr_of!(how),
            std::mem::size_of::<OpenHow>(),
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as RawFd)
    }
}

fn close(fd: RawFd) {
    // SAFETY: closing a descriptor this code opened.
    unsafe {
        libc::syscall(libc::SYS_close, fd);
    }
}

/// The parent directory of the last component, resolved in the root (the root itself for a
/// one-component path). The caller closes it unless it is `root`.
fn parent_of(root: RawFd, dest: &InRoot, i: usize) -> Result<RawFd, i32> {
    if i == 0 {
        Ok(root)
    } else {
        resolve(root, dest.prefixes[i - 1].as_ptr(), libc::O_DIRECTORY)
    }
}

/// Resolves `dest` in the root, creating missing directories (and the last component as
/// `kind`) on the way. Returns an `O_PATH` descriptor.
fn ensure(root: RawFd, dest: &InRoot, kind: Kind) -> Result<RawFd, i32> {
    let n = dest.names.len();
    let last = dest.prefixes[n - 1].as_ptr();
    match resolve(root, last, 0) {
        Ok(fd) => return Ok(fd),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    create_in_parent(root, dest, |parent, name| {
        // SAFETY: `parent` is an O_PATH directory descriptor and `name` a NUL-terminated
        // component without slashes.
        unsafe {
            if kind == Kind::Dir {
                libc::syscall(libc::SYS_mkdirat, parent, name, 0o755 as c_long)
            } else {
                let f = libc::syscall(
                    libc::SYS_openat,
                    parent,
                    name,
                    (libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) as c_long,
                    0o644 as c_long,
                );
                if f >= 0 {
                    libc::syscall(libc::SYS_close, f);
                }
                f
            }
        }
    })?;
    resolve(root, last, 0)
}

/// Makes the last component of `dest` with `make(parent, name)` (a raw `*at` call's result),
/// its parent directories created first; one that exists already is fine.
fn create_in_parent(
    root: RawFd,
    dest: &InRoot,
    make: impl FnOnce(RawFd, *const c_char) -> c_long,
) -> Result<(), i32> {
    let parent = ensure_parent(root, dest)?;
    let r = make(parent, dest.names[dest.names.len() - 1].as_ptr());
    let e = errno();
    if parent != root {
        close(parent);
    }
    if r < 0 && e != libc::EEXIST {
        return Err(e);
    }
    Ok(())
}

/// Remounts the mount at `path` read-only, keeping the flags a user namespace may not clear.
fn remount_readonly(path: *const c_char, fd: RawFd) -> Result<(), i32> {
    // SAFETY: statfs is plain data filled by the kernel for an open descriptor.
    let mut st: libc::statfs64 = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::syscall(libc::SYS_fstatfs, fd, ptr::addr_of_mut!(st)) } < 0 {
        return Err(errno());
    }
    let f = st.f_flags as c_ulong;
    let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    // SAFETY: `path` is NUL-terminated; the other pointers are NULL.
    if unsafe { sys_mount(ptr::null(), path, ptr::null(), flags, ptr::null()) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// `struct mount_attr` for `mount_setattr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the mount at `fd` and every mount beneath it read-only (`mount_setattr` with
/// `AT_RECURSIVE`, Linux 5.12).
fn readonly_recursive(fd: RawFd) -> Result<(), i32> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an empty path on a descriptor this code opened (AT_EMPTY_PATH) and a pointer to
    // `attr` on this stack, with its size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as c_uint,
            ptr::addr_of!(attr),
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(errno());
    }
    Ok(())
}

fn is_dir(fd: RawFd) -> Result<bool, i32> {
    // SAFETY: stat is plain data filled by the kernel for an open descriptor.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on an O_PATH descriptor with an empty path (AT_EMPTY_PATH).
    let r = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            fd,
            c"".as_ptr(),
            ptr::addr_of_mut!(st),
            libc::AT_EMPTY_PATH as c_long,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// One mount step; returns the errno on failure.
fn mount_step(root: RawFd, m: &MountStep) -> Result<(), i32> {
    let mut buf = [0u8; 32];
    let mut buf2 = [0u8; 32];
    // SAFETY (for each block below): mount/mknodat/symlinkat receive NUL-terminated strings
    // from the plan or `fd_path` buffers on this stack, and descriptors this function opened.
    match m {
        MountStep::Fs {
            fstype,
            source,
            dest,
            flags,
            data,
        } => {
            let fd = ensure(root, dest, Kind::Dir)?;
            let data = data.as_ref().map_or(ptr::null(), |d| d.as_ptr().cast());
            let r = unsafe {
                sys_mount(
                    source.as_ptr(),
                    fd_path(fd, &mut buf),
                    fstype.as_ptr(),
                    *flags as c_ulong,
                    data,
                )
            };
            let e = errno();
            close(fd);
            if r < 0 {
                return Err(e);
            }
        }
        MountStep::Bind {
            source,
            dest,
            kind,
            recursive,
            readonly,
        } => {
            let fd = ensure(root, dest, *kind)?;
            let mut flags = libc::MS_BIND;
            if *recursive {
                flags |= libc::MS_REC;
            }
            let r = unsafe {
                sys_mount(
                    source.as_ptr(),
                    fd_path(fd, &mut buf),
                    ptr::null(),
                    flags,
                    ptr::null(),
                )
            };
            let e = errno();
            close(fd);
            if r < 0 {
                return Err(e);
            }
            if *readonly {
                // Reopen: the old descriptor names what is now covered by the mount.
                let top = resolve(root, dest.prefixes[dest.names.len() - 1].as_ptr(), 0)?;
                // A recursive bind carries the source's submounts, still writable: make them
                // all read-only at once (Linux 5.12); older kernels get the top mount only.
                let r = match recursive.then(|| readonly_recursive(top)) {
                    Some(Err(libc::ENOSYS)) | None => {
                        remount_readonly(fd_path(top, &mut buf2), top)
                    }
                    Some(r) => r,
                };
                close(top);
                r?;
            }
        }
        MountStep::Mknod { dest, mode, dev } => {
            create_in_parent(root, dest, |parent, name| unsafe {
                libc::syscall(
                    libc::SYS_mknodat,
                    parent,
                    name,
                    *mode as c_long,
                    *dev as c_long,
                )
            })?
        }
        MountStep::Symlink { target, dest } => {
            create_in_parent(root, dest, |parent, name| unsafe {
                libc::syscall(libc::SYS_symlinkat, target.as_ptr(), parent, name)
            })?
        }
        MountStep::Mask { dest } => {
            let fd = match resolve(root, dest.prefixes[dest.names.len() - 1].as_ptr(), 0) {
                Ok(fd) => fd,
                Err(libc::ENOENT) => return Ok(()),
                Err(e) => return Err(e),
            };
            let dir = is_dir(fd);
            let r = match dir {
                Ok(true) => unsafe {
                    sys_mount(
                        c"tmpfs".as_ptr(),
                        fd_path(fd, &mut buf),
                        c"tmpfs".as_ptr(),
                        libc::MS_RDONLY,
                        c"size=0".as_ptr().cast(),
                    )
                },
                Ok(false) => unsafe {
                    sys_mount(
                        c"/dev/null".as_ptr(),
                        fd_path(fd, &mut buf),
                        ptr::null(),
                        libc::MS_BIND,
                        ptr::null(),
                    )
                },
                Err(e) => {
                    close(fd);
                    return Err(e);
                }
            };
            let e = errno();
            close(fd);
            if r < 0 {
                return Err(e);
            }
        }
        MountStep::Mkdir { dest } => close(ensure(root, dest, Kind::Dir)?),
        MountStep::ReadOnly { dest } => {
            let last = dest.prefixes[dest.names.len() - 1].as_ptr();
            let fd = match resolve(root, last, 0) {
                Ok(fd) => fd,
                Err(libc::ENOENT) => return Ok(()),
                Err(e) => return Err(e),
            };
            let path = fd_path(fd, &mut buf);
            let r = unsafe {
                sys_mount(
                    path,
                    path,
                    ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    ptr::null(),
                )
            };
            let e = errno();
            close(fd);
            if r < 0 {
                return Err(e);
            }
            let top = resolve(root, last, 0)?;
            let r = remount_readonly(fd_path(top, &mut buf2), top);
            close(top);
            r?;
        }
    }
    Ok(())
}

/// The directory that holds the last component, created if missing.
fn ensure_parent(root: RawFd, dest: &InRoot) -> Result<RawFd, i32> {
    let n = dest.names.len();
    if n == 1 {
        return Ok(root);
    }
    match resolve(root, dest.prefixes[n - 2].as_ptr(), libc::O_DIRECTORY) {
        Ok(fd) => Ok(fd),
        Err(libc::ENOENT) => {
            ensure_dirs(root, dest, n - 1)?;
            resolve(root, dest.prefixes[n - 2].as_ptr(), libc::O_DIRECTORY)
        }
        Err(e) => Err(e),
    }
}

/// Creates the first `count` components of `dest` as directories.
fn ensure_dirs(root: RawFd, dest: &InRoot, count: usize) -> Result<(), i32> {
    for i in 0..count {
        match resolve(root, dest.prefixes[i].as_ptr(), 0) {
            Ok(fd) => {
                close(fd);
                continue;
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let parent = parent_of(root, dest, i)?;
        // SAFETY: `parent` is an O_PATH directory descriptor; the name has no slash.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mkdirat,
                parent,
                dest.names[i].as_ptr(),
                0o755 as c_long,
            )
        };
        let e = errno();
        if parent != root {
            close(parent);
        }
        if r < 0 && e != libc::EEXIST {
            return Err(e);
        }
    }
    Ok(())
}

/// Makes a process started from `cmd` receive each `fd` as descriptor `target` (above 2).
///
/// The sources are first duplicated above every target, so no `dup2` clobbers another source;
/// the duplicates are returned and must be kept until `cmd` has been spawned.
pub(crate) fn pass_fds(
    cmd: &mut std::process::Command,
    fds: &[(&OwnedFd, RawFd)],
) -> io::Result<Vec<OwnedFd>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let above = fds.iter().map(|f| f.1).max().unwrap_or(2) + 1;
    let mut keep = Vec::with_capacity(fds.len());
    let mut pairs = Vec::with_capacity(fds.len());
    for (fd, target) in fds {
        let high = rustix::io::fcntl_dupfd_cloexec(fd, above)?;
        pairs.push((high.as_raw_fd(), *target));
        keep.push(high);
    }
    // SAFETY: the closure runs in the forked child before exec; it only calls dup2, which is
    // async-signal-safe, on descriptors kept open by the caller until spawn returns, and reads
    // a vector allocated before the fork (no allocation, no lock). dup2 clears close-on-exec on
    // the target, so exactly these descriptors are inherited.
    unsafe {
        cmd.pre_exec(move || {
            for &(src, dst) in &pairs {
                if libc::dup2(src, dst) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(keep)
}

// ---------------------------------------------------------------------------------------------
// Terminals, detached containers (the monitor) and `exec`. The same rules as above: after each
// clone only raw system calls on data prepared before it.
// ---------------------------------------------------------------------------------------------

/// Opens a pty in the container's own `/dev/ptmx` (so the command sees `/dev/pts/N` of its
/// devpts instance), sends the master on `sock` (`SCM_RIGHTS`), gives the slave to `uid`, makes
/// it the controlling terminal of a new session and installs it as 0, 1 and 2.
///
/// Returns `(errno, index of the failing call)`.
fn terminal(sock: RawFd, uid: u32) -> Result<(), (i32, u32)> {
    let fail = |i: u32| (errno(), i);
    // SAFETY (for every call in this block): raw system calls on constant C strings, descriptors
    // opened here, and a `msghdr` whose iovec and control buffer live on this stack; the CMSG
    // helpers are pointer arithmetic within that control buffer.
    unsafe {
        let m = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/dev/ptmx".as_ptr(),
            (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as c_long,
        );
        if m < 0 {
            return Err(fail(0));
        }
        let m = m as RawFd;
        let unlock: c_int = 0;
        if libc::syscall(
            libc::SYS_ioctl,
            m,
            libc::TIOCSPTLCK as c_ulong,
            ptr::addr_of!(unlock),
        ) < 0
        {
            return Err(fail(1));
        }
        let s = libc::syscall(
            libc::SYS_ioctl,
            m,
            libc::TIOCGPTPEER as c_ulong,
            (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as c_long,
        );
        if s < 0 {
            return Err(fail(2));
        }
        let s = s as RawFd;

        let byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_ptr() as *mut c_void,
            iov_len: 1,
        };
        // CMSG_SPACE(sizeof(int)) is 24 bytes on 64-bit; u64s keep it aligned.
        let mut control = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = ptr::addr_of_mut!(iov);
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as _;
        let cmsg = libc::CMSG_FIRSTHDR(ptr::addr_of!(msg));
        if cmsg.is_null() {
            return Err((libc::EINVAL, 3));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        ptr::copy_nonoverlapping(ptr::addr_of!(m).cast::<u8>(), libc::CMSG_DATA(cmsg), 4);
        if libc::syscall(
            libc::SYS_sendmsg,
            sock,
            ptr::addr_of!(msg),
            libc::MSG_NOSIGNAL as c_long,
        ) < 0
        {
            return Err(fail(3));
        }
        close(m);
        // Best effort, as runc: a user namespace may not map the owner.
        libc::syscall(libc::SYS_fchown, s, uid as c_long, -1 as c_long);
        if libc::syscall(libc::SYS_setsid) < 0 {
            return Err(fail(4));
        }
        if libc::syscall(libc::SYS_ioctl, s, libc::TIOCSCTTY as c_ulong, 0 as c_long) < 0 {
            return Err(fail(5));
        }
        for i in 0..3 {
            if libc::syscall(libc::SYS_dup3, s, i as c_int, 0 as c_int) < 0 {
                return Err(fail(6));
            }
        }
        close(s);
    }
    Ok(())
}

/// Writes a failure on the error pipe and leaves with 127 (no destructor runs).
fn fail_exit(error_fd: RawFd, fail: Fail) -> ! {
    let mut buf = [0u8; Fail::LEN];
    buf[0..4].copy_from_slice(&(fail.step as u32).to_ne_bytes());
    buf[4..8].copy_from_slice(&fail.errno.to_ne_bytes());
    buf[8..12].copy_from_slice(&fail.index.to_ne_bytes());
    // SAFETY: writing a stack buffer to a descriptor, then exiting the process at once.
    unsafe {
        libc::syscall(
            libc::SYS_write,
            error_fd,
            buf.as_ptr(),
            buf.len() as c_ulong,
        );
        libc::syscall(libc::SYS_exit_group, 127 as c_long);
        libc::_exit(127)
    }
}

fn exit_now(code: c_int) -> ! {
    // SAFETY: ends the process without running destructors or atexit handlers.
    unsafe {
        libc::syscall(libc::SYS_exit_group, code as c_long);
        libc::_exit(code)
    }
}

/// `clone3` with `flags` (and `CLONE_PIDFD` storing into `pidfd` when given).
///
/// # Safety
/// The caller's child branch (return value 0) must keep this module's rules.
unsafe fn clone3(flags: u64, exit_signal: u64, pidfd: Option<&mut c_int>) -> c_long {
    let mut args = CloneArgs {
        flags,
        exit_signal,
        ..CloneArgs::default()
    };
    if let Some(p) = pidfd {
        args.flags |= CLONE_PIDFD;
        args.pidfd = ptr::from_mut(p) as u64;
    }
    // SAFETY: a fully initialised clone_args of the size passed; see the caller's contract.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            ptr::addr_of!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// Runs `f` in a child of `clone3(CLONE_PIDFD)` with every signal blocked around the clone,
/// returning the child's pid and pidfd to the parent.
fn spawn_with(f: impl FnOnce() -> Infallible) -> io::Result<Spawned> {
    spawn_with_flags(0, f)
}

/// [`spawn_with`] with namespace (or other) `flags` for `clone3`.
fn spawn_with_flags(flags: u64, f: impl FnOnce() -> Infallible) -> io::Result<Spawned> {
    let mut pidfd: c_int = -1;
    // SAFETY: sigset_t is plain data; pthread_sigmask changes only this thread's mask, restored
    // below on every path of the parent.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: the child branch runs `f`, which never returns and keeps this module's rules.
    let ret = unsafe { clone3(flags, libc::SIGCHLD as u64, Some(&mut pidfd)) };
    if ret == 0 {
        // `f` never returns (its type says so); the exit is for form only.
        #[allow(unreachable_code)]
        {
            let _never = f();
            exit_now(127)
        }
    }
    let err = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
    }
    if ret < 0 {
        return Err(err);
    }
    // SAFETY: with CLONE_PIDFD the kernel stored a new pidfd that nobody else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Spawned {
        pid: ret as i32,
        pidfd,
    })
}

fn pointers(strings: &[std::ffi::CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

/// Closes every descriptor from 3 up except those in `keep` (sorted ascending).
fn close_except(keep: &[RawFd]) {
    let mut next: c_uint = 3;
    for &k in keep {
        let k = k as c_uint;
        if k < next {
            continue;
        }
        if k > next {
            // SAFETY: closing descriptors of this (single-threaded) process.
            unsafe {
                libc::syscall(libc::SYS_close_range, next, k - 1, 0 as c_uint);
            }
        }
        next = k + 1;
    }
    // SAFETY: as above.
    unsafe {
        libc::syscall(libc::SYS_close_range, next, c_uint::MAX, 0 as c_uint);
    }
}

/// Writes `n` in decimal at the end of `buf[..*len]`.
fn push_decimal(buf: &mut [u8], len: &mut usize, n: u64) {
    let mut digits = [0u8; 20];
    let mut n = n;
    let mut k = 0;
    loop {
        digits[k] = b'0' + (n % 10) as u8;
        k += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..k {
        if *len < buf.len() {
            buf[*len] = digits[k - 1 - i];
            *len += 1;
        }
    }
}

/// Auto-removal (`--rm`) done by the monitor once the exit is recorded.
#[derive(Debug)]
pub(crate) struct AutoRemove {
    /// The store's lock file, its own open file description (flock is per description).
    pub(crate) lock_fd: RawFd,
    /// `ROOT/names`, and the container's name in it.
    pub(crate) names_fd: RawFd,
    pub(crate) name: std::ffi::CString,
    /// `ROOT/containers` and `ROOT/trash`: the container's directory moves from one to the
    /// other (the next store operation deletes it).
    pub(crate) containers_fd: RawFd,
    pub(crate) trash_fd: RawFd,
    pub(crate) id: std::ffi::CString,
}

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
    pub(crate) cgroup_dirs: Vec<std::ffi::CString>,
    pub(crate) auto_remove: Option<AutoRemove>,
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
    let argv = pointers(&plan.argv);
    let envp = pointers(&plan.envp);
    spawn_with(|| -> Infallible {
        // SAFETY: raw setsid; then a clone whose child is the monitor (which never returns).
        unsafe {
            libc::syscall(libc::SYS_setsid);
            let r = clone3(0, libc::SIGCHLD as u64, None);
            if r == 0 {
                monitor(plan, flags, mon, &argv, &envp)
            }
            exit_now(if r < 0 { 1 } else { 0 })
        }
    })
}

/// The monitor. Never returns.
fn monitor(
    plan: &ChildPlan,
    flags: u64,
    mon: &MonitorPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> ! {
    // SAFETY (for every call in this function): raw system calls on descriptors and C strings
    // prepared before the first clone, and buffers on this stack.
    unsafe {
        for (i, fd) in mon.stdio.iter().enumerate() {
            libc::syscall(libc::SYS_dup3, *fd, i as c_int, 0 as c_int);
        }
        close_except(&mon.keep);

        let mut pidfd: c_int = -1;
        let pid = clone3(flags, libc::SIGCHLD as u64, Some(&mut pidfd));
        if pid == 0 {
            child(plan, argv, envp)
        }
        let pid = if pid < 0 { -errno() } else { pid as i32 };
        for fd in &mon.close_after {
            close(*fd);
        }
        let me = libc::syscall(libc::SYS_getpid) as i32;
        let mut report = [0u8; 8];
        report[..4].copy_from_slice(&pid.to_ne_bytes());
        report[4..].copy_from_slice(&me.to_ne_bytes());
        libc::syscall(
            libc::SYS_write,
            mon.report_fd,
            report.as_ptr(),
            report.len() as c_ulong,
        );
        close(mon.report_fd);
        if pid < 0 {
            exit_now(1)
        }
        let mut b = [0u8; 16];
        loop {
            let r = libc::syscall(libc::SYS_read, mon.ack_fd, b.as_mut_ptr(), 16 as c_ulong);
            if r == 0 || (r < 0 && errno() != libc::EINTR) {
                break;
            }
        }
        close(mon.ack_fd);

        // Relays the command's output to the log and to attached clients, and their input
        // to the command, until the init has exited and its output is drained.
        let mut relay = Relay::new(&mon.relay);
        relay.run(pidfd);
        close(pidfd);

        let mut info: libc::siginfo_t = std::mem::zeroed();
        let waited = loop {
            let r = libc::syscall(
                libc::SYS_waitid,
                libc::P_PID as c_long,
                pid as c_long,
                ptr::addr_of_mut!(info),
                libc::WEXITED as c_long,
                ptr::null_mut::<c_void>(),
            );
            if r == 0 || errno() != libc::EINTR {
                break r == 0;
            }
        };
        let (kind, value) = if !waited {
            (b'U', 0)
        } else if info.si_code == libc::CLD_EXITED {
            (b'E', info.si_status())
        } else {
            (b'S', info.si_status())
        };
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::CLOCK_REALTIME as c_long,
            ptr::addr_of_mut!(now),
        );
        // "E 0 1700000000123456789\n": exited/signaled/unknown, code or signal, nanoseconds.
        let mut text = [0u8; 64];
        let mut len = 0;
        text[0] = kind;
        text[1] = b' ';
        len += 2;
        push_decimal(&mut text, &mut len, value as u64);
        text[len] = b' ';
        len += 1;
        let nanos = (now.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(now.tv_nsec as u64);
        push_decimal(&mut text, &mut len, nanos);
        text[len] = b'\n';
        len += 1;
        let f = libc::syscall(
            libc::SYS_openat,
            mon.dir_fd,
            c"exit.tmp".as_ptr(),
            (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC) as c_long,
            0o644 as c_long,
        );
        if f >= 0 {
            libc::syscall(libc::SYS_write, f, text.as_ptr(), len as c_ulong);
            libc::syscall(libc::SYS_fsync, f);
            close(f as RawFd);
            libc::syscall(
                libc::SYS_renameat,
                mon.dir_fd,
                c"exit.tmp".as_ptr(),
                mon.dir_fd,
                c"exit".as_ptr(),
            );
        }
        // Attached clients learn the exit once it is recorded.
        relay.finish(mon.dir_fd, kind, value);

        for dir in mon.cgroup_dirs.iter().rev() {
            for _ in 0..200 {
                if libc::syscall(libc::SYS_rmdir, dir.as_ptr()) == 0 || errno() != libc::EBUSY {
                    break;
                }
                let pause = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 5_000_000,
                };
                libc::syscall(
                    libc::SYS_nanosleep,
                    ptr::addr_of!(pause),
                    ptr::null_mut::<libc::timespec>(),
                );
            }
        }

        if let Some(rm) = &mon.auto_remove {
            libc::syscall(libc::SYS_flock, rm.lock_fd, libc::LOCK_EX as c_long);
            if !rm.name.is_empty() {
                libc::syscall(
                    libc::SYS_unlinkat,
                    rm.names_fd,
                    rm.name.as_ptr(),
                    0 as c_long,
                );
            }
            libc::syscall(
                libc::SYS_renameat,
                rm.containers_fd,
                rm.id.as_ptr(),
                rm.trash_fd,
                rm.id.as_ptr(),
            );
            close(rm.lock_fd);
        }
        exit_now(0)
    }
}

// ---------------------------------------------------------------------------------------------
// The monitor's relay: the command's stdio, its log (CRI lines) and the attach socket. Same
// rules as the rest of the monitor: raw system calls, fixed-size buffers on this stack.
// ---------------------------------------------------------------------------------------------

/// What the monitor relays, prepared before the first clone (a descriptor is -1 when absent).
#[derive(Debug)]
pub(crate) struct RelayPlan {
    /// The container's log (`O_APPEND`), written in the CRI format.
    pub(crate) log_fd: RawFd,
    /// `-i` without a terminal: the write end of the command's stdin pipe (non-blocking).
    pub(crate) stdin: RawFd,
    /// Without a terminal: the read ends of the command's stdout and stderr (non-blocking).
    pub(crate) stdout: RawFd,
    pub(crate) stderr: RawFd,
    /// With a terminal: the socket on which the command's pty master arrives.
    pub(crate) terminal: RawFd,
    /// `-i`: clients' input goes to the command (its stdin pipe or the pty master).
    pub(crate) interactive: bool,
    /// Docker's `StdinOnce`: a client closing its stdin (or going away) closes the command's.
    pub(crate) stdin_once: bool,
    /// The listening attach socket (non-blocking).
    pub(crate) listen: RawFd,
    /// A client connected before the start (`start_attached`), and what it wants.
    pub(crate) first: RawFd,
    pub(crate) first_wants: u8,
}

use crate::monitor::proto::{self, rfc3339_nanos};

/// Output is read in pieces of this size (one frame's payload at most).
const OUT_BUF: usize = 16 << 10;
/// Client input is read in pieces of this size, and at most this much waits for the command.
const IN_BUF: usize = 4 << 10;
/// CRI lines written with one `writev`, at most.
const LOG_LINES: usize = 64;
/// After the init has exited: the output is drained until it ends, or nothing came for this
/// long, or this long after the exit at most (a process outside a PID namespace may keep a
/// pipe open).
const DRAIN_IDLE_NS: i64 = 2_000_000_000;
const DRAIN_MAX_NS: i64 = 10_000_000_000;

/// One attach client.
#[derive(Clone, Copy)]
struct Client {
    /// -1: a free slot.
    fd: RawFd,
    /// Its `ATTACH` frame came (or it was connected before the start).
    attached: bool,
    /// `proto::WANT_*`.
    wants: u8,
    /// Bytes queued on its socket above which it is dropped (it does not keep up).
    limit: u32,
    /// The frame being read: header, kind, payload bytes left, a control payload's start.
    hdr: [u8; proto::HEADER],
    hdr_len: usize,
    kind: u8,
    remaining: u32,
    ctl: [u8; 8],
    ctl_len: usize,
}

const FREE: Client = Client {
    fd: -1,
    attached: false,
    wants: 0,
    limit: 0,
    hdr: [0; proto::HEADER],
    hdr_len: 0,
    kind: 0,
    remaining: 0,
    ctl: [0; 8],
    ctl_len: 0,
};

/// Which output descriptor.
#[derive(Clone, Copy)]
enum Out {
    Stdout,
    Stderr,
    Master,
}

/// The relay's state, on the monitor's stack.
struct Relay<'a> {
    p: &'a RelayPlan,
    tty: bool,
    clients: [Client; proto::MAX_CLIENTS],
    listen: RawFd,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    terminal: RawFd,
    master: RawFd,
    /// Input is still taken (`-i`, and not closed by a stdin-once client).
    input_open: bool,
    /// Close the command's stdin once `pending` is written.
    close_when_flushed: bool,
    /// Input read from a client, not yet taken by the command.
    pending: [u8; IN_BUF],
    pending_at: usize,
    pending_len: usize,
    /// A resize asked for before the pty master arrived.
    winsize: Option<(u16, u16)>,
}

fn monotonic_ns() -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills a timespec on this stack.
    unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::CLOCK_MONOTONIC as c_long,
            ptr::addr_of_mut!(t),
        );
    }
    t.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec)
}

/// Sends one frame without blocking; true when all of it was queued.
fn send_frame(fd: RawFd, kind: u8, payload: &[u8]) -> bool {
    let hdr = proto::header(kind, payload.len() as u32);
    let iov = [
        libc::iovec {
            iov_base: hdr.as_ptr() as *mut c_void,
            iov_len: hdr.len(),
        },
        libc::iovec {
            iov_base: payload.as_ptr() as *mut c_void,
            iov_len: payload.len(),
        },
    ];
    // SAFETY: a zeroed msghdr is valid; its iovecs point at `hdr` and `payload`, alive for the
    // duration of the call.
    let r = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 2;
        libc::syscall(
            libc::SYS_sendmsg,
            fd,
            ptr::addr_of!(msg),
            (libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as c_long,
        )
    };
    r == (hdr.len() + payload.len()) as c_long
}

/// Writes every iovec of `iov`, advancing through partial writes; gives up on an error.
fn writev_all(fd: RawFd, iov: &mut [libc::iovec]) {
    let mut first = 0;
    while first < iov.len() {
        // SAFETY: the iovecs point at live buffers of the caller (adjusted only within them).
        let r = unsafe {
            libc::syscall(
                libc::SYS_writev,
                fd,
                iov[first..].as_ptr(),
                (iov.len() - first) as c_long,
            )
        };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return;
        }
        let mut n = r as usize;
        while first < iov.len() && n >= iov[first].iov_len {
            n -= iov[first].iov_len;
            first += 1;
        }
        if first < iov.len() && n > 0 {
            // SAFETY: `n` is less than this iovec's length: the pointer stays in its buffer.
            iov[first].iov_base = unsafe { iov[first].iov_base.cast::<u8>().add(n) }.cast();
            iov[first].iov_len -= n;
        }
    }
}

impl<'a> Relay<'a> {
    fn new(p: &'a RelayPlan) -> Self {
        Relay {
            p,
            tty: p.terminal >= 0,
            clients: [FREE; proto::MAX_CLIENTS],
            listen: p.listen,
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
            terminal: p.terminal,
            master: -1,
            input_open: p.interactive,
            close_when_flushed: false,
            pending: [0; IN_BUF],
            pending_at: 0,
            pending_len: 0,
            winsize: None,
        }
    }

    /// Relays until the init (`pidfd`) has exited and its output is drained.
    fn run(&mut self, pidfd: RawFd) {
        if self.p.first >= 0 {
            self.clients[0] = self.new_client(self.p.first);
            self.clients[0].wants = self.p.first_wants;
            self.attach(0);
        }
        let mut pidfd = pidfd;
        let mut exited_at: Option<i64> = None;
        let mut buf = [0u8; OUT_BUF];
        const FIXED: usize = 7;
        loop {
            let outputs_open =
                self.stdout >= 0 || self.stderr >= 0 || self.master >= 0 || self.terminal >= 0;
            let timeout = match exited_at {
                Some(at) => {
                    if !outputs_open {
                        return;
                    }
                    let left = DRAIN_MAX_NS - (monotonic_ns() - at);
                    if left <= 0 {
                        return;
                    }
                    Some(left.min(DRAIN_IDLE_NS))
                }
                None => None,
            };
            let none = libc::pollfd {
                fd: -1,
                events: 0,
                revents: 0,
            };
            let mut fds = [none; FIXED + proto::MAX_CLIENTS];
            let poll_in = |fd: RawFd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let waiting_input = self.pending_len > 0;
            fds[0] = poll_in(pidfd);
            fds[1] = poll_in(self.listen);
            fds[2] = poll_in(self.terminal);
            fds[3] = poll_in(self.stdout);
            fds[4] = poll_in(self.stderr);
            fds[5] = poll_in(self.master);
            if waiting_input && self.tty {
                fds[5].events |= libc::POLLOUT;
            }
            if waiting_input && !self.tty {
                fds[6] = libc::pollfd {
                    fd: self.stdin,
                    events: libc::POLLOUT,
                    revents: 0,
                };
            }
            // While input waits for the command, clients are not read (their input would have
            // nowhere to go); their output still flows.
            if !waiting_input {
                for (i, c) in self.clients.iter().enumerate() {
                    fds[FIXED + i] = poll_in(c.fd);
                }
            }
            let ts = timeout.map(|ns| libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as _,
            });
            // SAFETY: `fds` and `ts` live on this stack for the duration of the call.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_ppoll,
                    fds.as_mut_ptr(),
                    fds.len() as c_ulong,
                    ts.as_ref().map_or(ptr::null(), ptr::from_ref),
                    ptr::null::<u64>(),
                    8 as c_ulong,
                )
            };
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                // Cannot poll (should not happen): the caller's waitid still reaps the init.
                return;
            }
            if r == 0 {
                // Drained: nothing more came for a while after the exit.
                return;
            }
            let ready = |f: &libc::pollfd| f.fd >= 0 && f.revents != 0;
            // Output first, so that it reaches clients before anything that follows it.
            if ready(&fds[3]) {
                self.pump(Out::Stdout, &mut buf);
            }
            if ready(&fds[4]) {
                self.pump(Out::Stderr, &mut buf);
            }
            if ready(&fds[5]) {
                if fds[5].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.pump(Out::Master, &mut buf);
                }
                if fds[5].revents & libc::POLLOUT != 0 {
                    self.flush_input();
                }
            }
            if ready(&fds[6]) {
                self.flush_input();
            }
            if ready(&fds[2]) {
                self.receive_master();
            }
            for i in 0..proto::MAX_CLIENTS {
                // Input that waits for the command stops the reading (the rest is read later).
                if self.pending_len > 0 {
                    break;
                }
                if ready(&fds[FIXED + i]) && self.clients[i].fd == fds[FIXED + i].fd {
                    self.client_input(i);
                }
            }
            if ready(&fds[1]) {
                self.accept();
            }
            if ready(&fds[0]) {
                // Exited (the caller closes the pidfd and reaps it).
                pidfd = -1;
                exited_at = Some(monotonic_ns());
            }
        }
    }

    /// Reads one piece of output: into the log and to each client that wants it.
    fn pump(&mut self, which: Out, buf: &mut [u8; OUT_BUF]) {
        let (fd, kind) = match which {
            Out::Stdout => (self.stdout, proto::STDOUT),
            Out::Stderr => (self.stderr, proto::STDERR),
            Out::Master => (self.master, proto::STDOUT),
        };
        // SAFETY: reading into a buffer on this stack, of its size.
        let r =
            unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len() as c_ulong) };
        if r > 0 {
            let data = &buf[..r as usize];
            self.log(kind, data);
            self.fanout(kind, data);
            return;
        }
        if r < 0 && matches!(errno(), libc::EAGAIN | libc::EINTR) {
            return;
        }
        // The end (a pty master reads EIO once no process holds the terminal).
        close(fd);
        match which {
            Out::Stdout => self.stdout = -1,
            Out::Stderr => self.stderr = -1,
            Out::Master => {
                self.master = -1;
                self.pending_len = 0;
            }
        }
    }

    /// Appends `data` to the log as CRI lines: `TIMESTAMP STREAM F text` for each complete
    /// line, `TIMESTAMP STREAM P text` for a last piece without its newline.
    fn log(&self, kind: u8, data: &[u8]) {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime fills a timespec on this stack.
        unsafe {
            libc::syscall(
                libc::SYS_clock_gettime,
                libc::CLOCK_REALTIME as c_long,
                ptr::addr_of_mut!(now),
            );
        }
        let ns = (now.tv_sec.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(now.tv_nsec.max(0) as u64);
        // "2016-10-06T00:17:09.669794202Z stdout F "
        let mut full = [0u8; 40];
        let mut stamp = [0u8; 30];
        rfc3339_nanos(ns, &mut stamp);
        full[..30].copy_from_slice(&stamp);
        full[30..38].copy_from_slice(if kind == proto::STDERR {
            b" stderr "
        } else {
            b" stdout "
        });
        full[38] = b'F';
        full[39] = b' ';
        let mut partial = full;
        partial[38] = b'P';
        let newline = b"\n";
        let io = |p: *const u8, len: usize| libc::iovec {
            iov_base: p as *mut c_void,
            iov_len: len,
        };
        let empty = io(ptr::null(), 0);
        let mut iov = [empty; LOG_LINES * 3];
        let mut n = 0;
        let mut rest = data;
        while !rest.is_empty() {
            if n + 3 > iov.len() {
                writev_all(self.p.log_fd, &mut iov[..n]);
                n = 0;
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    iov[n] = io(full.as_ptr(), full.len());
                    iov[n + 1] = io(rest.as_ptr(), i + 1);
                    n += 2;
                    rest = &rest[i + 1..];
                }
                None => {
                    iov[n] = io(partial.as_ptr(), partial.len());
                    iov[n + 1] = io(rest.as_ptr(), rest.len());
                    iov[n + 2] = io(newline.as_ptr(), 1);
                    n += 3;
                    rest = &[];
                }
            }
        }
        writev_all(self.p.log_fd, &mut iov[..n]);
    }

    /// Sends a piece of output to every client that wants it; a client whose socket has too
    /// much queued (it does not read) is dropped, never waited for.
    fn fanout(&mut self, kind: u8, data: &[u8]) {
        let want = if kind == proto::STDERR {
            proto::WANT_STDERR
        } else {
            proto::WANT_STDOUT
        };
        for i in 0..proto::MAX_CLIENTS {
            let c = self.clients[i];
            if c.fd < 0 || !c.attached || c.wants & want == 0 {
                continue;
            }
            let mut queued: c_int = 0;
            // SAFETY: TIOCOUTQ (SIOCOUTQ) stores an int on this stack.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_ioctl,
                    c.fd,
                    libc::TIOCOUTQ as c_ulong,
                    ptr::addr_of_mut!(queued),
                )
            };
            if r == 0 && queued.max(0) as u32 > c.limit {
                self.drop_client(i, proto::DROPPED);
                continue;
            }
            if !send_frame(c.fd, kind, data) {
                self.drop_client(i, 0);
            }
        }
    }

    /// A client slot for a connected socket: a large send buffer, and the limit of what may
    /// queue in it before the client counts as not keeping up (room is left for a last
    /// frame saying so).
    fn new_client(&self, fd: RawFd) -> Client {
        let want: c_int = 1 << 20;
        let mut size: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: setsockopt/getsockopt with an int on this stack and its length.
        unsafe {
            libc::syscall(
                libc::SYS_setsockopt,
                fd,
                libc::SOL_SOCKET as c_long,
                libc::SO_SNDBUF as c_long,
                ptr::addr_of!(want),
                std::mem::size_of::<c_int>() as c_long,
            );
            libc::syscall(
                libc::SYS_getsockopt,
                fd,
                libc::SOL_SOCKET as c_long,
                libc::SO_SNDBUF as c_long,
                ptr::addr_of_mut!(size),
                ptr::addr_of_mut!(len),
            );
        }
        let size = size.max(0) as u32;
        let margin = 2 * (OUT_BUF as u32 + 4096);
        Client {
            fd,
            limit: if size > 2 * margin {
                size - margin
            } else {
                size / 2
            },
            ..FREE
        }
    }

    /// Accepts a connection, or refuses it when every slot is taken.
    fn accept(&mut self) {
        // SAFETY: accept4 without an address; the new descriptor is owned here.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_accept4,
                self.listen,
                ptr::null_mut::<c_void>(),
                ptr::null_mut::<c_void>(),
                (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as c_long,
            )
        };
        if fd < 0 {
            return;
        }
        let fd = fd as RawFd;
        match self.clients.iter().position(|c| c.fd < 0) {
            Some(i) => self.clients[i] = self.new_client(fd),
            None => {
                send_frame(fd, proto::REFUSED, &[proto::REFUSED_TOO_MANY]);
                close(fd);
            }
        }
    }

    /// Marks client `i` attached and sends it `HELLO`.
    fn attach(&mut self, i: usize) {
        self.clients[i].attached = true;
        // SAFETY: lseek on the log descriptor (O_APPEND: the end is where the next line goes).
        let end =
            unsafe { libc::syscall(libc::SYS_lseek, self.p.log_fd, 0 as c_long, libc::SEEK_END) };
        let mut hello = [0u8; 16];
        hello[0] = proto::VERSION;
        hello[1] = (if self.tty { proto::HELLO_TTY } else { 0 })
            | (if self.input_open {
                proto::HELLO_STDIN
            } else {
                0
            })
            | (if self.p.stdin_once {
                proto::HELLO_STDIN_ONCE
            } else {
                0
            });
        hello[8..16].copy_from_slice(&(end.max(0) as u64).to_le_bytes());
        if !send_frame(self.clients[i].fd, proto::HELLO, &hello) {
            self.drop_client(i, 0);
        }
    }

    /// Closes client `i` (after a last frame `notice`, unless 0). A stdin-once container's
    /// stdin closes with a client that had it.
    fn drop_client(&mut self, i: usize, notice: u8) {
        let c = self.clients[i];
        if c.fd < 0 {
            return;
        }
        if notice != 0 {
            send_frame(c.fd, notice, &[]);
        }
        close(c.fd);
        self.clients[i] = FREE;
        if c.attached && c.wants & proto::WANT_STDIN != 0 && self.p.stdin_once && !self.tty {
            self.close_input();
        }
    }

    /// Reads what client `i` sent.
    fn client_input(&mut self, i: usize) {
        let mut buf = [0u8; IN_BUF];
        // SAFETY: reading into a buffer on this stack, of its size.
        let r = unsafe {
            libc::syscall(
                libc::SYS_read,
                self.clients[i].fd,
                buf.as_mut_ptr(),
                buf.len() as c_ulong,
            )
        };
        if r < 0 && matches!(errno(), libc::EAGAIN | libc::EINTR) {
            return;
        }
        if r <= 0 {
            // Gone (or an error): as if it had closed its stdin.
            self.drop_client(i, 0);
            return;
        }
        let data = &buf[..r as usize];
        let mut at = 0;
        while at < data.len() && self.clients[i].fd >= 0 {
            let c = &mut self.clients[i];
            if c.hdr_len < proto::HEADER {
                let take = (proto::HEADER - c.hdr_len).min(data.len() - at);
                c.hdr[c.hdr_len..c.hdr_len + take].copy_from_slice(&data[at..at + take]);
                c.hdr_len += take;
                at += take;
                if c.hdr_len == proto::HEADER {
                    c.kind = c.hdr[0];
                    c.remaining = proto::payload_len(&c.hdr);
                    c.ctl_len = 0;
                    if c.remaining == 0 {
                        self.frame(i);
                    }
                }
                continue;
            }
            let take = (c.remaining as usize).min(data.len() - at);
            let piece = &data[at..at + take];
            c.remaining -= take as u32;
            at += take;
            if c.kind == proto::STDIN {
                let takes_input = c.attached && c.wants & proto::WANT_STDIN != 0;
                if takes_input && self.input_open {
                    self.push_input(piece);
                }
            } else {
                let room = c.ctl.len() - c.ctl_len;
                let n = room.min(piece.len());
                c.ctl[c.ctl_len..c.ctl_len + n].copy_from_slice(&piece[..n]);
                c.ctl_len += n;
            }
            if self.clients[i].remaining == 0 {
                self.frame(i);
            }
        }
        self.flush_input();
    }

    /// Client `i`'s frame is complete (its header, and a control frame's first bytes).
    fn frame(&mut self, i: usize) {
        let c = self.clients[i];
        self.clients[i].hdr_len = 0;
        match c.kind {
            proto::ATTACH => {
                self.clients[i].wants = if c.ctl_len > 0 { c.ctl[0] } else { 0 };
                if !c.attached {
                    self.attach(i);
                }
            }
            proto::CLOSE_STDIN if c.wants & proto::WANT_STDIN != 0 => {
                if self.p.stdin_once && !self.tty {
                    self.close_input();
                } else {
                    // Docker: the client's stdin ending ends its attachment.
                    self.drop_client(i, proto::DETACHED);
                }
            }
            proto::RESIZE if c.ctl_len >= 4 => {
                let rows = u16::from_le_bytes([c.ctl[0], c.ctl[1]]);
                let cols = u16::from_le_bytes([c.ctl[2], c.ctl[3]]);
                self.winsize = Some((rows, cols));
                self.resize();
            }
            _ => {}
        }
    }

    fn push_input(&mut self, piece: &[u8]) {
        if self.pending_len == 0 {
            self.pending_at = 0;
        }
        let start = self.pending_at + self.pending_len;
        let n = piece.len().min(IN_BUF - start);
        self.pending[start..start + n].copy_from_slice(&piece[..n]);
        self.pending_len += n;
    }

    /// Writes waiting input to the command as far as it takes it without blocking.
    fn flush_input(&mut self) {
        let target = if self.tty { self.master } else { self.stdin };
        if target < 0 {
            // A terminal whose master is still to come keeps the input; else it is lost.
            if !(self.tty && self.terminal >= 0) {
                self.pending_len = 0;
            }
        }
        while self.pending_len > 0 && target >= 0 {
            let at = self.pending_at;
            // SAFETY: writing bytes of a buffer on this stack.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_write,
                    target,
                    self.pending[at..].as_ptr(),
                    self.pending_len as c_ulong,
                )
            };
            if r > 0 {
                self.pending_at += r as usize;
                self.pending_len -= r as usize;
                continue;
            }
            match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => break,
                _ => {
                    // The command no longer reads (EPIPE), or the terminal is gone.
                    self.pending_len = 0;
                    if !self.tty {
                        self.close_input();
                    }
                }
            }
        }
        if self.pending_len == 0 && self.close_when_flushed {
            self.close_when_flushed = false;
            if self.stdin >= 0 {
                close(self.stdin);
                self.stdin = -1;
            }
        }
    }

    /// Closes the command's stdin (once what waits is written): it reads EOF.
    fn close_input(&mut self) {
        self.input_open = false;
        self.close_when_flushed = true;
        if self.pending_len == 0 {
            self.flush_input();
        }
    }

    /// Applies the last size asked for to the terminal (`TIOCSWINSZ`: the command's
    /// foreground process group gets `SIGWINCH`).
    fn resize(&mut self) {
        let Some((rows, cols)) = self.winsize else {
            return;
        };
        if self.master < 0 {
            return;
        }
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize on this stack.
        unsafe {
            libc::syscall(
                libc::SYS_ioctl,
                self.master,
                libc::TIOCSWINSZ as c_ulong,
                ptr::addr_of!(ws),
            );
        }
    }

    /// Takes the pty master the command sends (`SCM_RIGHTS`), or notes that none will come.
    fn receive_master(&mut self) {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // CMSG_SPACE(sizeof(int)) is 24 bytes on 64-bit; u64s keep it aligned.
        let mut control = [0u64; 4];
        // SAFETY: a zeroed msghdr is valid; it points at the iovec and control buffer on this
        // stack; CMSG_FIRSTHDR/CMSG_DATA stay within that control buffer, whose length the
        // kernel reports.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = ptr::addr_of_mut!(iov);
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            let r = libc::syscall(
                libc::SYS_recvmsg,
                self.terminal,
                ptr::addr_of_mut!(msg),
                (libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) as c_long,
            );
            if r < 0 && matches!(errno(), libc::EAGAIN | libc::EINTR) {
                return;
            }
            let cmsg = libc::CMSG_FIRSTHDR(ptr::addr_of!(msg));
            if r > 0
                && !cmsg.is_null()
                && (*cmsg).cmsg_level == libc::SOL_SOCKET
                && (*cmsg).cmsg_type == libc::SCM_RIGHTS
            {
                let mut fd: c_int = -1;
                ptr::copy_nonoverlapping(libc::CMSG_DATA(cmsg), ptr::addr_of_mut!(fd).cast(), 4);
                let fl = libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL as c_long);
                libc::syscall(
                    libc::SYS_fcntl,
                    fd,
                    libc::F_SETFL as c_long,
                    (fl | libc::O_NONBLOCK as c_long) as c_long,
                );
                self.master = fd;
                self.resize();
            }
        }
        close(self.terminal);
        self.terminal = -1;
        self.flush_input();
    }

    /// The end: no new client can connect; each attached one gets the exit (`kind` and
    /// `value` as in the `exit` file) and is closed.
    fn finish(&mut self, dir_fd: RawFd, kind: u8, value: c_int) {
        // SAFETY: unlinkat of a constant name in the container's directory.
        unsafe {
            libc::syscall(
                libc::SYS_unlinkat,
                dir_fd,
                proto::SOCKET_NAME.as_ptr(),
                0 as c_long,
            );
        }
        close(self.listen);
        self.listen = -1;
        let mut exit = [0u8; 8];
        exit[0] = kind;
        exit[4..8].copy_from_slice(&value.to_le_bytes());
        for i in 0..proto::MAX_CLIENTS {
            let c = self.clients[i];
            if c.fd < 0 {
                continue;
            }
            if c.attached {
                send_frame(c.fd, proto::EXIT, &exit);
            }
            close(c.fd);
            self.clients[i] = FREE;
        }
        for fd in [
            self.stdin,
            self.stdout,
            self.stderr,
            self.master,
            self.terminal,
        ] {
            if fd >= 0 {
                close(fd);
            }
        }
    }
}

/// A program started outside the caller's process tree (slirp4netns for a detached
/// container): prepared before the clone.
#[derive(Debug)]
pub(crate) struct OrphanPlan {
    /// The executable, `argv` and `envp`.
    pub(crate) path: std::ffi::CString,
    pub(crate) argv: Vec<std::ffi::CString>,
    pub(crate) envp: Vec<std::ffi::CString>,
    /// The working directory.
    pub(crate) cwd: std::ffi::CString,
    /// `(source, target)`: each source is installed as target (0, 1, 2 and a few above), the
    /// only descriptors the program gets. Every source must be above every target.
    pub(crate) fds: Vec<(RawFd, RawFd)>,
}

/// Starts a program that is not the caller's child: a first child leaves the caller's session
/// and clones the program's process, then exits, so the program is re-parented to init (or
/// the nearest subreaper), which reaps it. The program starts with every signal unblocked and
/// at its default, and only the descriptors of `plan.fds`.
///
/// Returns the first child (the caller reaps it at once).
pub(crate) fn spawn_orphan(plan: &OrphanPlan) -> io::Result<Spawned> {
    let argv = pointers(&plan.argv);
    let envp = pointers(&plan.envp);
    spawn_with(|| -> Infallible {
        // SAFETY: raw system calls on the prepared plan and this stack; the grandchild ends in
        // execve or exit, the first child in exit.
        unsafe {
            libc::syscall(libc::SYS_setsid);
            let r = clone3(0, libc::SIGCHLD as u64, None);
            if r == 0 {
                libc::syscall(
                    libc::SYS_close_range,
                    3 as c_uint,
                    c_uint::MAX,
                    CLOSE_RANGE_CLOEXEC,
                );
                for &(src, dst) in &plan.fds {
                    if libc::syscall(libc::SYS_dup3, src, dst, 0 as c_int) < 0 {
                        exit_now(127)
                    }
                }
                if libc::syscall(libc::SYS_chdir, plan.cwd.as_ptr()) < 0 {
                    exit_now(127)
                }
                let default = KernelSigaction {
                    handler: libc::SIG_DFL,
                    flags: 0,
                    restorer: 0,
                    mask: 0,
                };
                for sig in 1..NSIG {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig as c_long,
                        ptr::addr_of!(default),
                        ptr::null_mut::<KernelSigaction>(),
                        8 as c_ulong,
                    );
                }
                let empty: u64 = 0;
                libc::syscall(
                    libc::SYS_rt_sigprocmask,
                    libc::SIG_SETMASK as c_long,
                    ptr::addr_of!(empty),
                    ptr::null_mut::<u64>(),
                    8 as c_ulong,
                );
                libc::syscall(
                    libc::SYS_execve,
                    plan.path.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                );
                exit_now(127)
            }
            exit_now(if r < 0 { 1 } else { 0 })
        }
    })
}

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
    let argv = pointers(&plan.argv);
    let envp = pointers(&plan.envp);
    spawn_with(|| -> Infallible {
        // SAFETY: raw system calls on the prepared plan; the grandchild never returns.
        unsafe {
            if libc::syscall(libc::SYS_setns, join.pidfd, join.ns_flags as c_long) < 0 {
                fail_exit(
                    plan.error_fd,
                    Fail {
                        step: Step::Setns,
                        errno: errno(),
                        index: 0,
                    },
                )
            }
            // clone3 refuses an exit signal with CLONE_PARENT: the child gets this process's
            // (SIGCHLD), sent to the caller.
            let pid = clone3(libc::CLONE_PARENT as u64, 0, None);
            if pid == 0 {
                exec_child(plan, &argv, &envp)
            }
            if pid < 0 {
                fail_exit(
                    plan.error_fd,
                    Fail {
                        step: Step::Setns,
                        errno: errno(),
                        index: 1,
                    },
                )
            }
            let report = (pid as i32).to_ne_bytes();
            libc::syscall(
                libc::SYS_write,
                join.report_fd,
                report.as_ptr(),
                report.len() as c_ulong,
            );
            exit_now(0)
        }
    })
}

/// Installs the plan's stdin, stdout and stderr and joins the container's cgroups (the init's
/// and an exec'd process's first steps). Raw system calls only.
fn stdio_and_cgroups(p: &ChildPlan) -> Result<(), Fail> {
    // SAFETY: dup3 and write take descriptors prepared in the plan and a pointer to a static
    // one-byte string; neither touches other memory.
    unsafe {
        for (i, fd) in p.stdio.iter().enumerate() {
            if let Some(fd) = fd {
                check(
                    libc::syscall(libc::SYS_dup3, *fd, i as c_int, 0 as c_int),
                    Step::Stdio,
                    i as u32,
                )?;
            }
        }
        for (i, fd) in p.cgroup_procs.iter().enumerate() {
            check(
                libc::syscall(libc::SYS_write, *fd, b"0".as_ptr(), 1 as c_ulong),
                Step::Cgroup,
                i as u32,
            )?;
        }
    }
    Ok(())
}

/// The exec'd process, inside the container's namespaces: stdio, the container's cgroup, then
/// the same process setup as the init.
fn exec_child(plan: &ChildPlan, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    let r = (|| {
        stdio_and_cgroups(plan)?;
        process_setup(plan, argv, envp)
    })();
    match r {
        Ok(never) => match never {},
        Err(f) => fail_exit(plan.error_fd, f),
    }
}

/// Whether the kernel mounts overlayfs with `data` on `target` for us: tried in a private
/// mount namespace of a short-lived thread of its own (the mount goes with the thread's
/// namespace when it ends). Rootful only: a thread of a multi-threaded process cannot enter a
/// user namespace. An ordinary thread, not a clone: the rules for the container's init do not
/// apply here.
pub(crate) fn probe_overlay(target: std::ffi::CString, data: std::ffi::CString) -> io::Result<()> {
    let probe = move || -> io::Result<()> {
        // SAFETY: `CLONE_NEWNS` (which implies `CLONE_FS`) only gives this thread its own
        // mount namespace, root and working directory; no descriptor table is unshared, so
        // no descriptor of the process changes meaning, and the thread ends right after.
        unsafe {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
        }
        // Nothing done below may propagate to the host's mounts.
        rustix::mount::mount_change(
            c"/",
            rustix::mount::MountPropagationFlags::PRIVATE
                | rustix::mount::MountPropagationFlags::REC,
        )?;
        rustix::mount::mount(
            c"overlay",
            target.as_c_str(),
            c"overlay",
            rustix::mount::MountFlags::empty(),
            data.as_c_str(),
        )?;
        let _ = rustix::mount::unmount(target.as_c_str(), rustix::mount::UnmountFlags::DETACH);
        Ok(())
    };
    std::thread::Builder::new()
        .name("overlay-probe".into())
        .spawn(probe)?
        .join()
        .map_err(|_| io::Error::other("the overlay probe panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths() {
        let mut buf = [0u8; 32];
        fd_path(0, &mut buf);
        assert!(buf.starts_with(b"/proc/self/fd/0\0"));
        fd_path(1234, &mut buf);
        assert!(buf.starts_with(b"/proc/self/fd/1234\0"));
    }

    #[test]
    fn fail_decodes() {
        let mut b = [0u8; Fail::LEN];
        b[0..4].copy_from_slice(&(Step::Exec as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&2i32.to_ne_bytes());
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        let f = Fail::decode(&b).unwrap();
        assert_eq!((f.step, f.errno, f.index), (Step::Exec, 2, 7));
    }
}
