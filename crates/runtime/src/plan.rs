//! Everything the container's init needs, prepared before `clone3`.
//!
//! The child of `clone3` may only make async-signal-safe system calls: it cannot allocate, take a
//! lock or format a string. So every path, option string, id, capability mask and filter it uses
//! is built here, in the parent, into owned C strings and plain vectors; `sys` only reads them.

use std::ffi::CString;
use std::fmt;
use std::os::fd::RawFd;
use std::path::Path;

use crate::error::Error;

/// A path inside the container's root, split the way the child walks it.
///
/// The child resolves every component relative to the root with `openat2(RESOLVE_IN_ROOT)`,
/// so a symlink in the image can never lead a mount outside the root.
#[derive(Debug)]
pub(crate) struct InRoot {
    /// `a/b/c` (no leading slash), for messages and for the last lookup.
    pub(crate) display: String,
    /// `a`, `a/b`, `a/b/c`.
    pub(crate) prefixes: Vec<CString>,
    /// `a`, `b`, `c`.
    pub(crate) names: Vec<CString>,
}

impl InRoot {
    /// Splits an absolute container path; `..` and empty components are refused.
    pub(crate) fn new(path: &Path) -> Result<Self, Error> {
        let text = path.to_str().ok_or_else(|| Error::InvalidPath {
            path: path.to_path_buf(),
            reason: "not UTF-8",
        })?;
        let mut prefixes = Vec::new();
        let mut names = Vec::new();
        let mut prefix = String::new();
        for name in text.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if name == ".." {
                return Err(Error::InvalidPath {
                    path: path.to_path_buf(),
                    reason: "contains `..`",
                });
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(name);
            prefixes.push(cstring(&prefix)?);
            names.push(cstring(name)?);
        }
        if names.is_empty() {
            return Err(Error::InvalidPath {
                path: path.to_path_buf(),
                reason: "names the root itself",
            });
        }
        Ok(Self {
            display: format!("/{prefix}"),
            prefixes,
            names,
        })
    }
}

/// What a mount destination must be when the child creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
}

/// One step of building the container's file system, run by the child before `pivot_root`.
#[derive(Debug)]
pub(crate) enum MountStep {
    /// Mount a file system (proc, tmpfs, devpts, sysfs, mqueue) on a directory in the root.
    Fs {
        fstype: CString,
        source: CString,
        dest: InRoot,
        flags: u64,
        data: Option<CString>,
    },
    /// Bind a host path (file or directory) into the root.
    Bind {
        source: CString,
        dest: InRoot,
        kind: Kind,
        recursive: bool,
        readonly: bool,
    },
    /// Create a device node (rootful).
    Mknod { dest: InRoot, mode: u32, dev: u64 },
    /// Create a symlink in the root (for `/dev/fd` and friends).
    Symlink { target: CString, dest: InRoot },
    /// Hide a path: `/dev/null` over a file, an empty read-only tmpfs over a directory.
    Mask { dest: InRoot },
    /// Make a path read-only (a read-only bind of itself). Missing paths are skipped.
    ReadOnly { dest: InRoot },
    /// Create a directory (the working directory) if missing.
    Mkdir { dest: InRoot },
}

impl MountStep {
    pub(crate) fn dest(&self) -> &str {
        match self {
            MountStep::Fs { dest, .. }
            | MountStep::Bind { dest, .. }
            | MountStep::Mknod { dest, .. }
            | MountStep::Symlink { dest, .. }
            | MountStep::Mask { dest }
            | MountStep::ReadOnly { dest }
            | MountStep::Mkdir { dest } => &dest.display,
        }
    }
}

/// How the root file system is mounted.
#[derive(Debug)]
pub(crate) enum RootMount {
    /// An overlay mounted on top of its own upper dir (in the child's private mount namespace).
    Overlay { data: CString },
    /// A directory bound onto itself.
    Bind,
}

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

/// All the child needs. Built by `spawn`, consumed read-only by `sys::child`.
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
    pub(crate) seccomp: Vec<Vec<seccompiler::sock_filter>>,
    /// Paths tried in order with `execve` (the `$PATH` search, done inside the container).
    pub(crate) exec: Vec<CString>,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
    /// With a terminal: a Unix socket on which the child sends the master of the pty it opens
    /// in the container's `/dev/ptmx`; the slave becomes its controlling terminal and 0-2.
    pub(crate) terminal: Option<RawFd>,
    /// `--init`: PID 1 is our init, which starts the command as PID 2, forwards signals to it
    /// and reaps every zombie (see `sys::init`).
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

/// The step of the child's setup that failed, as reported through the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    /// Waiting for the parent (ID maps written, network ready).
    SyncWait = 1,
    /// Installing stdin, stdout and stderr.
    Stdio,
    /// Joining the container's cgroups.
    Cgroup,
    /// Entering a new cgroup namespace.
    CgroupNamespace,
    /// Setting the hostname.
    Hostname,
    /// Bringing up the loopback interface.
    Loopback,
    /// Making the mount tree private.
    MountPrivate,
    /// Mounting the root file system (overlay or bind).
    MountRoot,
    /// Opening the new root.
    OpenRoot,
    /// One of the container's mounts (its index says which).
    Mount,
    /// Remounting the root read-only.
    MakeReadOnly,
    /// `pivot_root` into the new root.
    PivotRoot,
    /// Setting an rlimit.
    Rlimit,
    /// Dropping capabilities.
    Capabilities,
    /// Setting supplementary groups.
    SetGroups,
    /// Changing group.
    SetGid,
    /// Changing user.
    SetUid,
    /// Setting `no_new_privs`.
    NoNewPrivs,
    /// Closing inherited descriptors.
    CloseFds,
    /// Changing to the working directory.
    Chdir,
    /// Setting the umask.
    Umask,
    /// Resetting signal handlers and mask.
    Signals,
    /// Installing the seccomp filter.
    Seccomp,
    /// `execve` of the command.
    Exec,
    /// Setting up the controlling terminal.
    Terminal,
    /// Joining a running container's namespaces (exec).
    Setns,
    /// The `--init` process's own setup.
    Init,
}

impl Step {
    pub(crate) fn from_u32(v: u32) -> Option<Step> {
        use Step::*;
        const ALL: [Step; 27] = [
            SyncWait,
            Stdio,
            Cgroup,
            CgroupNamespace,
            Hostname,
            Loopback,
            MountPrivate,
            MountRoot,
            OpenRoot,
            Mount,
            MakeReadOnly,
            PivotRoot,
            Rlimit,
            Capabilities,
            SetGroups,
            SetGid,
            SetUid,
            NoNewPrivs,
            CloseFds,
            Chdir,
            Umask,
            Signals,
            Seccomp,
            Exec,
            Terminal,
            Setns,
            Init,
        ];
        ALL.into_iter().find(|s| *s as u32 == v)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Step::SyncWait => "waiting for the user namespace maps",
            Step::Stdio => "installing stdin/stdout/stderr",
            Step::Cgroup => "joining the cgroup",
            Step::CgroupNamespace => "creating the cgroup namespace",
            Step::Hostname => "setting the hostname",
            Step::Loopback => "bringing up the loopback interface",
            Step::MountPrivate => "making mounts private",
            Step::MountRoot => "mounting the root file system",
            Step::OpenRoot => "opening the root file system",
            Step::Mount => "mounting",
            Step::MakeReadOnly => "making the root file system read-only",
            Step::PivotRoot => "pivot_root",
            Step::Rlimit => "setting resource limits",
            Step::Capabilities => "setting capabilities",
            Step::SetGroups => "setting supplementary groups",
            Step::SetGid => "setting the group id",
            Step::SetUid => "setting the user id",
            Step::NoNewPrivs => "setting no_new_privs",
            Step::CloseFds => "closing inherited file descriptors",
            Step::Chdir => "changing to the working directory",
            Step::Umask => "setting the umask",
            Step::Signals => "resetting signal handlers",
            Step::Seccomp => "installing the seccomp filter",
            Step::Exec => "executing the command",
            Step::Terminal => "setting up the terminal",
            Step::Setns => "joining the container's namespaces",
            Step::Init => "starting the command under the container's init",
        };
        f.write_str(s)
    }
}

/// A C string from Rust text; an interior NUL is an error naming the value.
pub(crate) fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::NulByte {
        value: s.to_owned(),
    })
}

/// A C string from a path.
pub(crate) fn cpath(p: &Path) -> Result<CString, Error> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::NulByte {
        value: p.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_root_splits_and_refuses_dotdot() {
        let p = InRoot::new(Path::new("/dev//pts/./x")).unwrap();
        assert_eq!(p.display, "/dev/pts/x");
        assert_eq!(p.prefixes.last().unwrap().to_str().unwrap(), "dev/pts/x");
        assert_eq!(p.names.len(), 3);
        assert!(InRoot::new(Path::new("/a/../b")).is_err());
        assert!(InRoot::new(Path::new("/")).is_err());
    }

    #[test]
    fn mm_layout_reads_our_own() {
        let l = MmLayout::current().unwrap();
        assert!(l.start_code < l.end_code && l.start_data <= l.end_data);
        assert!(l.env_start < l.env_end && l.start_stack > l.end_code);
        assert!(MmLayout::parse("1 (a) b").is_none());
    }

    #[test]
    fn steps_round_trip() {
        for v in 1..=27 {
            assert_eq!(Step::from_u32(v).unwrap() as u32, v);
        }
        assert!(Step::from_u32(0).is_none());
        assert!(Step::from_u32(28).is_none());
    }
}
