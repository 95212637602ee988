//! Seccomp: Docker's default profile in the spec's terms, and a compiler from the spec's
//! `LinuxSeccomp` to BPF programs.
//!
//! The BPF is built with `seccompiler` (the filter compiler of Firecracker, pure Rust): the
//! programs are produced before the clone as plain `sock_filter` arrays, which the child installs
//! with one `seccomp(2)` call each — no C library, no allocation and no lock in the child, which
//! libseccomp's `seccomp_load` could not promise.
//!
//! A spec profile becomes one or more programs: the first allows every syscall the profile names
//! (with its argument conditions) and applies the default action to the rest; each other action
//! of the profile (say `ERRNO(ENOSYS)` for `clone3`) gets its own program that applies it to its
//! syscalls and allows the rest. The kernel runs every program and keeps the strictest answer, and
//! between two `ERRNO`s the newest program's, so the result is the profile's meaning.
//!
//! Architectures: the native one always; on x86_64, also 32-bit x86 programs when the profile
//! lists `SCMP_ARCH_X86` (Docker's does): the same profile is compiled again with the i386
//! syscall numbers, and each program's architecture check lets the other architecture's calls
//! through to the programs made for it (any third architecture is killed). x32 calls are not
//! matched (they get the default action).
//!
//! Limitations: `SCMP_ACT_NOTIFY`/`SCMP_ACT_TRACE`, listeners and filter flags are refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::Error;

/// The syscalls Docker's default profile allows unconditionally (all architectures).
const DOCKER_ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// `clone` flags that create namespaces; Docker's profile refuses them without `CAP_SYS_ADMIN`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Docker's default seccomp profile as the runtime spec states it, for Docker's default
/// capabilities (no `CAP_SYS_ADMIN`, so no `mount`, `unshare`, `setns`, namespace-creating
/// `clone`, `keyctl`, `swapoff`, `bpf`, ...; `clone3` answers `ENOSYS` so C libraries fall back
/// to `clone`).
pub fn docker_default() -> LinuxSeccomp {
    let names = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let allow = |names: Vec<String>, args: Option<Vec<LinuxSeccompArg>>| {
        let mut s = LinuxSyscall::default();
        s.set_names(names);
        s.set_action(LinuxSeccompAction::ScmpActAllow);
        s.set_args(args);
        s
    };
    // Cannot fail: every field of the builder has a default.
    let arg = |index: usize, op: LinuxSeccompOperator, value: u64| {
        LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value)
            .value_two(0u64)
            .build()
            .unwrap_or_default()
    };
    let mut syscalls = vec![
        allow(names(DOCKER_ALLOWED), None),
        allow(
            names(&["process_vm_readv", "process_vm_writev", "ptrace"]),
            None,
        ),
        allow(
            names(&["socket"]),
            Some(vec![arg(0, LinuxSeccompOperator::ScmpCmpNe, 40)]),
        ),
    ];
    for persona in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(allow(
            names(&["personality"]),
            Some(vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, persona)]),
        ));
    }
    syscalls.push(allow(names(&["arch_prctl", "modify_ldt"]), None));
    syscalls.push(allow(names(&["chroot"]), None));
    let clone_flags = arg(
        0,
        LinuxSeccompOperator::ScmpCmpMaskedEq,
        CLONE_NAMESPACE_FLAGS,
    );
    syscalls.push(allow(names(&["clone"]), Some(vec![clone_flags])));
    let mut clone3 = LinuxSyscall::default();
    clone3.set_names(names(&["clone3"]));
    clone3.set_action(LinuxSeccompAction::ScmpActErrno);
    clone3.set_errno_ret(Some(libc::ENOSYS as u32));
    syscalls.push(clone3);

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(libc::EPERM as u32));
    profile.set_syscalls(Some(syscalls));
    // Docker's archMap: the native architecture and the ones its kernel runs beside it.
    use oci_spec::runtime::Arch;
    let arches = match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        _ => Vec::new(),
    };
    profile.set_architectures(Some(arches));
    profile
}

/// Compiles a profile to BPF programs, to be installed in order.
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<Vec<BpfProgram>, Error> {
    static DOCKER: OnceLock<(LinuxSeccomp, Vec<BpfProgram>)> = OnceLock::new();
    if let Some((p, progs)) = DOCKER.get() {
        if p == profile {
            return Ok(progs.clone());
        }
    }
    let progs = compile_uncached(profile)?;
    if DOCKER.get().is_none() && *profile == docker_default() {
        let _ = DOCKER.set((profile.clone(), progs.clone()));
    }
    Ok(progs)
}

fn arch() -> Result<TargetArch, Error> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| Error::Unsupported {
        what: format!("seccomp on {}", std::env::consts::ARCH),
    })
}

fn action(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    default_errno: u32,
) -> Result<SeccompAction, Error> {
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(default_errno)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        other => {
            return Err(Error::Unsupported {
                what: format!("seccomp action {other:?}"),
            })
        }
    })
}

fn condition(a: &LinuxSeccompArg) -> Result<SeccompCondition, Error> {
    let op = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
        LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
        LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
    };
    let value = match a.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
        _ => a.value(),
    };
    let index = u8::try_from(a.index()).map_err(|_| Error::Unsupported {
        what: format!("seccomp argument index {}", a.index()),
    })?;
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|source| Error::Seccomp { source })
}

/// Syscalls and their rules (`None`: unconditional).
type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add(rules: &mut Rules, nr: i64, rule: Option<SeccompRule>) {
    let slot = rules.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (slot.as_mut(), rule) {
        (Some(list), Some(rule)) => list.push(rule),
        (Some(_), None) => *slot = None,
        (None, _) => {}
    }
}

fn filter(
    rules: Rules,
    mismatch: SeccompAction,
    matched: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram, Error> {
    let rules = rules
        .into_iter()
        .map(|(nr, r)| (nr, r.unwrap_or_default()))
        .collect();
    SeccompFilter::new(rules, mismatch, matched, arch)
        .and_then(BpfProgram::try_from)
        .map_err(|source| Error::Seccomp { source })
}

fn compile_uncached(profile: &LinuxSeccomp) -> Result<Vec<BpfProgram>, Error> {
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) || profile.listener_path().is_some()
    {
        return Err(Error::Unsupported {
            what: "seccomp flags or listener".into(),
        });
    }
    let mut progs = programs(profile, syscall_number)?;
    #[cfg(target_arch = "x86_64")]
    if profile
        .architectures()
        .iter()
        .flatten()
        .any(|a| *a == oci_spec::runtime::Arch::ScmpArchX86)
    {
        // 32-bit programs' syscalls arrive with their own numbers and AUDIT_ARCH_I386: the
        // same profile compiled with those numbers filters them. Each program lets the other
        // architecture's calls through to the programs made for it.
        let mut compat = programs(profile, i386_number)?;
        for p in &mut progs {
            admit_other_arch(p, AUDIT_ARCH_X86_64, AUDIT_ARCH_I386)?;
        }
        for p in &mut compat {
            admit_other_arch(p, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64)?;
        }
        progs.extend(compat);
    }
    Ok(progs)
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// The number of a syscall of 32-bit x86 programs.
#[cfg(target_arch = "x86_64")]
fn i386_number(name: &str) -> Option<i64> {
    static TABLE: OnceLock<HashMap<&'static str, i64>> = OnceLock::new();
    TABLE
        .get_or_init(|| crate::seccomp_i386::I386.iter().copied().collect())
        .get(name)
        .copied()
}

/// Rewrites the architecture check a program starts with (seccompiler's: load the arch, run
/// the program on `native`, else kill the process) so that it runs on `own`, lets calls of
/// `other` through (another program filters those), and kills on any other architecture.
#[cfg(target_arch = "x86_64")]
fn admit_other_arch(prog: &mut BpfProgram, own: u32, other: u32) -> Result<(), Error> {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ARCH_OFFSET: u32 = 4;
    let expected = prog.len() > 3
        && (prog[0].code, prog[0].k) == (LD_W_ABS, ARCH_OFFSET)
        && (prog[1].code, prog[1].jt, prog[1].jf) == (JEQ_K, 1, 0)
        && prog[2].code == RET_K;
    if !expected {
        return Err(Error::Unsupported {
            what: "a seccomp program without the expected architecture check".into(),
        });
    }
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let prologue = [
        insn(LD_W_ABS, 0, 0, ARCH_OFFSET),
        insn(JEQ_K, 3, 0, own),   // own: the body, after this prologue
        insn(JEQ_K, 0, 1, other), // other: allowed here
        insn(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    prog.splice(0..3, prologue);
    Ok(())
}

/// The programs of a profile for one architecture's syscall numbers (built with seccompiler
/// for the native one).
fn programs(
    profile: &LinuxSeccomp,
    syscall_number: fn(&str) -> Option<i64>,
) -> Result<Vec<BpfProgram>, Error> {
    let arch = arch()?;
    let default_errno = profile.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(profile.default_action(), None, default_errno)?;

    // Every listed syscall (under its conditions) passes the first program; the others decide.
    let mut listed = Rules::new();
    let mut groups: Vec<(SeccompAction, Rules)> = Vec::new();
    for entry in profile.syscalls().iter().flatten() {
        let act = action(entry.action(), entry.errno_ret(), default_errno)?;
        let rule = match entry.args() {
            Some(args) if !args.is_empty() => Some(
                SeccompRule::new(args.iter().map(condition).collect::<Result<_, _>>()?)
                    .map_err(|source| Error::Seccomp { source })?,
            ),
            _ => None,
        };
        for name in entry.names() {
            // Names unknown on this architecture are skipped, as libseccomp does.
            let Some(nr) = syscall_number(name) else {
                continue;
            };
            add(&mut listed, nr, rule.clone());
            if act != SeccompAction::Allow {
                let i = match groups.iter().position(|(a, _)| *a == act) {
                    Some(i) => i,
                    None => {
                        groups.push((act.clone(), Rules::new()));
                        groups.len() - 1
                    }
                };
                add(&mut groups[i].1, nr, rule.clone());
            }
        }
    }
    let mut progs = Vec::new();
    if default != SeccompAction::Allow {
        progs.push(filter(listed, default, SeccompAction::Allow, arch)?);
    }
    for (act, rules) in groups {
        progs.push(filter(rules, SeccompAction::Allow, act, arch)?);
    }
    Ok(progs)
}

macro_rules! table {
    ($($nr:ident),* $(,)?) => {
        &[$((stringify!($nr), libc::$nr as i64)),*]
    };
}

/// Syscalls known on every supported architecture.
const COMMON: &[(&str, i64)] = table![
    SYS_accept,
    SYS_accept4,
    SYS_adjtimex,
    SYS_bind,
    SYS_brk,
    SYS_capget,
    SYS_capset,
    SYS_chdir,
    SYS_clock_adjtime,
    SYS_clock_getres,
    SYS_clock_gettime,
    SYS_clock_nanosleep,
    SYS_close,
    SYS_close_range,
    SYS_connect,
    SYS_copy_file_range,
    SYS_dup,
    SYS_dup3,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_fanotify_mark,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_fcntl,
    SYS_fdatasync,
    SYS_fgetxattr,
    SYS_flistxattr,
    SYS_flock,
    SYS_fremovexattr,
    SYS_fsetxattr,
    SYS_fstat,
    SYS_fstatfs,
    SYS_fsync,
    SYS_ftruncate,
    SYS_futex,
    SYS_futex_waitv,
    SYS_getcpu,
    SYS_getcwd,
    SYS_getdents64,
    SYS_getegid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getgroups,
    SYS_getitimer,
    SYS_getpeername,
    SYS_getpgid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpriority,
    SYS_getrandom,
    SYS_getresgid,
    SYS_getresuid,
    SYS_get_robust_list,
    SYS_getrusage,
    SYS_getsid,
    SYS_getsockname,
    SYS_getsockopt,
    SYS_gettid,
    SYS_gettimeofday,
    SYS_getuid,
    SYS_getxattr,
    SYS_inotify_add_watch,
    SYS_inotify_init1,
    SYS_inotify_rm_watch,
    SYS_io_cancel,
    SYS_ioctl,
    SYS_io_destroy,
    SYS_io_getevents,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_io_setup,
    SYS_io_submit,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_io_uring_setup,
    SYS_kill,
    SYS_landlock_add_rule,
    SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self,
    SYS_lgetxattr,
    SYS_linkat,
    SYS_listen,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_lremovexattr,
    SYS_lseek,
    SYS_lsetxattr,
    SYS_madvise,
    SYS_membarrier,
    SYS_memfd_create,
    SYS_memfd_secret,
    SYS_mincore,
    SYS_mkdirat,
    SYS_mknodat,
    SYS_mlock,
    SYS_mlock2,
    SYS_mlockall,
    SYS_mmap,
    SYS_mprotect,
    SYS_mq_getsetattr,
    SYS_mq_notify,
    SYS_mq_open,
    SYS_mq_timedreceive,
    SYS_mq_timedsend,
    SYS_mq_unlink,
    SYS_mremap,
    SYS_msgctl,
    SYS_msgget,
    SYS_msgrcv,
    SYS_msgsnd,
    SYS_msync,
    SYS_munlock,
    SYS_munlockall,
    SYS_munmap,
    SYS_name_to_handle_at,
    SYS_nanosleep,
    SYS_newfstatat,
    SYS_openat,
    SYS_openat2,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pipe2,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_ppoll,
    SYS_prctl,
    SYS_pread64,
    SYS_preadv,
    SYS_preadv2,
    SYS_prlimit64,
    SYS_process_mrelease,
    SYS_pselect6,
    SYS_pwrite64,
    SYS_pwritev,
    SYS_pwritev2,
    SYS_read,
    SYS_readahead,
    SYS_readlinkat,
    SYS_readv,
    SYS_recvfrom,
    SYS_recvmmsg,
    SYS_recvmsg,
    SYS_remap_file_pages,
    SYS_removexattr,
    SYS_renameat2,
    SYS_restart_syscall,
    SYS_rseq,
    SYS_rt_sigaction,
    SYS_rt_sigpending,
    SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo,
    SYS_sched_getaffinity,
    SYS_sched_getattr,
    SYS_sched_getparam,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_getscheduler,
    SYS_sched_rr_get_interval,
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_sched_yield,
    SYS_seccomp,
    SYS_semctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_sendfile,
    SYS_sendmmsg,
    SYS_sendmsg,
    SYS_sendto,
    SYS_setfsgid,
    SYS_setfsuid,
    SYS_setgid,
    SYS_setgroups,
    SYS_setitimer,
    SYS_setpgid,
    SYS_setpriority,
    SYS_setregid,
    SYS_setresgid,
    SYS_setresuid,
    SYS_setreuid,
    SYS_set_robust_list,
    SYS_setsid,
    SYS_setsockopt,
    SYS_set_tid_address,
    SYS_setuid,
    SYS_setxattr,
    SYS_shmat,
    SYS_shmctl,
    SYS_shmdt,
    SYS_shmget,
    SYS_shutdown,
    SYS_sigaltstack,
    SYS_signalfd4,
    SYS_socketpair,
    SYS_splice,
    SYS_statfs,
    SYS_statx,
    SYS_symlinkat,
    SYS_sync,
    SYS_syncfs,
    SYS_sysinfo,
    SYS_tee,
    SYS_tgkill,
    SYS_timer_create,
    SYS_timer_delete,
    SYS_timer_getoverrun,
    SYS_timer_gettime,
    SYS_timer_settime,
    SYS_timerfd_create,
    SYS_timerfd_gettime,
    SYS_timerfd_settime,
    SYS_times,
    SYS_tkill,
    SYS_truncate,
    SYS_umask,
    SYS_uname,
    SYS_unlinkat,
    SYS_utimensat,
    SYS_vmsplice,
    SYS_wait4,
    SYS_waitid,
    SYS_write,
    SYS_writev,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_ptrace,
    SYS_clone,
    SYS_clone3,
    SYS_mount,
    SYS_umount2,
    SYS_unshare,
    SYS_setns,
    SYS_chroot,
    SYS_personality,
    SYS_socket,
    SYS_reboot,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_fanotify_init,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fsopen,
    SYS_fspick,
    SYS_lookup_dcookie,
    SYS_mount_setattr,
    SYS_move_mount,
    SYS_open_tree,
    SYS_quotactl,
    SYS_quotactl_fd,
    SYS_setdomainname,
    SYS_sethostname,
    SYS_syslog,
    SYS_kcmp,
    SYS_pidfd_getfd,
    SYS_process_madvise,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_vhangup,
    SYS_get_mempolicy,
    SYS_mbind,
    SYS_set_mempolicy,
    SYS_set_mempolicy_home_node,
    SYS_delete_module,
    SYS_init_module,
    SYS_finit_module,
    SYS_acct,
    SYS_open_by_handle_at,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_swapon,
    SYS_swapoff,
    SYS_pivot_root,
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_userfaultfd,
    SYS_nfsservctl,
];

/// Syscalls of x86_64 only.
#[cfg(target_arch = "x86_64")]
const ARCH: &[(&str, i64)] = table![
    SYS_access,
    SYS_alarm,
    SYS_chmod,
    SYS_chown,
    SYS_creat,
    SYS_dup2,
    SYS_epoll_create,
    SYS_epoll_ctl_old,
    SYS_epoll_wait,
    SYS_epoll_wait_old,
    SYS_eventfd,
    SYS_fork,
    SYS_futimesat,
    SYS_getdents,
    SYS_getpgrp,
    SYS_getrlimit,
    SYS_get_thread_area,
    SYS_inotify_init,
    SYS_lchown,
    SYS_link,
    SYS_lstat,
    SYS_mkdir,
    SYS_mknod,
    SYS_open,
    SYS_pause,
    SYS_pipe,
    SYS_poll,
    SYS_readlink,
    SYS_rename,
    SYS_renameat,
    SYS_rmdir,
    SYS_select,
    SYS_setrlimit,
    SYS_set_thread_area,
    SYS_signalfd,
    SYS_stat,
    SYS_symlink,
    SYS_sync_file_range,
    SYS_time,
    SYS_unlink,
    SYS_utime,
    SYS_utimes,
    SYS_vfork,
    SYS_arch_prctl,
    SYS_modify_ldt,
    SYS_iopl,
    SYS_ioperm,
];

#[cfg(not(target_arch = "x86_64"))]
const ARCH: &[(&str, i64)] = &[];

/// The number of a syscall on this architecture.
pub(crate) fn syscall_number(name: &str) -> Option<i64> {
    static TABLE: OnceLock<HashMap<&'static str, i64>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t: HashMap<&'static str, i64> = COMMON
            .iter()
            .chain(ARCH)
            .filter_map(|(n, nr)| Some((n.strip_prefix("SYS_")?, *nr)))
            .collect();
        #[cfg(target_arch = "x86_64")]
        t.insert("io_pgetevents", 333);
        t
    });
    table.get(name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        assert_eq!(syscall_number("read"), Some(libc::SYS_read));
        assert_eq!(syscall_number("unshare"), Some(libc::SYS_unshare));
        assert_eq!(syscall_number("chown32"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_names_resolve_and_programs_check_both_architectures() {
        assert_eq!(i386_number("chown32"), Some(212));
        assert_eq!(i386_number("socketcall"), Some(102));
        assert_eq!(i386_number("clone3"), Some(435));
        assert_eq!(i386_number("arch_prctl"), Some(384));
        // Every name of Docker's list is known on one of the two architectures, but for
        // those of other architectures.
        let unknown: Vec<&str> = DOCKER_ALLOWED
            .iter()
            .copied()
            .filter(|n| syscall_number(n).is_none() && i386_number(n).is_none())
            .collect();
        assert_eq!(unknown, ["recv", "send"], "of other architectures only");
        let progs = compile(&docker_default()).unwrap();
        let archs: Vec<u32> = progs.iter().map(|p| p[1].k).collect();
        assert_eq!(
            archs,
            [
                AUDIT_ARCH_X86_64,
                AUDIT_ARCH_X86_64,
                AUDIT_ARCH_I386,
                AUDIT_ARCH_I386
            ]
        );
        for p in &progs {
            // own -> body; other -> allow; anything else -> kill.
            assert_eq!((p[1].jt, p[2].jt, p[2].jf), (3, 0, 1));
            assert_eq!(p[3].k, libc::SECCOMP_RET_ALLOW);
            assert_eq!(p[4].k, libc::SECCOMP_RET_KILL_PROCESS);
            assert_ne!(p[1].k, p[2].k);
        }
        // A profile that does not list SCMP_ARCH_X86 filters the native architecture only.
        let mut native = docker_default();
        native.set_architectures(None);
        assert_eq!(compile(&native).unwrap().len(), 2);
    }

    #[test]
    fn docker_profile_compiles_to_two_programs_per_architecture() {
        let progs = compile(&docker_default()).unwrap();
        // allow-list program + clone3 ENOSYS program, and on x86_64 both again for i386.
        let per_arch = if cfg!(target_arch = "x86_64") { 2 } else { 1 };
        assert_eq!(progs.len(), 2 * per_arch);
        assert!(progs.iter().all(|p| p.len() < 4096));
        // Cached the second time.
        assert_eq!(compile(&docker_default()).unwrap(), progs);
    }
}
