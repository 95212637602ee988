//! The crate's one test binary (each extra binary would link the crate again): one module per
//! area, shared helpers in `common`. Run one area with e.g.
//! `cargo test -p boxwright-dockerfile-parser --test all fixtures::`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "all/common.rs"]
mod common;
#[path = "all/fixtures.rs"]
mod fixtures;
#[path = "all/instructions.rs"]
mod instructions;
#[path = "all/properties.rs"]
mod properties;
