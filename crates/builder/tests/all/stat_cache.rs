//! The stat cache: unchanged files are not read again, it persists, it shrugs off corruption,
//! and a write in the same timestamp granule as the hashing is still noticed.

use std::fs;
use std::time::SystemTime;

use boxwright_builder::{Context, StatCache};

use crate::support::{age, context_dir, trusting_cache};

/// A context of `n` files with old mtimes.
fn aged_context(n: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..n {
        let p = tmp.path().join(format!("d{}/f{i}", i % 7));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, format!("content {i}")).unwrap();
        age(&p);
    }
    tmp
}

#[test]
fn an_unchanged_file_is_not_read_again() {
    let tmp = aged_context(50);
    let ctx = Context::open(tmp.path()).unwrap();
    let mut cache = trusting_cache();
    let cold = ctx.checksum(&["."], &mut cache).unwrap();
    assert_eq!(cache.files_hashed(), 50);
    let warm = ctx.checksum(&["."], &mut cache).unwrap();
    assert_eq!(cache.files_hashed(), 50, "nothing re-read");
    assert_eq!(cold, warm);
    fs::write(tmp.path().join("d3/f3"), "new content").unwrap();
    let after = ctx.checksum(&["."], &mut cache).unwrap();
    assert_eq!(cache.files_hashed(), 51, "only the changed file is read");
    assert_eq!(after.changed_since(&warm), ["d3/f3"]);
}

#[test]
fn a_fresh_file_is_read_again_under_the_default_racy_window() {
    let tmp = context_dir(&[("a", "1"), ("b", "2")]);
    let ctx = Context::open(tmp.path()).unwrap();
    let mut cache = StatCache::new();
    ctx.checksum(&["."], &mut cache).unwrap();
    ctx.checksum(&["."], &mut cache).unwrap();
    assert_eq!(
        cache.files_hashed(),
        4,
        "mtimes within the racy window are not trusted"
    );
}

#[test]
fn survives_a_save_and_load() {
    let tmp = aged_context(20);
    let store = tempfile::tempdir().unwrap();
    let file = store.path().join("context-stat");
    let ctx = Context::open(tmp.path()).unwrap();
    let mut cache = trusting_cache();
    let cold = ctx.checksum(&["."], &mut cache).unwrap();
    assert!(cache.is_dirty());
    cache.save(&file).unwrap();
    let mut loaded = StatCache::load(&file).with_racy_window(std::time::Duration::ZERO);
    assert_eq!(loaded.len(), 20);
    assert!(!loaded.is_dirty());
    assert_eq!(ctx.checksum(&["."], &mut loaded).unwrap(), cold);
    assert_eq!(loaded.files_hashed(), 0, "every record came back");
    // No temporary file is left beside it.
    assert_eq!(fs::read_dir(store.path()).unwrap().count(), 1);
}

#[test]
fn a_corrupt_or_missing_file_gives_an_empty_cache() {
    let tmp = aged_context(5);
    let store = tempfile::tempdir().unwrap();
    let file = store.path().join("context-stat");
    assert!(StatCache::load(&file).is_empty());
    let mut cache = trusting_cache();
    Context::open(tmp.path())
        .unwrap()
        .checksum(&["."], &mut cache)
        .unwrap();
    cache.save(&file).unwrap();
    let good = fs::read(&file).unwrap();
    for bad in [
        Vec::new(),
        b"garbage".to_vec(),
        good[..good.len() - 1].to_vec(),
        {
            let mut flipped = good.clone();
            flipped[20] ^= 1;
            flipped
        },
    ] {
        fs::write(&file, &bad).unwrap();
        assert!(StatCache::load(&file).is_empty());
    }
    // A directory where the file should be cannot be read: empty too, and save says where.
    fs::remove_file(&file).unwrap();
    fs::create_dir(&file).unwrap();
    assert!(StatCache::load(&file).is_empty());
    let err = cache
        .save(&store.path().join("missing-dir/context-stat"))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot save the stat cache to "),
        "{err}"
    );
}

#[test]
fn a_same_size_rewrite_in_the_same_granule_is_noticed() {
    // Racy git: write, hash, rewrite with the same size and put the mtime back. Every field
    // but ctime may be unchanged (and ctime too, within one timestamp tick); the cache must
    // not trust a record of a file modified so close to when it was hashed.
    let tmp = context_dir(&[("f", "aaaa")]);
    let path = tmp.path().join("f");
    let ctx = Context::open(tmp.path()).unwrap();
    let mut cache = StatCache::new();
    let before = ctx.checksum(&["f"], &mut cache).unwrap();
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, "bbbb").unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let after = ctx.checksum(&["f"], &mut cache).unwrap();
    assert_eq!(after.changed_since(&before), ["f"]);
    assert!(SystemTime::now() >= mtime);
}

#[test]
fn retain_drops_records() {
    let tmp = aged_context(3);
    let mut cache = trusting_cache();
    Context::open(tmp.path())
        .unwrap()
        .checksum(&["."], &mut cache)
        .unwrap();
    cache.retain(|p| p.ends_with("d0/f0"));
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_large_context_gives_sorted_entries_and_names_each_change() {
    let tmp = aged_context(700);
    let ctx = Context::open(tmp.path()).unwrap();
    let mut cache = trusting_cache();
    let cold = ctx.checksum(&["."], &mut cache).unwrap();
    assert_eq!(cache.files_hashed(), 700);
    assert_eq!(cold.len(), 707);
    let paths: Vec<_> = cold.entries().map(|(p, _)| p.to_string()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    let few = ctx
        .checksum(&["d1", "d2/f2"], &mut StatCache::new())
        .unwrap();
    for (path, hash) in few.entries() {
        assert_eq!(
            cold.entries().find(|(p, _)| *p == path).unwrap().1,
            hash,
            "{path}"
        );
    }
    fs::write(tmp.path().join("d0/f0"), "changed 0").unwrap();
    fs::write(tmp.path().join("d6/f699"), "changed 699").unwrap();
    let after = ctx.checksum(&["."], &mut cache).unwrap();
    assert_eq!(cache.files_hashed(), 702);
    assert_eq!(after.changed_since(&cold), ["d0/f0", "d6/f699"]);
}
