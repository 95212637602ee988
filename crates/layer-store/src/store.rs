//! The store: an OCI image layout at `ROOT/oci` with tags, image resolution and removal.
//! Garbage collection and `fsck`, which also cover the snapshots, are in `gc.rs` and `fsck.rs`.
//!
//! `index.json` is the only mutable file of the layout. Every change to it is a
//! read-modify-write under the layout's index lock, written to `ROOT/tmp`, fsynced and renamed
//! into place, so readers never see a half-written index and a crash leaves the old or the new
//! one. The index lock rule, shared with any other writer of the layout (the registry client's
//! `OciDir` follows it too, so neither loses the other's entries): an exclusive `flock` on
//! `LAYOUT/index.json.lock` (created if missing, never removed), held from reading the index to
//! renaming the new one into place; readers take no lock.
//!
//! Each tag is one entry of `index.json` whose `org.opencontainers.image.ref.name` annotation
//! holds the full normalized name (`docker.io/library/busybox:latest`); an entry without one
//! is an untagged ("dangling") image.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType, Platform};
use serde_json::{Map, Value};

use crate::blob::{lock_tmp, sync_dir, BlobError, BlobStore, DiskBlobs};
use crate::name::{self, NameError};
use crate::platform;

/// The annotation that carries a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full image name, written beside [`REF_NAME`].
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Manifests, indexes and configs larger than this are refused (as registries do).
pub const MAX_JSON_BLOB: u64 = 4 << 20;
/// The layout's index lock file, `LAYOUT/index.json.lock` (the rule in the module documentation).
const INDEX_LOCK: &str = "index.json.lock";

/// Opens (creating it if missing) and `flock`s `path`, shared or exclusive, held until the file
/// is dropped.
fn lock_file(path: &Path, exclusive: bool) -> Result<File, StoreError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err(path))?;
    if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    }
    .map_err(io_err(path))?;
    Ok(file)
}

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A blob operation failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// An I/O error on a path of the store.
    #[error("i/o failed on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A JSON document (a blob or `index.json`) could not be read or written.
    #[error("JSON of {what} could not be read or written")]
    Json {
        /// The blob digest or file.
        what: String,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
    /// An invalid image name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// No image matches.
    #[error("no such image: {reference}")]
    NotFound {
        /// The name, digest or image ID prefix asked for, as given.
        reference: String,
    },
    /// An ID prefix matches several images.
    #[error("{prefix:?} is ambiguous: it matches {}", candidates.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// The images it matches (short ID and names).
        candidates: Vec<String>,
    },
    /// A blob referenced as an image is neither a manifest nor an index.
    #[error("{digest} is not an image manifest or index (media type {media_type})")]
    NotAnImage {
        /// The blob.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// An index has no manifest for the platform asked for.
    #[error(
        "image index {digest} has no manifest for {}",
        platform::to_string(platform)
    )]
    NoPlatform {
        /// The index.
        digest: Digest,
        /// The platform asked for.
        platform: Box<Platform>,
    },
    /// Removing an image by ID or digest would remove several tags, and the caller did not
    /// force it (as `docker rmi` refuses).
    #[error(
        "conflict: unable to delete {} (must be forced): image is referenced by {}",
        short(id),
        names.iter().map(|n| name::familiar_str(n)).collect::<Vec<_>>().join(", ")
    )]
    Conflict {
        /// The image ID.
        id: Digest,
        /// The tags that hold it (full normalized names).
        names: Vec<String>,
    },
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}

/// Builds the error-mapping closure for a JSON document `what`.
pub(crate) fn json_err(
    what: impl std::fmt::Display,
) -> impl FnOnce(serde_json::Error) -> StoreError {
    let what = what.to_string();
    move |source| StoreError::Json { what, source }
}

/// One entry of `index.json`: an image (manifest or index) and the tag it carries, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The descriptor as written in `index.json`.
    pub descriptor: Descriptor,
    /// The full normalized name from the `ref.name` annotation, if it has one.
    pub name: Option<String>,
}

/// An image resolved for one platform.
#[derive(Debug, Clone)]
pub struct Image {
    /// Docker's image ID: the config digest.
    pub id: Digest,
    /// Every tag (full normalized name) pointing at the same top-level blob.
    pub names: Vec<String>,
    /// The top-level blob `index.json` points at: a manifest, or an index of platforms.
    pub target: Descriptor,
    /// The digest of the platform's manifest (the same as `target` for a single manifest).
    pub manifest_digest: Digest,
    /// The platform's manifest.
    pub manifest: ImageManifest,
}

impl Image {
    /// The layer descriptors, base first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// The config blob's descriptor.
    pub fn config(&self) -> &Descriptor {
        self.manifest.config()
    }

    /// Docker's short ID: the first 12 hex digits of the config digest.
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }
}

fn short(digest: &Digest) -> &str {
    let hex = digest.digest();
    hex.get(..12).unwrap_or(hex)
}

/// An image config blob, kept byte for byte. Fields that `oci-spec` does not model (Docker's
/// `Healthcheck`, `Shell`, `OnBuild`, anything a future tool adds) are in [`ImageConfig::json`].
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// The blob's digest (Docker's image ID).
    pub digest: Digest,
    /// The blob's bytes as stored.
    pub bytes: Vec<u8>,
    /// The parsed document, every field kept.
    pub json: Value,
}

impl ImageConfig {
    /// The config as `oci-spec`'s typed view (fields it does not model are not in it).
    pub fn oci(&self) -> Result<oci_spec::image::ImageConfiguration, StoreError> {
        serde_json::from_slice(&self.bytes).map_err(json_err(&self.digest))
    }

    /// The layers' diffIDs (`rootfs.diff_ids`), base first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, StoreError> {
        let ids = self
            .json
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        ids.into_iter()
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(json_err(format!("{} rootfs.diff_ids", self.digest)))
            })
            .collect()
    }
}

/// A summary line of `images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The full normalized name, or `None` for an untagged image.
    pub name: Option<String>,
    /// The top-level blob in `index.json`.
    pub target: Descriptor,
}

/// A guard that keeps [`Store::gc`] from running while it is held (shared between writers).
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// The store at one root.
///
/// Every change to `index.json` holds the layout's index lock: an exclusive `flock` on
/// `LAYOUT/index.json.lock` from reading the index to renaming the new one into place. Any
/// other program that follows the same rule (the registry client's `OciDir` does) can write
/// the layout at the same time without either losing the other's entries.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    layout: PathBuf,
    blobs: DiskBlobs,
}

impl Store {
    /// The default root: `$BOXWRIGHT_ROOT`, else `$XDG_DATA_HOME/boxwright`, else
    /// `~/.local/share/boxwright`.
    pub fn default_root() -> Option<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("BOXWRIGHT_ROOT")
            .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("boxwright")))
            .or_else(|| env("HOME").map(|h| h.join(".local/share/boxwright")))
    }

    /// Opens the store at `root`, creating the layout if it is missing, and removing the staging
    /// files of writers that died.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        let layout = root.join("oci");
        Store::with_layout(layout, root)
    }

    /// Opens an OCI image layout that is not under a boxwright root — one skopeo, buildah or
    /// umoci wrote — keeping boxwright's own state (`tmp/`, `locks/`, `snapshots/`) under
    /// `state`. `state` must be on the same filesystem as `layout` for writes to be atomic.
    /// A missing layout is created.
    pub fn with_layout(
        layout: impl Into<PathBuf>,
        state: impl Into<PathBuf>,
    ) -> Result<Store, StoreError> {
        let layout = layout.into();
        let root = state.into();
        for dir in [
            &layout,
            &root.join("tmp"),
            &root.join("locks"),
            &root.join("snapshots"),
        ] {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let blobs = DiskBlobs::open(layout.join("blobs"), root.join("tmp"))?;
        let store = Store {
            root,
            layout,
            blobs,
        };
        let _guard = store.lock_index()?;
        let marker = store.layout.join("oci-layout");
        if !marker.exists() {
            store.write_atomic(&marker, OCI_LAYOUT.as_bytes())?;
        }
        let index = store.layout.join("index.json");
        if !index.exists() {
            let empty = crate::canonical::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [],
            }))
            .map_err(json_err("index.json"))?;
            store.write_atomic(&index, &empty)?;
        }
        store.blobs.clean_tmp()?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The OCI image layout directory (`ROOT/oci`), readable by skopeo, umoci and podman.
    pub fn layout_dir(&self) -> &Path {
        &self.layout
    }

    /// The blobs.
    pub fn blobs(&self) -> &DiskBlobs {
        &self.blobs
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes the lock `ROOT/locks/NAME.lock`, shared or exclusive, held until the file is dropped.
    pub(crate) fn lock(&self, name: &str, exclusive: bool) -> Result<File, StoreError> {
        lock_file(
            &self.root.join("locks").join(format!("{name}.lock")),
            exclusive,
        )
    }

    /// Takes the layout's index lock (exclusive `flock` on `LAYOUT/index.json.lock`, the rule in
    /// the module documentation), held until the file is dropped.
    pub(crate) fn lock_index(&self) -> Result<File, StoreError> {
        lock_file(&self.layout.join(INDEX_LOCK), true)
    }

    /// Takes a lease: until it is dropped, [`Store::gc`] in any process waits. Hold one from the
    /// first blob written to the moment the image is tagged.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        Ok(Lease {
            _file: self.lock("gc", false)?,
        })
    }

    /// Writes `bytes` to `dest` atomically (staged in `ROOT/tmp`, fsynced, renamed).
    pub(crate) fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = tempfile_in(&self.tmp_dir())?;
        let (mut file, path) = tmp;
        let result = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::rename(&path, dest));
        if let Err(e) = result {
            let _ = fs::remove_file(&path);
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: e,
            });
        }
        if let Some(parent) = dest.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    // ---- index.json ----

    fn read_index_value(&self) -> Result<Map<String, Value>, StoreError> {
        let path = self.layout.join("index.json");
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        match serde_json::from_slice(&bytes).map_err(json_err(path.display()))? {
            Value::Object(map) => Ok(map),
            _ => Err(StoreError::Json {
                what: path.display().to_string(),
                source: serde::de::Error::custom("index.json is not a JSON object"),
            }),
        }
    }

    /// Every entry of `index.json`, in file order.
    pub fn entries(&self) -> Result<Vec<IndexEntry>, StoreError> {
        let index = self.read_index_value()?;
        parse_entries(&index)
    }

    /// Changes `index.json` under the index lock; `change` edits the `manifests` array (every
    /// field of every entry, known to us or not, is kept as read).
    pub(crate) fn update_index<T>(
        &self,
        change: impl FnOnce(&mut Vec<Value>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _guard = self.lock_index()?;
        let mut index = self.read_index_value()?;
        let mut manifests = match index.remove("manifests") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let out = change(&mut manifests)?;
        index.insert("manifests".into(), Value::Array(manifests));
        let bytes =
            crate::canonical::to_vec(&Value::Object(index)).map_err(json_err("index.json"))?;
        self.write_atomic(&self.layout.join("index.json"), &bytes)?;
        Ok(out)
    }

    // ---- writing JSON blobs ----

    /// Writes `value` as a canonical JSON blob and returns its descriptor.
    pub fn put_json<T: serde::Serialize + ?Sized>(
        &self,
        media_type: MediaType,
        value: &T,
    ) -> Result<Descriptor, StoreError> {
        let bytes = crate::canonical::to_vec(value).map_err(json_err(&media_type))?;
        let info = self.blobs.write_all(&bytes)?;
        Ok(Descriptor::new(media_type, info.size, info.digest))
    }

    /// Writes an image config given as JSON (so Docker's `Healthcheck`, `Shell` and `OnBuild`,
    /// which `oci-spec` does not model, are kept).
    pub fn put_config_json(&self, config: &Value) -> Result<Descriptor, StoreError> {
        self.put_json(MediaType::ImageConfig, config)
    }

    /// Writes an image manifest.
    pub fn put_manifest(&self, manifest: &ImageManifest) -> Result<Descriptor, StoreError> {
        self.put_json(MediaType::ImageManifest, manifest)
    }

    /// Writes an image index (several platforms).
    pub fn put_index(&self, index: &ImageIndex) -> Result<Descriptor, StoreError> {
        self.put_json(MediaType::ImageIndex, index)
    }

    // ---- reading JSON blobs ----

    /// Reads and parses a manifest blob.
    pub fn manifest(&self, digest: &Digest) -> Result<ImageManifest, StoreError> {
        let bytes = self.blobs.read_all(digest, MAX_JSON_BLOB)?;
        serde_json::from_slice(&bytes).map_err(json_err(digest))
    }

    /// Reads and parses an index blob.
    pub fn index(&self, digest: &Digest) -> Result<ImageIndex, StoreError> {
        let bytes = self.blobs.read_all(digest, MAX_JSON_BLOB)?;
        serde_json::from_slice(&bytes).map_err(json_err(digest))
    }

    /// Reads a config blob, keeping every field.
    pub fn config(&self, digest: &Digest) -> Result<ImageConfig, StoreError> {
        let bytes = self.blobs.read_all(digest, MAX_JSON_BLOB)?;
        let json = serde_json::from_slice(&bytes).map_err(json_err(digest))?;
        Ok(ImageConfig {
            digest: digest.clone(),
            bytes,
            json,
        })
    }

    /// Picks the manifest for `platform` from a top-level descriptor (manifest or index).
    pub fn manifest_for(
        &self,
        target: &Descriptor,
        platform: &Platform,
    ) -> Result<(Digest, ImageManifest), StoreError> {
        let bytes = self.blobs.read_all(target.digest(), MAX_JSON_BLOB)?;
        let kind = blob_kind(target.media_type(), &bytes);
        match kind {
            Kind::Manifest => {
                let m = serde_json::from_slice(&bytes).map_err(json_err(target.digest()))?;
                Ok((target.digest().clone(), m))
            }
            Kind::Index => {
                let index: ImageIndex =
                    serde_json::from_slice(&bytes).map_err(json_err(target.digest()))?;
                let chosen = index
                    .manifests()
                    .iter()
                    .filter(|d| {
                        d.platform()
                            .as_ref()
                            .is_some_and(|p| platform::matches(platform, p))
                    })
                    // An entry that names its variant beats one that leaves it out; among
                    // equals, the first.
                    .min_by_key(|d| d.platform().as_ref().is_none_or(|p| p.variant().is_none()))
                    .or_else(|| {
                        // An index whose one entry names no platform: take it.
                        (index.manifests().len() == 1 && index.manifests()[0].platform().is_none())
                            .then(|| &index.manifests()[0])
                    })
                    .ok_or_else(|| StoreError::NoPlatform {
                        digest: target.digest().clone(),
                        platform: Box::new(platform.clone()),
                    })?;
                self.manifest_for(chosen, platform)
            }
            Kind::Other(media_type) => Err(StoreError::NotAnImage {
                digest: target.digest().clone(),
                media_type,
            }),
        }
    }

    // ---- names ----

    /// Tags `target` (a manifest or index already in the store) with `name`, normalized
    /// (`busybox` -> `docker.io/library/busybox:latest`). A tag that pointed elsewhere moves; the
    /// image it left stays as an untagged entry unless another tag still holds it.
    pub fn tag(&self, target: &Descriptor, name: &str) -> Result<String, StoreError> {
        let reference = name::parse(name)?;
        if reference.digest().is_some() {
            return Err(StoreError::Name(NameError {
                input: name.into(),
                reason: "a tag cannot contain a digest".into(),
            }));
        }
        self.tag_as(target, reference.to_string())
    }

    fn tag_as(&self, target: &Descriptor, full: String) -> Result<String, StoreError> {
        if !self.blobs.has(target.digest())? {
            return Err(StoreError::Blob(BlobError::NotFound {
                digest: target.digest().clone(),
            }));
        }
        let mut descriptor = target.clone();
        let mut annotations = descriptor.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.into(), full.clone());
        annotations.insert(CONTAINERD_NAME.into(), full.clone());
        descriptor.set_annotations(Some(annotations));
        let entry = serde_json::to_value(&descriptor).map_err(json_err("descriptor"))?;
        self.update_index(|manifests| {
            let mut left: Option<Value> = None;
            manifests.retain(|m| {
                if entry_name(m).as_deref() == Some(full.as_str()) {
                    left = Some(m.clone());
                    false
                } else {
                    true
                }
            });
            // The image the tag left keeps existing, untagged, if nothing else holds it.
            if let Some(old) = left {
                let old_digest = entry_digest(&old);
                if old_digest.as_deref() != Some(target.digest().as_ref())
                    && !manifests.iter().any(|m| entry_digest(m) == old_digest)
                {
                    manifests.push(untagged(old));
                }
            }
            // An untagged entry for the same blob is now redundant.
            manifests.retain(|m| {
                !(entry_name(m).is_none()
                    && entry_digest(m).as_deref() == Some(target.digest().as_ref()))
            });
            manifests.push(entry);
            Ok(())
        })?;
        tracing::debug!(name = %full, digest = %target.digest(), "tagged");
        Ok(full)
    }

    /// Tags `target` with `ref_name` exactly as given, without Docker's normalization — the bare
    /// `latest` or `1.0` that skopeo and umoci write into a layout. It must follow the OCI
    /// `ref.name` grammar (components of `[A-Za-z0-9]` joined by `-._:@+`, separated by `/`).
    /// [`Store::resolve`] finds such names by exact match.
    pub fn tag_raw(&self, target: &Descriptor, ref_name: &str) -> Result<String, StoreError> {
        if !valid_ref_name(ref_name) {
            return Err(StoreError::Name(NameError {
                input: ref_name.into(),
                reason: "not an OCI ref.name (components of [A-Za-z0-9] joined by -._:@+, separated by /)".into(),
            }));
        }
        self.tag_as(target, ref_name.to_string())
    }

    /// Adds `target` to `index.json` without a name (an untagged image, kept from GC).
    pub fn add_untagged(&self, target: &Descriptor) -> Result<(), StoreError> {
        let entry = serde_json::to_value(target).map_err(json_err("descriptor"))?;
        self.update_index(|manifests| {
            if !manifests
                .iter()
                .any(|m| entry_digest(m).as_deref() == Some(target.digest().as_ref()))
            {
                manifests.push(entry);
            }
            Ok(())
        })
    }

    /// Removes the tag `name`; the image stays as an untagged entry if nothing else holds it.
    /// Returns the descriptor the tag pointed at.
    pub fn untag(&self, name: &str) -> Result<Descriptor, StoreError> {
        let full = name::normalize(name);
        let removed = self.update_index(|manifests| {
            // Docker's normalized name first, then a ref.name exactly as another tool wrote it.
            let pos = full
                .as_ref()
                .ok()
                .and_then(|full| {
                    manifests
                        .iter()
                        .position(|m| entry_name(m).as_deref() == Some(full.as_str()))
                })
                .or_else(|| {
                    manifests
                        .iter()
                        .position(|m| entry_name(m).as_deref() == Some(name))
                })
                .ok_or_else(|| match &full {
                    Ok(_) => StoreError::NotFound {
                        reference: name.to_string(),
                    },
                    Err(e) => StoreError::Name(e.clone()),
                })?;
            let old = manifests.remove(pos);
            let digest = entry_digest(&old);
            if !manifests.iter().any(|m| entry_digest(m) == digest) {
                manifests.push(untagged(old.clone()));
            }
            Ok(old)
        })?;
        let mut d: Descriptor =
            serde_json::from_value(removed).map_err(json_err("index.json entry"))?;
        d.set_annotations(None);
        Ok(d)
    }

    /// Lists images: one line per tag, then untagged images. With `pattern`, only tags whose
    /// name matches the glob (`w*`, `team/*`, `busybox:1.*`), tried against the short form
    /// (`busybox`), the full form (`docker.io/library/busybox`), and with `:tag` when the pattern
    /// has one — as `docker images PATTERN` does.
    pub fn images(&self, pattern: Option<&str>) -> Result<Vec<ImageSummary>, StoreError> {
        let mut out: Vec<ImageSummary> = Vec::new();
        for entry in self.entries()? {
            let keep = match (&entry.name, pattern) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(full), Some(p)) => name_matches(p, full),
            };
            if keep {
                out.push(ImageSummary {
                    name: entry.name,
                    target: entry.descriptor,
                });
            }
        }
        out.sort_by(|a, b| (a.name.is_none(), &a.name).cmp(&(b.name.is_none(), &b.name)));
        Ok(out)
    }

    /// Resolves an image the way Docker does: a name (`busybox`, `user/app:v1`,
    /// `host:5000/app@sha256:…`), a full digest (manifest or config), or a unique prefix of an
    /// image ID (the config digest's hex). The manifest is chosen for the host platform.
    pub fn resolve(&self, what: &str) -> Result<Image, StoreError> {
        self.resolve_for(what, &platform::host())
    }

    /// [`Store::resolve`] for a given platform.
    pub fn resolve_for(&self, what: &str, platform: &Platform) -> Result<Image, StoreError> {
        let entries = self.entries()?;
        let image = |target: &Descriptor| -> Result<Image, StoreError> {
            let (manifest_digest, manifest) = self.manifest_for(target, platform)?;
            let names = entries
                .iter()
                .filter(|e| e.descriptor.digest() == target.digest())
                .filter_map(|e| e.name.clone())
                .collect();
            Ok(Image {
                id: manifest.config().digest().clone(),
                names,
                target: strip(target),
                manifest_digest,
                manifest,
            })
        };

        let is_hex = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let full_digest = what
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && is_hex(h))
            .or((what.len() == 64 && is_hex(what)).then_some(what));
        if let Some(hex) = full_digest {
            if let Some(e) = entries
                .iter()
                .find(|e| e.descriptor.digest().digest() == hex)
            {
                return image(&e.descriptor);
            }
        }
        // A name, when it parses as one and is tagged.
        if let Ok(reference) = name::parse(what) {
            if let Some(digest) = reference.digest() {
                if let Some(e) = entries
                    .iter()
                    .find(|e| e.descriptor.digest().as_ref() == digest)
                {
                    return image(&e.descriptor);
                }
            } else {
                let full = reference.to_string();
                if let Some(e) = entries
                    .iter()
                    .find(|e| e.name.as_deref() == Some(full.as_str()))
                {
                    return image(&e.descriptor);
                }
            }
        }
        // A ref.name written as is by another tool (`latest`, `1.0`).
        if let Some(e) = entries.iter().find(|e| e.name.as_deref() == Some(what)) {
            return image(&e.descriptor);
        }
        // An image ID (or a prefix of one).
        let prefix = what.strip_prefix("sha256:").unwrap_or(what);
        if is_hex(prefix) {
            let mut found: BTreeMap<String, (Descriptor, BTreeSet<String>)> = BTreeMap::new();
            for e in &entries {
                let Ok((_, manifest)) = self.manifest_for(&e.descriptor, platform) else {
                    continue;
                };
                let id = manifest.config().digest().digest().to_string();
                if id.starts_with(prefix) {
                    let slot = found
                        .entry(id)
                        .or_insert_with(|| (e.descriptor.clone(), BTreeSet::new()));
                    if let Some(n) = &e.name {
                        slot.1.insert(name::familiar_str(n).to_string());
                    }
                }
            }
            match found.len() {
                0 => {}
                1 => {
                    if let Some((_, (target, _))) = found.into_iter().next() {
                        return image(&target);
                    }
                }
                _ => {
                    let candidates = found
                        .iter()
                        .map(|(id, (_, names))| {
                            let names: Vec<&str> = names.iter().map(String::as_str).collect();
                            if names.is_empty() {
                                id[..12].to_string()
                            } else {
                                format!("{} ({})", &id[..12], names.join(", "))
                            }
                        })
                        .collect();
                    return Err(StoreError::Ambiguous {
                        prefix: what.to_string(),
                        candidates,
                    });
                }
            }
        }
        Err(StoreError::NotFound {
            reference: what.to_string(),
        })
    }

    /// Removes an image from `index.json`, as `docker rmi` does. Given a name, that tag goes
    /// (and the image with it when it was its last tag). Given an ID or digest, every entry of
    /// the image goes — refused when it has several tags unless `force`. The blobs stay until
    /// [`Store::gc`]. Returns the names removed.
    pub fn remove_image(&self, what: &str, force: bool) -> Result<Vec<String>, StoreError> {
        let image = self.resolve(what)?;
        let by_name = name::normalize(what)
            .ok()
            .filter(|full| image.names.contains(full))
            .or_else(|| image.names.iter().find(|n| n.as_str() == what).cloned());
        let target = image.target.digest().clone();
        if let Some(full) = by_name {
            self.update_index(|manifests| {
                manifests.retain(|m| entry_name(m).as_deref() != Some(full.as_str()));
                Ok(())
            })?;
            return Ok(vec![full]);
        }
        if image.names.len() > 1 && !force {
            return Err(StoreError::Conflict {
                id: image.id.clone(),
                names: image.names.clone(),
            });
        }
        self.update_index(|manifests| {
            manifests.retain(|m| entry_digest(m).as_deref() != Some(target.as_ref()));
            Ok(())
        })?;
        Ok(image.names)
    }
}

/// Opens a fresh, uniquely named file in the staging directory `dir`, created and locked under
/// the directory's shared lock (the rule in [`crate::blob`]'s documentation) so that
/// `clean_tmp` never takes it from its live writer.
pub(crate) fn tempfile_in(dir: &Path) -> Result<(File, PathBuf), StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let _guard = lock_tmp(dir, false)?;
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!("file-{}-{seq}-{nanos}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                // Held until the file is renamed or removed: tells clean_tmp the writer lives.
                f.lock().map_err(io_err(&path))?;
                return Ok((f, path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::Io { path, source: e }),
        }
    }
}

/// The OCI `ref.name` grammar: `component ("/" component)*`, a component being alphanumeric
/// runs joined by one of `-._:@+` (or `--`).
fn valid_ref_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|component| {
            let bytes = component.as_bytes();
            let alnum = |b: &u8| b.is_ascii_alphanumeric();
            bytes.first().is_some_and(alnum)
                && bytes.last().is_some_and(alnum)
                && bytes.iter().all(|b| alnum(b) || b"-._:@+".contains(b))
                && !bytes
                    .windows(2)
                    .any(|w| !alnum(&w[0]) && !alnum(&w[1]) && w != b"--")
        })
}

fn name_matches(pattern: &str, full: &str) -> bool {
    // full is "host/path:tag" (no digest for tags).
    let familiar = name::familiar_str(full);
    let strip_tag = |s: &str| -> String {
        let slash = s.rfind('/').map_or(0, |i| i + 1);
        match s[slash..].rfind(':') {
            Some(i) => s[..slash + i].to_string(),
            None => s.to_string(),
        }
    };
    let has_tag = {
        let slash = pattern.rfind('/').map_or(0, |i| i + 1);
        pattern[slash..].contains(':')
    };
    if has_tag {
        name::glob_match(pattern, familiar) || name::glob_match(pattern, full)
    } else {
        name::glob_match(pattern, &strip_tag(familiar))
            || name::glob_match(pattern, &strip_tag(full))
    }
}

/// What a JSON blob is, by its media type or (when that says nothing) its fields.
pub(crate) enum Kind {
    /// An image manifest.
    Manifest,
    /// An image index (several platforms).
    Index,
    /// Anything else (a config, a layer): its media type.
    Other(String),
}

/// The kind of the blob with `media_type` and contents `bytes` (empty: judge by the media
/// type alone).
pub(crate) fn blob_kind(media_type: &MediaType, bytes: &[u8]) -> Kind {
    let mt: String = media_type.to_string();
    match mt.as_str() {
        "application/vnd.oci.image.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v2+json" => Kind::Manifest,
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json" => Kind::Index,
        _ if bytes.is_empty() => Kind::Other(mt),
        _ => {
            // Some tools leave mediaType out of descriptors; look at the document itself.
            #[derive(serde::Deserialize)]
            struct Probe {
                manifests: Option<Value>,
                layers: Option<Value>,
            }
            match serde_json::from_slice::<Probe>(bytes) {
                Ok(Probe {
                    manifests: Some(_), ..
                }) => Kind::Index,
                Ok(Probe {
                    layers: Some(_), ..
                }) => Kind::Manifest,
                _ => Kind::Other(mt),
            }
        }
    }
}

fn parse_entries(index: &Map<String, Value>) -> Result<Vec<IndexEntry>, StoreError> {
    let Some(Value::Array(items)) = index.get("manifests") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let descriptor: Descriptor =
                serde_json::from_value(item.clone()).map_err(json_err("index.json entry"))?;
            let name = entry_name(item);
            Ok(IndexEntry { descriptor, name })
        })
        .collect()
}

/// The `ref.name` annotation of an `index.json` entry.
pub(crate) fn entry_name(entry: &Value) -> Option<String> {
    entry
        .pointer("/annotations/org.opencontainers.image.ref.name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn entry_digest(entry: &Value) -> Option<String> {
    entry
        .get("digest")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn untagged(mut entry: Value) -> Value {
    if let Some(Value::Object(ann)) = entry.get_mut("annotations") {
        ann.remove(REF_NAME);
        ann.remove(CONTAINERD_NAME);
        if ann.is_empty() {
            if let Some(obj) = entry.as_object_mut() {
                obj.remove("annotations");
            }
        }
    }
    entry
}

/// The descriptor without the name annotations `index.json` adds.
fn strip(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    if let Some(mut ann) = d.annotations().clone() {
        ann.remove(REF_NAME);
        ann.remove(CONTAINERD_NAME);
        d.set_annotations((!ann.is_empty()).then_some(ann));
    }
    d
}
