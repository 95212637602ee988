//! [`Step`]: which step of the child's setup failed, as reported through the error pipe (its
//! wire value) and shown in errors (its description).

use std::fmt;

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
    /// The step of a wire value (`None` for 0 or an unknown value).
    pub(crate) fn from_u32(v: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == v)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
