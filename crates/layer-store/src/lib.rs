//! boxwright-layer-store: the content-addressed heart of boxwright.
//!
//! An OCI image layout on disk (`ROOT/oci`, readable by skopeo, umoci and podman) with verified
//! blobs, Docker-style names, image resolution by tag, digest or ID prefix, garbage collection,
//! `fsck`, snapshots keyed by chain ID, deterministic layer creation, and a layer applier that
//! no hostile archive can escape.
//!
//! The modules, in layers: each uses only those on its own line or below.
//!
//! ```text
//! import  archive  gc  fsck   verbs over whole images: import, save/load, collect, check
//! snapshot                    layers unpacked once per chain ID; flattened unpack
//! store                       the layout: index.json, tags, resolve, images, remove
//! blob  create  apply/        blobs (BlobStore); layer tar out (create) and in (apply/)
//! digest  compress  canonical  name  platform     hashing, codecs, JSON, names, platforms
//! ```
//!
//! Everything is re-exported here at the crate root, except where the module is the
//! namespace: [`name`] (Docker names), [`platform`] (`os/arch[/variant]`) and [`canonical`]
//! (canonical JSON).
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

mod adopt;
mod apply;
mod archive;
mod blob;
pub mod canonical;
mod compress;
mod create;
mod digest;
mod fsck;
mod gc;
mod import;
pub mod name;
pub mod platform;
mod snapshot;
mod store;

pub use apply::{
    apply_layer, apply_layer_path, ApplyError, ApplyOptions, ApplyStats, Refusal, WhiteoutMode,
    MAX_EXTENSION_HEADER,
};
pub use archive::{load, save, ArchiveError, ArchiveFormat, LoadReport};
pub use blob::{
    BlobError, BlobInfo, BlobReader, BlobStore, BlobWrite, DiskBlobs, MemoryBlobs, StageGuard,
};
pub use compress::{decompress, CompressOptions, Compression, Compressor};
pub use create::{create_layer, CreateError, CreateOptions, CreatedLayer, LayerSource};
pub use digest::{sha256, sha256_hex, Sha256Reader, Sha256Writer};
pub use fsck::FsckProblem;
pub use gc::{GcLock, GcOptions, GcReport};
pub use import::{import, rfc3339, ImportError, ImportOptions, ImportSource};
pub use oci_spec::image::{Digest, Platform};
pub use snapshot::{chain_ids, DiffIdMismatch, Snapshot, SnapshotError, SnapshotMeta};
pub use store::{
    Image, ImageConfig, ImageSummary, IndexEntry, Lease, Store, StoreError, CONTAINERD_NAME,
    MAX_JSON_BLOB, REF_NAME,
};
