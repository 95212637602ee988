//! Garbage collection of the build cache: [`Builder::prune_cache`] drops step records (whose
//! layers are gone, unused for too long, least recently used over a size), and [`Builder::gc`]
//! does that and the store's gc under one lock, the remaining records' layers kept as roots.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use boxwright_layer_store::{BlobStore, Digest, GcOptions, GcReport, Store};

use crate::builder::Builder;
use crate::cache::{Cache, CacheRecord};
use crate::error::BuildError;
use crate::image::parse_digest;

/// Limits for [`Builder::prune_cache`], as `docker builder prune --keep-storage` and
/// `--filter until=`. With neither, only the records whose layers are gone are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOptions {
    /// Drop the least recently used records until the cache holds at most this many bytes:
    /// its record files and the layer blobs that only its records reference (a layer a
    /// tagged image also holds is not counted, since dropping records would not free it).
    pub keep_bytes: Option<u64>,
    /// Drop the records last used (written or hit) longer ago than this.
    pub keep_duration: Option<Duration>,
}

/// What [`Builder::prune_cache`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// Records dropped because a layer they name is no longer in the store (or because they
    /// do not parse): they could only miss.
    pub unusable: usize,
    /// Records dropped because they were last used longer ago than `keep_duration`.
    pub expired: usize,
    /// Records dropped, least recently used first, to bring the cache under `keep_bytes`.
    pub over_size: usize,
    /// Records kept.
    pub kept: usize,
    /// The cache's size after: the kept record files and the layer blobs only they reference.
    pub kept_bytes: u64,
    /// What the dropped records held: their files, and the layer bytes no kept record or
    /// image references any more (freed by the store's gc, e.g. [`Builder::gc`]'s).
    pub freed_bytes: u64,
}

/// What [`Builder::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheGcReport {
    /// The records dropped and kept.
    pub cache: PruneReport,
    /// What the store's gc removed.
    pub store: GcReport,
}

impl Builder {
    /// Drops cache records: those whose layers are gone, those unused for longer than
    /// `options.keep_duration`, then the least recently used until the cache is under
    /// `options.keep_bytes`. A record's last use is its file's mtime, set when it is written
    /// and on every hit.
    ///
    /// Holds the store's gc lock, so it waits for running builds (in any process) to end and
    /// new ones wait for it. It blocks: from async code, call it on a blocking thread. The
    /// layers of dropped records stay in the store until its gc runs: [`Builder::gc`] does
    /// both.
    pub fn prune_cache(&self, options: &PruneOptions) -> Result<PruneReport, BuildError> {
        let store = self.store();
        let _lock = store
            .lock_gc()
            .map_err(BuildError::store("taking the gc lock"))?;
        Ok(prune(store, options)?.0)
    }

    /// Collects the whole root: [`Builder::prune_cache`] with `prune`, then the store's gc with
    /// `gc`, keeping the layers the remaining records reference (the store alone would
    /// collect them, since no image in `index.json` holds them), both under one gc lock so no
    /// build writes a record in between. Blocks as [`Builder::prune_cache`] does.
    pub fn gc(&self, prune: &PruneOptions, gc: &GcOptions) -> Result<CacheGcReport, BuildError> {
        let store = self.store();
        let lock = store
            .lock_gc()
            .map_err(BuildError::store("taking the gc lock"))?;
        let (cache, keep) = self::prune(store, prune)?;
        let store = lock
            .gc(gc, &keep)
            .map_err(BuildError::store("collecting the store's garbage"))?;
        Ok(CacheGcReport { cache, store })
    }
}

/// One record on disk.
struct Entry {
    path: PathBuf,
    key: String,
    used: SystemTime,
    file_size: u64,
    /// Its layer blobs, each once (`None`: the record does not parse).
    layers: Option<BTreeSet<String>>,
}

/// The records' layer blobs: how many kept records reference each, and the bytes those only
/// the cache holds.
struct Holdings {
    refs: BTreeMap<String, usize>,
    /// Sizes of the blobs only the cache holds (present, not reachable from the index).
    own: BTreeMap<String, u64>,
    total: u64,
}

impl Holdings {
    fn add(&mut self, entry: &Entry) {
        self.total += entry.file_size;
        for d in entry.layers.iter().flatten() {
            let n = self.refs.entry(d.clone()).or_default();
            *n += 1;
            if *n == 1 {
                self.total += self.own.get(d).copied().unwrap_or(0);
            }
        }
    }

    fn remove(&mut self, entry: &Entry) {
        self.total = self.total.saturating_sub(entry.file_size);
        for d in entry.layers.iter().flatten() {
            if let Some(n) = self.refs.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    self.refs.remove(d);
                    let size = self.own.get(d).copied().unwrap_or(0);
                    self.total = self.total.saturating_sub(size);
                }
            }
        }
    }
}

/// Drops records as [`Builder::prune_cache`] says (the caller holds the gc lock); returns the
/// report and the layer blobs the kept records reference.
fn prune(store: &Store, options: &PruneOptions) -> Result<(PruneReport, Vec<Digest>), BuildError> {
    let cache = Cache::open(store)?;
    let entries = read_entries(&cache)?;
    let reachable = store
        .reachable()
        .map_err(BuildError::store("reading what the store's images reach"))?;
    let mut present: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for d in entries.iter().flat_map(|e| e.layers.iter().flatten()) {
        if present.contains_key(d) {
            continue;
        }
        let size = match parse_digest(d) {
            Ok(digest) => store
                .blobs()
                .stat(&digest)
                .map_err(BuildError::store(format!("looking up the blob {d}")))?,
            Err(_) => None,
        };
        present.insert(d.clone(), size);
    }
    let own = present
        .iter()
        .filter(|(d, _)| !reachable.contains(*d))
        .filter_map(|(d, size)| size.map(|s| (d.clone(), s)))
        .collect();
    let mut held = Holdings {
        refs: BTreeMap::new(),
        own,
        total: 0,
    };
    entries.iter().for_each(|e| held.add(e));
    let before = held.total;

    let now = SystemTime::now();
    let mut report = PruneReport::default();
    let mut kept = Vec::new();
    for entry in entries {
        let usable = entry.layers.as_ref().is_some_and(|l| {
            l.iter()
                .all(|d| present.get(d).is_some_and(Option::is_some))
        });
        let expired = options
            .keep_duration
            .is_some_and(|max| now.duration_since(entry.used).unwrap_or_default() > max);
        if !usable || expired {
            drop_record(&entry)?;
            held.remove(&entry);
            if usable {
                report.expired += 1;
            } else {
                report.unusable += 1;
            }
        } else {
            kept.push(entry);
        }
    }
    kept.sort_by(|a, b| (a.used, &a.key).cmp(&(b.used, &b.key)));
    let mut kept = kept.into_iter();
    if let Some(limit) = options.keep_bytes {
        while held.total > limit {
            let Some(entry) = kept.next() else { break };
            drop_record(&entry)?;
            held.remove(&entry);
            report.over_size += 1;
        }
    }
    let kept: Vec<Entry> = kept.collect();
    report.kept = kept.len();
    report.kept_bytes = held.total;
    report.freed_bytes = before.saturating_sub(held.total);
    let keep = held
        .refs
        .keys()
        .filter_map(|d| parse_digest(d).ok())
        .collect();
    tracing::info!(
        unusable = report.unusable,
        expired = report.expired,
        over_size = report.over_size,
        kept = report.kept,
        kept_bytes = report.kept_bytes,
        "build cache pruned"
    );
    Ok((report, keep))
}

/// Every record under `steps/`, and removes the staging files of writes that never finished
/// (no build runs while the gc lock is held).
fn read_entries(cache: &Cache) -> Result<Vec<Entry>, BuildError> {
    let dir = cache.dir().join("steps");
    let mut out = Vec::new();
    for item in fs::read_dir(&dir).map_err(BuildError::io("read", &dir))? {
        let item = item.map_err(BuildError::io("read", &dir))?;
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            match fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "stale cache staging removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BuildError::io("remove", &path)(e)),
            }
            continue;
        }
        let Some(key) = name.strip_suffix(".json") else {
            continue;
        };
        let meta = match item.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BuildError::io("stat", &path)(e)),
        };
        let layers = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheRecord>(&b).ok())
            .map(|r| r.state.layers.into_iter().map(|l| l.digest).collect());
        out.push(Entry {
            key: key.to_string(),
            used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            file_size: meta.len(),
            layers,
            path,
        });
    }
    Ok(out)
}

/// Removes one record's file.
fn drop_record(entry: &Entry) -> Result<(), BuildError> {
    match fs::remove_file(&entry.path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BuildError::io("remove", &entry.path)(e)),
    }
}
