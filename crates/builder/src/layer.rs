//! Turning a staged directory or an overlay upper directory into a layer blob in the store.

use std::path::Path;

use boxwright_layer_store::{create_layer, BlobStore, CreateOptions, LayerSource, Store};

use crate::error::BuildError;
use crate::image::LayerDesc;

/// Writes the layer of `dir` (`upper` = an overlay upper dir) to the store's blobs, with mtimes
/// clamped to `source_date_epoch` when given.
pub(crate) fn write_layer(
    store: &Store,
    dir: &Path,
    upper: bool,
    source_date_epoch: Option<i64>,
) -> Result<LayerDesc, BuildError> {
    let source = if upper {
        LayerSource::OverlayUpper(dir)
    } else {
        LayerSource::Directory(dir)
    };
    let options = CreateOptions {
        source_date_epoch,
        ..CreateOptions::default()
    };
    let writer = store
        .blobs()
        .writer()
        .map_err(BuildError::store("starting a layer blob"))?;
    let (writer, created) = create_layer(source, writer, &options).map_err(BuildError::store(
        format!("making a layer of {}", dir.display()),
    ))?;
    let info = writer
        .commit(Some(&created.digest), Some(created.size))
        .map_err(BuildError::store("storing a layer blob"))?;
    Ok(LayerDesc {
        digest: info.digest.to_string(),
        size: info.size,
        media_type: created.media_type,
        diff_id: created.diff_id.to_string(),
    })
}
