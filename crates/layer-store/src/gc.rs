//! Garbage collection: [`Store::gc`] removes the blobs no image in `index.json` reaches, the
//! snapshots no image's layers need, and the staging files of dead writers. It sits above the
//! store and the snapshots, since it collects both. [`Store::lock_gc`] lets a layer above
//! (the builder's cache) name its own roots under the same lock.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};

use crate::blob::BlobStore;
use crate::snapshot::gc_snapshots;
use crate::store::{blob_kind, entry_name, json_err, Kind, Store, StoreError, MAX_JSON_BLOB};

/// What [`Store::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs removed.
    pub blobs_removed: Vec<Digest>,
    /// Bytes those blobs held.
    pub bytes_freed: u64,
    /// Snapshot directories (chain ID hex) removed.
    pub snapshots_removed: Vec<String>,
    /// Staging files of dead writers removed.
    pub tmp_removed: usize,
}

/// Settings for [`Store::gc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Blobs and snapshots younger than this are kept even when unreferenced, so that a writer
    /// in another process that has committed blobs but not yet tagged its image keeps them.
    pub grace: Duration,
    /// Also drop untagged ("dangling") entries of `index.json` first.
    pub prune_dangling: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(15 * 60),
            prune_dangling: false,
        }
    }
}

/// The store's gc lock, held exclusively (see [`Store::lock_gc`]): no [`Lease`] is held in any
/// process while it lives, and none can be taken until it is dropped.
///
/// [`Lease`]: crate::store::Lease
#[derive(Debug)]
pub struct GcLock<'a> {
    store: &'a Store,
    _file: File,
}

impl Store {
    /// Takes the gc lock exclusively, waiting for every [`Lease`](crate::store::Lease) in every
    /// process to end (a lease taken by this thread is waited for too: drop it first).
    ///
    /// While the lock is held no writer runs, so a layer that keeps its own references to
    /// blobs (the builder's cache records) can read them, drop what it no longer wants, and
    /// hand the rest to [`GcLock::gc`] as roots, without a writer adding one in between.
    pub fn lock_gc(&self) -> Result<GcLock<'_>, StoreError> {
        Ok(GcLock {
            store: self,
            _file: self.lock("gc", true)?,
        })
    }

    /// Every blob reachable from `index.json`: indexes, manifests, configs, layers.
    pub fn reachable(&self) -> Result<BTreeSet<String>, StoreError> {
        Ok(self.walk()?.0)
    }

    /// [`Store::reachable`], and apart from it the config digests (so gc finds the images'
    /// layers' chain IDs without reading every small blob).
    fn walk(&self) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
        let mut seen = BTreeSet::new();
        let mut configs = BTreeSet::new();
        let mut stack: Vec<Descriptor> =
            self.entries()?.into_iter().map(|e| e.descriptor).collect();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.digest().to_string()) {
                continue;
            }
            let is_json = matches!(blob_kind(d.media_type(), b""), Kind::Manifest | Kind::Index);
            if !is_json || !self.blobs().has(d.digest())? {
                continue;
            }
            let bytes = self.blobs().read_all(d.digest(), MAX_JSON_BLOB)?;
            match blob_kind(d.media_type(), &bytes) {
                Kind::Index => {
                    let index: ImageIndex =
                        serde_json::from_slice(&bytes).map_err(json_err(d.digest()))?;
                    stack.extend(index.manifests().iter().cloned());
                }
                Kind::Manifest => {
                    let m: ImageManifest =
                        serde_json::from_slice(&bytes).map_err(json_err(d.digest()))?;
                    seen.insert(m.config().digest().to_string());
                    configs.insert(m.config().digest().to_string());
                    for layer in m.layers() {
                        seen.insert(layer.digest().to_string());
                    }
                    if let Some(subject) = m.subject() {
                        seen.insert(subject.digest().to_string());
                    }
                }
                Kind::Other(_) => {}
            }
        }
        Ok((seen, configs))
    }

    /// Collects garbage: blobs that no image in `index.json` reaches, staging files of dead
    /// writers, and snapshots no image's layers need. Waits for every [`Lease`](crate::store::Lease) in every process
    /// to end first; blobs younger than `options.grace` stay.
    ///
    /// Blobs only another layer's records name (the builder's cache) are not known here: collect
    /// through that layer's gc, which passes them to [`GcLock::gc`].
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, StoreError> {
        self.lock_gc()?.gc(options, &[])
    }
}

impl GcLock<'_> {
    /// [`Store::gc`] under this lock, keeping also the blobs of `keep` (as they are: a manifest
    /// named there keeps itself, not what it references).
    pub fn gc(&self, options: &GcOptions, keep: &[Digest]) -> Result<GcReport, StoreError> {
        let store = self.store;
        let mut report = GcReport::default();
        if options.prune_dangling {
            store.update_index(|manifests| {
                manifests.retain(|m| entry_name(m).is_some());
                Ok(())
            })?;
        }
        let (mut reachable, configs) = store.walk()?;
        reachable.extend(keep.iter().map(|d| d.to_string()));
        let now = SystemTime::now();
        let young = |path: &Path| -> bool {
            fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() < options.grace)
        };
        for digest in store.blobs().list()? {
            if reachable.contains(digest.as_ref()) {
                continue;
            }
            let path = store.blobs().path(&digest)?;
            if young(&path) {
                continue;
            }
            let size = store.blobs().stat(&digest)?.unwrap_or(0);
            if store.blobs().delete(&digest)? {
                report.bytes_freed += size;
                report.blobs_removed.push(digest);
            }
        }
        report.snapshots_removed = gc_snapshots(store, &configs, &young)?;
        report.tmp_removed = store.blobs().clean_tmp()?;
        tracing::info!(
            blobs = report.blobs_removed.len(),
            bytes = report.bytes_freed,
            snapshots = report.snapshots_removed.len(),
            "gc"
        );
        Ok(report)
    }
}
