//! The crate's behaviour tests, in one binary (each test binary links the crate again): a real
//! Distribution registry (`/usr/bin/docker-registry`) started on 127.0.0.1 per test, a
//! fault-injecting proxy in front of it, OCI layouts in temp dirs, and skopeo to compare with.
//! Shared fixtures live in `common`; each module below was once its own binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "all/faults.rs"]
mod faults;
#[path = "all/layout_copy.rs"]
mod layout_copy;
#[path = "all/layout_index.rs"]
mod layout_index;
#[path = "all/login.rs"]
mod login;
#[path = "all/referrers.rs"]
mod referrers;
#[path = "all/registry.rs"]
mod registry;
#[path = "all/send.rs"]
mod send;
#[path = "all/skopeo.rs"]
mod skopeo;
