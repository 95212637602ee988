//! boxwright-builder: Dockerfile to image with a layer cache — today, its build context.
//!
//! What is here: [`Context`], a build context directory with its `.dockerignore`, and
//! [`Context::checksum`], the blake3 [`Checksum`] of what a `COPY`/`ADD` of some source
//! patterns depends on (paths, kinds, modes, contents, link targets — not times or owners),
//! which the builder's cache keys will be made of; [`Checksum::changed_since`] names the paths
//! that changed between two builds. A [`StatCache`] saved between builds keeps an unchanged
//! context from being read again.
//!
//! ```
//! use boxwright_builder::{Context, StatCache};
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path();
//! # std::fs::create_dir(dir.join("src"))?;
//! # std::fs::write(dir.join("src/main.js"), "console.log(1)")?;
//! # std::fs::write(dir.join("src/debug.log"), "noise")?;
//! # std::fs::write(dir.join("package.json"), "{}")?;
//! # std::fs::write(dir.join(".dockerignore"), "**/*.log\n")?;
//! # let cache_file = dir.join("stat-cache");
//! let context = Context::open(dir)?;
//! let mut cache = StatCache::load(&cache_file); // empty when missing or corrupt
//! let before = context.checksum(&["package.json", "src"], &mut cache)?;
//! cache.save(&cache_file)?;
//!
//! std::fs::write(dir.join("src/main.js"), "console.log(2)")?;
//! std::fs::write(dir.join("src/debug.log"), "ignored")?; // .dockerignore'd
//! let after = context.checksum(&["package.json", "src"], &mut cache)?;
//! assert_ne!(before.digest(), after.digest());
//! assert_eq!(after.changed_since(&before), ["src/main.js"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What leaves the context
//!
//! Nothing. As in BuildKit (whose COPY sets `FollowSymlinks` and cleans a source with
//! `filepath.Join("/", src)`): `..` stops at the context root; links in a source path are
//! followed but resolved inside the context (an absolute target starts from the context root);
//! links inside a copied directory are recorded as links. Files are opened with `O_NOFOLLOW`.
//!
//! # The stat cache
//!
//! Save it under the store root's `cache/` directory. A record is trusted only when the file's
//! mtime and ctime are [`DEFAULT_RACY_WINDOW`] older than the moment it was hashed, so a write
//! landing in the same timestamp granule as the hashing is still seen. Records are never
//! dropped on their own: call [`StatCache::retain`] to prune.
//!
//! # Not yet here
//!
//! The builder itself: per-stage ARG/ENV expansion, the stage DAG, cache keys and their
//! store, RUN through an `Executor` seam, FROM through an `ImageSource` seam, layers written
//! to the store, and the explanation of each cache miss.
//!
//! Context checksums do not yet cover `ADD` of URLs or git repositories, `COPY --from`, nor
//! `--exclude` and `--parents`; files are hashed one after another (no parallel hashing).

#![forbid(unsafe_code)]

mod checksum;
mod context;
mod error;
mod executor;
mod glob;
mod hash;
#[cfg(feature = "registry")]
mod registry_source;
mod resolve;
#[cfg(feature = "runtime")]
mod runtime_executor;
mod source;
mod stat_cache;

pub use checksum::Checksum;
pub use context::Context;
pub use error::ContextError;
pub use executor::{
    Executor, ExecutorError, OutputSink, OutputStream, RunStep, StepExit, StepMount, StepNetwork,
};
#[cfg(feature = "registry")]
pub use registry_source::{PullProgress, Pulled, RegistrySource, RegistrySourceError, StoreSink};
#[cfg(feature = "runtime")]
pub use runtime_executor::{RuntimeExecutor, RuntimeExecutorError};
pub use source::{ImageSource, LocalOnly, SourceError};
pub use stat_cache::{StatCache, DEFAULT_RACY_WINDOW};

/// The registry client this crate's [`RegistrySource`] speaks (its [`Client`] builder,
/// credentials, progress events), re-exported so callers use the same version.
///
/// [`Client`]: boxwright_registry_client::Client
#[cfg(feature = "registry")]
pub use boxwright_registry_client as registry_client;
