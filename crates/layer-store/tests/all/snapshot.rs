#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! Snapshots keyed by chain ID: unpacked once, shared, usable as overlay lower dirs, collected
//! by gc; and `unpack`, the flattened form.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use boxwright_layer_store::GcOptions;
use boxwright_layer_store::LayerSource;
use boxwright_layer_store::Store;
use boxwright_layer_store::{chain_ids, SnapshotError};
use oci_spec::image::{Descriptor, Digest};

use crate::support::{commit_layer, is_root, tag_image};

/// base: a/keep, a/gone, dir/x; top: deletes a/gone, replaces dir wholesale, adds b.
fn two_layers(store: &Store, work: &Path) -> ((Descriptor, Digest), (Descriptor, Digest)) {
    let lower = work.join("lower");
    let upper = work.join("upper");
    for d in [&lower, &upper] {
        fs::create_dir_all(d.join("a")).unwrap();
        fs::create_dir_all(d.join("dir")).unwrap();
        fs::write(d.join("a/keep"), b"keep").unwrap();
    }
    fs::write(lower.join("a/gone"), b"gone").unwrap();
    fs::write(lower.join("dir/x"), b"x").unwrap();
    fs::write(upper.join("dir/y"), b"y").unwrap();
    fs::write(upper.join("b"), b"b").unwrap();
    let base = commit_layer(store, LayerSource::Directory(&lower), None);
    let top = commit_layer(
        store,
        LayerSource::Diff {
            lower: &lower,
            upper: &upper,
        },
        None,
    );
    (base, top)
}

#[test]
fn snapshots_are_overlay_lower_dirs_unpacked_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    let (base, top) = two_layers(&store, dir.path());
    tag_image(&store, "app", &[base.clone(), top.clone()]);
    tag_image(&store, "base-only", std::slice::from_ref(&base));

    let app = store.resolve("app").unwrap();
    let snaps = store.snapshots(&app).unwrap();
    assert_eq!(snaps.len(), 2);
    assert_eq!(
        snaps.iter().map(|s| s.chain_id.clone()).collect::<Vec<_>>(),
        chain_ids(&[base.1.clone(), top.1.clone()])
    );
    assert_eq!(fs::read(snaps[0].dir.join("a/gone")).unwrap(), b"gone");
    // The top snapshot holds the deletion as an overlay whiteout (a 0:0 character device).
    let gone = fs::symlink_metadata(snaps[1].dir.join("a/gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);

    // The base layer's snapshot is shared: the second image does not unpack it again.
    let meta = snaps[0].dir.parent().unwrap().join("meta.json");
    let before = fs::metadata(&meta).unwrap().ino();
    let base_only = store
        .snapshots(&store.resolve("base-only").unwrap())
        .unwrap();
    assert_eq!(base_only[0].dir, snaps[0].dir);
    assert_eq!(fs::metadata(&meta).unwrap().ino(), before);
    assert!(store.fsck().unwrap().is_empty());

    // Flattened, the image is the upper tree.
    let flat = dir.path().join("flat");
    fs::create_dir(&flat).unwrap();
    store.unpack(&app, &flat).unwrap();
    assert!(!flat.join("a/gone").exists());
    assert!(!flat.join("dir/x").exists());
    assert_eq!(fs::read(flat.join("b")).unwrap(), b"b");
    assert_eq!(fs::read(flat.join("dir/y")).unwrap(), b"y");

    // Mounted by the kernel, the snapshots show the same tree as the flattened unpack.
    if is_root() {
        let (upper, work, merged) = (
            dir.path().join("u"),
            dir.path().join("w"),
            dir.path().join("m"),
        );
        for d in [&upper, &work, &merged] {
            fs::create_dir(d).unwrap();
        }
        let lowers = format!("{}:{}", snaps[1].dir.display(), snaps[0].dir.display());
        let status = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!(
                "lowerdir={lowers},upperdir={},workdir={}",
                upper.display(),
                work.display()
            ))
            .arg(&merged)
            .status()
            .unwrap();
        if status.success() {
            let listing = |root: &Path| {
                let mut v: Vec<String> = walk(root)
                    .into_iter()
                    .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                    .collect();
                v.sort();
                v
            };
            let seen = listing(&merged);
            let umount = Command::new("umount").arg(&merged).status().unwrap();
            assert!(umount.success());
            assert_eq!(seen, listing(&flat));
            assert!(!seen.contains(&"a/gone".to_string()));
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "overlay mount failed in CI"
            );
            eprintln!("skipped the overlay mount: mount failed");
        }
    }
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn gc_removes_snapshots_no_image_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    let (base, top) = two_layers(&store, dir.path());
    tag_image(&store, "app", &[base.clone(), top]);
    tag_image(&store, "base-only", &[base]);
    let snaps = store.snapshots(&store.resolve("app").unwrap()).unwrap();
    store.remove_image("app", false).unwrap();
    let report = store
        .gc(&GcOptions {
            grace: Duration::ZERO,
            prune_dangling: false,
        })
        .unwrap();
    assert_eq!(
        report.snapshots_removed,
        vec![snaps[1].chain_id.digest().to_string()]
    );
    assert!(snaps[0].dir.is_dir(), "the shared base stays");
    assert!(!snaps[1].dir.exists());
    assert!(store.fsck().unwrap().is_empty());
}

#[test]
fn a_corrupt_layer_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    let (base, _) = two_layers(&store, dir.path());
    // Claim another diffID for the base layer: unpacking must refuse it.
    let wrong = boxwright_layer_store::sha256(b"not this layer");
    tag_image(&store, "lying", &[(base.0.clone(), wrong.clone())]);
    let err = store
        .snapshots(&store.resolve("lying").unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, SnapshotError::DiffIdMismatch(m) if m.expected == wrong),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(dir.path().join("root/snapshots"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(dir.path().join("root/tmp")).unwrap().count(),
        0
    );

    // A blob whose bytes changed on disk is caught while it is read.
    tag_image(&store, "honest", std::slice::from_ref(&base));
    let path = store.blobs().path(base.0.digest()).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(store.snapshots(&store.resolve("honest").unwrap()).is_err());
    assert_eq!(
        fs::read_dir(dir.path().join("root/snapshots"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn threads_share_one_unpack() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    let (base, top) = two_layers(&store, dir.path());
    tag_image(&store, "app", &[base, top]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || store.snapshots(&store.resolve("app").unwrap()).unwrap())
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert!(store.fsck().unwrap().is_empty());
}
