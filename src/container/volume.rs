//! `docker volume create|ls|inspect|rm|prune`, over the runtime's volume store.

use boxwright_runtime::VolumeInfo;

use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// `docker volume create [NAME]`: creates the named volume (nothing if it exists), or an
    /// anonymous one with a generated name when `name` is `None`.
    pub async fn volume_create(&self, name: Option<&str>) -> Result<VolumeInfo> {
        let name = name.map(str::to_owned);
        self.blocking(move |e| {
            Ok(match name {
                Some(n) => e.volumes().create(&n)?,
                None => e.volumes().create_anonymous()?,
            })
        })
        .await
    }

    /// `docker volume ls`.
    pub async fn volume_ls(&self) -> Result<Vec<VolumeInfo>> {
        self.blocking(|e| {
            e.containers().sweep()?;
            Ok(e.volumes().list()?)
        })
        .await
    }

    /// `docker volume inspect NAME`.
    pub async fn volume_inspect(&self, name: &str) -> Result<VolumeInfo> {
        let name = name.to_owned();
        self.blocking(move |e| Ok(e.volumes().inspect(&name)?))
            .await
    }

    /// `docker volume rm [-f] NAME`: refused while a container uses it, unless forced.
    pub async fn volume_rm(&self, name: &str, force: bool) -> Result<()> {
        let name = name.to_owned();
        self.blocking(move |e| {
            // A `--rm` container that just ended may still hold the volume in the trash.
            e.containers().sweep()?;
            Ok(e.volumes().remove(&name, force)?)
        })
        .await
    }

    /// `docker volume prune [-a]`: removes unused anonymous volumes (`all`: unused named ones
    /// too); returns their names.
    pub async fn volume_prune(&self, all: bool) -> Result<Vec<String>> {
        self.blocking(move |e| {
            e.containers().sweep()?;
            Ok(e.volumes().prune(all)?)
        })
        .await
    }
}
