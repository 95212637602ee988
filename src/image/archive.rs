//! `docker save`, `docker load` and `docker import`: [`Engine::save`], [`Engine::load`],
//! [`Engine::import`] (the layer store's archive and import, on the blocking pool).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use boxwright_layer_store::{self as store, ArchiveFormat, Digest, ImportSource};
use serde_json::Value;

use super::{change, read};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What [`Engine::load`] brought in: Docker's `Loaded image: …` and `Loaded image ID: …`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loaded {
    /// The names tagged, as Docker prints them (`busybox:latest`).
    pub names: Vec<String>,
    /// The IDs of the images loaded without a name.
    pub untagged: Vec<Digest>,
    /// Blobs the store did not have before.
    pub blobs_added: usize,
}

impl Loaded {
    /// The lines `docker load` prints: `Loaded image: NAME` per name, `Loaded image ID: ID`
    /// per untagged image.
    pub fn lines(&self) -> Vec<String> {
        let names = self.names.iter().map(|n| format!("Loaded image: {n}"));
        let ids = self
            .untagged
            .iter()
            .map(|d| format!("Loaded image ID: {d}"));
        names.chain(ids).collect()
    }
}

/// How [`Engine::import`] makes its image (`docker import`'s flags).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ImportOptions {
    /// `-m`: the comment recorded in the image's history.
    pub message: Option<String>,
    /// The image config's `config` section (`Cmd`, `Env`, `WorkingDir`, `Entrypoint`…) to
    /// start from; `null` for an empty one.
    pub config: Value,
    /// `--change`: Dockerfile instructions applied in order to `config` (`CMD ["sh"]`,
    /// `ENV A=1`, `WORKDIR /app`, `EXPOSE 80`, `ENTRYPOINT`, `LABEL`, `USER`, `VOLUME`,
    /// `STOPSIGNAL`, `ONBUILD`).
    pub changes: Vec<String>,
}

impl ImportOptions {
    /// `-m MESSAGE`.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// `--change INSTRUCTION` (one Dockerfile instruction: `CMD ["sh"]`, `ENV A=1`…),
    /// applied after those given before.
    pub fn change(mut self, instruction: impl Into<String>) -> Self {
        self.changes.push(instruction.into());
        self
    }

    /// The config section to start from, as Docker's image config spells it
    /// (`{"Cmd": ["sh"], "Env": ["A=1"]}`).
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }
}

/// What [`Engine::import`] reads: a directory, or a tar stream (plain, gzip or zstd).
pub enum ImportFrom {
    /// A directory, taken whole as the image's root file system.
    Dir(PathBuf),
    /// A tar file on disk.
    TarFile(PathBuf),
    /// A tar stream (`docker import -`).
    Tar(Box<dyn Read + Send>),
}

impl std::fmt::Debug for ImportFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportFrom::Dir(p) => f.debug_tuple("Dir").field(p).finish(),
            ImportFrom::TarFile(p) => f.debug_tuple("TarFile").field(p).finish(),
            ImportFrom::Tar(_) => f.write_str("Tar(..)"),
        }
    }
}

impl Engine {
    /// `docker save IMAGE… -o FILE` to a writer: the images (names, IDs or unique prefixes)
    /// as one tar archive in the format `docker save` writes (an OCI layout with
    /// `manifest.json` and `repositories`), which `docker load` and `podman load` read. A
    /// name records that name only; an ID records all the image's names. Returns the writer.
    pub async fn save<W>(&self, images: &[&str], out: W) -> Result<W>
    where
        W: Write + Send + 'static,
    {
        let images: Vec<String> = images.iter().map(|s| (*s).to_owned()).collect();
        self.blocking(move |e| {
            let refs: Vec<&str> = images.iter().map(String::as_str).collect();
            Ok(store::save(e.store(), &refs, ArchiveFormat::Docker, out)?)
        })
        .await
    }

    /// [`Engine::save`] into the file `path` (`docker save -o`), written whole or not at all
    /// (a temporary file beside it, renamed into place).
    pub async fn save_to(&self, images: &[&str], path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref().to_path_buf();
        let tmp = path.with_file_name(format!(
            ".{}.tmp-{}",
            path.file_name()
                .map_or("save".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        let saved = self.save(images, std::io::BufWriter::new(file)).await;
        let finished = saved.and_then(|mut w| {
            w.flush().map_err(|e| Error::io("writing", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming into place", &path, e))
        });
        if finished.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        finished
    }

    /// `docker load`: the images of an archive written by `docker save`, `podman save`,
    /// skopeo or [`Engine::save`] (docker-archive or oci-archive, plain or compressed), each
    /// blob verified before anything is tagged.
    pub async fn load<R>(&self, archive: R) -> Result<Loaded>
    where
        R: Read + Send + 'static,
    {
        self.blocking(move |e| {
            let report = store::load(e.store(), archive)?;
            let mut loaded = Loaded {
                names: report.names.iter().map(|n| read::familiar(n)).collect(),
                untagged: Vec::new(),
                blobs_added: report.blobs_added,
            };
            for target in &report.images {
                let (_, manifest) = e.store().manifest_for(target, e.platform())?;
                let id = manifest.config().digest().clone();
                let tagged = e
                    .store()
                    .entries()?
                    .iter()
                    .any(|x| x.descriptor.digest() == target.digest() && x.name.is_some());
                if !tagged && !loaded.untagged.contains(&id) {
                    loaded.untagged.push(id);
                }
            }
            Ok(loaded)
        })
        .await
    }

    /// [`Engine::load`] from the file `path` (`docker load -i`).
    pub async fn load_from(&self, path: impl AsRef<Path>) -> Result<Loaded> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
        self.load(file).await
    }

    /// `docker import SOURCE [REPOSITORY[:TAG]] [-c CHANGE]… [-m MESSAGE]`: a root file
    /// system (a directory or a tar) as a new one-layer image for this engine's platform,
    /// tagged `reference` when given, its config made by `options` (a bad `--change` is
    /// refused before anything is written). Returns the image ID.
    pub async fn import(
        &self,
        from: ImportFrom,
        reference: Option<&str>,
        options: ImportOptions,
    ) -> Result<Digest> {
        let reference = reference.map(str::to_owned);
        self.blocking(move |e| {
            let mut opts = store::ImportOptions {
                name: reference,
                message: options.message,
                platform: e.platform().clone(),
                ..Default::default()
            };
            let mut config = options.config;
            if !config.is_null() || !options.changes.is_empty() {
                change::apply_changes(&mut config, &options.changes)?;
                opts.config = config;
            }
            let image = match from {
                ImportFrom::Dir(dir) => {
                    store::import(e.store(), ImportSource::Directory(&dir), &opts)
                }
                ImportFrom::TarFile(path) => {
                    let mut file = std::fs::File::open(&path)
                        .map_err(|err| Error::io("opening", &path, err))?;
                    store::import(e.store(), ImportSource::Tarball(&mut file), &opts)
                }
                ImportFrom::Tar(mut reader) => {
                    store::import(e.store(), ImportSource::Tarball(&mut reader), &opts)
                }
            }?;
            Ok(image.id)
        })
        .await
    }
}
