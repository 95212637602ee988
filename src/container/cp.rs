//! `docker cp`, both ways, running container or not.

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// `docker cp SRC CONTAINER:DST`: copies the host file or tree `src` into the container
    /// at `dst` (resolved inside the container: its symlinks never lead out of it). Works on a
    /// running or a stopped container.
    pub async fn cp_in(&self, container: &str, src: impl AsRef<Path>, dst: &str) -> Result<()> {
        let (container, src, dst) = (
            container.to_owned(),
            src.as_ref().to_owned(),
            dst.to_owned(),
        );
        self.blocking(move |e| Ok(e.containers().files(&container)?.copy_in(&src, &dst)?))
            .await
    }

    /// `docker cp CONTAINER:SRC DST`: copies the container's file or tree `src` to the host
    /// path `dst`.
    pub async fn cp_out(&self, container: &str, src: &str, dst: impl AsRef<Path>) -> Result<()> {
        let (container, src, dst): (String, String, PathBuf) = (
            container.to_owned(),
            src.to_owned(),
            dst.as_ref().to_owned(),
        );
        self.blocking(move |e| Ok(e.containers().files(&container)?.copy_out(&src, &dst)?))
            .await
    }
}
