//! boxwright-layer-store: the content-addressed heart of boxwright (not yet written).
//!
//! This crate will hold an OCI image layout on disk (`ROOT/oci`: `oci-layout`, `index.json`,
//! `blobs/sha256/…`) that skopeo, umoci and podman can read; a `BlobStore` trait with a
//! streaming, hash-while-writing, atomically committed on-disk implementation and an in-memory
//! one; tags and names with Docker's normalization; snapshots keyed by chain ID; deterministic
//! layer creation (whole directory, overlayfs upper dir, difference of two trees) and a layer
//! applier that no hostile archive can escape; `import`, `save` and `load`.
//!
//! Nothing is implemented yet: the work is tracked as issue 3. No API is offered until it is real.
