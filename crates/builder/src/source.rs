//! The `ImageSource` seam: brings a `FROM` image the store lacks into the store.
//!
//! The builder first resolves a `FROM` name in the layer store (a name, a digest or an image ID
//! prefix, as Docker does); only when the store lacks it does it ask its `ImageSource`. The
//! registry client implements this seam behind the builder's `registry` feature; [`LocalOnly`]
//! refuses, for builds that must not touch the network.

use async_trait::async_trait;
use boxwright_layer_store::{Platform, Store};

/// Why an image could not be brought into the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source does not have the image (a registry's 404, or [`LocalOnly`]).
    #[error("image {reference} not found{}", if *.local_only { " (locally; this build pulls nothing)" } else { "" })]
    NotFound {
        /// The name as the Dockerfile gave it, after expansion.
        reference: String,
        /// Whether only the local store was looked at.
        local_only: bool,
    },
    /// Fetching it failed (network, authentication, a corrupt blob, the store).
    #[error("pulling {reference} failed")]
    Pull {
        /// The name as the Dockerfile gave it, after expansion.
        reference: String,
        /// The source's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Brings images into the store.
///
/// Contract: [`pull`](ImageSource::pull) is called only for a name the store does not resolve.
/// On `Ok`, the store resolves `reference` for `platform` (its blobs are stored and verified,
/// and the name is tagged). On `Err`, nothing half-made is visible in the store (blobs may stay,
/// untagged, for the store's gc). It may be called for several names at once.
#[async_trait]
pub trait ImageSource: Send + Sync {
    /// Brings the image `reference` for `platform` into `store` and tags it with its name.
    async fn pull(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
    ) -> Result<(), SourceError>;
}

/// An [`ImageSource`] that has nothing: builds use only images already in the store.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalOnly;

#[async_trait]
impl ImageSource for LocalOnly {
    async fn pull(
        &self,
        _store: &Store,
        reference: &str,
        _platform: &Platform,
    ) -> Result<(), SourceError> {
        Err(SourceError::NotFound {
            reference: reference.to_string(),
            local_only: true,
        })
    }
}
