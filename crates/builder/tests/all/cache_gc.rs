//! The build cache's gc: records kept as the store's gc roots, dropped when their layers are
//! gone, when unused for too long, or least recently used over a size.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boxwright_builder::{
    BuildEvent, BuildRequest, BuildResult, Builder, DockerfileSource, LocalOnly, MissReason,
    PruneOptions, RefuseRun,
};
use boxwright_layer_store::{BlobStore, GcOptions, Store};

use crate::support::{run_build, write_files};

/// A store root and a context in one temp dir.
struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ctx: PathBuf,
}

impl Setup {
    /// A context with `a.bin` and `b.bin`, 64 KiB each of incompressible bytes.
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let ctx = tmp.path().join("ctx");
        fs::create_dir_all(&ctx).unwrap();
        fs::write(ctx.join("a.bin"), noise(1, 64 * 1024)).unwrap();
        fs::write(ctx.join("b.bin"), noise(2, 64 * 1024)).unwrap();
        write_files(&ctx, &[("small.txt", "hello")]);
        Setup {
            _tmp: tmp,
            root,
            ctx,
        }
    }

    fn builder(&self) -> Builder {
        Builder::new(
            Store::open(&self.root).unwrap(),
            Arc::new(RefuseRun),
            Arc::new(LocalOnly),
        )
    }

    /// Builds `dockerfile` tagged `tag` with `SOURCE_DATE_EPOCH`; the result and the events.
    fn build(&self, dockerfile: &str, tag: &str) -> (BuildResult, Vec<BuildEvent>) {
        let mut request = BuildRequest::new(
            DockerfileSource::Text {
                name: format!("Dockerfile.{tag}"),
                text: dockerfile.into(),
            },
            &self.ctx,
        );
        request.tags = vec![tag.into()];
        // Reproducible, so a rebuild that misses gives the same image as the first build.
        request.source_date_epoch = Some(1_700_000_000);
        let (result, events) = run_build(&self.builder(), request);
        (result.unwrap(), events)
    }

    /// Removes the image `tag`, so only the cache holds its layers.
    fn remove(&self, tag: &str) {
        Store::open(&self.root)
            .unwrap()
            .remove_image(tag, true)
            .unwrap();
    }

    fn steps_dir(&self) -> PathBuf {
        self.root.join("cache/steps")
    }

    /// The record files.
    fn records(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.steps_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        out.sort();
        out
    }

    fn has_blob(&self, result: &BuildResult, step: usize) -> bool {
        let layer = result.steps[step].layer.clone().unwrap();
        Store::open(&self.root)
            .unwrap()
            .blobs()
            .has(&layer)
            .unwrap()
    }
}

/// `len` bytes that do not compress (xorshift from `seed`).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn no_grace() -> GcOptions {
    GcOptions {
        grace: Duration::ZERO,
        prune_dangling: false,
    }
}

fn cached(events: &[BuildEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, BuildEvent::StepCached { .. }))
        .count()
}

fn misses(events: &[BuildEvent]) -> Vec<MissReason> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepCacheMiss { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Sets `path`'s mtime (its last use) `ago` back.
fn last_used(path: &Path, ago: Duration) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - ago)
        .unwrap();
}

const A: &str = "FROM scratch\nCOPY a.bin /\nCOPY small.txt /\nENV A=1\n";
const B: &str = "FROM scratch\nCOPY b.bin /\n";

#[test]
fn the_records_layers_outlive_the_stores_gc() {
    let s = Setup::new();
    let (first, _) = s.build(A, "a");
    // Only the cache holds the layers now: the store's own gc would take them.
    s.remove("a");
    let report = s
        .builder()
        .gc(&PruneOptions::default(), &no_grace())
        .unwrap();
    assert_eq!(report.cache.kept, 3);
    assert_eq!(report.cache.unusable + report.cache.over_size, 0);
    assert!(s.has_blob(&first, 0) && s.has_blob(&first, 1));
    // The manifest and config blobs of the removed image went.
    assert!(!report.store.blobs_removed.is_empty());
    let (again, events) = s.build(A, "a");
    assert_eq!(cached(&events), 3, "{:?}", misses(&events));
    assert_eq!(again.image_id, first.image_id);
}

#[test]
fn keep_bytes_zero_drops_every_record_and_the_store_frees_their_layers() {
    let s = Setup::new();
    let (first, _) = s.build(A, "a");
    s.remove("a");
    let report = s
        .builder()
        .gc(
            &PruneOptions {
                keep_bytes: Some(0),
                keep_duration: None,
            },
            &no_grace(),
        )
        .unwrap();
    assert_eq!((report.cache.over_size, report.cache.kept), (3, 0));
    assert_eq!(report.cache.kept_bytes, 0);
    assert!(report.cache.freed_bytes > 64 * 1024);
    assert!(s.records().is_empty());
    assert!(!s.has_blob(&first, 0) && !s.has_blob(&first, 1));
    assert!(report.store.bytes_freed > 64 * 1024);
    let (again, events) = s.build(A, "a");
    assert_eq!(cached(&events), 0);
    assert_eq!(misses(&events).len(), 3);
    assert_eq!(misses(&events)[0], MissReason::RecordGone);
    assert_eq!(again.image_id, first.image_id);
}

#[test]
fn keep_bytes_counts_only_what_the_cache_alone_holds() {
    let s = Setup::new();
    let (built, _) = s.build(A, "a");
    // The tagged image holds the layers: the cache's size is its record files only, and
    // dropping every record frees no layer (the store's gc may take the untagged configs and
    // manifests a COPY wrote to read its parent's snapshots).
    let report = s
        .builder()
        .gc(
            &PruneOptions {
                keep_bytes: Some(0),
                keep_duration: None,
            },
            &no_grace(),
        )
        .unwrap();
    assert_eq!(report.cache.over_size, 3);
    assert!(report.cache.freed_bytes < 64 * 1024);
    let layers: Vec<String> = built
        .steps
        .iter()
        .filter_map(|st| st.layer.as_ref().map(|l| l.to_string()))
        .collect();
    assert_eq!(layers.len(), 2);
    let removed: Vec<String> = report
        .store
        .blobs_removed
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert!(
        layers.iter().all(|l| !removed.contains(l)),
        "{:?}",
        report.store
    );
}

#[test]
fn keep_duration_drops_the_records_unused_for_long() {
    let s = Setup::new();
    s.build(A, "a");
    s.build(B, "b");
    let b_records: Vec<PathBuf> = {
        let before = s.records();
        // B's one record is the newest file; age every other one by a day.
        let b = before
            .iter()
            .max_by_key(|p| fs::metadata(p).unwrap().modified().unwrap())
            .unwrap()
            .clone();
        for p in before.iter().filter(|p| **p != b) {
            last_used(p, Duration::from_secs(86_400));
        }
        vec![b]
    };
    let report = s
        .builder()
        .prune_cache(&PruneOptions {
            keep_bytes: None,
            keep_duration: Some(Duration::from_secs(3600)),
        })
        .unwrap();
    assert_eq!((report.expired, report.kept), (3, 1));
    assert_eq!(s.records(), b_records);
    let (_, events) = s.build(B, "b");
    assert_eq!(cached(&events), 1);
    let (_, events) = s.build(A, "a");
    assert_eq!(cached(&events), 0);
}

#[test]
fn a_record_whose_layer_was_deleted_is_dropped() {
    let s = Setup::new();
    let (first, _) = s.build(A, "a");
    s.remove("a");
    // Delete the second COPY's layer by hand: that record and the ENV after it name it.
    let store = Store::open(&s.root).unwrap();
    store
        .blobs()
        .delete(first.steps[1].layer.as_ref().unwrap())
        .unwrap();
    let report = s.builder().prune_cache(&PruneOptions::default()).unwrap();
    assert_eq!((report.unusable, report.kept), (2, 1));
    assert_eq!(s.records().len(), 1);
    let (_, events) = s.build(A, "a");
    assert_eq!(cached(&events), 1);
    assert_eq!(misses(&events)[0], MissReason::RecordGone);
}

#[test]
fn a_record_that_does_not_parse_is_dropped_and_stale_staging_removed() {
    let s = Setup::new();
    s.build(B, "b");
    fs::write(s.steps_dir().join("0000.json"), b"{ not json").unwrap();
    fs::write(s.steps_dir().join(".tmp-0000.json-1-0"), b"half").unwrap();
    let report = s.builder().prune_cache(&PruneOptions::default()).unwrap();
    assert_eq!((report.unusable, report.kept), (1, 1));
    let names: Vec<_> = fs::read_dir(s.steps_dir()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn keep_bytes_drops_the_least_recently_used_build_first() {
    let s = Setup::new();
    let (a, _) = s.build(A, "a");
    let (b, _) = s.build(B, "b");
    s.remove("a");
    s.remove("b");
    for p in s.records() {
        last_used(&p, Duration::from_secs(3600));
    }
    // A is used again (all hits): its records are now the most recently used.
    let (_, events) = s.build(A, "a");
    assert_eq!(cached(&events), 3);
    s.remove("a");
    let report = s
        .builder()
        .gc(
            &PruneOptions {
                keep_bytes: Some(100 * 1024),
                keep_duration: None,
            },
            &no_grace(),
        )
        .unwrap();
    assert_eq!((report.cache.over_size, report.cache.kept), (1, 3));
    assert!(report.cache.kept_bytes > 64 * 1024 && report.cache.kept_bytes <= 100 * 1024);
    assert!(s.has_blob(&a, 0) && s.has_blob(&a, 1));
    assert!(!s.has_blob(&b, 0));
    let (_, events) = s.build(A, "a");
    assert_eq!(cached(&events), 3);
    let (_, events) = s.build(B, "b");
    assert_eq!(cached(&events), 0);
}

#[test]
fn a_stage_the_image_does_not_hold_stays_cached_through_gc() {
    let s = Setup::new();
    let dockerfile =
        "FROM scratch AS build\nCOPY a.bin b.bin /\nFROM scratch\nCOPY --from=build /a.bin /\n";
    let (first, _) = s.build(dockerfile, "ms");
    // The tagged image holds the last stage's layer, not the first stage's.
    let report = s
        .builder()
        .gc(&PruneOptions::default(), &no_grace())
        .unwrap();
    assert_eq!(report.cache.kept, 2);
    assert!(s.has_blob(&first, 0));
    let (again, events) = s.build(dockerfile, "ms");
    assert_eq!(cached(&events), 2, "{:?}", misses(&events));
    assert_eq!(again.image_id, first.image_id);
}
