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
    pub(crate) seccomp: Vec<crate::seccomp::Program>,
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

/// Declares [`Step`] from one list: each step's doc, name and description, in the order of
/// their wire values (the first is 1, so a zeroed report is never a step).
macro_rules! steps {
    (
        $(#[doc = $first_doc:literal])+ $first:ident => $first_text:literal,
        $($(#[doc = $doc:literal])+ $name:ident => $text:literal,)*
    ) => {
        /// The step of the child's setup that failed, as reported through the error pipe.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Step {
            $(#[doc = $first_doc])+
            $first = 1,
            $($(#[doc = $doc])+ $name,)*
        }

        impl Step {
            /// Every step, by wire value.
            const ALL: &'static [Step] = &[Step::$first, $(Step::$name),*];

            fn describe(self) -> &'static str {
                match self {
                    Step::$first => $first_text,
                    $(Step::$name => $text,)*
                }
            }
        }
    };
}

steps! {
    /// Waiting for the parent (ID maps written, network ready).
    SyncWait => "waiting for the user namespace maps",
    /// Installing stdin, stdout and stderr.
    Stdio => "installing stdin/stdout/stderr",
    /// Joining the container's cgroups.
    Cgroup => "joining the cgroup",
    /// Entering a new cgroup namespace.
    CgroupNamespace => "creating the cgroup namespace",
    /// Setting the hostname.
    Hostname => "setting the hostname",
    /// Bringing up the loopback interface.
    Loopback => "bringing up the loopback interface",
    /// Making the mount tree private.
    MountPrivate => "making mounts private",
    /// Mounting the root file system (overlay or bind).
    MountRoot => "mounting the root file system",
    /// Opening the new root.
    OpenRoot => "opening the root file system",
    /// One of the container's mounts (its index says which).
    Mount => "mounting",
    /// Remounting the root read-only.
    MakeReadOnly => "making the root file system read-only",
    /// `pivot_root` into the new root.
    PivotRoot => "pivot_root",
    /// Setting an rlimit.
    Rlimit => "setting resource limits",
    /// Dropping capabilities.
    Capabilities => "setting capabilities",
    /// Setting supplementary groups.
    SetGroups => "setting supplementary groups",
    /// Changing group.
    SetGid => "setting the group id",
    /// Changing user.
    SetUid => "setting the user id",
    /// Setting `no_new_privs`.
    NoNewPrivs => "setting no_new_privs",
    /// Closing inherited descriptors.
    CloseFds => "closing inherited file descriptors",
    /// Changing to the working directory.
    Chdir => "changing to the working directory",
    /// Setting the umask.
    Umask => "setting the umask",
    /// Resetting signal handlers and mask.
    Signals => "resetting signal handlers",
    /// Installing the seccomp filter.
    Seccomp => "installing the seccomp filter",
    /// `execve` of the command.
    Exec => "executing the command",
    /// Setting up the controlling terminal.
    Terminal => "setting up the terminal",
    /// Joining a running container's namespaces (exec).
    Setns => "joining the container's namespaces",
    /// The `--init` process's own setup.
    Init => "starting the command under the container's init",
}

impl Step {
    pub(crate) fn from_u32(v: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == v)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A C string from Rust text; an interior NUL is an error naming the value.
pub(crate) fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::NulByte {
        value: s.to_owned(),
    })
}

/// A C string from a path.
/// A path to the Unix socket `dir/name` that fits `sun_path`: its own, or (when that is too
/// long) the same through `/proc/self/fd/N/` of a descriptor of `dir`, to keep open while the
/// path is used.
pub(crate) fn socket_path(
    dir: &Path,
    name: &str,
) -> Result<(std::path::PathBuf, Option<std::os::fd::OwnedFd>), Error> {
    use std::os::fd::AsRawFd;
    let path = dir.join(name);
    // sun_path holds 108 bytes with the terminating NUL.
    if path.as_os_str().len() < 108 {
        return Ok((path, None));
    }
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("opening", dir, e.into()))?;
    let short = format!("/proc/self/fd/{}/{name}", fd.as_raw_fd());
    Ok((short.into(), Some(fd)))
}

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
        let n = Step::ALL.len() as u32;
        assert_eq!(n, 27);
        for v in 1..=n {
            let step = Step::from_u32(v).unwrap();
            assert_eq!(step as u32, v);
            assert!(!step.to_string().is_empty());
        }
        assert!(Step::from_u32(0).is_none());
        assert!(Step::from_u32(n + 1).is_none());
    }
}
