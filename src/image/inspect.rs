//! `docker image inspect` and `docker history`: [`Engine::inspect_image`],
//! [`Engine::history`].

use boxwright_layer_store::{Digest, Image};
use serde_json::Value;

use super::read;
use crate::engine::Engine;
use crate::error::Result;

/// What `docker image inspect` shows, with Docker's field names when serialized (so
/// `{{json .}}` and `{{.Config.Env}}` read as they do with Docker).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ImageInspect {
    /// The image ID (`sha256:…`, the config digest).
    pub id: Digest,
    /// Its tags, as Docker prints them (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `REPOSITORY@DIGEST` for each of its repositories: the top-level blob's digest, which a
    /// registry serves it by.
    pub repo_digests: Vec<String>,
    /// Docker's `Parent` (always empty: images made here have no local parent chain).
    pub parent: String,
    /// The `comment` of the config (`docker commit -m`, `docker import -m`), or empty.
    pub comment: String,
    /// When the image was made (RFC 3339), or empty.
    pub created: String,
    /// The `author` of the config (`docker commit -a`), or empty.
    pub author: String,
    /// The container config (`Cmd`, `Entrypoint`, `Env`, `WorkingDir`, `User`,
    /// `ExposedPorts`, `Volumes`, `Labels`, `StopSignal`, `Healthcheck`…) as the config holds it.
    pub config: Value,
    /// The CPU architecture (`amd64`).
    pub architecture: String,
    /// The architecture's variant (`v8`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The operating system (`linux`).
    pub os: String,
    /// The image's size in the store (its layer blobs, compressed, and its config).
    pub size: u64,
    /// The layers as diffIDs (digests of the uncompressed layers), base first.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// The digest of the manifest for this platform (not a Docker field).
    pub manifest_digest: Digest,
    /// The config's `history`, oldest first, as the config holds it.
    pub history: Vec<Value>,
}

/// An image's `RootFS`: its layers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The diffIDs, base first.
    pub layers: Vec<String>,
}

/// One row of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The image ID for the top row, `<missing>` for the rows below, as Docker shows an
    /// image whose parents are not separate local images.
    pub id: String,
    /// When the step ran (RFC 3339), if recorded.
    pub created: Option<String>,
    /// The instruction that made it (`/bin/sh -c #(nop) CMD ["sh"]`, `RUN …`).
    pub created_by: String,
    /// The size of the layer this step made (its blob, compressed); 0 for an empty layer.
    pub size: u64,
    /// The step's comment, or empty.
    pub comment: String,
    /// True when the step made no layer (`ENV`, `CMD`…).
    pub empty_layer: bool,
    /// The image's tags on the top row (Docker's `Tags`), empty below.
    pub tags: Vec<String>,
}

impl Engine {
    /// `docker image inspect IMAGE`: the image's ID, names, config, platform, layers and
    /// history. `what` is a name, an ID or a unique ID prefix.
    ///
    /// Differences from Docker: `Size` is the compressed content size; `Parent` is empty;
    /// `ManifestDigest` is added.
    pub async fn inspect_image(&self, what: &str) -> Result<ImageInspect> {
        let image = self.image(what).await?;
        self.blocking(move |e| inspect(e, &image)).await
    }

    /// `docker history IMAGE`: one row per history step of the config, newest first; a step
    /// that made a layer shows that layer's size. An image whose config has no history gets
    /// one row per layer.
    ///
    /// Differences from Docker: sizes are those of the compressed layer blobs.
    pub async fn history(&self, what: &str) -> Result<Vec<HistoryEntry>> {
        let image = self.image(what).await?;
        self.blocking(move |e| history(e, &image)).await
    }
}

fn inspect(engine: &Engine, image: &Image) -> Result<ImageInspect> {
    let config = read::config(engine.store(), &image.manifest)?;
    let json = &config.json;
    let repo_tags: Vec<String> = image.names.iter().map(|n| read::familiar(n)).collect();
    let mut repo_digests: Vec<String> = repo_tags
        .iter()
        .map(|t| format!("{}@{}", read::split_tag(t).0, image.target.digest()))
        .collect();
    repo_digests.dedup();
    let text = |p: &str| read::text(json, p).unwrap_or_default();
    Ok(ImageInspect {
        id: image.id.clone(),
        repo_tags,
        repo_digests,
        parent: String::new(),
        comment: text("/comment"),
        created: text("/created"),
        author: text("/author"),
        config: json.get("config").cloned().unwrap_or(Value::Null),
        architecture: text("/architecture"),
        variant: read::text(json, "/variant"),
        os: text("/os"),
        size: read::content_size(&image.manifest),
        root_fs: RootFs {
            kind: read::text(json, "/rootfs/type").unwrap_or_else(|| "layers".into()),
            layers: config.diff_ids()?.iter().map(ToString::to_string).collect(),
        },
        manifest_digest: image.manifest_digest.clone(),
        history: json
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    })
}

fn history(engine: &Engine, image: &Image) -> Result<Vec<HistoryEntry>> {
    let config = read::config(engine.store(), &image.manifest)?;
    let steps = config
        .json
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut layers = image.layers().iter();
    let mut rows: Vec<HistoryEntry> = Vec::new();
    for step in &steps {
        let empty = step
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = if empty {
            0
        } else {
            layers.next().map_or(0, |l| l.size())
        };
        rows.push(HistoryEntry {
            id: MISSING.to_owned(),
            created: read::text(step, "/created"),
            created_by: read::text(step, "/created_by").unwrap_or_default(),
            size,
            comment: read::text(step, "/comment").unwrap_or_default(),
            empty_layer: empty,
            tags: Vec::new(),
        });
    }
    // Layers the history does not account for (or no history at all): a row each.
    for layer in layers {
        rows.push(HistoryEntry {
            id: MISSING.to_owned(),
            created: None,
            created_by: String::new(),
            size: layer.size(),
            comment: String::new(),
            empty_layer: false,
            tags: Vec::new(),
        });
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = image.id.to_string();
        top.tags = image.names.iter().map(|n| read::familiar(n)).collect();
    }
    Ok(rows)
}

/// What Docker shows for a history row's ID when no local image stands for that step.
const MISSING: &str = "<missing>";
