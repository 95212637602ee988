//! What can fail on the store's side of a registry pull (the registry's own failures are the
//! registry client's [`Error`](boxwright_registry_client::Error)).

use boxwright_layer_store::StoreError;

/// A failure of the layer store during a [`RegistrySource`](crate::RegistrySource) pull; it
/// is the `source` of a [`SourceError::Pull`](crate::SourceError::Pull).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrySourceError {
    /// The store refused a step (a lease, a blob, a tag).
    #[error("{step} failed")]
    Store {
        /// What was being done, e.g. `tagging docker.io/library/busybox:latest as sha256:…`.
        step: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// Work moved to the blocking pool failed there (an I/O error, or the task panicked or was
    /// cancelled).
    #[error("{step} failed")]
    Blocking {
        /// What was being done.
        step: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
