//! A COPY/ADD step from start to layer: owner resolved, sources staged (from the context, or
//! from a stage's or image's unpacked root), heredocs written, the staging made a layer — all
//! on a blocking thread.

use std::path::Path;

use boxwright_layer_store::{chain_ids, Image, SnapshotError, Store};

use crate::blocking::blocking;
use crate::context::Context;
use crate::copy::CopySrc;
use crate::copy::{from_context, from_dir, heredoc, resolve_owner};
use crate::error::BuildError;
use crate::image::{parse_digest, ImageState, LayerDesc};
use crate::layer::write_layer;
use crate::lower::{is_dir_in, keep_lower_dirs};
use crate::staging::Staging;
use crate::step::CopyAction;

/// Everything a COPY step needs, owned, to run off the async task.
pub(crate) struct CopyJob {
    /// The store.
    pub(crate) store: Store,
    /// The build context.
    pub(crate) ctx: Context,
    /// The prepared copy.
    pub(crate) copy: CopyAction,
    /// The image it copies onto (for `--chown` names).
    pub(crate) state: ImageState,
    /// For `--from`: the stage's or image's image in the store.
    pub(crate) from_image: Option<Image>,
    /// `SOURCE_DATE_EPOCH`.
    pub(crate) source_date_epoch: Option<i64>,
}

impl CopyJob {
    /// Stages the copy and writes its layer on a blocking thread.
    pub(crate) async fn run(self) -> Result<LayerDesc, BuildError> {
        blocking("copying files", move || self.run_sync()).await
    }

    fn run_sync(self) -> Result<LayerDesc, BuildError> {
        let store = &self.store;
        let staging = Staging::new(store, "copy")?;
        let root = staging.subdir("root")?;
        let mut opts = self.copy.opts.clone();
        // The parent's layers (top first) answer `--chown` names, whether a destination
        // without a trailing slash is a directory there, and the metadata of the directories
        // the layer only passes through. A `--link` copy reads nothing of the parent: its
        // layer is the same on any base.
        let roots = if !self.copy.link && !self.state.layers.is_empty() {
            let img = self.state.as_image(store)?;
            let snaps = store
                .snapshots(&img)
                .map_err(BuildError::store("unpacking the parent's layers"))?;
            snaps.into_iter().rev().map(|s| s.dir).collect()
        } else {
            Vec::new()
        };
        if let Some(spec) = &self.copy.chown {
            opts.owner = Some(resolve_owner(spec, &roots, opts.line)?);
        }
        if !opts.dest_is_dir && is_dir_in(&roots, &opts.dest) {
            opts.dest_is_dir = true;
        }
        match (&self.copy.from, &self.from_image) {
            (CopySrc::Context, _) => from_context(
                &self.ctx,
                &self.copy.sources,
                &self.copy.pivots,
                &self.copy.filter,
                &opts,
                &root,
            )?,
            (_, Some(image)) => {
                let from_root = staging.subdir("from")?;
                store
                    .unpack(image, &from_root)
                    .map_err(BuildError::store("unpacking the COPY --from source"))?;
                from_dir(&from_root, &self.copy.sources, &opts, &root)?;
            }
            (_, None) => {
                return Err(BuildError::Invalid {
                    line: opts.line,
                    message: "the COPY --from source was not built".into(),
                })
            }
        }
        for (name, content) in &self.copy.heredocs {
            heredoc(name, content, &opts, &root)?;
        }
        keep_lower_dirs(&root, &roots, &opts.dest)?;
        let layer = write_layer(store, &root, false, self.source_date_epoch)?;
        self.adopt(&layer, &root);
        Ok(layer)
    }

    /// Makes the staged tree the snapshot of its new layer, so that a later step needing it
    /// (a RUN on top) does not unpack the layer again. Best effort: when the tree cannot be
    /// adopted it is removed with the staging, and the layer is unpacked when needed.
    fn adopt(&self, layer: &LayerDesc, root: &Path) {
        let ids = (|| {
            let mut diff_ids = Vec::with_capacity(self.state.layers.len());
            for l in &self.state.layers {
                diff_ids.push(parse_digest(&l.diff_id)?);
            }
            let parent = chain_ids(&diff_ids).pop();
            Ok::<_, BuildError>((
                parent,
                parse_digest(&layer.digest)?,
                parse_digest(&layer.diff_id)?,
            ))
        })();
        let (parent, blob, diff_id) = match ids {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e, "COPY staging not adopted");
                return;
            }
        };
        let adopted = self.store.adopt_snapshot(
            parent.as_ref(),
            &blob,
            &diff_id,
            root,
            self.source_date_epoch,
        );
        match adopted {
            Ok(snapshot) => tracing::debug!(chain_id = %snapshot.chain_id, "COPY staging adopted"),
            Err(e @ SnapshotError::NotAdoptable { .. }) => {
                tracing::debug!(error = %e, "COPY staging not adopted")
            }
            Err(e) => tracing::warn!(error = %e, "COPY staging not adopted"),
        }
    }
}
