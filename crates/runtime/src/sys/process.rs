//! Processes: `clone3` (the child runs a closure that never returns), exit, namespaces, the
//! process's identity and limits, `waitid`, `execve` and `prctl`.
//!
//! The clone wrappers are safe to call, but the closure they run in the child must keep the
//! post-clone rules (see `init`): the child is a one-thread copy of a possibly multi-threaded
//! program, so it may make raw system calls on data prepared before the clone and nothing else
//! (no allocation, no lock, no formatting, no unwinding). Every closure this crate passes does.

use std::convert::Infallible;
use std::ffi::{CStr, CString};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;

use libc::{c_char, c_int, c_long, c_ulong};

use super::{errno, result, Errno};

const CLONE_PIDFD: u64 = 0x1000;

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

/// `clone3` with `flags` (and `CLONE_PIDFD` storing into `pidfd` when given).
///
/// # Safety
/// The caller's child branch (return value 0) must keep the post-clone rules and never return
/// into the caller's frames.
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

/// The child's branch of a clone: runs `child`, which never returns (its type says so).
fn run_child(child: impl FnOnce() -> Infallible) -> ! {
    match child() {}
}

/// Clones this process with `clone3(flags)`, the child's exit signal being `exit_signal`; the
/// child runs `child` (which never returns and keeps the post-clone rules), the parent gets
/// the child's PID.
pub(crate) fn clone(
    flags: u64,
    exit_signal: u64,
    child: impl FnOnce() -> Infallible,
) -> Result<i32, Errno> {
    // SAFETY: the child branch runs `child`, which never returns (its type says so) and keeps
    // the post-clone rules (this module's contract with its callers).
    let r = unsafe { clone3(flags, exit_signal, None) };
    if r == 0 {
        run_child(child)
    }
    result(r).map(|pid| pid as i32)
}

/// [`clone`] with `CLONE_PIDFD` and `SIGCHLD`: the parent gets the child's PID and a pidfd
/// (a raw descriptor it owns).
pub(crate) fn clone_pidfd(
    flags: u64,
    child: impl FnOnce() -> Infallible,
) -> Result<(i32, RawFd), Errno> {
    let mut pidfd: c_int = -1;
    // SAFETY: as in `clone`.
    let r = unsafe { clone3(flags, libc::SIGCHLD as u64, Some(&mut pidfd)) };
    if r == 0 {
        run_child(child)
    }
    result(r).map(|pid| (pid as i32, pidfd))
}

/// A process started by [`spawn_pidfd`].
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: i32,
    pub(crate) pidfd: OwnedFd,
}

/// Runs `child` in a child of `clone3(flags | CLONE_PIDFD)` (exit signal `SIGCHLD`) with every
/// signal blocked in the calling thread around the clone (so no handler of the host program
/// runs in the child), returning the child's PID and pidfd to the parent. Callable from any
/// thread of a multi-threaded program.
pub(crate) fn spawn_pidfd(flags: u64, child: impl FnOnce() -> Infallible) -> io::Result<Spawned> {
    let mut pidfd: c_int = -1;
    let old = super::signal::block_all_in_thread();
    // SAFETY: the child branch runs `child`, which never returns and keeps the post-clone rules.
    let ret = unsafe { clone3(flags, libc::SIGCHLD as u64, Some(&mut pidfd)) };
    if ret == 0 {
        run_child(child)
    }
    let err = io::Error::last_os_error();
    super::signal::restore_thread_mask(&old);
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

/// Ends the process at once (`exit_group`), without running destructors or atexit handlers.
pub(crate) fn exit_now(code: c_int) -> ! {
    // SAFETY: ends the process; nothing of it runs afterwards.
    unsafe {
        libc::syscall(libc::SYS_exit_group, code as c_long);
        libc::_exit(code)
    }
}

/// This process's PID.
pub(crate) fn getpid() -> i32 {
    // SAFETY: getpid takes no argument and cannot fail.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// `setsid()`: a new session, without a controlling terminal.
pub(crate) fn setsid() -> Result<(), Errno> {
    // SAFETY: setsid takes no argument.
    result(unsafe { libc::syscall(libc::SYS_setsid) }).map(drop)
}

/// `setns(fd, flags)`: joins the namespaces of a pidfd (Linux 5.8) or a namespace descriptor.
pub(crate) fn setns(fd: RawFd, flags: u64) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_setns, fd, flags as c_long) }).map(drop)
}

/// `unshare(flags)`.
pub(crate) fn unshare(flags: c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_unshare, flags as c_long) }).map(drop)
}

/// `sethostname(name)`.
pub(crate) fn sethostname(name: &CStr) -> Result<(), Errno> {
    let bytes = name.to_bytes();
    // SAFETY: a buffer of the length passed, alive for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_sethostname,
            bytes.as_ptr(),
            bytes.len() as c_ulong,
        )
    })
    .map(drop)
}

/// A process's end, as `waitid` reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waited {
    /// The child's PID (0: none had changed state, with `WNOHANG`).
    pub(crate) pid: i32,
    /// `CLD_EXITED`, `CLD_KILLED`, `CLD_DUMPED`, …
    pub(crate) code: c_int,
    /// The exit code or the signal.
    pub(crate) status: c_int,
}

/// `waitid(idtype, id, options)`.
pub(crate) fn waitid(idtype: libc::idtype_t, id: i32, options: c_int) -> Result<Waited, Errno> {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` lives on this stack for the call; the rusage pointer is NULL.
    let r = unsafe {
        libc::syscall(
            libc::SYS_waitid,
            idtype as c_long,
            id as c_long,
            ptr::addr_of_mut!(info),
            options as c_long,
            ptr::null_mut::<libc::rusage>(),
        )
    };
    result(r)?;
    // SAFETY: waitid filled a SIGCHLD siginfo (or left it zeroed), whose pid and status fields
    // are valid to read.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    Ok(Waited {
        pid,
        code: info.si_code,
        status,
    })
}

/// `prlimit64(0, resource, {soft, hard}, NULL)`: this process's limit.
pub(crate) fn setrlimit(resource: u32, soft: u64, hard: u64) -> Result<(), Errno> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` lives on this stack for the call; the old-limit pointer is NULL.
    result(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0 as c_long,
            resource as c_long,
            ptr::addr_of!(lim),
            ptr::null_mut::<libc::rlimit64>(),
        )
    })
    .map(drop)
}

/// `setgroups(groups)`.
pub(crate) fn setgroups(groups: &[u32]) -> Result<(), Errno> {
    // SAFETY: an array of the length passed, alive for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            groups.len() as c_ulong,
            groups.as_ptr(),
        )
    })
    .map(drop)
}

/// `setresgid(gid, gid, gid)`, as a raw system call (this thread only).
pub(crate) fn setresgid(gid: u32) -> Result<(), Errno> {
    let g = gid as c_ulong;
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_setresgid, g, g, g) }).map(drop)
}

/// `setresuid(uid, uid, uid)`, as a raw system call (this thread only).
pub(crate) fn setresuid(uid: u32) -> Result<(), Errno> {
    let u = uid as c_ulong;
    // SAFETY: integer arguments only.
    result(unsafe { libc::syscall(libc::SYS_setresuid, u, u, u) }).map(drop)
}

/// A NULL-terminated array of pointers to C strings, as `execve` wants it, built before the
/// clone (the child cannot allocate); it borrows the strings it points into.
#[derive(Debug)]
pub(crate) struct CStrArray<'a> {
    pointers: Vec<*const c_char>,
    strings: PhantomData<&'a [CString]>,
}

impl<'a> CStrArray<'a> {
    /// The array for `strings`.
    pub(crate) fn new(strings: &'a [CString]) -> Self {
        CStrArray {
            pointers: strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(ptr::null()))
                .collect(),
            strings: PhantomData,
        }
    }
}

/// `execve(path, argv, envp)`: returns only on failure, with the errno.
pub(crate) fn execve(path: &CStr, argv: &CStrArray<'_>, envp: &CStrArray<'_>) -> Errno {
    // SAFETY: a NUL-terminated path and two NULL-terminated arrays of pointers to C strings
    // they borrow, all alive for the call.
    unsafe {
        libc::syscall(
            libc::SYS_execve,
            path.as_ptr(),
            argv.pointers.as_ptr(),
            envp.pointers.as_ptr(),
        );
    }
    errno()
}

/// `prctl` with integer arguments (the unused ones 0).
pub(super) fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    result(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            option as c_long,
            arg2,
            arg3,
            0 as c_ulong,
            0 as c_ulong,
        )
    })
    .map(drop)
}

/// `prctl(PR_SET_DUMPABLE, dumpable)`: an undumpable process has no core dump, and no
/// `ptrace` or `/proc/PID/mem` for others.
pub(crate) fn set_dumpable(dumpable: bool) -> Result<(), Errno> {
    prctl(libc::PR_SET_DUMPABLE, c_ulong::from(dumpable), 0)
}

/// `prctl(PR_SET_NAME, name)`: the thread's name (`comm`, 15 bytes at most).
pub(crate) fn set_name(name: &CStr) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated string alive for the call; the other arguments are 0.
    result(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_NAME as c_long,
            name.as_ptr(),
            0 as c_long,
            0 as c_long,
            0 as c_long,
        )
    })
    .map(drop)
}

/// `struct prctl_mm_map` for `prctl(PR_SET_MM, PR_SET_MM_MAP)`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct MmMap {
    pub(crate) start_code: u64,
    pub(crate) end_code: u64,
    pub(crate) start_data: u64,
    pub(crate) end_data: u64,
    pub(crate) start_brk: u64,
    pub(crate) brk: u64,
    pub(crate) start_stack: u64,
    pub(crate) arg_start: u64,
    pub(crate) arg_end: u64,
    pub(crate) env_start: u64,
    pub(crate) env_end: u64,
    pub(crate) auxv: u64,
    pub(crate) auxv_size: u32,
    pub(crate) exe_fd: u32,
}

/// `prctl(PR_SET_MM, PR_SET_MM_MAP, map)`: this process's memory layout as `/proc` shows it
/// (the kernel reads only what `map` says; no memory of this process changes).
pub(crate) fn set_mm_map(map: &MmMap) -> Result<(), Errno> {
    // SAFETY: a pointer to `map` and its size; the kernel only reads it.
    result(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_MM as c_long,
            libc::PR_SET_MM_MAP as c_long,
            ptr::from_ref(map),
            std::mem::size_of::<MmMap>() as c_long,
            0 as c_long,
        )
    })
    .map(drop)
}

/// The heap's current end (`brk(0)`, which changes nothing).
pub(crate) fn current_brk() -> u64 {
    // SAFETY: brk(0) only reports the current break.
    unsafe { libc::syscall(libc::SYS_brk, 0 as c_long) as u64 }
}
