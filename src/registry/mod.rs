//! The registry verbs of [`Engine`](crate::Engine) (feature `registry`): `docker pull`,
//! `docker push`, `docker login`, `docker logout`.
//!
//! Files, top-down (each uses only those on its own line or below):
//!
//! ```text
//! pull  push  login     the verbs
//! source                the store's blobs as the registry client's BlobSource
//! ```

mod login;
mod pull;
mod push;
mod source;

pub use pull::PullReport;
pub use push::{PushProgress, PushReport};
pub use source::StoreSource;
