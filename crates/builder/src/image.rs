//! The image being built: its config document (kept as JSON so Docker's own fields survive),
//! its layers, and writing it to the store.

use std::str::FromStr;

use boxwright_layer_store::{Digest, Image, Platform, Store};
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::BuildError;

/// One layer of the image: its blob and its diffID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerDesc {
    /// The blob's digest.
    pub(crate) digest: String,
    /// The blob's size.
    pub(crate) size: u64,
    /// The blob's media type.
    pub(crate) media_type: String,
    /// The uncompressed tar's digest.
    pub(crate) diff_id: String,
}

impl LayerDesc {
    /// The blob digest, parsed.
    pub(crate) fn blob(&self) -> Result<Digest, BuildError> {
        parse_digest(&self.digest)
    }
}

/// A stage's image so far: the whole config document and the layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImageState {
    /// The config document (`architecture`, `os`, `config`, `rootfs`, `history`).
    pub(crate) config: Value,
    /// The layers, base first.
    pub(crate) layers: Vec<LayerDesc>,
}

/// Parses a digest string.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, BuildError> {
    Digest::from_str(s).map_err(BuildError::store(format!("parsing the digest {s}")))
}

impl ImageState {
    /// An empty image (`FROM scratch`) for `platform`.
    pub(crate) fn scratch(platform: &Platform) -> ImageState {
        let mut doc = json!({
            "architecture": platform.architecture().to_string(),
            "os": platform.os().to_string(),
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let (Some(v), Some(obj)) = (platform.variant(), doc.as_object_mut()) {
            obj.insert("variant".into(), Value::String(v.clone()));
        }
        ImageState {
            config: doc,
            layers: Vec::new(),
        }
    }

    /// The state of an image in the store.
    pub(crate) fn from_image(store: &Store, image: &Image) -> Result<ImageState, BuildError> {
        let config = store.config(&image.id).map_err(BuildError::store(format!(
            "reading the config {}",
            image.id
        )))?;
        let diff_ids = config.diff_ids().map_err(BuildError::store(format!(
            "reading the config {}",
            image.id
        )))?;
        let layers = image
            .layers()
            .iter()
            .zip(diff_ids)
            .map(|(d, diff)| LayerDesc {
                digest: d.digest().to_string(),
                size: d.size(),
                media_type: d.media_type().to_string(),
                diff_id: diff.to_string(),
            })
            .collect();
        let mut doc = config.json;
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("created");
            if !obj.contains_key("history") {
                obj.insert("history".into(), json!([]));
            }
        }
        Ok(ImageState {
            config: doc,
            layers,
        })
    }

    /// The `config` section (`Env`, `Cmd`, …), created when missing.
    pub(crate) fn cfg_mut(&mut self) -> &mut Map<String, Value> {
        let doc = obj_mut(&mut self.config);
        let section = doc.entry("config").or_insert_with(|| json!({}));
        obj_mut(section)
    }

    /// A field of the `config` section.
    pub(crate) fn cfg(&self, key: &str) -> Option<&Value> {
        self.config.get("config").and_then(|c| c.get(key))
    }

    /// The environment (`config.Env`) as pairs, in order.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let list = self.cfg("Env").and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect()
    }

    /// Sets `KEY=value` in `config.Env`, replacing an earlier value of `KEY`.
    pub(crate) fn set_env(&mut self, key: &str, value: &str) {
        let env = self.cfg_mut().entry("Env").or_insert_with(|| json!([]));
        let list = arr_mut(env);
        let entry = Value::String(format!("{key}={value}"));
        let prefix = format!("{key}=");
        match list.iter_mut().find(|v| {
            v.as_str()
                .is_some_and(|s| s.starts_with(&prefix) || s == key)
        }) {
            Some(slot) => *slot = entry,
            None => list.push(entry),
        }
    }

    /// The working directory (`/` when unset).
    pub(crate) fn workdir(&self) -> String {
        match self.cfg("WorkingDir").and_then(Value::as_str) {
            Some(w) if !w.is_empty() => w.to_string(),
            _ => "/".to_string(),
        }
    }

    /// The shell of shell-form commands (`/bin/sh -c` unless `SHELL` set one).
    pub(crate) fn shell(&self) -> Vec<String> {
        let shell: Vec<String> = self
            .cfg("Shell")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if shell.is_empty() {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        } else {
            shell
        }
    }

    /// The `created` time of the last history entry, if any.
    pub(crate) fn last_created(&self) -> Option<String> {
        let history = self.config.get("history")?.as_array()?;
        Some(history.last()?.get("created")?.as_str()?.to_string())
    }

    /// Appends a history entry.
    pub(crate) fn add_history(&mut self, created: &str, created_by: &str, empty_layer: bool) {
        let mut entry = json!({"created": created, "created_by": created_by, "comment": "buildkit.dockerfile.v0"});
        if empty_layer {
            if let Some(o) = entry.as_object_mut() {
                o.insert("empty_layer".into(), Value::Bool(true));
            }
        }
        let doc = obj_mut(&mut self.config);
        arr_mut(doc.entry("history").or_insert_with(|| json!([]))).push(entry);
    }

    /// Appends a layer (and its diffID to `rootfs.diff_ids`).
    pub(crate) fn add_layer(&mut self, layer: LayerDesc) {
        let doc = obj_mut(&mut self.config);
        let rootfs = obj_mut(
            doc.entry("rootfs")
                .or_insert_with(|| json!({"type": "layers", "diff_ids": []})),
        );
        arr_mut(rootfs.entry("diff_ids").or_insert_with(|| json!([])))
            .push(Value::String(layer.diff_id.clone()));
        self.layers.push(layer);
    }

    /// Writes the config (with `created`) and the manifest; returns the config descriptor, the
    /// manifest and the manifest's descriptor.
    pub(crate) fn write(
        &self,
        store: &Store,
        created: &str,
    ) -> Result<(Descriptor, ImageManifest, Descriptor), BuildError> {
        let mut doc = self.config.clone();
        obj_mut(&mut doc).insert("created".into(), Value::String(created.to_string()));
        let config = store
            .put_config_json(&doc)
            .map_err(BuildError::store("writing the image config"))?;
        let mut layers = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            layers.push(Descriptor::new(
                MediaType::from(l.media_type.as_str()),
                l.size,
                l.blob()?,
            ));
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config.clone())
            .layers(layers)
            .build()
            .map_err(BuildError::store("making the manifest"))?;
        let desc = store
            .put_manifest(&manifest)
            .map_err(BuildError::store("writing the manifest"))?;
        Ok((config, manifest, desc))
    }

    /// The state as an untagged image in the store, for its snapshots or a flattened unpack.
    pub(crate) fn as_image(&self, store: &Store) -> Result<Image, BuildError> {
        let (config, manifest, desc) = self.write(store, "1970-01-01T00:00:00Z")?;
        Ok(Image {
            id: config.digest().clone(),
            names: Vec::new(),
            manifest_digest: desc.digest().clone(),
            target: desc,
            manifest,
        })
    }
}

/// The object inside `v`, which is made an object when it is not one.
fn obj_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// The array inside `v`, which is made an array when it is not one.
fn arr_mut(v: &mut Value) -> &mut Vec<Value> {
    if !v.is_array() {
        *v = json!([]);
    }
    match v {
        Value::Array(a) => a,
        _ => unreachable!("made an array above"),
    }
}

pub(crate) use boxwright_layer_store::rfc3339;

/// Now, or the source date epoch, as RFC 3339.
pub(crate) fn created(source_date_epoch: Option<i64>) -> String {
    let secs = source_date_epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0)
    });
    rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
