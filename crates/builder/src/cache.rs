//! The layer cache on disk: one record per step key under `ROOT/cache/steps/`, written
//! atomically; the inputs of the last build of each Dockerfile and target under
//! `ROOT/cache/builds/`, to explain every miss.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use boxwright_layer_store::{BlobStore, Store};
use serde::{Deserialize, Serialize};

use crate::checksum::Checksum;
use crate::error::BuildError;
use crate::events::MissReason;
use crate::image::{parse_digest, ImageState, LayerDesc};

/// What a step produced: the image after it, and the layer it added, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CacheRecord {
    /// The image after the step (config with history, layers).
    pub(crate) state: ImageState,
    /// The layer the step added (`None` for a config-only step).
    pub(crate) layer: Option<LayerDesc>,
}

/// The inputs of one step, as the key is made from them and as a later build compares them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepInputs {
    /// The stage's index.
    pub(crate) stage: usize,
    /// The instruction after expansion.
    pub(crate) text: String,
    /// The build arguments it reads, with their values.
    pub(crate) args: BTreeMap<String, String>,
    /// For `FROM`: the base image's manifest digest (or a stage's key, or `scratch`).
    pub(crate) base: Option<String>,
    /// For `COPY`/`ADD`/bind mounts: the digest of what the sources are (a context checksum, a
    /// stage's key, an image's digest).
    pub(crate) sources_digest: Option<String>,
    /// The context checksum's entries (path, blake3 hex), to name changed files.
    pub(crate) sources: Vec<(String, String)>,
}

impl StepInputs {
    /// Records a context checksum as this step's sources.
    pub(crate) fn add_checksum(&mut self, sum: &Checksum) {
        let prev = self.sources_digest.take().unwrap_or_default();
        self.sources_digest = Some(if prev.is_empty() {
            sum.to_hex()
        } else {
            blake3::hash(format!("{prev}+{}", sum.to_hex()).as_bytes())
                .to_hex()
                .to_string()
        });
        self.sources.extend(
            sum.entries()
                .map(|(p, h)| (p.to_string(), blake3::Hash::from(*h).to_hex().to_string())),
        );
    }

    /// The step's key: the parent's key and every input.
    pub(crate) fn key(&self, parent: &str) -> String {
        let mut h = blake3::Hasher::new();
        let mut field = |b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(b"boxwright step key v1");
        field(parent.as_bytes());
        field(self.text.as_bytes());
        for (k, v) in &self.args {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        field(self.base.as_deref().unwrap_or("").as_bytes());
        field(self.sources_digest.as_deref().unwrap_or("").as_bytes());
        h.finalize().to_hex().to_string()
    }
}

/// The inputs of every step of one build, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BuildLog {
    /// The steps (FROM included), in the order they were built.
    pub(crate) steps: Vec<StepInputs>,
}

/// Why `now` missed, given the step at the same place in the last build.
pub(crate) fn explain(
    prev: Option<&BuildLog>,
    index: usize,
    now: &StepInputs,
) -> Option<MissReason> {
    let Some(log) = prev else {
        return Some(MissReason::NoEarlierBuild);
    };
    let Some(old) = log.steps.get(index) else {
        return Some(MissReason::NewStep);
    };
    if old.base != now.base {
        return Some(MissReason::BaseImageChanged {
            old: old.base.clone().unwrap_or_default(),
            new: now.base.clone().unwrap_or_default(),
        });
    }
    let names = old.args.keys().chain(now.args.keys());
    for name in names {
        if old.args.get(name) != now.args.get(name) {
            return Some(MissReason::BuildArgChanged { name: name.clone() });
        }
    }
    if old.text != now.text {
        return Some(MissReason::InstructionChanged {
            old: old.text.clone(),
        });
    }
    if old.sources_digest != now.sources_digest {
        let sum = |e: &[(String, String)]| {
            Checksum::from_sorted(
                e.iter()
                    .map(|(p, h)| {
                        let mut b = [0u8; 32];
                        if let Ok(x) = blake3::Hash::from_hex(h) {
                            b = *x.as_bytes();
                        }
                        (p.clone(), b)
                    })
                    .collect(),
            )
        };
        let mut old_e = old.sources.clone();
        let mut new_e = now.sources.clone();
        old_e.sort();
        old_e.dedup_by(|a, b| a.0 == b.0);
        new_e.sort();
        new_e.dedup_by(|a, b| a.0 == b.0);
        let changed = sum(&new_e).changed_since(&sum(&old_e));
        let count = changed.len();
        let paths = changed.into_iter().take(5).collect();
        return Some(MissReason::FilesChanged { paths, count });
    }
    None
}

/// The cache directory of a store.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// `ROOT/cache`, with its subdirectories created.
    pub(crate) fn open(store: &Store) -> Result<Cache, BuildError> {
        let dir = store.root().join("cache");
        for sub in ["steps", "builds", "mounts"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(BuildError::io("create", &p))?;
        }
        Ok(Cache { dir })
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record of `key`, if there is one whose layers are all in the store. A hit sets the
    /// record file's mtime to now: its last use, which the cache's gc goes by.
    pub(crate) fn get(&self, store: &Store, key: &str) -> Option<CacheRecord> {
        let path = self.dir.join("steps").join(format!("{key}.json"));
        let bytes = fs::read(&path).ok()?;
        let record: CacheRecord = serde_json::from_slice(&bytes).ok()?;
        for layer in &record.state.layers {
            let digest = parse_digest(&layer.digest).ok()?;
            if !store.blobs().has(&digest).unwrap_or(false) {
                tracing::debug!(%key, layer = %layer.digest, "cache record's layer is gone");
                return None;
            }
        }
        let touched = fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        if let Err(e) = touched {
            tracing::debug!(%key, error = %e, "cache record's last use not recorded");
        }
        Some(record)
    }

    /// Writes the record of `key`.
    pub(crate) fn put(&self, key: &str, record: &CacheRecord) -> Result<(), BuildError> {
        let bytes =
            serde_json::to_vec(record).map_err(BuildError::store("encoding a cache record"))?;
        write_atomic(&self.dir.join("steps").join(format!("{key}.json")), &bytes)
    }

    /// The file of the last build of `dockerfile` for `target`.
    fn log_path(&self, dockerfile: &str, target: &str) -> PathBuf {
        let id = blake3::hash(format!("{dockerfile}\0{target}").as_bytes());
        self.dir
            .join("builds")
            .join(format!("{}.json", id.to_hex()))
    }

    /// The last build of `dockerfile` for `target`, if it was recorded.
    pub(crate) fn last_build(&self, dockerfile: &str, target: &str) -> Option<BuildLog> {
        let bytes = fs::read(self.log_path(dockerfile, target)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records this build of `dockerfile` for `target`; a log the same as the last one's is
    /// not written again (a no-change rebuild writes nothing: with a big context the log holds
    /// every matched file's hash).
    pub(crate) fn save_build(
        &self,
        dockerfile: &str,
        target: &str,
        log: &BuildLog,
    ) -> Result<(), BuildError> {
        let bytes = serde_json::to_vec(log).map_err(BuildError::store("encoding the build log"))?;
        let path = self.log_path(dockerfile, target);
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        write_atomic(&path, &bytes)
    }
}

/// Writes `bytes` to `dest` through a temporary sibling, fsynced, then renamed.
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dest.with_file_name(format!(".tmp-{name}-{}-{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        BuildError::Io {
            doing: "write",
            path: dest.to_path_buf(),
            source: e,
        }
    })
}
