//! The builder's one test binary: one module per area, real files in temp dirs, shared
//! helpers in `support`. Run one area with e.g. `cargo test -p boxwright-builder --test all stat_cache::`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "all/build.rs"]
mod build;
#[path = "all/cache_gc.rs"]
mod cache_gc;
#[path = "all/context.rs"]
mod context;
#[path = "all/copy_flags.rs"]
mod copy_flags;
#[path = "all/stat_cache.rs"]
mod stat_cache;
#[path = "all/support.rs"]
mod support;
