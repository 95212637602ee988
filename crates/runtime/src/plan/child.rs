//! [`ChildPlan`]: everything the container's init (or an exec'd process) reads after `clone3`.

use std::ffi::CString;
use std::os::fd::RawFd;

use super::mount::{MountStep, RootMount};

/// Capability masks applied by the child.
#[derive(Debug, Default, Clone)]
pub(crate) struct CapPlan {
    /// Capabilities removed from the bounding set.
    pub(crate) bounding_drop: Vec<u32>,
    pub(crate) effective: u64,
    pub(crate) permitted: u64,
    pub(crate) inheritable: u64,
    /// Ambient capabilities raised (each must be permitted and inheritable).
    pub(crate) ambient: Vec<u32>,
}

/// One resource limit, already clamped to the caller's hard limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rlimit {
    pub(crate) resource: u32,
    pub(crate) soft: u64,
    pub(crate) hard: u64,
}

/// All the child needs. Built by `spawn`, consumed read-only by `init`.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    /// Rootless: read one byte here before anything else (the parent writes the id maps first).
    pub(crate) sync_fd: Option<RawFd>,
    /// Where a failure is reported; close-on-exec, so a successful `execve` closes it.
    pub(crate) error_fd: RawFd,
    /// Descriptors to install as 0, 1 and 2 (`None`: keep the caller's).
    pub(crate) stdio: [Option<RawFd>; 3],
    /// `cgroup.procs` files (opened for writing) the child joins by writing `0`.
    pub(crate) cgroup_procs: Vec<RawFd>,
    pub(crate) new_cgroupns: bool,
    pub(crate) hostname: Option<CString>,
    /// Bring `lo` up (a fresh network namespace).
    pub(crate) loopback_up: bool,
    /// Where the root is mounted before `pivot_root`.
    pub(crate) root_path: CString,
    pub(crate) root: RootMount,
    pub(crate) mounts: Vec<MountStep>,
    pub(crate) readonly_root: bool,
    pub(crate) rlimits: Vec<Rlimit>,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Supplementary groups (`None` in a user namespace where `setgroups` is denied).
    pub(crate) groups: Option<Vec<u32>>,
    pub(crate) caps: Option<CapPlan>,
    pub(crate) no_new_privs: bool,
    pub(crate) umask: Option<u32>,
    pub(crate) cwd: CString,
    /// BPF programs, installed in order as the last step before `execve`.
    pub(crate) seccomp: Vec<crate::sys::caps::Program>,
    /// Paths tried in order with `execve` (the `$PATH` search, done inside the container).
    pub(crate) exec: Vec<CString>,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
    /// With a terminal: a Unix socket on which the child sends the master of the pty it opens
    /// in the container's `/dev/ptmx`; the slave becomes its controlling terminal and 0-2.
    pub(crate) terminal: Option<RawFd>,
    /// `--init`: PID 1 is our init, which starts the command as PID 2, forwards signals to it
    /// and reaps every zombie (see `init::tiny`).
    pub(crate) init: bool,
    /// With `init`: this process's memory layout (which the init's copy shares), so the init
    /// can point its command line elsewhere with `PR_SET_MM_MAP`; see [`MmLayout`].
    pub(crate) init_mm: Option<MmLayout>,
}

/// The fields of `struct prctl_mm_map` read from `/proc/self/stat` (the heap's current end is
/// taken by the init itself with `brk(0)`): start_code, end_code, start_data, end_data,
/// start_brk, start_stack, arg_start, arg_end, env_start, env_end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MmLayout {
    pub(crate) start_code: u64,
    pub(crate) end_code: u64,
    pub(crate) start_data: u64,
    pub(crate) end_data: u64,
    pub(crate) start_brk: u64,
    pub(crate) start_stack: u64,
    pub(crate) env_start: u64,
    pub(crate) env_end: u64,
}

impl MmLayout {
    /// This process's layout, from `/proc/self/stat`; `None` if unreadable.
    pub(crate) fn current() -> Option<MmLayout> {
        Self::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    fn parse(stat: &str) -> Option<MmLayout> {
        // Fields after the command name (which may hold spaces), numbered from 3 (the state).
        let words: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        let field = |n: usize| words.get(n - 3)?.parse::<u64>().ok();
        Some(MmLayout {
            start_code: field(26)?,
            end_code: field(27)?,
            start_stack: field(28)?,
            start_data: field(45)?,
            end_data: field(46)?,
            start_brk: field(47)?,
            env_start: field(50)?,
            env_end: field(51)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mm_layout_reads_our_own() {
        let l = MmLayout::current().unwrap();
        assert!(l.start_code < l.end_code && l.start_data <= l.end_data);
        assert!(l.env_start < l.env_end && l.start_stack > l.end_code);
        assert!(MmLayout::parse("1 (a) b").is_none());
    }
}
