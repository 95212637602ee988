//! `docker pull`: [`Engine::pull`].

use boxwright_builder::PullProgress;
use boxwright_layer_store::Digest;
use boxwright_registry_client::Transferred;
use tokio::sync::mpsc::UnboundedSender;

use crate::engine::Engine;
use crate::error::{Error, Result};

/// What [`Engine::pull`] did: Docker's `Digest:` and `Status:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullReport {
    /// What the store now resolves: the full normalized name
    /// (`docker.io/library/busybox:latest`), or `NAME@DIGEST` for a pull by digest.
    pub name: String,
    /// The image ID of the platform pulled.
    pub id: Digest,
    /// The digest of the root manifest stored (what the registry serves the image by).
    pub digest: Digest,
    /// What moved: blobs moved and skipped (already in the store), bytes.
    pub transferred: Transferred,
}

impl PullReport {
    /// True when nothing had to be fetched but manifests (Docker's `Image is up to date`).
    pub fn up_to_date(&self) -> bool {
        self.transferred.blobs_moved == 0
    }
}

impl Engine {
    /// `docker pull NAME[:TAG|@DIGEST]`: the image for this engine's platform, fetched into
    /// the store (blobs it has are skipped, each blob verified) and tagged with the name
    /// (a pull by digest is kept untagged, found by that digest). Names are read as Docker
    /// reads them (`busybox` is `docker.io/library/busybox:latest`); credentials come from
    /// Docker's `config.json` (see [`Engine::login`]).
    ///
    /// `progress` receives every blob's events (started, bytes advanced, skipped, done) as
    /// they happen; a closed receiver is ignored.
    ///
    /// Errors are [`Error::Pull`]: print them with [`Error::report`] to see the root cause
    /// (`Connection refused`, `unauthorized`, `manifest unknown`).
    pub async fn pull(
        &self,
        reference: &str,
        progress: Option<UnboundedSender<PullProgress>>,
    ) -> Result<PullReport> {
        let source = match progress {
            Some(tx) => self.registry().clone().with_progress(tx),
            None => self.registry().clone(),
        };
        let pulled = source
            .pull_image(self.store(), reference, self.platform())
            .await
            .map_err(|e| Error::Pull {
                reference: reference.to_owned(),
                source: Box::new(e),
            })?;
        let image = self.image(&pulled.name).await?;
        Ok(PullReport {
            name: pulled.name,
            id: image.id,
            digest: pulled.transferred.root.digest().clone(),
            transferred: pulled.transferred,
        })
    }
}
