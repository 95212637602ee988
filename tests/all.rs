//! The facade's behaviour tests, in one binary (each test binary links the crate again):
//! engines on temp roots, busybox (Debian's busybox-static) made into images, real
//! namespaces, a real Distribution registry (`/usr/bin/docker-registry`) on 127.0.0.1.
//! Shared fixtures live in `support`; each area is a module below.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "all/support.rs"]
mod support;

#[cfg(feature = "run")]
#[path = "all/containers.rs"]
mod containers;

#[cfg(feature = "build")]
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
