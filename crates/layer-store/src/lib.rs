//! boxwright-layer-store: the content-addressed heart of boxwright.
//!
//! An OCI image layout on disk (`ROOT/oci`) with verified blobs, tags, snapshots keyed by chain
//! ID, deterministic layer creation and a layer applier that no hostile archive can escape.

pub mod apply;
pub mod compress;
pub mod create;
pub mod digest;

pub use apply::{
    apply_layer, apply_layer_path, ApplyError, ApplyOptions, ApplyStats, Refusal, WhiteoutMode,
};
pub use compress::{CompressOptions, Compression, Compressor};
pub use oci_spec::image::Digest;
