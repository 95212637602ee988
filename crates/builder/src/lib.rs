//! boxwright-builder: a Dockerfile and a context become an OCI image in the layer store, with
//! Docker's layer cache — and every cache miss explained.
//!
//! [`Builder::build`] builds the stages a target needs (independent ones at once); each step's
//! cache key is made of its parent's key, the instruction after expansion, the build arguments
//! it reads, the base image's digest and, for `COPY`/`ADD`, the [`Checksum`] of the sources it
//! matched. A hit reuses the step's layer and config; a miss re-runs it and every step after
//! it, and says why ([`MissReason`]: the files, the build argument, the base image, the
//! instruction, or the step before it that missed first, with its own reason). Progress comes
//! as typed [`BuildEvent`]s; nothing is printed. `RUN` steps go through an [`Executor`], `FROM`
//! images the store lacks through an
//! [`ImageSource`]; [`RefuseRun`] and [`LocalOnly`] serve builds that need neither.
//!
//! ```
//! use std::sync::Arc;
//! use boxwright_builder::{BuildEvent, BuildRequest, Builder, DockerfileSource, LocalOnly, RefuseRun};
//! use boxwright_layer_store::Store;
//! # let tmp = tempfile::tempdir()?;
//! # let context = tmp.path().join("ctx");
//! # std::fs::create_dir_all(context.join("site"))?;
//! # std::fs::write(context.join("site/index.html"), "<h1>hi</h1>")?;
//! # let root = tmp.path().join("store");
//! let builder = Builder::new(Store::open(&root)?, Arc::new(RefuseRun), Arc::new(LocalOnly));
//! let dockerfile = "FROM scratch\nWORKDIR /srv\nCOPY site/ ./\nCMD [\"/bin/httpd\"]\n";
//! let mut request = BuildRequest::new(
//!     DockerfileSource::Text { name: "Dockerfile".into(), text: dockerfile.into() },
//!     &context,
//! );
//! request.tags = vec!["site:1".into()];
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! let first = rt.block_on(builder.build(request.clone(), None))?;
//!
//! // Nothing changed: every step comes from the cache, and the image is the same.
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let again = rt.block_on(builder.build(request, Some(tx)))?;
//! assert_eq!(again.image_id, first.image_id);
//! let mut cached = 0;
//! while let Ok(event) = rx.try_recv() {
//!     cached += matches!(event, BuildEvent::StepCached { .. }) as usize;
//! }
//! assert_eq!(cached, 3);
//! assert_eq!(builder.store().resolve("site:1")?.id, first.image_id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The context and its checksums
//!
//! [`Context`] is a build context directory with its `.dockerignore`;
//! [`Context::checksum`] is the blake3 [`Checksum`] of what a `COPY`/`ADD` of some source
//! patterns depends on (paths, kinds, modes, contents, link targets — not times or owners);
//! [`Checksum::changed_since`] names the paths that changed between two builds. A
//! [`StatCache`] saved between builds keeps an unchanged context from being read again.
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
//! # Where the builder keeps its state
//!
//! Under the store root: `cache/steps/<key>.json` (one record per step key: the image after
//! the step and its layer; written to a temporary file, fsynced and renamed, so concurrent
//! builds share them safely; a record whose layer blob is gone is a miss),
//! `cache/builds/<id>.json` (the inputs of the last build of each Dockerfile and target, to
//! explain misses), `cache/stat-cache`, `cache/mounts/` (`RUN --mount=type=cache`
//! directories), and staging directories under `tmp/` that are removed when dropped.
//!
//! # Collecting the cache
//!
//! The cache records are garbage-collection roots the builder owns: no image in the store's
//! `index.json` holds the layers of a step whose image was removed (or of a stage that is not
//! the target), so the store's own [`Store::gc`] would delete them and every step would miss.
//! [`Builder::gc`] collects the whole root under the store's gc lock: it drops the records whose
//! layers are gone and, with [`PruneOptions`], those unused for longer than `keep_duration` and
//! then the least recently used until the cache holds at most `keep_bytes` (its record files
//! and the layers only it references); then it runs the store's gc keeping the layers of the
//! records left. [`Builder::prune_cache`] only drops records. A record's last use is its file's
//! mtime, set when it is written and on every hit.
//!
//! [`Store::gc`]: boxwright_layer_store::Store::gc
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
//! # Compared with Docker
//!
//! `tests/docker_interop.rs` builds the same Dockerfiles with a private Debian `dockerd`
//! (20.10, BuildKit) and compares the images: file trees (type, mode, owner, link target,
//! content), the config and the history. As there: `WORKDIR` makes a layer (the directories
//! it creates, owned by the stage's `USER`, or an empty layer when the directory exists); a
//! layer keeps the directories it only passes through with their mode and owner in the parent
//! (a `COPY x /tmp/` leaves `/tmp` at 1777); a `RUN` leaves the `/proc`, `/dev` and `/sys` it
//! needed; the history's `COPY`/`ADD` text leaves out `--from`, `--chown` and `--chmod`, a
//! `RUN`'s names every declared `ARG` (`|2 A=1 B= …`), `HEALTHCHECK`'s is Go's `%q` of
//! Docker's `HealthConfig`, and `ONBUILD` writes no entry. Not compared: times, and heredocs
//! (Docker 20.10's frontend predates them).
//!
//! # Limitations
//!
//! - Not implemented (an error names them): `ADD` of URLs and git repositories (so
//!   `ADD --checksum`, which BuildKit allows only with them, always fails with BuildKit's
//!   own error), `COPY --from` with `--parents` or `--exclude`, `RUN --mount=type=ssh`, and
//!   `from=` on cache mounts. A cache mount's `sharing` is always `shared`.
//! - `COPY --link` makes its layer without reading the parent (a destination without a
//!   trailing `/` is a file even over a directory there) and its cache record serves any
//!   parent (a changed base keeps the layer, as BuildKit's rebased link layers); with
//!   `--chmod` (as BuildKit) or `--chown` names it is a plain COPY.
//! - A COPY destination without a trailing `/` is a file unless several sources, a wildcard or
//!   an existing directory at that path in the parent image make it a directory (a link to a
//!   directory there is not followed).
//! - Context files are hashed one after another (no parallel hashing).

#![forbid(unsafe_code)]

mod advice;
mod blocking;
mod builder;
mod cache;
mod cache_gc;
mod checksum;
mod chmod;
mod context;
mod copy;
mod copy_step;
mod error;
mod events;
mod executor;
mod glob;
mod hash;
mod image;
mod instr;
mod layer;
mod lower;
#[cfg(feature = "registry")]
mod registry_source;
mod render;
mod request;
mod resolve;
mod run;
#[cfg(feature = "runtime")]
mod runtime_executor;
mod source;
mod stages;
mod staging;
mod stat_cache;
mod step;
mod vars;
mod workdir;

pub use builder::Builder;
pub use cache_gc::{CacheGcReport, PruneOptions, PruneReport};
pub use checksum::Checksum;
pub use context::Context;
pub use error::{BuildError, ContextError};
pub use events::{BuildEvent, MissReason};
pub use executor::{
    Executor, ExecutorError, OutputSink, OutputStream, RefuseRun, RunRefused, RunStep, StepExit,
    StepMount, StepNetwork,
};
#[cfg(feature = "registry")]
pub use registry_source::{PullProgress, Pulled, RegistrySource, RegistrySourceError, StoreSink};
pub use render::{describe_miss, BuildProgress};
pub use request::{BuildRequest, BuildResult, DockerfileSource, NoCache, StepResult};
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
