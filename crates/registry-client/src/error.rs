//! The crate's error type. Each variant's message says what failed (URL, digest, path);
//! the underlying error, if any, is its `source()`, not repeated in the message.

use std::path::PathBuf;

/// Everything that can go wrong talking to a registry or moving blobs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An image reference that is not valid, and why.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// The connection failed or broke (after the retries allowed).
    #[error("{method} {url}: request failed")]
    Http {
        /// HTTP method of the request.
        method: String,
        /// URL of the request.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with a status the operation does not accept.
    #[error("{method} {url}: registry answered {status}{}", detail_suffix(.detail))]
    Status {
        /// HTTP method of the request.
        method: String,
        /// URL of the request.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the body (the registry's error JSON, if any).
        detail: String,
    },
    /// The registry wants credentials that were not given or were refused.
    #[error("{url}: unauthorized ({status}){}", detail_suffix(.detail))]
    Unauthorized {
        /// URL of the request.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The registry's explanation.
        detail: String,
    },
    /// Content whose sha256 is not the one it was asked for by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being read (a URL or a path).
        what: String,
        /// The digest that was asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// Content whose length is not the one its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// The size in the descriptor.
        expected: u64,
        /// The bytes received (so far).
        actual: u64,
    },
    /// A manifest larger than the 4 MiB the distribution spec allows.
    #[error("manifest {what} is larger than {limit} bytes")]
    ManifestTooLarge {
        /// The manifest's URL or digest.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A manifest or index that cannot be parsed, or whose media type is not one we know.
    #[error("invalid manifest {what}: {reason}")]
    InvalidManifest {
        /// The manifest's URL or digest.
        what: String,
        /// Why it is refused.
        reason: String,
    },
    /// No manifest in an index is for the platform asked for.
    #[error("no manifest for platform {platform} in {reference} (it has: {available})")]
    NoMatchingPlatform {
        /// The platform asked for.
        platform: String,
        /// The index's reference.
        reference: String,
        /// The platforms the index lists.
        available: String,
    },
    /// A `WWW-Authenticate` challenge or token answer we cannot use.
    #[error("authentication with {registry} failed: {reason}")]
    Auth {
        /// The registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// Credentials could not be read (config file, credential helper).
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// A blob sink or source failed for a blob.
    #[error("blob {digest}: sink or source i/o failed")]
    Blob {
        /// The blob's digest.
        digest: String,
        /// The I/O error from the sink or source.
        #[source]
        source: std::io::Error,
    },
    /// A file of an OCI image layout could not be read or written.
    #[error("{}: i/o failed", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An OCI image layout whose `index.json` or `oci-layout` is not valid.
    #[error("{}: {reason}", .path.display())]
    Layout {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A tag not found in an OCI image layout.
    #[error("{}: no image tagged {tag:?}", .path.display())]
    TagNotFound {
        /// The layout directory.
        path: PathBuf,
        /// The tag.
        tag: String,
    },
    /// The registry's reply was not what the protocol says (bad header, bad JSON).
    #[error("{url}: unexpected reply: {reason}")]
    Protocol {
        /// URL of the request.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl Error {
    /// Whether retrying the same operation later may succeed (a broken connection, a 5xx, a
    /// 429). The client retries these itself before returning them.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { source, .. } => {
                source.is_connect()
                    || source.is_timeout()
                    || source.is_request()
                    || source.is_body()
            }
            Error::Status { status, .. } => *status == 429 || (500..600).contains(status),
            _ => false,
        }
    }

    /// Whether the registry said the thing asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Status { status: 404, .. })
    }

    /// Whether the content did not match its digest or size.
    pub fn is_verification(&self) -> bool {
        matches!(
            self,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. }
        )
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
