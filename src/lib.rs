//! boxwright: Docker as a workspace of Rust library crates.
//!
//! This is the facade: [`Engine`] wires the layer store, the container runtime, the builder
//! and the registry client together under one root, with Docker's verbs as async methods. The
//! parts stay usable alone: the Dockerfile parser ([`dockerfile`]), the layer store
//! ([`store`]), the container runtime ([`runtime`], feature `run`), the builder ([`builder`],
//! feature `build`) and the registry client ([`registry`], feature `registry`).
//!
//! ```
//! let file = boxwright::dockerfile::parse("FROM busybox\nCMD [\"sh\"]\n")?;
//! assert_eq!(file.instructions.len(), 2);
//! # Ok::<(), boxwright::dockerfile::Error>(())
//! ```
//!
//! # Features
//!
//! - `run` — containers (namespaces, overlayfs): what a test harness needs.
//! - `build` — [`Engine::build`]; its `RUN` steps need `run` too.
//! - `registry` — pull, push, login (HTTP and TLS); with it, `run` and `build` pull the images
//!   the store lacks.
//!
//! All three are on by default.

#[cfg(feature = "run")]
mod container;
mod engine;
mod error;
mod image;
// In src/registry/, named apart from the `registry` re-export of the client below.
#[cfg(feature = "registry")]
#[path = "registry/mod.rs"]
mod remote;

#[cfg(feature = "run")]
pub use container::{
    parse_signal, CommitOptions, ContainerConfig, ContainerDetails, PsFilter, PsOptions,
    RunOptions, VolumeSpec, ANNOTATION_CONFIG,
};

#[cfg(feature = "registry")]
pub use boxwright_builder::PullProgress;
// Build and host images (the `wip-build` helper's lines).
#[cfg(feature = "build")]
pub mod build;
mod hostimage;
pub use hostimage::HostImage;

// The test harness (the `wip-tharn` helper's lines).
#[cfg(feature = "run")]
mod harness;
#[cfg(feature = "run")]
pub use error::NotReady;
#[cfg(feature = "run")]
pub use harness::{Harness, TestContainer, WaitFor, DEFAULT_READY_TIMEOUT};

pub use engine::{Engine, ANNOTATION_IMAGE_ID, ANNOTATION_IMAGE_NAME};
pub use error::{BoxError, Error, Report, Result};
pub use image::{
    HistoryEntry, ImageInspect, ImagePruneOptions, ImagePruneReport, ImageSummary, ImportFrom,
    ImportOptions, Loaded, RmiLine, RootFs,
};
#[cfg(feature = "registry")]
pub use remote::{PullReport, PushProgress, PushReport, StoreSource};

#[cfg(feature = "build")]
pub use boxwright_builder as builder;
pub use boxwright_dockerfile_parser as dockerfile;
pub use boxwright_layer_store as store;
#[cfg(feature = "registry")]
pub use boxwright_registry_client as registry;
#[cfg(feature = "run")]
pub use boxwright_runtime as runtime;

/// The README's code blocks, compiled and run as doc tests so the README cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
