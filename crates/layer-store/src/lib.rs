//! boxwright-layer-store: the content-addressed heart of boxwright.
//!
//! An OCI image layout on disk (`ROOT/oci`, readable by skopeo, umoci and podman) with verified
//! blobs, Docker-style names, image resolution by tag, digest or ID prefix, garbage collection,
//! `fsck`, snapshots keyed by chain ID, deterministic layer creation, and a layer applier that
//! no hostile archive can escape.
//!
//! ```
//! use boxwright_layer_store::{BlobStore, Store};
//! use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! let store = Store::open(root.path())?;
//!
//! // Blobs are hashed while written and become visible only when complete.
//! let layer = store.blobs().write_all(b"a layer would be a tar stream")?;
//! let config = store.put_config_json(&serde_json::json!({
//!     "os": "linux", "architecture": "amd64",
//!     "config": {"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "true"]}},
//!     "rootfs": {"type": "layers", "diff_ids": [layer.digest.to_string()]},
//! }))?;
//! let manifest = ImageManifestBuilder::default()
//!     .schema_version(2u32)
//!     .media_type(MediaType::ImageManifest)
//!     .config(config)
//!     .layers(vec![Descriptor::new(MediaType::ImageLayer, layer.size, layer.digest)])
//!     .build()?;
//! let target = store.put_manifest(&manifest)?;
//!
//! // Names are normalized as Docker does; images resolve by name, digest or ID prefix.
//! assert_eq!(store.tag(&target, "busybox")?, "docker.io/library/busybox:latest");
//! let image = store.resolve("busybox")?;
//! assert_eq!(store.resolve(&image.id.digest()[..7])?.manifest_digest, image.manifest_digest);
//! assert!(store.fsck()?.is_empty());
//! # Ok(())
//! # }
//! ```

pub mod apply;
pub mod archive;
pub mod blob;
pub mod canonical;
pub mod compress;
pub mod create;
pub mod digest;
pub mod fsck;
pub mod gc;
pub mod import;
pub mod name;
pub mod snapshot;
pub mod store;

pub use apply::{
    apply_layer, apply_layer_path, ApplyError, ApplyOptions, ApplyStats, Refusal, WhiteoutMode,
};
pub use blob::{BlobError, BlobInfo, BlobStore, BlobWrite, DiskBlobs, MemoryBlobs};
pub use compress::{CompressOptions, Compression, Compressor};
pub use create::{create_layer, CreateError, CreateOptions, CreatedLayer, LayerSource};
pub use gc::GcOptions;
pub use oci_spec::image::Digest;
pub use snapshot::{Snapshot, SnapshotError};
pub use store::{Image, ImageConfig, PlatformSpec, Store, StoreError};
