//! The runtime's error type.

use std::io;
use std::path::PathBuf;

use crate::plan::Step;
use crate::protocol::Protocol;

/// Everything that can go wrong preparing, starting or waiting for a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command names no executable (`cmd` empty and no image default).
    #[error("no command given")]
    NoCommand,

    /// The executable was not found in any directory of the container's `$PATH`.
    #[error("exec: \"{name}\": executable file not found in $PATH")]
    ExecutableNotFound {
        /// The command as given.
        name: String,
    },

    /// `execve` of the command failed (not found at an explicit path, not executable, ...).
    #[error("exec: \"{path}\"")]
    Exec {
        /// The path that was executed, inside the container.
        path: String,
        /// The errno of `execve`.
        #[source]
        source: io::Error,
    },

    /// The user named by the container config is not in the image's `/etc/passwd`.
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser {
        /// The user as given.
        user: String,
    },

    /// The group named by the container config is not in the image's `/etc/group`.
    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup {
        /// The group as given.
        group: String,
    },

    /// A path in the configuration cannot be used.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },

    /// A string in the configuration contains a NUL byte.
    #[error("configuration value {value:?} contains a NUL byte")]
    NulByte {
        /// The value.
        value: String,
    },

    /// The spec asks for something this runtime does not do (yet).
    #[error("unsupported in the container spec: {what}")]
    Unsupported {
        /// What, in the spec's words.
        what: String,
    },

    /// The overlay's options do not fit the one page the kernel accepts.
    #[error("overlay mount options are {len} bytes; the kernel takes at most 4095 (too many or too long layer paths)")]
    OverlayTooLong {
        /// Length of the option string.
        len: usize,
    },

    /// A file-system operation of the parent failed.
    #[error("{action} {path:?}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// A system call of the parent failed (pipes, clone3, waitid, kill).
    #[error("{call} failed")]
    Sys {
        /// The call.
        call: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// Setting up the container failed in its init, before the command was executed.
    #[error("container setup failed {step}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Setup {
        /// The step that failed.
        step: Step,
        /// The mount destination or other detail, when there is one.
        detail: Option<String>,
        /// The errno the child reported.
        #[source]
        source: io::Error,
    },

    /// The container's init died before reporting success or failure.
    #[error("the container's init exited before executing the command")]
    InitDied,

    /// The cgroup limits asked for cannot be applied on this machine or as this user.
    #[error("cgroup {controller} is not available: {reason}")]
    CgroupUnavailable {
        /// `memory`, `pids` or `cpu`.
        controller: &'static str,
        /// Why.
        reason: String,
    },

    /// The seccomp profile could not be compiled to BPF.
    #[error("compiling the seccomp profile: {reason}")]
    Seccomp {
        /// What is wrong with it.
        reason: String,
    },

    /// The kernel refused a user namespace (rootless run).
    #[error("writing the user namespace map {path:?}")]
    UserNamespace {
        /// The map file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// A `-p` port specification that does not parse.
    #[error("invalid port specification {spec:?}: {reason}")]
    InvalidPortSpec {
        /// The specification as given.
        spec: String,
        /// Why.
        reason: &'static str,
    },

    /// A published host port is in use (Docker's "port is already allocated").
    #[error("Bind for {addr} failed: port is already allocated ({protocol})")]
    PortAllocated {
        /// The host address and port.
        addr: std::net::SocketAddr,
        /// TCP or UDP.
        protocol: Protocol,
        /// The `bind` error.
        #[source]
        source: io::Error,
    },

    /// slirp4netns is installed but could not set up the container's outbound network.
    #[error("slirp4netns: {reason}")]
    Slirp4netns {
        /// What happened.
        reason: String,
    },

    /// A volume name Docker would refuse (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
    #[error("invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidVolumeName {
        /// The name.
        name: String,
    },

    /// No container in the store has this ID, ID prefix or name.
    #[error("no such container: {query}")]
    NoSuchContainer {
        /// The ID, prefix or name asked for.
        query: String,
    },

    /// An ID prefix matches several containers.
    #[error("multiple IDs found with provided prefix: {prefix} ({})", candidates.join(", "))]
    AmbiguousId {
        /// The prefix.
        prefix: String,
        /// The IDs it matches.
        candidates: Vec<String>,
    },

    /// The container name is taken.
    #[error("the container name \"/{name}\" is already in use by container \"{id}\"")]
    NameInUse {
        /// The name.
        name: String,
        /// The container that has it.
        id: String,
    },

    /// The container name is not `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
    #[error("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName {
        /// The name.
        name: String,
    },

    /// No volume of that name exists.
    #[error("no such volume: {name}")]
    NoSuchVolume {
        /// The name.
        name: String,
    },

    /// The volume is used by containers and removal was not forced.
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    VolumeInUse {
        /// The volume.
        name: String,
        /// IDs of the containers using it.
        users: Vec<String>,
    },

    /// `cp` could not copy a path into or out of a container.
    #[error("copying {path:?}")]
    Copy {
        /// The path (inside the container for its side, else on the host).
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// The operation needs a stopped container (remove without force, ...).
    #[error("cannot {action} container {id}: it is running (stop it first, or force)")]
    Running {
        /// What was refused.
        action: &'static str,
        /// The container.
        id: String,
    },

    /// The process a container is tied to ([`crate::CreateOptions::owner`]) has ended: at
    /// `create`, nothing was made; at `start`, the container was removed instead.
    #[error("the process {pid} that container {id} is tied to has ended")]
    OwnerGone {
        /// The container.
        id: String,
        /// The owner's PID.
        pid: u32,
    },

    /// The operation needs a running container (exec, kill).
    #[error("container {id} is not running")]
    NotRunning {
        /// The container.
        id: String,
    },

    /// An attachment was refused, or cut: too many clients, a client that did not keep up
    /// with the output, a resize without a terminal.
    #[error("attach to container {id}: {reason}")]
    Attach {
        /// The container.
        id: String,
        /// Why.
        reason: &'static str,
    },

    /// The attachment ended because its detach keys were typed ([`crate::DetachKeys`]); the
    /// container keeps running.
    #[error("detached from container {id} (read escape sequence); it keeps running")]
    Detached {
        /// The container.
        id: String,
    },

    /// A detach key sequence that Docker's format does not allow.
    #[error("invalid detach keys {keys:?}: {reason}")]
    InvalidDetachKeys {
        /// The text given.
        keys: String,
        /// Why.
        reason: &'static str,
    },

    /// A record of the container store cannot be read or written.
    #[error("container record {path:?}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// True when the error says the command could not be found or executed (Docker's exit
    /// codes 127/126 cases).
    pub fn is_exec_error(&self) -> bool {
        matches!(self, Error::ExecutableNotFound { .. } | Error::Exec { .. })
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(call: &'static str, source: impl Into<io::Error>) -> Self {
        Error::Sys {
            call,
            source: source.into(),
        }
    }
}
