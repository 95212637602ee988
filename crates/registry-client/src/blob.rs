//! The seams for where pulled blobs go ([`BlobSink`]) and where pushed blobs come from
//! ([`BlobSource`]), and the proof that content was verified ([`Verified`]).

use std::io;

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};

/// Proof that a blob's bytes hashed to `digest` and counted `size`.
///
/// Only this crate's verifier can make one, so a [`BlobWriter`] that receives it knows the
/// bytes it was given are the blob they claim to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    digest: Digest,
    size: u64,
}

impl Verified {
    /// The digest the bytes hashed to.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// How many bytes there were.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Where pulled blobs (layers, configs, manifests) go: an OCI layout directory ([`crate::OciDir`]),
/// a layer store through an adapter, memory in a test.
///
/// Contract: [`BlobSink::create`] returns a writer that receives the blob's bytes in order,
/// exactly once each. The blob becomes visible (to [`BlobSink::has`] and to anyone reading the
/// sink) only when [`BlobWriter::commit`] is called with the [`Verified`] proof; a writer that
/// is dropped or aborted leaves nothing behind. Several writers, for different digests, may be
/// open at once; two writers for one digest may race, and the second commit must then be
/// harmless.
#[async_trait::async_trait]
pub trait BlobSink: Send + Sync {
    /// Whether the sink already holds the blob (then a pull does not fetch it).
    async fn has(&self, digest: &Digest) -> io::Result<bool>;

    /// A writer for the blob `digest`, expected to be `size` bytes.
    async fn create(&self, digest: &Digest, size: u64) -> io::Result<Box<dyn BlobWriter>>;
}

/// A blob being written into a [`BlobSink`]; see there for the contract.
#[async_trait::async_trait]
pub trait BlobWriter: AsyncWrite + Send + Unpin {
    /// Makes the blob visible, once its bytes are proven to be the blob.
    async fn commit(self: Box<Self>, verified: Verified) -> io::Result<()>;

    /// Discards what was written. Dropping the writer must do the same; this is the way to do
    /// it without blocking in `Drop`.
    async fn abort(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// A blob opened for reading from a [`BlobSource`].
pub struct SourceBlob {
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
}

impl std::fmt::Debug for SourceBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceBlob")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Where pushed blobs come from: an OCI layout directory ([`crate::OciDir`]), a layer store
/// through an adapter.
///
/// [`BlobSource::open`] may be called more than once for one digest (a retried upload reads
/// the blob again from the start), and concurrently for different digests.
#[async_trait::async_trait]
pub trait BlobSource: Send + Sync {
    /// Opens the blob `digest`: its size and a reader of its bytes from the start.
    async fn open(&self, digest: &Digest) -> io::Result<SourceBlob>;
}

/// Hashes bytes as they pass and checks them against a descriptor's digest and size.
pub(crate) struct Verifier {
    hasher: Sha256,
    size: u64,
}

impl Verifier {
    pub(crate) fn new() -> Self {
        Verifier {
            hasher: Sha256::new(),
            size: 0,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Checks what was seen against `expected` (and `expected_size` if known). `what` names
    /// the content in an error.
    pub(crate) fn finish(
        self,
        what: &str,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> crate::Result<Verified> {
        if let Some(want) = expected_size {
            if want != self.size {
                return Err(crate::Error::SizeMismatch {
                    digest: expected.to_string(),
                    expected: want,
                    actual: self.size,
                });
            }
        }
        let actual = sha256_digest_of(self.hasher);
        if actual.as_ref() != expected.as_ref() {
            return Err(crate::Error::DigestMismatch {
                what: what.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(Verified {
            digest: actual,
            size: self.size,
        })
    }
}

fn sha256_digest_of(hasher: Sha256) -> Digest {
    let hex = hex(&hasher.finalize());
    // A sha256 of 64 lowercase hex digits is always a valid digest.
    Digest::try_from(format!("sha256:{hex}")).unwrap_or_else(|_| unreachable_digest())
}

#[allow(clippy::unreachable)]
fn unreachable_digest() -> Digest {
    unreachable!("sha256 hex is a valid digest")
}

/// The sha256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(bytes);
    sha256_digest_of(h)
}

/// Verifies in-memory content against `expected`.
pub(crate) fn verify_bytes(what: &str, bytes: &[u8], expected: &Digest) -> crate::Result<Verified> {
    let mut v = Verifier::new();
    v.update(bytes);
    v.finish(what, expected, None)
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// The hex part of a sha256 digest, if it is one (`None` for other algorithms or malformed
/// digests, which the crate refuses to use as file names).
pub(crate) fn sha256_hex(digest: &Digest) -> Option<&str> {
    let s: &str = digest.as_ref();
    crate::reference::is_sha256_digest(s).then(|| &s[7..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_refuses() {
        let d = sha256(b"hello");
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(verify_bytes("x", b"hello", &d).is_ok());
        let e = verify_bytes("x", b"hellO", &d).unwrap_err();
        assert!(e.is_verification());
        assert!(e.to_string().contains("expected sha256:2cf2"));
        let mut v = Verifier::new();
        v.update(b"hello");
        assert!(matches!(
            v.finish("x", &d, Some(6)),
            Err(crate::Error::SizeMismatch { .. })
        ));
    }
}
