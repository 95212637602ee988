//! `docker image prune [-a]`: [`Engine::image_prune`].

use std::collections::BTreeSet;

use boxwright_layer_store::{GcOptions, GcReport};

use super::read;
use super::remove::RmiLine;
use super::users::users;
use crate::engine::Engine;
use crate::error::Result;

/// What [`Engine::image_prune`] did: Docker's `Deleted Images:` lines and `Total reclaimed
/// space`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImagePruneReport {
    /// `untagged: …` and `deleted: sha256:…`, as Docker lists them.
    pub deleted: Vec<RmiLine>,
    /// Bytes the store's garbage collection freed.
    pub space_reclaimed: u64,
    /// What the store's garbage collection removed (blobs, snapshots, staging files).
    pub gc: GcReport,
}

impl Engine {
    /// `docker image prune [-a]`: removes the dangling (untagged) images, or with `all` every
    /// image no container uses, never one a container (running or not) was made from; then
    /// collects the store's garbage: the blobs and snapshots no image needs any more.
    ///
    /// With the `build` feature, the build cache's layers are kept (its records are roots of
    /// the collection, as `docker image prune` keeps the build cache: `docker builder prune`
    /// is separate). Without it, a build cache another program keeps under this root loses
    /// the layers no image holds.
    ///
    /// Difference from Docker: blobs written in the last 15 minutes stay (the store's grace
    /// for writers in other processes that have not tagged their image yet).
    pub async fn image_prune(&self, all: bool) -> Result<ImagePruneReport> {
        self.blocking(move |e| prune(e, all)).await
    }
}

fn prune(engine: &Engine, all: bool) -> Result<ImagePruneReport> {
    let store = engine.store();
    let mut report = ImagePruneReport::default();
    let mut seen = BTreeSet::new();
    for entry in store.images(None)? {
        if (entry.name.is_some() && !all) || !seen.insert(entry.target.digest().to_string()) {
            continue;
        }
        let Ok(image) = store.resolve_for(entry.target.digest().as_ref(), engine.platform()) else {
            // An entry for another platform only: no container here uses it.
            if entry.name.is_none() || all {
                store.remove_image(entry.target.digest().as_ref(), true)?;
            }
            continue;
        };
        if !users(engine, &image.id)?.is_empty() {
            continue;
        }
        store.remove_image(entry.target.digest().as_ref(), true)?;
        report.deleted.extend(
            image
                .names
                .iter()
                .map(|n| RmiLine::Untagged(read::familiar(n))),
        );
        report.deleted.push(RmiLine::Deleted(image.id.clone()));
    }
    report.gc = gc(engine)?;
    report.space_reclaimed = report.gc.bytes_freed;
    Ok(report)
}

/// The store's gc, with the build cache's layers as roots when the builder is compiled in.
#[cfg(feature = "build")]
fn gc(engine: &Engine) -> Result<GcReport> {
    use std::sync::Arc;

    use boxwright_builder::{Builder, LocalOnly, PruneOptions, RefuseRun};
    // Only its cache is used: it neither runs nor pulls.
    let builder = Builder::new(
        engine.store().clone(),
        Arc::new(RefuseRun),
        Arc::new(LocalOnly),
    );
    Ok(builder
        .gc(&PruneOptions::default(), &GcOptions::default())?
        .store)
}

/// The store's gc.
#[cfg(not(feature = "build"))]
fn gc(engine: &Engine) -> Result<GcReport> {
    Ok(engine.store().gc(&GcOptions::default())?)
}
