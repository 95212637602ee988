//! Helpers: a temp context made from a list of files, an old mtime, and a build run to its
//! end with its events collected.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use boxwright_builder::{
    BuildError, BuildEvent, BuildRequest, BuildResult, Builder, Checksum, Context, StatCache,
};

/// Write `files` (path, content) under `dir`, making parent directories.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
    }
}

/// A temp dir holding `files`.
pub(crate) fn context_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path(), files);
    tmp
}

/// Set a file's mtime an hour back (its ctime becomes now).
pub(crate) fn age(path: &Path) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// A cache that trusts records at once (tests control their files' times).
pub(crate) fn trusting_cache() -> StatCache {
    StatCache::new().with_racy_window(Duration::ZERO)
}

/// The checksum of `sources` in `dir`, with a fresh cache.
pub(crate) fn sum(dir: &Path, sources: &[&str]) -> Checksum {
    Context::open(dir)
        .unwrap()
        .checksum(sources, &mut StatCache::new())
        .unwrap()
}

/// Runs `request` on a current-thread runtime; the result (or error) and every event it sent.
pub(crate) fn run_build(
    builder: &Builder,
    request: BuildRequest,
) -> (Result<BuildResult, BuildError>, Vec<BuildEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = rt.block_on(builder.build(request, Some(tx)));
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (result, events)
}
