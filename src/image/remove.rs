//! `docker tag` and `docker rmi`: [`Engine::tag`], [`Engine::rmi`].

use std::fmt;

use boxwright_layer_store::{name, Digest, Image, StoreError};

use super::read;
use super::users::users;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// One line of what `docker rmi` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RmiLine {
    /// A tag was removed (`Untagged: busybox:latest`), as Docker prints the name.
    Untagged(String),
    /// The image itself was removed from the store (`Deleted: sha256:…`); its blobs go with
    /// the next garbage collection ([`Engine::image_prune`]).
    Deleted(Digest),
}

impl fmt::Display for RmiLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RmiLine::Untagged(n) => write!(f, "Untagged: {n}"),
            RmiLine::Deleted(d) => write!(f, "Deleted: {d}"),
        }
    }
}

impl Engine {
    /// `docker tag SOURCE TARGET`: `target` (normalized as Docker does: `app` is
    /// `docker.io/library/app:latest`) now names the image `source` names (a name, an ID or
    /// a unique prefix). A tag that named another image moves. Returns the full new name.
    pub async fn tag(&self, source: &str, target: &str) -> Result<String> {
        let image = self.image(source).await?;
        let target = target.to_owned();
        self.blocking(move |e| Ok(e.store().tag(&image.target, &target)?))
            .await
    }

    /// `docker rmi [-f] IMAGE`, with Docker's rules:
    ///
    /// - a name removes that tag; when it was the image's last, the image goes too;
    /// - an ID (or unique prefix) removes the image with all its tags, refused when it has
    ///   several tags unless `force` ([`StoreError::Conflict`]);
    /// - removing the image is refused while a container (running or not) was made from it,
    ///   unless `force` ([`Error::ImageInUse`]); forced, its tags go but the image stays,
    ///   untagged, as long as the container needs its layers.
    ///
    /// Returns the lines Docker prints (`Untagged: …`, `Deleted: sha256:…`). The blobs stay
    /// until the store's garbage collection ([`Engine::image_prune`]).
    pub async fn rmi(&self, what: &str, force: bool) -> Result<Vec<RmiLine>> {
        let image = self.image(what).await?;
        let what = what.to_owned();
        self.blocking(move |e| rmi(e, &image, &what, force)).await
    }
}

fn rmi(engine: &Engine, image: &Image, what: &str, force: bool) -> Result<Vec<RmiLine>> {
    let store = engine.store();
    let by_name = name::normalize(what)
        .ok()
        .filter(|full| image.names.contains(full))
        .or_else(|| image.names.iter().find(|n| n.as_str() == what).cloned());
    let untagged = |names: &[String]| -> Vec<RmiLine> {
        names
            .iter()
            .map(|n| RmiLine::Untagged(read::familiar(n)))
            .collect()
    };
    // One tag of several: only that tag goes, whoever uses the image.
    if let Some(full) = &by_name {
        if image.names.len() > 1 {
            store.untag(full)?;
            return Ok(untagged(std::slice::from_ref(full)));
        }
    } else if image.names.len() > 1 && !force {
        return Err(StoreError::Conflict {
            id: image.id.clone(),
            names: image.names.clone(),
        }
        .into());
    }
    let users = users(engine, &image.id)?;
    if !users.is_empty() {
        if !force {
            return Err(Error::ImageInUse {
                image: what.to_owned(),
                containers: users,
            });
        }
        // Forced: the names go, the image stays (untagged) for its containers' layers.
        for n in &image.names {
            store.untag(n)?;
        }
        tracing::debug!(image = %image.id, ?users, "untagged; kept for its containers");
        return Ok(untagged(&image.names));
    }
    let mut lines = untagged(&image.names);
    store.remove_image(image.target.digest().as_ref(), true)?;
    lines.push(RmiLine::Deleted(image.id.clone()));
    Ok(lines)
}
