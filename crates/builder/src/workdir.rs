//! WORKDIR's layer, as BuildKit makes it: the directories missing under the parent image,
//! created 0755 and owned by the stage's `USER`; an empty layer when the directory exists.

use std::fs;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::PathBuf;

use boxwright_layer_store::Store;

use crate::blocking::blocking;
use crate::copy::{inside, resolve_owner};
use crate::error::BuildError;
use crate::image::{ImageState, LayerDesc};
use crate::layer::write_layer;
use crate::lower::{keep_lower_dirs, lower_meta, prefixes};
use crate::staging::Staging;

/// Everything a WORKDIR step needs, owned, to run off the async task.
pub(crate) struct WorkdirJob {
    /// The store.
    pub(crate) store: Store,
    /// The image the directory is made in.
    pub(crate) state: ImageState,
    /// The directory, absolute and clean.
    pub(crate) path: String,
    /// The stage's `USER` (`name[:group]`, names or numbers), if set.
    pub(crate) user: Option<String>,
    /// The instruction's line (for errors).
    pub(crate) line: usize,
    /// `SOURCE_DATE_EPOCH`.
    pub(crate) source_date_epoch: Option<i64>,
}

impl WorkdirJob {
    /// Makes the layer on a blocking thread.
    pub(crate) async fn run(self) -> Result<LayerDesc, BuildError> {
        blocking("making the WORKDIR", move || self.run_sync()).await
    }

    fn run_sync(self) -> Result<LayerDesc, BuildError> {
        let store = &self.store;
        let staging = Staging::new(store, "workdir")?;
        let root = staging.subdir("root")?;
        let roots: Vec<PathBuf> = if self.state.layers.is_empty() {
            Vec::new()
        } else {
            let img = self.state.as_image(store)?;
            let snaps = store
                .snapshots(&img)
                .map_err(BuildError::store("unpacking the parent's layers"))?;
            snaps.into_iter().rev().map(|s| s.dir).collect()
        };
        let owner = match self.user.as_deref() {
            Some(u) => resolve_owner(u, &roots, self.line)?,
            None => (0, 0),
        };
        let mut made = None;
        for p in prefixes(&self.path) {
            match lower_meta(&roots, &p) {
                Some(m) if m.is_dir() => continue,
                // A file or a link there: nothing is made (the runtime resolves the link).
                Some(_) => break,
                None => {}
            }
            let dir = inside(&root, &p);
            fs::create_dir_all(&dir).map_err(BuildError::io("create", &dir))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                .map_err(BuildError::io("chmod", &dir))?;
            lchown(&dir, Some(owner.0), Some(owner.1)).map_err(BuildError::io("chown", &dir))?;
            made = Some(p);
        }
        if let Some(deepest) = made {
            keep_lower_dirs(&root, &roots, &deepest)?;
        }
        write_layer(store, &root, false, self.source_date_epoch)
    }
}
