//! Build-context checksums of 2,000 and 20,000 small files: cold (empty stat cache), warm
//! (every record trusted), and warm with the cache loaded from its file each time.
//!
//! `cargo bench -p boxwright-builder --bench context`; the context lives on /dev/shm when there
//! is one (tmpfs, as the side-by-side build bench uses).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::Path;
use std::time::Duration;

use boxwright_builder::{Context, StatCache, DEFAULT_RACY_WINDOW};
use criterion::{criterion_group, criterion_main, Criterion};

/// `n` small files, 100 to a directory, like a source tree.
fn make_context(n: usize) -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    for i in 0..n {
        let dir = tmp.path().join(format!("src/m{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("f{i}.js")),
            format!("export const v{i} = {i};\n"),
        )
        .unwrap();
    }
    std::fs::write(tmp.path().join("package.json"), "{}").unwrap();
    tmp
}

fn bench_context(c: &mut Criterion) {
    let contexts: Vec<_> = [2_000, 20_000]
        .into_iter()
        .map(|n| (n, make_context(n)))
        .collect();
    // Let the files leave the racy window so that warm records are trusted.
    std::thread::sleep(DEFAULT_RACY_WINDOW + Duration::from_millis(100));
    let cache_dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("context_checksum");
    group.sample_size(10);
    for (n, tmp) in &contexts {
        let ctx = Context::open(tmp.path()).unwrap();
        group.bench_function(format!("{n}_cold"), |b| {
            b.iter(|| ctx.checksum(&["."], &mut StatCache::new()).unwrap())
        });
        let mut warm = StatCache::new();
        ctx.checksum(&["."], &mut warm).unwrap();
        let file = cache_dir.path().join(format!("stat-{n}"));
        warm.save(&file).unwrap();
        group.bench_function(format!("{n}_warm"), |b| {
            b.iter(|| {
                let mut cache = warm.clone();
                let sum = ctx.checksum(&["."], &mut cache).unwrap();
                assert_eq!(cache.files_hashed(), warm.files_hashed(), "nothing re-read");
                sum
            })
        });
        group.bench_function(format!("{n}_warm_loaded"), |b| {
            b.iter(|| {
                let mut cache = StatCache::load(&file);
                let sum = ctx.checksum(&["."], &mut cache).unwrap();
                assert_eq!(cache.files_hashed(), 0);
                sum
            })
        });
        eprintln!(
            "{n} files: cache file {} bytes",
            std::fs::metadata(&file).unwrap().len()
        );
    }
    group.finish();
}

criterion_group!(benches, bench_context);
criterion_main!(benches);
