//! The facade's end-to-end tests, one binary: each area in its own module under `tests/all/`,
//! with the shared fixtures in `support`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "all/support.rs"]
mod support;

#[cfg(feature = "run")]
#[path = "all/containers.rs"]
mod containers;

#[cfg(feature = "run")]
#[path = "all/commit.rs"]
mod commit;
