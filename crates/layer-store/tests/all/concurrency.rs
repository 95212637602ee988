#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Many writers on one store — threads and separate processes — with gc running beside them,
//! and writers killed mid-write: no partial blob is ever visible and the store opens clean.
//!
//! Child processes are this test binary re-run on one test (`concurrency::child_*`), told what to do through
//! environment variables; without them those tests return at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boxwright_layer_store::sha256;
use boxwright_layer_store::BlobStore;
use boxwright_layer_store::Store;
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::json;

use crate::support::no_grace;

const ROOT_VAR: &str = "BOXWRIGHT_TEST_CHILD_ROOT";
const ID_VAR: &str = "BOXWRIGHT_TEST_CHILD_ID";

fn shared_bytes() -> Vec<u8> {
    (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Writes a shared blob and an own blob, and tags an image `NAME` made of them, under a lease.
fn write_image(store: &Store, name: &str) {
    let _lease = store.lease().unwrap();
    let shared = store.blobs().write_all(&shared_bytes()).unwrap();
    let own = store
        .blobs()
        .write_all(format!("own layer of {name}").as_bytes())
        .unwrap();
    let config = store
        .put_config_json(&json!({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": []}, "name": name}))
        .unwrap();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![
            Descriptor::new(MediaType::ImageLayer, shared.size, shared.digest),
            Descriptor::new(MediaType::ImageLayer, own.size, own.digest),
        ])
        .build()
        .unwrap();
    let m = store.put_manifest(&manifest).unwrap();
    store.tag(&m, name).unwrap();
}

fn assert_clean(root: &Path) {
    let store = Store::open(root).unwrap();
    let problems = store.fsck().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(leftovers.is_empty(), "staging files left: {leftovers:?}");
}

#[test]
fn threads_write_the_same_and_different_blobs_beside_gc() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.gc(&no_grace()).unwrap();
                runs += 1;
            }
            runs
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    write_image(&store, &format!("t{t}-{i}"));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(gc.join().unwrap() > 0);
    for t in 0..6 {
        for i in 0..5 {
            let image = store.resolve(&format!("t{t}-{i}")).unwrap();
            for layer in image.layers() {
                assert!(
                    store.blobs().has(layer.digest()).unwrap(),
                    "gc took a tagged image's layer"
                );
            }
        }
    }
    assert_eq!(store.images(None).unwrap().len(), 30);
    assert_clean(dir.path());
}

fn child(test: &str, root: &Path, id: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(ROOT_VAR, root)
        .env(ID_VAR, id)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// In a child: writes images `p<ID>-0..5`.
#[test]
fn child_image_writer() {
    let (Some(root), Some(id)) = (std::env::var_os(ROOT_VAR), std::env::var(ID_VAR).ok()) else {
        return;
    };
    let store = Store::open(root).unwrap();
    for i in 0..5 {
        write_image(&store, &format!("p{id}-{i}"));
    }
}

#[test]
fn processes_write_beside_gc() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut children: Vec<Child> = (0..4)
        .map(|id| {
            child(
                "concurrency::child_image_writer",
                dir.path(),
                &id.to_string(),
            )
        })
        .collect();
    let mut gc_runs = 0;
    loop {
        store.gc(&no_grace()).unwrap();
        gc_runs += 1;
        if children.iter_mut().all(|c| c.try_wait().unwrap().is_some()) {
            break;
        }
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert!(gc_runs > 0);
    store.gc(&no_grace()).unwrap();
    assert_eq!(store.images(None).unwrap().len(), 20);
    for id in 0..4 {
        for i in 0..5 {
            for layer in store.resolve(&format!("p{id}-{i}")).unwrap().layers() {
                assert!(store.blobs().has(layer.digest()).unwrap());
            }
        }
    }
    // The shared 1 MiB blob is stored once.
    assert!(store.blobs().has(&sha256(&shared_bytes())).unwrap());
    assert_clean(dir.path());
}

/// In a child: writes one endless blob, slowly, until killed.
#[test]
fn child_endless_blob() {
    let Some(root) = std::env::var_os(ROOT_VAR) else {
        return;
    };
    if std::env::var(ID_VAR).ok().as_deref() != Some("blob") {
        return;
    }
    let store = Store::open(root).unwrap();
    let mut w = store.blobs().writer().unwrap();
    loop {
        w.write_all(&[7u8; 64 * 1024]).unwrap();
        w.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// In a child: retags images in a loop until killed (index.json rewritten over and over).
#[test]
fn child_endless_tagger() {
    let Some(root) = std::env::var_os(ROOT_VAR) else {
        return;
    };
    if std::env::var(ID_VAR).ok().as_deref() != Some("tag") {
        return;
    }
    let store = Store::open(root).unwrap();
    write_image(&store, "base");
    let target = store.resolve("base").unwrap().target;
    for i in 0.. {
        store.tag(&target, &format!("tag{}", i % 50)).unwrap();
        store.untag(&format!("tag{}", (i + 25) % 50)).ok();
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_writer_killed_mid_blob_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let tmp = dir.path().join("tmp");
    let mut c = child("concurrency::child_endless_blob", dir.path(), "blob");
    // Wait until the child has staged a few MiB.
    wait_for("a staged blob", || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .any(|e| e.unwrap().metadata().unwrap().len() > 2 << 20)
    });
    // While it writes, another process's open leaves its staging file alone (it holds a lock).
    Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
    c.kill().unwrap();
    c.wait().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(
        store.blobs().list().unwrap().is_empty(),
        "a partial blob became visible"
    );
    assert_clean(dir.path());
}

#[test]
fn a_process_killed_while_tagging_leaves_a_readable_index() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let index = dir.path().join("oci/index.json");
    let mut c = child("concurrency::child_endless_tagger", dir.path(), "tag");
    wait_for("tags", || {
        std::fs::read_to_string(&index)
            .unwrap()
            .matches("tag")
            .count()
            > 40
    });
    c.kill().unwrap();
    c.wait().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.entries().unwrap().len() > 20);
    store.resolve("base").unwrap();
    assert_clean(dir.path());
}

/// How long the writers and the openers of `opening_the_store_never_fails_a_live_writer` run.
const RACE_FOR: Duration = Duration::from_secs(3);

/// In a child: writes small blobs (each a staging file created, locked and renamed) for
/// [`RACE_FOR`]; any error fails the child.
#[test]
fn child_small_blob_writer() {
    use std::error::Error as _;
    let (Some(root), Some(id)) = (std::env::var_os(ROOT_VAR), std::env::var(ID_VAR).ok()) else {
        return;
    };
    let Some(id) = id.strip_prefix("small-") else {
        return;
    };
    let store = Store::open(root).unwrap();
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < RACE_FOR {
        store
            .blobs()
            .write_all(format!("small blob {id}-{i}").as_bytes())
            .unwrap_or_else(|e| panic!("writer {id}, blob {i}: {e}: {:?}", e.source()));
        i += 1;
    }
}

/// In a child: opens the store over and over (each open cleans `tmp/`) for [`RACE_FOR`].
#[test]
fn child_store_opener() {
    let Some(root) = std::env::var_os(ROOT_VAR) else {
        return;
    };
    if std::env::var(ID_VAR).ok().as_deref() != Some("opener") {
        return;
    }
    let start = Instant::now();
    while start.elapsed() < RACE_FOR {
        Store::open(&root).unwrap();
    }
}

/// `Store::open` in one process cleans `tmp/` while writers in others stage blobs: no writer
/// may lose its staging file (it is created, then locked; a clean between the two must not
/// take it).
#[test]
fn opening_the_store_never_fails_a_live_writer() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let mut children: Vec<Child> = (0..2)
        .map(|id| {
            child(
                "concurrency::child_small_blob_writer",
                dir.path(),
                &format!("small-{id}"),
            )
        })
        .collect();
    children.push(child(
        "concurrency::child_store_opener",
        dir.path(),
        "opener",
    ));
    // This process opens the store too, as often as it can, while the children run.
    while !children.iter_mut().all(|c| c.try_wait().unwrap().is_some()) {
        Store::open(dir.path()).unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer or an opener failed");
    }
    assert_clean(dir.path());
}
