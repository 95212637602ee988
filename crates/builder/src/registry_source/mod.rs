//! The registry client as the builder's [`ImageSource`]: [`RegistrySource`] pulls a `FROM`
//! image straight into the layer store (through [`StoreSink`]) and tags it.
//!
//! Files, top-down: this one (the source, its options and progress), `sink` (the store's
//! blobs as the client's `BlobSink`), `error` (the store-side failures).

use std::sync::Arc;

use async_trait::async_trait;
use boxwright_layer_store::{BlobStore as _, Platform, Store, StoreError};
use boxwright_registry_client::oci_spec::distribution::Reference;
use boxwright_registry_client::oci_spec::image::Descriptor;
use boxwright_registry_client::{
    reference, Client, Credentials, DockerConfig, ProgressEvent, PullOptions, Transferred,
    DEFAULT_CONCURRENCY,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::source::{ImageSource, SourceError};

mod error;
mod sink;

pub use error::RegistrySourceError;
pub use sink::StoreSink;

/// A progress event of one blob of a pull, with the image it belongs to (a build may pull
/// several `FROM` images at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullProgress {
    /// The name as the Dockerfile gave it, after expansion.
    pub reference: String,
    /// The registry client's event (started, advanced, skipped, done), with bytes and total.
    pub event: ProgressEvent,
}

/// What [`RegistrySource::pull_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// What the store now resolves: the full normalized name
    /// (`docker.io/library/busybox:latest`), or `NAME@DIGEST` for a reference by digest (kept
    /// untagged, found by its digest).
    pub name: String,
    /// What moved: the root manifest stored, blobs moved and skipped, bytes.
    pub transferred: Transferred,
}

/// Pulls `FROM` images from their registries into the layer store: the builder's
/// [`ImageSource`] when the `registry` feature is on.
///
/// Names are read as Docker reads them (`busybox` is `docker.io/library/busybox:latest`); an
/// index is resolved to the build's platform; every blob streams into the store, verified, under
/// a [`Store::lease`] held until the name is tagged, so [`Store::resolve_for`] then finds it.
/// Blobs the store has are not fetched again. `localhost`, `127.0.0.1` and `[::1]` registries
/// are spoken to in plain HTTP, as Docker does; other plain-HTTP registries need a client built
/// with [`ClientBuilder::insecure_registry`](boxwright_registry_client::ClientBuilder::insecure_registry).
///
/// Errors: [`SourceError::NotFound`] when the registry has no such manifest (404),
/// [`SourceError::Pull`] otherwise, whose `source()` is the registry client's
/// [`Error`](boxwright_registry_client::Error) or a [`RegistrySourceError`], with their causes.
///
/// # Limitations
/// - A name is tagged to the manifest of the platform pulled, not to the registry's index:
///   pulling the same name for another platform moves the tag (as Docker's classic image
///   store does).
/// - A reference by digest is kept as an untagged entry (found by that digest), so a
///   [`Store::gc`] with `prune_dangling` drops it. When the digest names an index, the index
///   is stored with only the build platform's manifest and blobs, and [`Store::fsck`] reports
///   its other manifests missing.
///
/// ```no_run
/// use boxwright_builder::{ImageSource, RegistrySource};
/// use boxwright_layer_store::{platform, Store};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::open("/var/lib/boxwright")?;
/// // Credentials from ~/.docker/config.json, as `docker pull` reads them.
/// let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
/// let source = RegistrySource::new()?.with_progress(tx);
/// tokio::spawn(async move {
///     while let Some(p) = events.recv().await {
///         tracing::info!(image = %p.reference, blob = %p.event.digest, bytes = p.event.bytes);
///     }
/// });
/// source.pull(&store, "busybox:1.36", &platform::host()).await?;
/// let image = store.resolve("busybox:1.36")?;
/// tracing::info!(id = %image.id, "pulled");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RegistrySource {
    client: Client,
    concurrency: usize,
    progress: Option<UnboundedSender<PullProgress>>,
}

impl RegistrySource {
    /// A source whose credentials come from `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json` (`auths`, `credHelpers`, `credsStore`), as Docker's; a missing
    /// file means anonymous pulls. Fails on a config file that cannot be read or parsed.
    pub fn new() -> Result<Self, boxwright_registry_client::Error> {
        Self::with_credentials(Arc::new(DockerConfig::load()?))
    }

    /// A source with the given credentials (e.g. a
    /// [`StaticCredentials`](boxwright_registry_client::StaticCredentials)).
    pub fn with_credentials(
        credentials: Arc<dyn Credentials>,
    ) -> Result<Self, boxwright_registry_client::Error> {
        Ok(Self::with_client(
            Client::builder().credentials(credentials).build()?,
        ))
    }

    /// A source over a client made by the caller (credentials, insecure registries, retries);
    /// clones of a client share its connections and tokens.
    pub fn with_client(client: Client) -> Self {
        RegistrySource {
            client,
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
        }
    }

    /// Blobs fetched at once ([`DEFAULT_CONCURRENCY`] unless set; at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sends every blob's progress events to `events` (a closed receiver is ignored).
    pub fn with_progress(mut self, events: UnboundedSender<PullProgress>) -> Self {
        self.progress = Some(events);
        self
    }

    /// The registry client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// [`ImageSource::pull`], saying what moved.
    pub async fn pull_image(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
    ) -> Result<Pulled, SourceError> {
        let fail = |source: Box<dyn std::error::Error + Send + Sync>| SourceError::Pull {
            reference: reference.to_string(),
            source,
        };
        let parsed = reference::parse(reference).map_err(|e| fail(Box::new(e)))?;
        let lease = {
            let store = store.clone();
            run_blocking("taking a lease on the store", move || store.lease()).await
        }
        .map_err(|e| fail(Box::new(e)))?;
        let options = PullOptions {
            platform: Some(platform.clone()),
            concurrency: self.concurrency,
            progress: self.progress.clone().map(|tx| {
                let reference = reference.to_string();
                Arc::new(move |event: &ProgressEvent| {
                    let _ = tx.send(PullProgress {
                        reference: reference.clone(),
                        event: event.clone(),
                    });
                }) as boxwright_registry_client::ProgressFn
            }),
        };
        let sink = StoreSink::new(store.clone());
        // Dropping this future stops the pull: its blob writers are dropped, so nothing it
        // staged is kept.
        let transferred = boxwright_registry_client::pull(&self.client, &parsed, &sink, &options)
            .await
            .map_err(|e| classify(reference, e))?;
        let name = self
            .name(store, &parsed, &transferred.root)
            .await
            .map_err(|e| match e {
                PullFailed::Registry(e) => fail(Box::new(e)),
                PullFailed::Store(e) => fail(Box::new(e)),
            })?;
        drop(lease);
        tracing::debug!(
            %reference, %name,
            moved = transferred.blobs_moved,
            skipped = transferred.blobs_skipped,
            bytes = transferred.bytes_moved,
            "pulled"
        );
        Ok(Pulled { name, transferred })
    }

    /// Makes the pulled image findable by `parsed`: a tag for a name, an untagged entry for a
    /// digest (with the index it names, when the registry's root was an index resolved to one
    /// platform).
    async fn name(
        &self,
        store: &Store,
        parsed: &Reference,
        root: &Descriptor,
    ) -> Result<String, PullFailed> {
        let store = store.clone();
        let Some(digest) = parsed.digest() else {
            let name = parsed.to_string();
            let root = root.clone();
            let step = format!("tagging {name} as {}", root.digest());
            return run_blocking(&step.clone(), move || store.tag(&root, &name))
                .await
                .map_err(PullFailed::Store);
        };
        let name = parsed.to_string();
        let mut target = root.clone();
        if target.digest().as_ref() != digest {
            // The digest names an index; keep its bytes (verified against the digest) so the
            // name resolves; its other platforms' manifests are not pulled.
            let index = self
                .client
                .get_manifest(parsed)
                .await
                .map_err(PullFailed::Registry)?;
            target = index.descriptor();
            let bytes = index.bytes().to_vec();
            let store = store.clone();
            run_blocking(&format!("storing index {}", target.digest()), move || {
                Ok(store.blobs().write_all(&bytes).map(|_| ())?)
            })
            .await
            .map_err(PullFailed::Store)?;
        }
        let step = format!("recording {name}");
        run_blocking(&step, move || store.add_untagged(&target))
            .await
            .map_err(PullFailed::Store)?;
        Ok(name)
    }
}

/// A failure of the registry or of the store, before it becomes a [`SourceError`].
enum PullFailed {
    Registry(boxwright_registry_client::Error),
    Store(RegistrySourceError),
}

/// Runs a store call on the blocking pool, naming the step in its error.
async fn run_blocking<T, F>(step: &str, f: F) -> Result<T, RegistrySourceError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(RegistrySourceError::Store {
            step: step.to_string(),
            source,
        }),
        Err(join) => Err(RegistrySourceError::Blocking {
            step: step.to_string(),
            source: std::io::Error::other(join),
        }),
    }
}

/// A registry's "no such manifest" is [`SourceError::NotFound`]; everything else (a missing
/// blob included) is a failed pull.
fn classify(reference: &str, e: boxwright_registry_client::Error) -> SourceError {
    let manifest_missing = matches!(
        &e,
        boxwright_registry_client::Error::Status { status: 404, url, .. } if url.contains("/manifests/")
    );
    if manifest_missing {
        tracing::debug!(%reference, error = %e, "not in the registry");
        SourceError::NotFound {
            reference: reference.to_string(),
            local_only: false,
        }
    } else {
        SourceError::Pull {
            reference: reference.to_string(),
            source: Box::new(e),
        }
    }
}

#[async_trait]
impl ImageSource for RegistrySource {
    async fn pull(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
    ) -> Result<(), SourceError> {
        self.pull_image(store, reference, platform)
            .await
            .map(|_| ())
    }
}
