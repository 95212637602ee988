//! The facade's integration tests, one binary: each area a module under `tests/all/`, shared
//! helpers in `tests/all/support.rs`. Real parts only: namespaces and overlayfs (as root),
//! busybox from Debian's busybox-static, host programs, registries on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[path = "all/support.rs"]
mod support;

#[cfg(feature = "run")]
#[path = "all/containers.rs"]
mod containers;

#[cfg(feature = "run")]
#[path = "all/harness.rs"]
mod harness;

#[cfg(all(feature = "build", feature = "run"))]
#[path = "all/build.rs"]
mod build;
#[cfg(feature = "run")]
#[path = "all/commit.rs"]
mod commit;
#[path = "all/images.rs"]
mod images;
#[cfg(feature = "registry")]
#[path = "all/registry.rs"]
mod registry;

// `bw` as a user types it (the example needs every feature).
#[cfg(all(feature = "run", feature = "build", feature = "registry"))]
#[path = "all/bw.rs"]
mod bw;
