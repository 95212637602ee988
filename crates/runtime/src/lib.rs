//! boxwright-runtime: a daemonless namespace sandbox with Docker's container lifecycle (not yet
//! written).
//!
//! This crate will run containers from plain directories (overlay lower dirs and an upper dir, or
//! one directory) and an `oci-spec` runtime `Spec`: user, mount, pid, uts, ipc and net namespaces,
//! `pivot_root`, Docker's default capabilities and seccomp profile, cgroup limits (v1 and v2),
//! attached, detached and tty processes, exec, stop/kill/restart/rm, volumes, published ports
//! through a userspace proxy, logs, and `cp` in and out. It is safe to call from a multi-threaded
//! tokio program. The work is tracked as issue 4.
//!
//! Nothing is implemented yet. No API is offered until it is real.
