//! boxwright-registry-client: a verified, streaming client of the OCI distribution protocol.
//!
//! Modules, top-down (a line uses only itself and the lines below it):
//! - `transfer`: [`pull`], [`push`], [`copy`] of whole images, blobs in parallel
//! - `client/`: [`Client`], one file per protocol part (`login`, `manifests`, `tags`, `blobs`,
//!   `uploads` over `transport`, `challenges`, `tokens`, `response`)
//! - [`layout`] ([`OciDir`]), [`auth`] (credentials, challenges), [`manifest`], [`platform`]
//! - [`blob`] (sinks, sources, the verifier), `error`, [`reference`](mod@reference) (Docker's names)
//!
//! It pulls images from any OCI registry (Distribution, Harbor, GHCR, ECR, Docker Hub) into a
//! [`BlobSink`] and pushes them from a [`BlobSource`]; [`OciDir`], an OCI image layout
//! directory, is both. References are read as Docker reads them ([`reference::parse`]):
//!
//! ```
//! use boxwright_registry_client::reference;
//!
//! let r = reference::parse("busybox").unwrap();
//! assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
//! assert_eq!(reference::api_host(&r), "registry-1.docker.io");
//! let r = reference::parse("localhost:5000/team/app:v1").unwrap();
//! assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "team/app", Some("v1")));
//! let e = reference::parse("Team/App").unwrap_err();
//! assert!(e.reason.contains("lowercase"));
//! ```
//!
//! Pulling an image into an OCI layout and pushing it elsewhere:
//!
//! ```no_run
//! # async fn demo() -> Result<(), boxwright_registry_client::Error> {
//! use boxwright_registry_client::{pull, push, reference, Client, OciDir, PullOptions, PushOptions};
//!
//! let client = Client::new()?;
//! let layout = OciDir::create(std::path::Path::new("/tmp/busybox-oci")).await?;
//! let src = reference::parse("busybox:1.36")?;
//! let pulled = pull(&client, &src, &layout, &PullOptions::default()).await?;
//! layout.set_ref("1.36", &pulled.root).await?;
//! let dst = reference::parse("localhost:5000/mirror/busybox:1.36")?;
//! push(&client, &layout, &pulled.root, &dst, &PushOptions::default()).await?;
//! # Ok(()) }
//! ```
//!
//! # What it guarantees
//! - Every blob and manifest is sha256-checked while it streams; a blob reaches a sink's
//!   committed state only with a [`Verified`] proof that only this crate's verifier makes, so
//!   on a mismatch nothing is kept and the error names the expected and actual digests.
//!   Manifests over 4 MiB are refused.
//! - Blobs stream with memory bounded by the chunk size, never whole; they move
//!   `concurrency` at a time; pulls skip blobs the sink has, pushes skip blobs the registry
//!   has (`HEAD`) and can mount them from another repository.
//! - Transient failures (connection errors, 5xx, 429 with `Retry-After`) are retried with
//!   backoff; a download that breaks resumes with `Range`.
//! - Manifests are copied byte for byte, so digests are kept.
//! - Every public future is `Send`: [`pull`], [`push`], [`copy`] and the [`Client`] methods can
//!   run on `tokio::spawn` or inside an `async_trait` method.
//! - [`OciDir`] changes `index.json` under the index lock ([`layout::INDEX_LOCK`], an exclusive
//!   `flock` on `LAYOUT/index.json.lock`, the one boxwright's layer store takes too), so writers
//!   in separate processes never lose each other's tags.
//! - OCI 1.1 referrers: [`Client::referrers`] lists the artifacts (signatures, SBOMs) about a
//!   manifest, through the referrers API or, on registries without it, the referrers tag
//!   schema (`sha256-HEX`), which [`Client::put_manifest`] keeps up to date when it pushes a
//!   manifest with a `subject`.
//!
//! # Authentication
//! Anonymous, basic and bearer tokens (from the registry's `WWW-Authenticate` challenge,
//! cached per scope, renewed on 401). Credentials come from a [`Credentials`]:
//! [`StaticCredentials`] or [`DockerConfig`] (`~/.docker/config.json` with `auths`,
//! `credHelpers` and `credsStore`). [`login`] checks a credential against a registry and stores
//! it as `docker login` does (in `config.json`, or through the configured credential helper);
//! [`logout`] removes it.
//!
//! # Transport
//! HTTPS with rustls and the system's root certificates; plain HTTP for `localhost`,
//! `127.0.0.1` and `[::1]` (as Docker does) and for registries marked insecure with
//! [`ClientBuilder::insecure_registry`].
//!
//! # Limitations
//! - No OAuth2 identity-token (refresh token) exchange: a helper's identity token is sent as a
//!   basic password.
//! - sha256 only (the digest every registry speaks).

#![forbid(unsafe_code)]

pub mod auth;
pub mod blob;
mod client;
mod error;
pub mod layout;
pub mod manifest;
pub mod platform;
pub mod reference;
mod transfer;

pub use auth::{logout, Credential, Credentials, DockerConfig, StaticCredentials};
pub use blob::{BlobSink, BlobSource, BlobWriter, SourceBlob, Verified};
pub use client::{
    login, BlobPushed, BytesProgress, Client, ClientBuilder, UploadMode, DEFAULT_CHUNK_SIZE,
};
pub use error::{Error, Result};
pub use layout::OciDir;
pub use manifest::Manifest;
pub use transfer::{
    copy, pull, push, ProgressEvent, ProgressFn, ProgressKind, PullOptions, PushOptions,
    Transferred, DEFAULT_CONCURRENCY,
};

/// The `oci-spec` crate this crate's API speaks (`Reference`, `Descriptor`, `Digest`,
/// `Platform`).
pub use oci_spec;
