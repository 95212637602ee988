//! boxwright: Docker as a workspace of Rust library crates.
//!
//! This is the facade: it re-exports the parts that exist, and will wire the default engine
//! (store + runtime + builder + registry) once those crates are written. Today it offers the
//! Dockerfile parser ([`dockerfile`]), the layer store ([`store`]), the container runtime
//! ([`runtime`]) and the registry client ([`registry`]):
//!
//! ```
//! let file = boxwright::dockerfile::parse("FROM busybox\nCMD [\"sh\"]\n")?;
//! assert_eq!(file.instructions.len(), 2);
//! # Ok::<(), boxwright::dockerfile::Error>(())
//! ```

pub use boxwright_dockerfile_parser as dockerfile;
pub use boxwright_layer_store as store;
pub use boxwright_registry_client as registry;
pub use boxwright_runtime as runtime;

/// The README's code blocks, compiled and run as doc tests so the README cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
