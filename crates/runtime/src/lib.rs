//! boxwright-runtime: a daemonless namespace sandbox that runs Docker-style isolated containers
//! from plain directories, safe to start from a multi-threaded tokio program.
//!
//! A container is an `oci-spec` runtime [`Spec`](oci_spec::runtime::Spec) over a [`RootFs`]
//! (one directory, or overlay lower dirs plus the container's upper dir). [`Container::builder`]
//! writes the spec `docker run` would: user (rootless only), mount, PID, UTS, IPC, network and
//! cgroup namespaces; overlayfs and `pivot_root`; `/proc`, a tmpfs `/dev` with `null`, `zero`,
//! `full`, `random`, `urandom`, `tty`, `pts`, `shm` and `mqueue`; read-only `/sys`; Docker's
//! masked and read-only paths; Docker's default capabilities with the bounding set dropped,
//! `no_new_privs` and Docker's default seccomp profile; rlimits; memory, pids and cpu limits on
//! cgroup v2 and v1. The command runs **as PID 1** of its PID namespace, attached: its stdout
//! and stderr are async streams, its exit status is reported as Docker does (137 for `SIGKILL`).
//!
//! ```no_run
//! # async fn run() -> Result<(), boxwright_runtime::Error> {
//! use boxwright_runtime::{Container, Network};
//!
//! let out = Container::builder("/path/to/rootfs")
//!     .cmd(["sh", "-c", "echo hello from $(hostname)"])
//!     .env("GREETING", "hi")
//!     .hostname("box")
//!     .network(Network::None)
//!     .memory(64 << 20)
//!     .pids_limit(64)
//!     .build()?
//!     .output()
//!     .await?;
//! assert_eq!(out.stdout, b"hello from box\n");
//! assert!(out.status.success());
//! # Ok(()) }
//! ```
//!
//! # How a container starts, and why it is safe in a threaded program
//!
//! Everything the container's init needs — paths, mount options, argv and envp, the `$PATH`
//! candidates of the command, capability masks, rlimits (never above the caller's hard limit),
//! the seccomp BPF — is prepared first. Then one `clone3` with the namespace flags and
//! `CLONE_PIDFD` starts the init; it makes only raw, async-signal-safe system calls on that
//! prepared data (never allocation or a lock, which a `fork` of a threaded process can deadlock
//! on), reports a failure as *(step, errno)* on a close-on-exec pipe — which becomes a typed
//! [`Error`] such as `exec: "node": executable file not found in $PATH` — and ends in `execve`
//! of the command itself. There is no runtime binary re-executed inside the container, so the
//! runc CVE-2019-5736 class (overwriting the host runtime through `/proc/self/exe`) has nothing
//! to aim at; every descriptor above 2 is made close-on-exec with `close_range` just before
//! `execve` (the CVE-2024-21626 class); every mount destination is resolved inside the root
//! with `openat2(RESOLVE_IN_ROOT)`, so an image's symlinks cannot send a mount to the host.
//! Waiting uses the pidfd (readable on exit) through tokio's `AsyncFd`, so no `SIGCHLD`
//! handler is needed and a recycled PID is never signalled.
//!
//! Rootless (an unprivileged caller): a user namespace maps the caller to root inside; the
//! init waits on a pipe until the parent has written `uid_map`/`gid_map` (with `setgroups`
//! denied); device nodes are bound from the host rather than created. cgroup limits need a
//! writable cgroup tree and are refused otherwise.
//!
//! # Limitations (this release)
//!
//! - Attached runs only: detached containers, logs, exec, tty, the on-disk lifecycle (create,
//!   start, stop, rm, ps from another process), volumes, published ports and `cp` are later work.
//! - `Network::Private` is a network namespace with loopback only (like `Network::None`).
//! - No `/sys/fs/cgroup` view inside the container; no `/etc/hosts`, `/etc/resolv.conf` or
//!   `/etc/hostname` bind mounts yet.
//! - Seccomp filters only the native architecture (see [`seccomp_docker_default`]).
//! - No `--init` process yet: the command is PID 1 and must reap its own children.

mod caps;
mod cgroup;
mod child;
mod container;
mod error;
mod plan;
mod rootfs;
mod seccomp;
mod sys;

pub use caps::docker_default as docker_default_capabilities;
pub use child::Child;
pub use child::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output, Stdio};
pub use container::{
    default_mounts, Container, ContainerBuilder, Network, DEFAULT_PATH, MASKED_PATHS,
    READONLY_PATHS,
};
pub use error::Error;
pub use plan::Step;
pub use rootfs::RootFs;
pub use seccomp::docker_default as seccomp_docker_default;

/// The `oci-spec` crate this runtime speaks, re-exported so callers use the same version.
pub use oci_spec;
