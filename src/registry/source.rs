//! The layer store's blobs as the registry client's [`BlobSource`], so a push reads them where
//! they are (no copy through a temporary OCI layout).

use std::io;

use boxwright_layer_store::{BlobStore as _, Store};
use boxwright_registry_client::oci_spec::image::Digest;
use boxwright_registry_client::{BlobSource, SourceBlob};

/// A [`Store`]'s blobs as a [`BlobSource`] for the registry client's
/// [`push`](boxwright_registry_client::push): each blob is opened from its file in the store
/// and streamed as it is (the client hashes what it sends and the registry checks it).
///
/// It takes no lease: hold a [`Store::lease`] for the whole push, as
/// [`Engine::push`](crate::Engine::push) does, so a concurrent [`Store::gc`] cannot remove a
/// blob being sent.
#[derive(Debug, Clone)]
pub struct StoreSource {
    store: Store,
}

impl StoreSource {
    /// A source reading `store`'s blobs.
    pub fn new(store: Store) -> Self {
        StoreSource { store }
    }
}

#[async_trait::async_trait]
impl BlobSource for StoreSource {
    async fn open(&self, digest: &Digest) -> io::Result<SourceBlob> {
        // Digests are the same type on both sides (one oci-spec); the store checks the form.
        if !self.store.blobs().has(digest).map_err(io::Error::other)? {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("blob {digest} is not in the store"),
            ));
        }
        let path = self.store.blobs().path(digest).map_err(io::Error::other)?;
        let file = tokio::fs::File::open(&path).await?;
        let size = file.metadata().await?.len();
        Ok(SourceBlob {
            size,
            reader: Box::new(tokio::io::BufReader::with_capacity(1 << 20, file)),
        })
    }
}
