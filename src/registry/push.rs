//! `docker push`: [`Engine::push`].

use std::sync::Arc;

use boxwright_layer_store::{BlobStore as _, Image, Store};
use boxwright_registry_client::oci_spec::image::Descriptor;
use boxwright_registry_client::{reference, ProgressEvent, ProgressFn, PushOptions, Transferred};
use tokio::sync::mpsc::UnboundedSender;

use super::source::StoreSource;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// A progress event of one blob of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushProgress {
    /// The name pushed, as given.
    pub reference: String,
    /// The registry client's event (started, advanced, skipped when the registry has the
    /// blob, mounted, done), with bytes and total.
    pub event: ProgressEvent,
}

/// What [`Engine::push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushReport {
    /// The full reference pushed to (`localhost:5000/app:latest`).
    pub reference: String,
    /// The digest of the root manifest (or index) pushed: Docker's `digest:` line.
    pub digest: boxwright_layer_store::Digest,
    /// What moved: blobs uploaded, skipped (the registry had them), bytes.
    pub transferred: Transferred,
}

impl Engine {
    /// `docker push NAME[:TAG]`: the image `name` names in the store, to the registry and
    /// repository the name says (`localhost:5000/app:v1`; a name without a registry goes to
    /// Docker Hub, as with Docker), tagged there with the name's tag (`latest` if none).
    /// Blobs the registry has are skipped; the blobs stream from the store's files.
    ///
    /// The store's top-level blob is pushed as it is: an index of platforms when the store
    /// holds every manifest it lists, else this engine's platform's manifest. Credentials
    /// come from Docker's `config.json` (see [`Engine::login`]); `progress` receives every
    /// blob's events.
    ///
    /// Difference from Docker: an image is pushed by the name given only (Docker's
    /// `--all-tags` is not offered).
    pub async fn push(
        &self,
        name: &str,
        progress: Option<UnboundedSender<PushProgress>>,
    ) -> Result<PushReport> {
        let fail = |source: crate::error::BoxError| Error::Push {
            reference: name.to_owned(),
            source,
        };
        let parsed = reference::parse(name).map_err(|e| fail(Box::new(e)))?;
        let image = self.image(name).await?;
        let (lease, root) = self
            .blocking(move |e| {
                let lease = e.store().lease()?;
                let root = push_root(e.store(), &image)?;
                Ok((lease, root))
            })
            .await?;
        let options = PushOptions {
            progress: progress.map(|tx| {
                let reference = name.to_owned();
                Arc::new(move |event: &ProgressEvent| {
                    let _ = tx.send(PushProgress {
                        reference: reference.clone(),
                        event: event.clone(),
                    });
                }) as ProgressFn
            }),
            ..PushOptions::default()
        };
        let source = StoreSource::new(self.store().clone());
        let client = self.registry().client();
        let pushed = boxwright_registry_client::push(client, &source, &root, &parsed, &options)
            .await
            .map_err(|e| fail(Box::new(e)))?;
        drop(lease);
        tracing::debug!(
            reference = %parsed,
            moved = pushed.blobs_moved,
            skipped = pushed.blobs_skipped,
            "pushed"
        );
        Ok(PushReport {
            reference: parsed.to_string(),
            digest: pushed.root.digest().clone(),
            transferred: pushed,
        })
    }
}

/// What to push for `image`: its index when the store holds every manifest the index lists,
/// else the platform's manifest.
fn push_root(store: &Store, image: &Image) -> Result<Descriptor> {
    if image.target.digest() == &image.manifest_digest {
        return Ok(image.target.clone());
    }
    let index = store.index(image.target.digest())?;
    let mut platform_manifest = None;
    let mut complete = true;
    for child in index.manifests() {
        if child.digest() == &image.manifest_digest {
            platform_manifest = Some(child.clone());
        }
        complete &= store
            .blobs()
            .has(child.digest())
            .map_err(boxwright_layer_store::StoreError::Blob)?;
    }
    match platform_manifest {
        Some(manifest) if !complete => Ok(manifest),
        _ => Ok(image.target.clone()),
    }
}
