//! The runtime's behaviour tests, in one binary (each extra test binary links the crate
//! again): real containers over busybox root file systems, one module per area, shared
//! fixtures in `common`. Run one area with e.g.
//! `cargo test -p boxwright-runtime --test all cgroups::`; `tests/vm/cgroup2.sh` runs some of
//! these modules again on pure cgroup v2, in a VM.
//!
//! None of these tests changes the state of the process it runs in (its uid, signal mask,
//! rlimits, working directory): the rootless tests and one lifecycle test re-execute this
//! binary for a single test (`common::reexec`), and the uid changes in that child only. So
//! no test needs a binary of its own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[path = "all/common.rs"]
mod common;

#[path = "all/attach.rs"]
mod attach;
#[path = "all/cgroups.rs"]
mod cgroups;
#[path = "all/concurrency.rs"]
mod concurrency;
#[path = "all/cp.rs"]
mod cp;
#[path = "all/etc.rs"]
mod etc;
#[path = "all/fallback.rs"]
mod fallback;
#[path = "all/init.rs"]
mod init;
#[path = "all/isolation.rs"]
mod isolation;
#[path = "all/lifecycle.rs"]
mod lifecycle;
#[path = "all/owner.rs"]
mod owner;
#[path = "all/ports.rs"]
mod ports;
#[path = "all/rootless.rs"]
mod rootless;
#[path = "all/tty.rs"]
mod tty;
#[path = "all/volumes.rs"]
mod volumes;
