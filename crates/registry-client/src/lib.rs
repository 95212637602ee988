//! boxwright-registry-client: a verified, streaming client of the OCI distribution protocol (not
//! yet written).
//!
//! This crate will pull and push images (manifests, indexes, blobs) to any OCI registry with
//! Docker's reference normalization, anonymous/basic/bearer auth and `~/.docker/config.json`
//! credentials, every byte digest-checked while it streams, blobs in parallel with flat memory,
//! retries with resumption, and the quirks of real registries. It owns the `BlobSink` and
//! `BlobSource` traits. The work is tracked as issue 5.
//!
//! Nothing is implemented yet. No API is offered until it is real.
