//! `save` and `load`: images as a single tar archive, in the two forms tools exchange.
//!
//! [`ArchiveFormat::Docker`] is what `docker save` (25 and later) writes: an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) plus `manifest.json` and `repositories`, so
//! both `podman load`/`docker load` and OCI tools read it. [`ArchiveFormat::Oci`] is the layout
//! alone (an "oci-archive"). [`load`] reads either, and the older docker-archive layouts that
//! podman and older Docker write (`<hex>.tar` or `<id>/layer.tar` beside `manifest.json`).
//!
//! Loading streams every file straight into the blob store, each checked against the digest
//! its name or the manifest gives; nothing is tagged until everything has been verified, and
//! blobs the archive brought but no loaded image uses are removed again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};

use oci_spec::image::{Descriptor, Digest, ImageManifest, ImageManifestBuilder, MediaType};
use serde_json::{json, Value};

use crate::blob::{BlobError, BlobStore};
use crate::compress::{self, Compression};
use crate::digest::Sha256Reader;
use crate::name;
use crate::platform;
use crate::store::{Store, StoreError, CONTAINERD_NAME, MAX_JSON_BLOB, REF_NAME};

/// Which archive form [`save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// OCI layout plus `manifest.json` and `repositories`: what `docker save` writes; `podman
    /// load` and `docker load` accept it.
    #[default]
    Docker,
    /// An OCI image layout only (`oci-archive`).
    Oci,
}

/// Why saving or loading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the archive failed.
    #[error("reading or writing archive entry {entry:?} failed")]
    Io {
        /// The entry being read or written.
        entry: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A blob in the archive does not match the digest it is stored under or referenced by.
    #[error("archive entry {entry:?} is not the blob it should be")]
    Blob {
        /// The entry.
        entry: String,
        /// What was wrong.
        #[source]
        source: BlobError,
    },
    /// The archive is not one we can read, or is inconsistent.
    #[error("invalid archive: {0}")]
    Invalid(String),
}

impl From<BlobError> for ArchiveError {
    fn from(e: BlobError) -> Self {
        ArchiveError::Store(StoreError::Blob(e))
    }
}

fn io_at(entry: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let entry = entry.into();
    move |source| ArchiveError::Io { entry, source }
}

/// Writes the images named by `refs` (names, digests or ID prefixes, as [`Store::resolve`]
/// takes) to `out` as one tar archive. Entries are in a fixed order with fixed metadata, so the
/// same images give the same bytes.
pub fn save<W: Write>(
    store: &Store,
    refs: &[&str],
    format: ArchiveFormat,
    out: W,
) -> Result<W, ArchiveError> {
    let platform = platform::host();
    let mut index_entries: Vec<Value> = Vec::new();
    let mut docker_manifest: Vec<Value> = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut blobs: BTreeSet<String> = BTreeSet::new();

    for what in refs {
        let image = store.resolve_for(what, &platform)?;
        // The names to record: the one asked for if it is a name, else all of the image's.
        let names: Vec<String> = match name::normalize(what) {
            Ok(full) if image.names.contains(&full) => vec![full],
            _ => image.names.clone(),
        };
        collect_blobs(store, &image.target, &mut blobs)?;
        let top = serde_json::to_value(&image.target)
            .map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        if names.is_empty() {
            index_entries.push(top.clone());
        }
        for full in &names {
            let mut entry = top.clone();
            if let Some(obj) = entry.as_object_mut() {
                let ann = obj.entry("annotations").or_insert_with(|| json!({}));
                ann[REF_NAME] = json!(full);
                ann[CONTAINERD_NAME] = json!(full);
            }
            index_entries.push(entry);
        }
        let familiar: Vec<String> = names
            .iter()
            .map(|n| name::familiar_str(n).to_string())
            .collect();
        for f in &familiar {
            if let Some((repo, tag)) = split_tag(f) {
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), image.id.digest().to_string());
            }
        }
        docker_manifest.push(json!({
            "Config": format!("blobs/sha256/{}", image.id.digest()),
            "RepoTags": familiar,
            "Layers": image.layers().iter().map(|l| format!("blobs/sha256/{}", l.digest().digest())).collect::<Vec<_>>(),
        }));
    }

    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let add_bytes =
        |tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]| -> Result<(), ArchiveError> {
            let mut h = file_header(bytes.len() as u64);
            tar.append_data(&mut h, path, bytes).map_err(io_at(path))
        };
    let dir = |tar: &mut tar::Builder<W>, path: &str| -> Result<(), ArchiveError> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_size(0);
        tar.append_data(&mut h, path, io::empty())
            .map_err(io_at(path))
    };
    dir(&mut tar, "blobs/")?;
    dir(&mut tar, "blobs/sha256/")?;
    for digest in &blobs {
        let digest: Digest = digest
            .parse()
            .map_err(|_| ArchiveError::Invalid(format!("bad digest {digest}")))?;
        let size = store.blobs().stat(&digest)?.ok_or_else(|| {
            StoreError::Blob(BlobError::NotFound {
                digest: digest.clone(),
            })
        })?;
        let path = format!("blobs/sha256/{}", digest.digest());
        let reader = store.blobs().open(&digest, true)?;
        let mut h = file_header(size);
        tar.append_data(&mut h, &path, reader)
            .map_err(io_at(&path))?;
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index_entries});
    let canon =
        |v: &Value| crate::canonical::to_vec(v).map_err(|e| ArchiveError::Invalid(e.to_string()));
    add_bytes(&mut tar, "index.json", &canon(&index)?)?;
    add_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if format == ArchiveFormat::Docker {
        add_bytes(
            &mut tar,
            "manifest.json",
            &canon(&Value::Array(docker_manifest))?,
        )?;
        add_bytes(
            &mut tar,
            "repositories",
            &canon(
                &serde_json::to_value(&repositories)
                    .map_err(|e| ArchiveError::Invalid(e.to_string()))?,
            )?,
        )?;
    }
    tar.into_inner().map_err(io_at("<end of archive>"))
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(size);
    h
}

fn split_tag(familiar: &str) -> Option<(&str, &str)> {
    let slash = familiar.rfind('/').map_or(0, |i| i + 1);
    let colon = familiar[slash..].rfind(':')? + slash;
    Some((&familiar[..colon], &familiar[colon + 1..]))
}

/// Adds `target` and every blob below it (manifests of an index, configs, layers).
fn collect_blobs(
    store: &Store,
    target: &Descriptor,
    out: &mut BTreeSet<String>,
) -> Result<(), StoreError> {
    if !out.insert(target.digest().to_string()) {
        return Ok(());
    }
    let mt = target.media_type().to_string();
    if mt.ends_with("index.v1+json") || mt.ends_with("manifest.list.v2+json") {
        for m in store.index(target.digest())?.manifests() {
            collect_blobs(store, m, out)?;
        }
    } else if mt.ends_with("manifest.v1+json") || mt.ends_with("manifest.v2+json") {
        let m = store.manifest(target.digest())?;
        out.insert(m.config().digest().to_string());
        for l in m.layers() {
            out.insert(l.digest().to_string());
        }
    }
    Ok(())
}

/// What [`load`] brought in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Names tagged (full, normalized).
    pub names: Vec<String>,
    /// Top-level descriptors of the images loaded (tagged or not).
    pub images: Vec<Descriptor>,
    /// Blobs written to the store (new ones only).
    pub blobs_added: usize,
}

/// Files small enough to be metadata are held in memory; anything else streams to the store.
const METADATA_FILES: &[&str] = &["manifest.json", "index.json", "oci-layout", "repositories"];

/// Loads an archive written by [`save`], `docker save`, `podman save` (docker-archive or
/// oci-archive) or `skopeo copy … docker-archive:/oci-archive:`, plain or gzip/zstd-compressed.
pub fn load<R: Read>(store: &Store, archive: R) -> Result<LoadReport, ArchiveError> {
    let _lease = store.lease()?;
    let reader = compress::decompress(BufReader::with_capacity(1 << 20, archive))
        .map_err(io_at("<archive>"))?;
    let mut tar = tar::Archive::new(reader);
    let mut metadata: HashMap<String, Vec<u8>> = HashMap::new();
    // path in the archive -> blob digest it was stored as.
    let mut files: HashMap<String, Digest> = HashMap::new();
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut new_blobs: BTreeSet<String> = BTreeSet::new();
    let before: BTreeSet<String> = store
        .blobs()
        .list()?
        .into_iter()
        .map(|d| d.to_string())
        .collect();

    for entry in tar.entries().map_err(io_at("<archive>"))? {
        let mut entry = entry.map_err(io_at("<archive>"))?;
        let path = clean_path(&String::from_utf8_lossy(&entry.path_bytes()));
        match entry.header().entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                let target = if entry.header().entry_type() == tar::EntryType::Symlink {
                    resolve_relative(&path, &link)
                } else {
                    clean_path(&link)
                };
                aliases.insert(path, target);
                continue;
            }
            t if !t.is_file() => continue,
            _ => {}
        }
        let base = path.rsplit('/').next().unwrap_or("");
        let is_metadata =
            METADATA_FILES.contains(&path.as_str()) || base == "VERSION" || base == "json";
        if is_metadata {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_JSON_BLOB + 1)
                .read_to_end(&mut bytes)
                .map_err(io_at(&path))?;
            if bytes.len() as u64 > MAX_JSON_BLOB {
                return Err(ArchiveError::Invalid(format!(
                    "{path} is larger than {MAX_JSON_BLOB} bytes"
                )));
            }
            metadata.insert(path, bytes);
            continue;
        }
        // A blob: its name gives the digest it must have (OCI layout), or it is hashed (legacy).
        let expected: Option<Digest> = path
            .strip_prefix("blobs/sha256/")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| format!("sha256:{h}").parse().ok());
        if let Some(d) = &expected {
            if store.blobs().has(d)? {
                files.insert(path, d.clone());
                continue;
            }
        }
        let size = entry.header().size().ok();
        let info = store
            .blobs()
            .write_from(&mut entry, expected.as_ref(), size)
            .map_err(|source| ArchiveError::Blob {
                entry: path.clone(),
                source,
            })?;
        if !before.contains(info.digest.as_ref()) {
            new_blobs.insert(info.digest.to_string());
        }
        files.insert(path, info.digest);
    }

    let result = (|| {
        let lookup = |path: &str| -> Option<Digest> {
            let mut p = clean_path(path);
            for _ in 0..16 {
                if let Some(d) = files.get(&p) {
                    return Some(d.clone());
                }
                p = aliases.get(&p)?.clone();
            }
            None
        };
        let mut report = LoadReport::default();
        // An OCI layout keeps manifests byte for byte, so it wins when both are present.
        if let (Some(bytes), true) = (
            metadata.get("index.json"),
            metadata.contains_key("oci-layout"),
        ) {
            load_oci(store, bytes, &mut report)?;
        } else if let Some(bytes) = metadata.get("manifest.json") {
            load_docker(store, bytes, &lookup, &metadata, &mut report)?;
        } else {
            return Err(ArchiveError::Invalid(
                "neither manifest.json nor index.json found".into(),
            ));
        }
        Ok(report)
    })();

    // Blobs we brought that nothing loaded uses (legacy metadata, a failed load) go again.
    let reachable = match &result {
        Ok(_) => store.reachable()?,
        Err(_) => BTreeSet::new(),
    };
    let mut kept = 0;
    for d in &new_blobs {
        if reachable.contains(d) {
            kept += 1;
        } else if let Ok(d) = d.parse::<Digest>() {
            store.blobs().delete(&d)?;
        }
    }
    result.map(|mut r| {
        r.blobs_added = kept;
        r
    })
}

fn load_oci(
    store: &Store,
    index_bytes: &[u8],
    report: &mut LoadReport,
) -> Result<(), ArchiveError> {
    let index: Value = serde_json::from_slice(index_bytes)
        .map_err(|e| ArchiveError::Invalid(format!("index.json: {e}")))?;
    let entries = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Check every image is complete before tagging any.
    let mut todo = Vec::new();
    for entry in entries {
        let mut d: Descriptor = serde_json::from_value(entry.clone())
            .map_err(|e| ArchiveError::Invalid(format!("index.json entry: {e}")))?;
        let mut blobs = BTreeSet::new();
        collect_blobs(store, &d, &mut blobs)?;
        for b in &blobs {
            let digest: Digest = b
                .parse()
                .map_err(|_| ArchiveError::Invalid(format!("bad digest {b}")))?;
            if !store.blobs().has(&digest)? {
                return Err(ArchiveError::Invalid(format!(
                    "blob {digest} is referenced but not in the archive"
                )));
            }
        }
        let ref_name = entry.pointer("/annotations").and_then(|a| {
            a.get(CONTAINERD_NAME)
                .or_else(|| a.get(REF_NAME))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut ann = d.annotations().clone().unwrap_or_default();
        ann.remove(REF_NAME);
        ann.remove(CONTAINERD_NAME);
        d.set_annotations((!ann.is_empty()).then_some(ann));
        todo.push((d, ref_name));
    }
    for (d, ref_name) in todo {
        match ref_name.as_deref().map(|n| (n, name::parse(n))) {
            Some((_, Ok(_))) => {
                if let Some(n) = ref_name.as_deref() {
                    report.names.push(store.tag(&d, n)?);
                }
            }
            // A bare tag such as `latest` (skopeo, umoci) is not a full name: keep it as written.
            Some((n, Err(_))) => {
                report.names.push(store.tag_raw(&d, n)?);
            }
            None => store.add_untagged(&d)?,
        }
        report.images.push(d);
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn load_docker(
    store: &Store,
    manifest_bytes: &[u8],
    lookup: &dyn Fn(&str) -> Option<Digest>,
    metadata: &HashMap<String, Vec<u8>>,
    report: &mut LoadReport,
) -> Result<(), ArchiveError> {
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(manifest_bytes)
        .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
    let mut todo = Vec::new();
    for entry in entries {
        let config_digest = match lookup(&entry.config) {
            Some(d) => d,
            // A config small enough to have been held as metadata (named `json`): store it now.
            None => match metadata.get(&clean_path(&entry.config)) {
                Some(bytes) => store.blobs().write_all(bytes)?.digest,
                None => {
                    return Err(ArchiveError::Invalid(format!(
                        "config {} is not in the archive",
                        entry.config
                    )))
                }
            },
        };
        let config = store.config(&config_digest)?;
        let diff_ids = config.diff_ids()?;
        if diff_ids.len() != entry.layers.len() {
            return Err(ArchiveError::Invalid(format!(
                "config {config_digest} lists {} layers, manifest.json {}",
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let digest = lookup(path).ok_or_else(|| {
                ArchiveError::Invalid(format!("layer {path} is not in the archive"))
            })?;
            let size = store.blobs().stat(&digest)?.unwrap_or(0);
            let compression = detect(store, &digest)?;
            // The layer's uncompressed content must be what the config says it is.
            let actual = if compression == Compression::None {
                digest.clone()
            } else {
                let reader =
                    compress::decompress(BufReader::new(store.blobs().open(&digest, true)?))
                        .map_err(io_at(path.as_str()))?;
                let mut hashing = Sha256Reader::new(reader);
                io::copy(&mut hashing, &mut io::sink()).map_err(io_at(path.as_str()))?;
                hashing.finish().1
            };
            if &actual != diff_id {
                return Err(ArchiveError::Blob {
                    entry: path.clone(),
                    source: BlobError::DigestMismatch {
                        expected: diff_id.clone(),
                        actual,
                    },
                });
            }
            layers.push(Descriptor::new(
                MediaType::from(compression.layer_media_type()),
                size,
                digest,
            ));
        }
        let config_size = config.bytes.len() as u64;
        let manifest: ImageManifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_size,
                config_digest,
            ))
            .layers(layers)
            .build()
            .map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        todo.push((manifest, entry.repo_tags.unwrap_or_default()));
    }
    for (manifest, tags) in todo {
        let d = store.put_manifest(&manifest)?;
        if tags.is_empty() {
            store.add_untagged(&d)?;
        }
        for t in tags {
            report.names.push(store.tag(&d, &t)?);
        }
        report.images.push(d);
    }
    Ok(())
}

fn detect(store: &Store, digest: &Digest) -> Result<Compression, ArchiveError> {
    let mut reader = BufReader::new(store.blobs().open(digest, false)?);
    let prefix = reader.fill_buf().map_err(io_at(digest.to_string()))?;
    Ok(Compression::detect(prefix))
}

/// `./a//b/` -> `a/b`.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A symlink at `path` with target `link`, as an archive path.
fn resolve_relative(path: &str, link: &str) -> String {
    if link.starts_with('/') {
        return clean_path(link);
    }
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    clean_path(&format!("{dir}/{link}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean_path("./blobs//sha256/x/"), "blobs/sha256/x");
        assert_eq!(
            resolve_relative("abc/layer.tar", "../blobs/sha256/x"),
            "blobs/sha256/x"
        );
        assert_eq!(
            split_tag("localhost:5000/app:v1"),
            Some(("localhost:5000/app", "v1"))
        );
        assert_eq!(split_tag("app"), None);
    }
}
