//! Seccomp: Docker's default profile in the spec's terms, and a compiler from the spec's
//! `LinuxSeccomp` to one classic BPF program.
//!
//! The program is built before the clone as a plain `sock_filter` array, which the child
//! installs with one `seccomp(2)` call — no C library, no allocation and no lock in the child,
//! which libseccomp's `seccomp_load` could not promise.
//!
//! # What a profile means
//!
//! What this runtime installed before as several programs (built with seccompiler) and the
//! kernel combined: one filter allows every syscall the profile names (under its argument
//! conditions) and applies the default action to the rest; each other action of the
//! profile (say `ERRNO(ENOSYS)` for `clone3`), in the order the profile first uses it, has a
//! filter that applies it to its syscalls and allows the rest. The kernel keeps the strictest
//! answer, and between two equally strict ones (two `ERRNO`s) the later filter's. A condition
//! compares the whole 64-bit argument, unsigned; `SCMP_CMP_MASKED_EQ` compares `arg & value`
//! with `valueTwo & value`; an entry's conditions must all hold. Names unknown on an
//! architecture are skipped.
//!
//! Architectures: the native one always; on x86_64 also 32-bit x86 programs when the profile
//! lists `SCMP_ARCH_X86` (Docker's does), with the i386 syscall numbers
//! (`i386.rs`); any other architecture is killed. x32 calls (numbers with bit 30 set
//! on x86_64) are not matched: they get the default action.
//!
//! # How the program is built
//!
//! For each syscall number the compiler works out what those filters would answer together: an
//! action, or a short list of argument tests, each with its action, in the kernel's order
//! (strictest first). Then it emits one program:
//!
//! 1. load `seccomp_data.arch`: the native architecture goes to its search, i386 to its own
//!    (when filtered), anything else to `KILL_PROCESS`;
//! 2. load the syscall number, and search it with a balanced binary tree of `JGE` over the
//!    ranges of numbers with the same outcome (neighbours with the same answer are one range;
//!    numbers the profile does not name, x32 ones among them, are ranges of the default
//!    action): Docker's profile has 62 ranges on x86_64 and 117 on i386, 6 or 7 jumps deep;
//! 3. at a leaf, `RET` the outcome's action, or run its argument tests: a 64-bit comparison is
//!    one on the high halves, and on the low halves when the high ones are equal
//!    (`MASKED_EQ` masks each half with `AND`, or tests it with `JSET` when its value is 0).
//!
//! The program is laid out from its end (see `bpf.rs`), so every jump's offset is known when it
//! is written; the `RET`s are shared, and a target beyond an 8-bit conditional jump is reached
//! through a `JA` (or a copy of the `RET`). Docker's profile takes about 210 instructions.
//!
//! Why not seccompiler's programs, as before: each was a linear chain of comparisons, one per
//! syscall, and Docker's profile needed four of them on x86_64 (allow list and `clone3` for
//! each architecture, about 3,400 instructions). Every cost of seccomp grows with the number of
//! filters and their length: the kernel checks and translates each at `seccomp(2)`, builds its
//! action cache by running every filter for each syscall number of both architectures, and
//! runs every filter on each syscall the cache does not settle. With one short program a
//! container start (`/bin/true`, the `sandbox` example) took 3.9 ms instead of 5.5 ms on our
//! test machine, 0.4 ms above the same start without seccomp; the always-allowed syscalls
//! reach their `RET` without reading an argument, so the kernel's cache settles them.
//!
//! The compiler is checked against seccompiler's programs (a dev-dependency) with a classic BPF
//! interpreter, on Docker's profile and on random ones (`seccomp/tests.rs`).
//!
//! Limitations: `SCMP_ACT_NOTIFY`/`SCMP_ACT_TRACE`, listeners and filter flags are refused.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::Error;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

mod bpf;
#[cfg(target_arch = "x86_64")]
mod i386;

pub(crate) use bpf::Program;
use bpf::{Builder, Label};

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

/// Compiles a profile to BPF programs, to be installed in order: none when there is nothing to
/// filter (default `SCMP_ACT_ALLOW` and no other action on a syscall of a filtered
/// architecture), else one.
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<Vec<Program>, Error> {
    static DOCKER: OnceLock<(LinuxSeccomp, Vec<Program>)> = OnceLock::new();
    if let Some((p, progs)) = DOCKER.get() {
        if p == profile {
            return Ok(progs.clone());
        }
    }
    let progs = generate(&parse(profile)?)?;
    if DOCKER.get().is_none() && *profile == docker_default() {
        let _ = DOCKER.set((profile.clone(), progs.clone()));
    }
    Ok(progs)
}

/// `AUDIT_ARCH_I386`: 32-bit x86 programs on an x86_64 kernel.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// The `AUDIT_ARCH_*` of this machine's syscalls (`seccomp_data.arch`).
fn native_arch() -> Result<u32, Error> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(0xc000_003e),
        "aarch64" => Ok(0xc000_00b7),
        "riscv64" => Ok(0xc000_00f3),
        other => Err(Error::Unsupported {
            what: format!("seccomp on {other}"),
        }),
    }
}

/// The number of a syscall of 32-bit x86 programs.
#[cfg(target_arch = "x86_64")]
fn i386_number(name: &str) -> Option<i64> {
    static TABLE: OnceLock<HashMap<&'static str, i64>> = OnceLock::new();
    TABLE
        .get_or_init(|| i386::I386.iter().copied().collect())
        .get(name)
        .copied()
}

/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
const ARGS_OFFSET: u32 = 16;
/// Where the high and the low 32 bits of an argument sit within its 8 bytes.
const HIGH_HALF: u32 = if cfg!(target_endian = "little") { 4 } else { 0 };
const LOW_HALF: u32 = 4 - HIGH_HALF;

/// A profile's action: what a filter answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
}

impl Action {
    fn new(a: LinuxSeccompAction, errno: Option<u32>, default_errno: u32) -> Result<Self, Error> {
        Ok(match a {
            LinuxSeccompAction::ScmpActAllow => Action::Allow,
            LinuxSeccompAction::ScmpActErrno => Action::Errno(errno.unwrap_or(default_errno)),
            LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                Action::KillThread
            }
            LinuxSeccompAction::ScmpActKillProcess => Action::KillProcess,
            LinuxSeccompAction::ScmpActTrap => Action::Trap,
            LinuxSeccompAction::ScmpActLog => Action::Log,
            other => {
                return Err(Error::Unsupported {
                    what: format!("seccomp action {other:?}"),
                })
            }
        })
    }

    /// The filter's return value (`SECCOMP_RET_*`).
    fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | (e & libc::SECCOMP_RET_DATA),
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Log => libc::SECCOMP_RET_LOG,
        }
    }

    /// The kernel's order between answers: the lower the stricter (its `ACTION_ONLY`).
    fn rank(self) -> i32 {
        (self.ret() & libc::SECCOMP_RET_ACTION_FULL) as i32
    }
}

/// How an argument is compared, on all its 64 bits, unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `arg & mask == value` (the value is stored already masked).
    MaskedEq(u64),
}

/// A condition on one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Cond {
    arg: u32,
    cmp: Cmp,
    value: u64,
}

impl Cond {
    fn new(a: &LinuxSeccompArg) -> Result<Self, Error> {
        let arg = u32::try_from(a.index())
            .ok()
            .filter(|i| *i < 6)
            .ok_or_else(|| Error::Seccomp {
                reason: format!("argument index {} (syscalls have 6)", a.index()),
            })?;
        let (cmp, value) = match a.op() {
            LinuxSeccompOperator::ScmpCmpNe => (Cmp::Ne, a.value()),
            LinuxSeccompOperator::ScmpCmpLt => (Cmp::Lt, a.value()),
            LinuxSeccompOperator::ScmpCmpLe => (Cmp::Le, a.value()),
            LinuxSeccompOperator::ScmpCmpEq => (Cmp::Eq, a.value()),
            LinuxSeccompOperator::ScmpCmpGe => (Cmp::Ge, a.value()),
            LinuxSeccompOperator::ScmpCmpGt => (Cmp::Gt, a.value()),
            // The spec's `value` is the mask, `valueTwo` the value; bits of the value outside
            // the mask are ignored (as the seccompiler-built filters did).
            LinuxSeccompOperator::ScmpCmpMaskedEq => (
                Cmp::MaskedEq(a.value()),
                a.value_two().unwrap_or(0) & a.value(),
            ),
        };
        Ok(Cond { arg, cmp, value })
    }

    /// The answer when it does not depend on the argument.
    fn fixed(&self) -> Option<bool> {
        match (self.cmp, self.value) {
            (Cmp::Ge, 0) | (Cmp::Le, u64::MAX) | (Cmp::MaskedEq(0), _) => Some(true),
            (Cmp::Lt, 0) | (Cmp::Gt, u64::MAX) => Some(false),
            _ => None,
        }
    }
}

/// A rule: all its conditions hold (none: always). `None`: a rule that never matches.
type Rule = Option<Vec<Cond>>;

/// A profile entry, its action and rule resolved.
struct ProfileEntry<'a> {
    action: Action,
    rule: Rule,
    names: &'a [String],
}

/// A profile, checked and resolved.
struct Parsed<'a> {
    default: Action,
    entries: Vec<ProfileEntry<'a>>,
    /// `AUDIT_ARCH_*` of the native syscalls.
    arch: u32,
    /// Whether 32-bit x86 programs are filtered too (rather than killed).
    compat: bool,
}

fn parse(profile: &LinuxSeccomp) -> Result<Parsed<'_>, Error> {
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) || profile.listener_path().is_some()
    {
        return Err(Error::Unsupported {
            what: "seccomp flags or listener".into(),
        });
    }
    let arch = native_arch()?;
    let default_errno = profile.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = Action::new(profile.default_action(), None, default_errno)?;
    let mut entries = Vec::new();
    for s in profile.syscalls().iter().flatten() {
        let action = Action::new(s.action(), s.errno_ret(), default_errno)?;
        let mut conds = Vec::new();
        let mut never = false;
        for a in s.args().iter().flatten() {
            let c = Cond::new(a)?;
            match c.fixed() {
                Some(true) => {}
                Some(false) => never = true,
                None if conds.contains(&c) => {}
                None => conds.push(c),
            }
        }
        entries.push(ProfileEntry {
            action,
            rule: (!never).then_some(conds),
            names: s.names(),
        });
    }
    let compat = cfg!(target_arch = "x86_64")
        && profile
            .architectures()
            .iter()
            .flatten()
            .any(|a| *a == oci_spec::runtime::Arch::ScmpArchX86);
    Ok(Parsed {
        default,
        entries,
        arch,
        compat,
    })
}

/// What the filter does for one syscall number: each step tests its rules and answers `ret`
/// when one holds (`unless_listed`: when none does); after the steps, `last`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Outcome {
    steps: Vec<RuleCheck>,
    last: u32,
}

/// One check of an [`Outcome`]: rules tested in turn, answering `ret`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RuleCheck {
    ret: u32,
    rules: Vec<Vec<Cond>>,
    unless_listed: bool,
}

impl Outcome {
    fn fixed(ret: u32) -> Self {
        Outcome {
            steps: Vec::new(),
            last: ret,
        }
    }
}

/// The outcomes of one architecture's syscalls.
struct ArchTable {
    /// The profile's actions other than allow that apply to a syscall of this architecture.
    actions: usize,
    /// Every syscall the profile names, by number; the others get `unlisted`.
    outcomes: Vec<(u32, Outcome)>,
    unlisted: Outcome,
}

/// The meaning of a profile for one syscall, as the kernel would combine the filters of the
/// plain scheme (one filter allowing every named syscall under its rules and applying the
/// default action to the rest, then one filter per other action in the profile's order, each
/// applying it to its syscalls): the strictest answer of the filters that match, and between
/// two equally strict answers (two `ERRNO`s) the one of the later filter.
fn outcome(default: Action, actions: &[Action], named: &[(u32, Action, &Rule)]) -> Outcome {
    // The common case first: allowed, unconditionally, by every entry that names it.
    if named
        .iter()
        .all(|n| n.1 == Action::Allow && n.2.as_ref().is_some_and(|c| c.is_empty()))
    {
        return Outcome::fixed(libc::SECCOMP_RET_ALLOW);
    }
    /// Whether a set of rules holds: known, or to be tested at run time.
    enum Test {
        Fixed(bool),
        Rules(Vec<Vec<Cond>>),
    }
    fn test<'r>(rules: impl Iterator<Item = &'r Rule>) -> Test {
        let mut dynamic: Vec<Vec<Cond>> = Vec::new();
        for conds in rules.flatten() {
            if conds.is_empty() {
                return Test::Fixed(true);
            }
            if !dynamic.contains(conds) {
                dynamic.push(conds.clone());
            }
        }
        if dynamic.is_empty() {
            Test::Fixed(false)
        } else {
            Test::Rules(dynamic)
        }
    }
    // (action, filter position, whether it matches, whether it answers when it does not)
    let mut filters = Vec::new();
    if default != Action::Allow {
        filters.push((default, 0, test(named.iter().map(|n| n.2)), true));
    }
    for (i, a) in actions.iter().enumerate() {
        if named.iter().any(|n| n.1 == *a) {
            let rules = named.iter().filter(|n| n.1 == *a).map(|n| n.2);
            filters.push((*a, i + 1, test(rules), false));
        }
    }
    filters.sort_by_key(|f| (f.0.rank(), std::cmp::Reverse(f.1)));
    let mut steps = Vec::new();
    for (action, _, test, unless_listed) in filters {
        match test {
            Test::Fixed(holds) if holds != unless_listed => {
                return Outcome {
                    steps,
                    last: action.ret(),
                }
            }
            Test::Fixed(_) => {}
            Test::Rules(rules) => steps.push(RuleCheck {
                ret: action.ret(),
                rules,
                unless_listed,
            }),
        }
    }
    Outcome {
        steps,
        last: libc::SECCOMP_RET_ALLOW,
    }
}

fn arch_table(p: &Parsed<'_>, number: fn(&str) -> Option<i64>) -> ArchTable {
    let mut actions: Vec<Action> = Vec::new();
    let mut named: Vec<(u32, Action, &Rule)> = Vec::new();
    for e in &p.entries {
        // Names unknown on this architecture are skipped, as libseccomp does.
        for nr in e.names.iter().filter_map(|n| number(n)) {
            let Ok(nr) = u32::try_from(nr) else {
                continue;
            };
            if e.action != Action::Allow && !actions.contains(&e.action) {
                actions.push(e.action);
            }
            named.push((nr, e.action, &e.rule));
        }
    }
    // By number, each number's entries in the profile's order (a stable sort).
    named.sort_by_key(|n| n.0);
    let outcomes = named
        .chunk_by(|a, b| a.0 == b.0)
        .map(|n| (n[0].0, outcome(p.default, &actions, n)))
        .collect();
    ArchTable {
        actions: actions.len(),
        outcomes,
        unlisted: Outcome::fixed(p.default.ret()),
    }
}

/// The program of a profile: the architecture, then a binary search on the syscall number
/// over ranges of numbers with the same outcome, then that outcome's argument tests.
fn generate(p: &Parsed<'_>) -> Result<Vec<Program>, Error> {
    let native = arch_table(p, syscall_number);
    #[cfg(target_arch = "x86_64")]
    let compat = p.compat.then(|| arch_table(p, i386_number));
    #[cfg(not(target_arch = "x86_64"))]
    let compat: Option<ArchTable> = None;
    if p.default == Action::Allow
        && native.actions == 0
        && compat.as_ref().is_none_or(|c| c.actions == 0)
    {
        return Ok(Vec::new());
    }
    let mut b = Builder::default();
    let mut shared = HashMap::new();
    let compat = match &compat {
        Some(c) => {
            let search = search(&mut b, &mut shared, &ranges(c));
            Some(b.load(NR_OFFSET, search))
        }
        None => None,
    };
    let search = search(&mut b, &mut shared, &ranges(&native));
    let native = b.load(NR_OFFSET, search);
    // Any other architecture (a third one, or 32-bit x86 when the profile does not list it) is
    // killed, as libseccomp's filters do.
    let mut other = b.ret(libc::SECCOMP_RET_KILL_PROCESS);
    #[cfg(target_arch = "x86_64")]
    if let Some(compat) = compat {
        other = b.jump(bpf::JEQ_K, AUDIT_ARCH_I386, compat, other);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = compat;
    let start = b.jump(bpf::JEQ_K, p.arch, native, other);
    b.load(ARCH_OFFSET, start);
    if b.len() > bpf::MAX_INSNS {
        return Err(Error::Seccomp {
            reason: format!(
                "{} BPF instructions, more than the kernel takes ({})",
                b.len(),
                bpf::MAX_INSNS
            ),
        });
    }
    Ok(vec![b.finish()])
}

/// The syscall numbers 0..=u32::MAX as ranges `(first number, outcome)`, in order, neighbours
/// with the same outcome merged.
fn ranges<'a>(t: &'a ArchTable) -> Vec<(u32, &'a Outcome)> {
    let mut out: Vec<(u32, &'a Outcome)> = Vec::new();
    let mut push = |first: u32, o: &'a Outcome| {
        if out.last().is_none_or(|(_, last)| *last != o) {
            out.push((first, o));
        }
    };
    let mut next = 0u64;
    for (nr, o) in &t.outcomes {
        if u64::from(*nr) > next {
            push(next as u32, &t.unlisted);
        }
        push(*nr, o);
        next = u64::from(*nr) + 1;
    }
    if next <= u64::from(u32::MAX) {
        push(next as u32, &t.unlisted);
    }
    out
}

/// A binary search over ranges of syscall numbers (the number in A): at each level a `JGE` on
/// the first number of the upper half, at each leaf the range's outcome.
fn search<'a>(
    b: &mut Builder,
    shared: &mut HashMap<&'a Outcome, Label>,
    ranges: &[(u32, &'a Outcome)],
) -> Label {
    match ranges {
        [] => b.ret(libc::SECCOMP_RET_KILL_PROCESS),
        [(_, o)] => decide(b, shared, o),
        _ => {
            let (lower, upper) = ranges.split_at(ranges.len() / 2);
            let above = search(b, shared, upper);
            let below = search(b, shared, lower);
            b.jump(bpf::JGE_K, upper[0].0, above, below)
        }
    }
}

/// The code of an outcome (a `RET` when it does not depend on the arguments; placed once).
fn decide<'a>(b: &mut Builder, shared: &mut HashMap<&'a Outcome, Label>, o: &'a Outcome) -> Label {
    if o.steps.is_empty() {
        return b.ret(o.last);
    }
    if let Some(l) = shared.get(o) {
        return *l;
    }
    let mut next = b.ret(o.last);
    for s in o.steps.iter().rev() {
        let hit = b.ret(s.ret);
        next = if s.unless_listed {
            one_of(b, &s.rules, next, hit)
        } else {
            one_of(b, &s.rules, hit, next)
        };
    }
    shared.insert(o, next);
    next
}

/// To `yes` when one of the rules holds, else to `no`.
fn one_of(b: &mut Builder, rules: &[Vec<Cond>], yes: Label, mut no: Label) -> Label {
    for conds in rules.iter().rev() {
        let mut next = yes;
        for c in conds.iter().rev() {
            next = cond(b, c, next, no);
        }
        no = next;
    }
    no
}

/// To `yes` when the condition holds, else to `no`: the high halves of the argument and the
/// value decide unless they are equal, then the low halves do.
fn cond(b: &mut Builder, c: &Cond, yes: Label, no: Label) -> Label {
    use bpf::{JEQ_K, JGE_K, JGT_K, JSET_K};
    if yes == no {
        return yes;
    }
    let at = ARGS_OFFSET + 8 * c.arg;
    let (high_at, low_at) = (at + HIGH_HALF, at + LOW_HALF);
    let (high, low) = ((c.value >> 32) as u32, c.value as u32);
    match c.cmp {
        Cmp::Eq | Cmp::Ne => {
            let (eq, ne) = if c.cmp == Cmp::Eq {
                (yes, no)
            } else {
                (no, yes)
            };
            let l = b.jump(JEQ_K, low, eq, ne);
            let l = b.load(low_at, l);
            let h = b.jump(JEQ_K, high, l, ne);
            b.load(high_at, h)
        }
        Cmp::Gt | Cmp::Ge | Cmp::Lt | Cmp::Le => {
            let (above, below) = match c.cmp {
                Cmp::Gt | Cmp::Ge => (yes, no),
                _ => (no, yes),
            };
            let l = match c.cmp {
                Cmp::Gt => b.jump(JGT_K, low, yes, no),
                Cmp::Ge => b.jump(JGE_K, low, yes, no),
                Cmp::Lt => b.jump(JGE_K, low, no, yes),
                _ => b.jump(JGT_K, low, no, yes),
            };
            let l = b.load(low_at, l);
            let equal = b.jump(JEQ_K, high, l, below);
            let h = b.jump(JGT_K, high, above, equal);
            b.load(high_at, h)
        }
        Cmp::MaskedEq(mask) => {
            let mut next = yes;
            for (at, m, v) in [
                (low_at, mask as u32, low),
                (high_at, (mask >> 32) as u32, high),
            ] {
                if m == 0 {
                    continue; // and v == 0: this half always matches
                }
                next = if v == 0 {
                    b.jump(JSET_K, m, no, next)
                } else {
                    let j = b.jump(JEQ_K, v, next, no);
                    b.and(m, j)
                };
                next = b.load(at, next);
            }
            next
        }
    }
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
mod tests;
