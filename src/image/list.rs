//! `docker images [REPOSITORY[:TAG]]`: [`Engine::images`].

use boxwright_layer_store::Digest;

use super::read::{self, NONE};
use crate::engine::Engine;
use crate::error::Result;

/// One line of `docker images`: a tag, or an untagged (dangling) image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ImageSummary {
    /// The repository as Docker prints it (`busybox`, `localhost:5000/app`), or `<none>`.
    pub repository: String,
    /// The tag, or `<none>`.
    pub tag: String,
    /// The full normalized name (`docker.io/library/busybox:latest`), if tagged.
    pub name: Option<String>,
    /// The image ID (the config digest).
    pub id: Digest,
    /// The digest of the top-level blob (the manifest, or the index of platforms).
    pub digest: Digest,
    /// When the image was made (RFC 3339, from its config), if it says.
    pub created: Option<String>,
    /// The image's size in the store: its layer blobs (compressed) and config.
    pub size: u64,
}

impl ImageSummary {
    /// Docker's short image ID (12 hex digits), as the `IMAGE ID` column shows it.
    pub fn short_id(&self) -> &str {
        let hex = self.id.digest();
        hex.get(..12).unwrap_or(hex)
    }
}

impl Engine {
    /// `docker images [PATTERN]`: one summary per tag, then the untagged images, newest
    /// first (as Docker sorts). `pattern` is Docker's `REPOSITORY[:TAG]` filter with globs
    /// (`busybox`, `team/*`, `app:1.*`), tried against the short and the full name.
    ///
    /// Differences from Docker: `SIZE` is the image's compressed content (layer blobs and
    /// config), as Docker's containerd image store reports it, not the unpacked size; an
    /// entry whose index has no manifest for this engine's platform is left out.
    pub async fn images(&self, pattern: Option<&str>) -> Result<Vec<ImageSummary>> {
        let pattern = pattern.map(str::to_owned);
        self.blocking(move |e| {
            let store = e.store();
            let mut out = Vec::new();
            for entry in store.images(pattern.as_deref())? {
                let (_, manifest) = match store.manifest_for(&entry.target, e.platform()) {
                    Ok(found) => found,
                    Err(err) => {
                        tracing::debug!(digest = %entry.target.digest(), error = %err, "not listed");
                        continue;
                    }
                };
                let config = read::config(store, &manifest)?;
                let (repository, tag) = match &entry.name {
                    Some(full) => read::split_tag(&read::familiar(full)),
                    None => (NONE.to_owned(), NONE.to_owned()),
                };
                out.push(ImageSummary {
                    repository,
                    tag,
                    name: entry.name.clone(),
                    id: config.digest.clone(),
                    digest: entry.target.digest().clone(),
                    created: read::text(&config.json, "/created"),
                    size: read::content_size(&manifest),
                });
            }
            // Newest first; RFC 3339 times in UTC compare as text. Untagged lines last.
            out.sort_by(|a, b| {
                (a.name.is_none(), &b.created, &a.name).cmp(&(b.name.is_none(), &a.created, &b.name))
            });
            Ok(out)
        })
        .await
    }
}
