//! `docker commit`: a container's changes as a new layer on its image, with its config (and
//! `--change` lines) as the new image's config, a history entry, and a tag.

use std::path::PathBuf;

use boxwright_layer_store::{
    create_layer, rfc3339, BlobStore, CreateOptions, Digest, Image, LayerSource, Store,
};
use boxwright_runtime::RootFsRecord;
use oci_spec::image::{Descriptor, MediaType};
use serde_json::{json, Map, Value};

use crate::container::changes::apply_changes;
use crate::container::lifecycle::ContainerDetails;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The diffID of an empty layer (a tar of only its end blocks), which Docker does not add.
const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// The options of [`Engine::commit`] (`docker commit` flags).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]`: the name to tag the new image with; untagged when `None`.
    pub reference: Option<String>,
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// `-a`: the author (config's `author` and the history entry's).
    pub author: Option<String>,
    /// `-c`: Dockerfile lines applied to the config (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`,
    /// `LABEL`, `ONBUILD`, `USER`, `VOLUME`, `WORKDIR`, `STOPSIGNAL`, `HEALTHCHECK`).
    pub changes: Vec<String>,
}

impl CommitOptions {
    /// No tag, message, author or change.
    pub fn new() -> Self {
        Self::default()
    }

    /// The name to tag with.
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// `-m`.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// `-a`.
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    /// `-c` (one Dockerfile line, as `CMD ["sh"]`).
    pub fn change(mut self, change: impl Into<String>) -> Self {
        self.changes.push(change.into());
        self
    }
}

impl Engine {
    /// `docker commit [-m] [-a] [-c …] CONTAINER [REPOSITORY[:TAG]]`: a new image of the
    /// container's image plus one layer of its changes — its overlay upper dir (whiteouts
    /// become OCI whiteouts), or, when it runs over a materialized copy (the kernel refused
    /// overlayfs), that copy's difference from the image — whose config is the container's
    /// (env, command, entrypoint, working dir, user, ports, volumes, stop signal, health
    /// check, labels) with `changes` applied, and a history entry as Docker writes it
    /// (`created_by` the container's command, `comment` the message, `author`). As Docker, a
    /// container without changes adds no layer, only an `empty_layer` history entry. Returns
    /// the new image's ID.
    ///
    /// Unlike Docker, a running container is not paused while its layer is written; only a
    /// container made by the facade (which records its image) can be committed.
    pub async fn commit(&self, container: &str, opts: CommitOptions) -> Result<String> {
        let given = container.to_owned();
        self.blocking(move |e| e.commit_blocking(&given, &opts))
            .await
    }

    fn commit_blocking(&self, given: &str, opts: &CommitOptions) -> Result<String> {
        let details = ContainerDetails::of(self.containers().inspect(given)?);
        let image_id = details.image_id.clone().ok_or_else(|| {
            Error::invalid(
                "container",
                given,
                "not made by boxwright's Engine: its image is not recorded",
            )
        })?;
        let base = self.store().resolve_for(&image_id, self.platform())?;
        let base_config = self.store().config(&base.id)?;
        let mut section = match base_config.json.get("config") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        if details
            .info
            .spec
            .annotations()
            .as_ref()
            .is_some_and(|a| a.contains_key(crate::container::config::ANNOTATION_CONFIG))
        {
            take_container_config(&mut section, &details)?;
        }
        apply_changes(&mut section, &opts.changes)?;

        let _lease = self.store().lease()?;
        let layer = self.write_layer(given, &details, &base)?;
        let empty = layer.diff_id.to_string() == EMPTY_LAYER_DIFF_ID;
        let now = rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        );
        let mut config = base_config.json.clone();
        config["config"] = Value::Object(section);
        config["created"] = json!(now);
        let mut entry = json!({
            "created": now,
            "created_by": details.config.cmd.clone().unwrap_or_default().join(" "),
        });
        if let Some(m) = &opts.message {
            entry["comment"] = json!(m);
        }
        if let Some(a) = &opts.author {
            entry["author"] = json!(a);
            config["author"] = json!(a);
        }
        if empty {
            entry["empty_layer"] = json!(true);
        }
        push(&mut config, "history", entry);
        let mut manifest = base.manifest.clone();
        if !empty {
            push(
                &mut config,
                "rootfs/diff_ids",
                json!(layer.diff_id.to_string()),
            );
            let mut layers = manifest.layers().clone();
            layers.push(Descriptor::new(
                MediaType::from(layer.media_type.as_str()),
                layer.size,
                layer.digest.clone(),
            ));
            manifest.set_layers(layers);
        }
        manifest.set_config(self.store().put_config_json(&config)?);
        manifest.set_media_type(Some(MediaType::ImageManifest));
        let target = self.store().put_manifest(&manifest)?;
        match &opts.reference {
            Some(name) => {
                self.store().tag(&target, name)?;
            }
            None => self.store().add_untagged(&target)?,
        }
        let id = manifest.config().digest().to_string();
        tracing::debug!(container = given, image = %id, empty, "committed");
        Ok(id)
    }

    /// Writes the container's layer to the store's blobs.
    fn write_layer(
        &self,
        given: &str,
        details: &ContainerDetails,
        base: &Image,
    ) -> Result<Written> {
        let layer_err = |source| Error::Layer {
            container: given.to_owned(),
            source,
        };
        let merged = match (&details.info.merged, &details.info.rootfs) {
            (Some(m), _) => Some(m.clone()),
            (None, RootFsRecord::Dir { path }) => Some(path.clone()),
            (None, RootFsRecord::Overlay { .. }) => None,
        };
        let writer = self
            .store()
            .blobs()
            .writer()
            .map_err(boxwright_layer_store::StoreError::Blob)?;
        let options = CreateOptions::from_env();
        let (writer, created) = match (&merged, &details.info.rootfs) {
            (None, RootFsRecord::Overlay { upper, .. }) => {
                create_layer(LayerSource::OverlayUpper(upper), writer, &options)
                    .map_err(layer_err)?
            }
            (merged, _) => {
                let upper = merged.clone().unwrap_or_default();
                let lower = Unpacked::of(self.store(), base, &details.info.id)?;
                create_layer(
                    LayerSource::Diff {
                        lower: &lower.0,
                        upper: &upper,
                    },
                    writer,
                    &options,
                )
                .map_err(layer_err)?
            }
        };
        let info = writer
            .commit(Some(&created.digest), Some(created.size))
            .map_err(boxwright_layer_store::StoreError::Blob)?;
        Ok(Written {
            digest: info.digest,
            size: info.size,
            diff_id: created.diff_id,
            media_type: created.media_type,
        })
    }
}

/// A layer blob written for a commit.
struct Written {
    digest: Digest,
    size: u64,
    diff_id: Digest,
    media_type: String,
}

/// The image's tree unpacked in the store's `tmp/` (the lower side of a diff), removed on
/// drop.
struct Unpacked(PathBuf);

impl Unpacked {
    fn of(store: &Store, image: &Image, container: &str) -> Result<Unpacked> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = store.root().join("tmp").join(format!(
            "commit-{}-{nanos}",
            &container[..container.len().min(12)]
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let me = Unpacked(dir);
        store.unpack(image, &me.0)?;
        Ok(me)
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "removing an unpacked image");
        }
    }
}

/// Sets the container's config (as [`ContainerConfig`](crate::ContainerConfig) records it)
/// over the image config's `config` section: every field the container has, and the empty
/// ones removed.
fn take_container_config(
    section: &mut Map<String, Value>,
    details: &ContainerDetails,
) -> Result<()> {
    let Value::Object(theirs) = serde_json::to_value(&details.config)
        .map_err(|e| Error::invalid("container config", details.id(), e.to_string()))?
    else {
        return Ok(());
    };
    for key in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Healthcheck",
        "Labels",
    ] {
        match theirs.get(key) {
            Some(v) => section.insert(key.to_owned(), v.clone()),
            None => section.remove(key),
        };
    }
    Ok(())
}

/// Appends `value` to the array at `path` (`a/b`) of `doc`, made when missing.
fn push(doc: &mut Value, path: &str, value: Value) {
    let mut at = doc;
    for key in path.split('/') {
        if !at.is_object() {
            *at = json!({});
        }
        at = &mut at[key];
    }
    match at {
        Value::Array(a) => a.push(value),
        other => *other = json!([value]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::push;

    #[test]
    fn push_makes_what_is_missing() {
        let mut doc = json!({"history": [1]});
        push(&mut doc, "history", json!(2));
        push(&mut doc, "rootfs/diff_ids", json!("a"));
        assert_eq!(
            doc,
            json!({"history": [1, 2], "rootfs": {"diff_ids": ["a"]}})
        );
    }
}
