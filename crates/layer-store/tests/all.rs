//! The layer store's one test binary (each extra binary would link the crate again): one
//! module per area, shared helpers in `support` (and hand-made tars in `support::raw_tar`).
//! Run one area with e.g. `cargo test -p boxwright-layer-store --test all snapshot::`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "all/adopt.rs"]
mod adopt;
#[path = "all/apply.rs"]
mod apply;
#[path = "all/apply_hostile.rs"]
mod apply_hostile;
#[path = "all/archive.rs"]
mod archive;
#[path = "all/concurrency.rs"]
mod concurrency;
#[path = "all/create.rs"]
mod create;
#[path = "all/import.rs"]
mod import;
#[path = "all/interop.rs"]
mod interop;
#[path = "all/names.rs"]
mod names;
#[path = "all/roundtrip.rs"]
mod roundtrip;
#[path = "all/snapshot.rs"]
mod snapshot;
#[path = "all/store.rs"]
mod store;
#[path = "all/support/mod.rs"]
mod support;
