//! [`Engine`]: one root on disk with the layer store, the containers and volumes, the build
//! cache and the registry client wired together; the verbs live in the modules beside this one.

use std::path::{Path, PathBuf};

use boxwright_layer_store::{platform, Image, Platform, Store, StoreError};

use crate::error::{Error, Result};

/// The spec annotation that records the config digest (image ID) a container was made from.
pub const ANNOTATION_IMAGE_ID: &str = "org.boxwright.image.id";
/// The spec annotation that records the image name a container was made from, as given.
pub const ANNOTATION_IMAGE_NAME: &str = "org.boxwright.image.name";

/// Docker as a value: images, containers, volumes, builds and registries under one root.
///
/// The root's layout (see ARCHITECTURE.md): `oci/` (the OCI image layout), `snapshots/`,
/// `cache/` (the build cache), `containers/`, `names/`, `volumes/`, `tmp/`. Many processes may
/// open one root at once; every shared file is written atomically under a file lock, and there
/// is no daemon: a detached container is watched by its own small monitor process.
///
/// An `Engine` is cheap to clone (clones share nothing mutable but the disk). Its verbs are
/// `async`; blocking file work runs on tokio's blocking pool, so a lock held by another process
/// never stalls the caller's runtime.
#[derive(Debug, Clone)]
pub struct Engine {
    root: PathBuf,
    store: Store,
    platform: Platform,
    #[cfg(feature = "run")]
    containers: boxwright_runtime::Containers,
    #[cfg(feature = "run")]
    volumes: boxwright_runtime::Volumes,
    #[cfg(feature = "registry")]
    registry: boxwright_builder::RegistrySource,
}

impl Engine {
    /// Opens (creating what is missing) the engine rooted at `root`.
    ///
    /// With the `registry` feature, registry credentials are read as Docker reads them
    /// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`); a config file that exists
    /// but cannot be parsed is an error, as in Docker.
    pub fn open(root: impl Into<PathBuf>) -> Result<Engine> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| Error::io("creating", &root, e))?;
        let store = Store::open(&root)?;
        Ok(Engine {
            #[cfg(feature = "run")]
            containers: boxwright_runtime::Containers::open(&root)?,
            #[cfg(feature = "run")]
            volumes: boxwright_runtime::Volumes::open(&root)?,
            #[cfg(feature = "registry")]
            registry: boxwright_builder::RegistrySource::new()?,
            platform: platform::host(),
            store,
            root,
        })
    }

    /// Opens the engine at the default root: `$BOXWRIGHT_ROOT`, else
    /// `$XDG_DATA_HOME/boxwright`, else `~/.local/share/boxwright`.
    pub fn open_default() -> Result<Engine> {
        let root = Store::default_root().ok_or_else(|| {
            Error::invalid(
                "default root",
                "",
                "none of $BOXWRIGHT_ROOT, $XDG_DATA_HOME and $HOME is set",
            )
        })?;
        Engine::open(root)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layer store (images, blobs, snapshots), for what the verbs do not cover.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The platform images are pulled, built and run for (the host's).
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The runtime's container store under this root.
    #[cfg(feature = "run")]
    pub fn containers(&self) -> &boxwright_runtime::Containers {
        &self.containers
    }

    /// The runtime's named and anonymous volumes under this root.
    #[cfg(feature = "run")]
    pub fn volumes(&self) -> &boxwright_runtime::Volumes {
        &self.volumes
    }

    /// The registry side: the client (credentials, connections) and the store as its sink.
    #[cfg(feature = "registry")]
    pub fn registry(&self) -> &boxwright_builder::RegistrySource {
        &self.registry
    }

    /// Replaces the registry source (for example one whose client trusts an insecure
    /// registry, or holds credentials given in code).
    #[cfg(feature = "registry")]
    pub fn with_registry(mut self, registry: boxwright_builder::RegistrySource) -> Self {
        self.registry = registry;
        self
    }

    /// Runs blocking work (file locks, hashing, unpacking) on tokio's blocking pool.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T> + Send + 'static,
    {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(Error::Task)?
    }

    /// The local image `what` names — a name (`busybox`, `user/app:1.0`,
    /// `localhost:5000/app@sha256:…`), a full image ID or a unique prefix of one — for the
    /// engine's platform. Pulls nothing: see [`Engine::image_or_pull`].
    pub async fn image(&self, what: &str) -> Result<Image> {
        let what = what.to_owned();
        self.blocking(move |e| Ok(e.store.resolve_for(&what, &e.platform)?))
            .await
    }

    /// The image `what` names, pulled first when the store lacks it, as `docker run` and
    /// `docker create` do (only names are pulled, never an ID prefix).
    pub async fn image_or_pull(&self, what: &str) -> Result<Image> {
        match self.image(what).await {
            Err(Error::Store(StoreError::NotFound { .. })) => {
                #[cfg(feature = "registry")]
                {
                    tracing::info!(image = what, "not in the store: pulling");
                    self.pull_quiet(what).await?;
                    self.image(what).await
                }
                #[cfg(not(feature = "registry"))]
                Err(Error::NoSuchImage {
                    reference: what.to_owned(),
                })
            }
            other => other,
        }
    }

    /// Pulls `reference` into the store and tags it, without progress events.
    #[cfg(feature = "registry")]
    pub(crate) async fn pull_quiet(&self, reference: &str) -> Result<()> {
        self.registry
            .pull_image(&self.store, reference, &self.platform)
            .await
            .map(drop)
            .map_err(|e| Error::Pull {
                reference: reference.to_owned(),
                source: Box::new(e),
            })
    }
}
