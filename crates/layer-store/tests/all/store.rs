#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store: blobs, names, resolution, removal, gc and fsck on a real directory.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use boxwright_layer_store::sha256;
use boxwright_layer_store::GcOptions;
use boxwright_layer_store::{platform, Store, StoreError};
use boxwright_layer_store::{BlobError, BlobStore, MemoryBlobs};
use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, Os, PlatformBuilder,
};
use serde_json::json;

use crate::support::no_grace;

/// Writes a config and a one-layer manifest; returns the manifest's descriptor.
fn image(store: &Store, seed: &str) -> Descriptor {
    let layer = store
        .blobs()
        .write_all(format!("layer {seed}").as_bytes())
        .unwrap();
    let config = store
        .put_config_json(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": [format!("SEED={seed}")], "Healthcheck": {"Test": ["CMD", "true"]}},
            "rootfs": {"type": "layers", "diff_ids": [sha256(seed.as_bytes()).to_string()]},
        }))
        .unwrap();
    let manifest = manifest_of(
        config,
        Descriptor::new(MediaType::ImageLayerGzip, layer.size, layer.digest),
    );
    store.put_manifest(&manifest).unwrap()
}

fn manifest_of(config: Descriptor, layer: Descriptor) -> ImageManifest {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![layer])
        .build()
        .unwrap()
}

/// The blob-store contract, run against both implementations.
fn blob_contract(blobs: &dyn BlobStore) {
    let info = blobs.write_all(b"hello").unwrap();
    assert_eq!(info.digest, sha256(b"hello"));
    assert_eq!(info.size, 5);
    assert!(blobs.has(&info.digest).unwrap());
    assert_eq!(blobs.stat(&info.digest).unwrap(), Some(5));
    let mut back = String::new();
    blobs
        .open(&info.digest, true)
        .unwrap()
        .read_to_string(&mut back)
        .unwrap();
    assert_eq!(back, "hello");
    assert_eq!(blobs.read_all(&info.digest, 5).unwrap(), b"hello");
    assert!(matches!(
        blobs.read_all(&info.digest, 4),
        Err(BlobError::TooLarge { .. })
    ));

    // A wrong expected digest or size keeps nothing.
    let mut w = blobs.writer().unwrap();
    w.write_all(b"other").unwrap();
    let err = w.commit(Some(&sha256(b"nope")), None).unwrap_err();
    assert!(
        matches!(&err, BlobError::DigestMismatch { expected, actual } if *expected == sha256(b"nope") && *actual == sha256(b"other")),
        "{err}"
    );
    assert!(!blobs.has(&sha256(b"other")).unwrap());
    let mut w = blobs.writer().unwrap();
    w.write_all(b"other").unwrap();
    assert!(matches!(
        w.commit(Some(&sha256(b"other")), Some(6)),
        Err(BlobError::SizeMismatch { .. })
    ));
    assert!(!blobs.has(&sha256(b"other")).unwrap());
    // A writer dropped without commit keeps nothing.
    let mut w = blobs.writer().unwrap();
    w.write_all(b"dropped").unwrap();
    drop(w);
    assert!(!blobs.has(&sha256(b"dropped")).unwrap());

    let missing = sha256(b"missing");
    assert!(matches!(
        blobs.open(&missing, true),
        Err(BlobError::NotFound { .. })
    ));
    assert_eq!(blobs.list().unwrap(), vec![info.digest.clone()]);
    assert!(blobs.delete(&info.digest).unwrap());
    assert!(!blobs.delete(&info.digest).unwrap());
    assert!(blobs.list().unwrap().is_empty());
}

#[test]
fn disk_blobs_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    blob_contract(store.blobs());
    // Nothing staged is left behind by the failed and dropped writers.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn memory_blobs_keep_the_contract() {
    blob_contract(&MemoryBlobs::new());
}

#[test]
fn layout_is_an_oci_image_layout() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let layout = dir.path().join("oci");
    assert_eq!(
        std::fs::read_to_string(layout.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert!(layout.join("blobs/sha256").is_dir());
    // Opening again changes nothing.
    let before = std::fs::read(layout.join("index.json")).unwrap();
    Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), before);
}

#[test]
fn a_corrupted_blob_is_caught_on_verified_read_and_by_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let target = image(&store, "a");
    store.tag(&target, "app").unwrap();
    assert!(store.fsck().unwrap().is_empty());
    let layer = store.manifest(target.digest()).unwrap().layers()[0].clone();
    let path = store.blobs().path(layer.digest()).unwrap();
    std::fs::write(&path, b"layer b").unwrap(); // same size, other bytes
    let mut sink = Vec::new();
    let err = store
        .blobs()
        .open(layer.digest(), true)
        .unwrap()
        .read_to_end(&mut sink)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.to_string().contains(&layer.digest().to_string()),
        "{err}"
    );
    let problems = store.fsck().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].subject, layer.digest().to_string());
    std::fs::remove_file(&path).unwrap();
    let problems = store.fsck().unwrap();
    assert!(problems[0].problem.contains("missing"), "{problems:?}");
}

#[test]
fn configs_keep_docker_fields_and_are_canonical() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = json!({
        "os": "linux", "architecture": "amd64",
        "config": {"Shell": ["/bin/bash", "-c"], "OnBuild": ["RUN x"], "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000u64}, "Env": ["A=1"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let d1 = store.put_config_json(&config).unwrap();
    // The same value built in another key order has the same digest.
    let reordered: serde_json::Value = serde_json::from_str(
        r#"{"rootfs":{"diff_ids":[],"type":"layers"},"config":{"Env":["A=1"],"OnBuild":["RUN x"],"Healthcheck":{"Interval":30000000000,"Test":["CMD-SHELL","true"]},"Shell":["/bin/bash","-c"]},"architecture":"amd64","os":"linux"}"#,
    )
    .unwrap();
    assert_eq!(
        store.put_config_json(&reordered).unwrap().digest(),
        d1.digest()
    );
    let back = store.config(d1.digest()).unwrap();
    assert_eq!(back.json, config);
    assert_eq!(back.json["config"]["Healthcheck"]["Test"][0], "CMD-SHELL");
    assert!(back
        .bytes
        .starts_with(br#"{"architecture":"amd64","config":{"Env":["A=1"],"Healthcheck":{"#));
    assert_eq!(
        back.oci()
            .unwrap()
            .config()
            .as_ref()
            .unwrap()
            .env()
            .as_ref()
            .unwrap()[0],
        "A=1"
    );
}

#[test]
fn names_normalize_move_and_leave_untagged_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = image(&store, "a");
    let b = image(&store, "b");
    assert_eq!(
        store.tag(&a, "busybox").unwrap(),
        "docker.io/library/busybox:latest"
    );
    store.tag(&a, "localhost:5000/team/busybox:1").unwrap();
    let resolved = store.resolve("docker.io/library/busybox:latest").unwrap();
    assert_eq!(resolved.target.digest(), a.digest());
    assert_eq!(resolved.names.len(), 2);
    assert_eq!(
        store.resolve("busybox:latest").unwrap().manifest_digest,
        *a.digest()
    );

    // The tag moves to b; a keeps its other tag.
    store.tag(&b, "busybox").unwrap();
    assert_eq!(
        store.resolve("busybox").unwrap().target.digest(),
        b.digest()
    );
    assert_eq!(
        store
            .resolve("localhost:5000/team/busybox:1")
            .unwrap()
            .target
            .digest(),
        a.digest()
    );
    // Moving the last tag off a leaves it untagged, still resolvable by ID.
    store.tag(&b, "localhost:5000/team/busybox:1").unwrap();
    let entries = store.entries().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.descriptor.digest() == a.digest() && e.name.is_none()),
        "{entries:?}"
    );
    let id_a = store
        .manifest(a.digest())
        .unwrap()
        .config()
        .digest()
        .clone();
    assert_eq!(
        store.resolve(&id_a.digest()[..12]).unwrap().target.digest(),
        a.digest()
    );
    // Untagging b's names leaves it untagged too; an unknown name is NotFound.
    store.untag("busybox").unwrap();
    assert!(matches!(
        store.untag("busybox"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.resolve("busybox"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.tag(&a, "Bad Name"),
        Err(StoreError::Name(_))
    ));
}

#[test]
fn resolve_by_digest_and_id_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Make enough images that two IDs share a first hex digit.
    let mut ids = Vec::new();
    for i in 0..20 {
        let d = image(&store, &format!("img{i}"));
        store.tag(&d, &format!("img{i}")).unwrap();
        ids.push((
            d.clone(),
            store
                .manifest(d.digest())
                .unwrap()
                .config()
                .digest()
                .clone(),
        ));
    }
    let (target, id) = &ids[0];
    assert_eq!(
        store
            .resolve(target.digest().as_ref())
            .unwrap()
            .target
            .digest(),
        target.digest()
    );
    assert_eq!(store.resolve(id.as_ref()).unwrap().id, *id);
    assert_eq!(store.resolve(id.digest()).unwrap().id, *id);
    assert_eq!(store.resolve(&id.digest()[..8]).unwrap().id, *id);
    assert_eq!(
        store
            .resolve(&format!("img0@{}", target.digest()))
            .unwrap()
            .id,
        *id
    );
    // An ambiguous one-digit prefix lists its candidates.
    let mut by_first: std::collections::BTreeMap<char, Vec<&str>> = Default::default();
    for (_, id) in &ids {
        by_first
            .entry(id.digest().chars().next().unwrap())
            .or_default()
            .push(id.digest());
    }
    let (c, group) = by_first
        .iter()
        .find(|(_, g)| g.len() > 1)
        .expect("20 IDs over 16 digits share one");
    match store.resolve(&c.to_string()) {
        Err(StoreError::Ambiguous { candidates, .. }) => {
            assert_eq!(candidates.len(), group.len());
            for id in group {
                assert!(
                    candidates.iter().any(|cand| cand.starts_with(&id[..12])),
                    "{candidates:?}"
                );
            }
            assert!(
                candidates.iter().all(|cand| cand.contains("img")),
                "names listed: {candidates:?}"
            );
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    assert!(matches!(
        store.resolve("ffffffffffff0000"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn images_match_globs_like_docker() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = image(&store, "a");
    for name in [
        "web",
        "web:2",
        "worker",
        "team/web",
        "db",
        "localhost:5000/web",
    ] {
        store.tag(&a, name).unwrap();
    }
    let names = |p: &str| -> Vec<String> {
        store
            .images(Some(p))
            .unwrap()
            .into_iter()
            .filter_map(|s| s.name)
            .collect()
    };
    assert_eq!(
        names("w*"),
        vec![
            "docker.io/library/web:2",
            "docker.io/library/web:latest",
            "docker.io/library/worker:latest"
        ]
    );
    assert_eq!(
        names("*/web"),
        vec!["docker.io/team/web:latest", "localhost:5000/web:latest"]
    );
    assert_eq!(names("web:2"), vec!["docker.io/library/web:2"]);
    assert_eq!(names("d?"), vec!["docker.io/library/db:latest"]);
    assert!(names("x*").is_empty());
    assert_eq!(store.images(None).unwrap().len(), 6);
}

#[test]
fn multi_platform_index_picks_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let amd = image(&store, "amd64");
    let arm = image(&store, "arm64");
    let with = |d: &Descriptor, arch: Arch, variant: Option<&str>| {
        let mut p = PlatformBuilder::default().os(Os::Linux).architecture(arch);
        if let Some(v) = variant {
            p = p.variant(v.to_string());
        }
        DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(d.digest().clone())
            .size(d.size())
            .platform(p.build().unwrap())
            .build()
            .unwrap()
    };
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![
            with(&amd, Arch::Amd64, None),
            with(&arm, Arch::ARM64, Some("v8")),
        ])
        .build()
        .unwrap();
    let top = store.put_index(&index).unwrap();
    store.tag(&top, "multi").unwrap();
    let on = |p: &str| {
        store
            .resolve_for("multi", &platform::parse(p).unwrap())
            .map(|i| i.manifest_digest)
    };
    assert_eq!(on("linux/amd64").unwrap(), *amd.digest());
    assert_eq!(on("linux/arm64").unwrap(), *arm.digest());
    assert_eq!(on("linux/arm64/v8").unwrap(), *arm.digest());
    assert!(matches!(
        on("linux/s390x"),
        Err(StoreError::NoPlatform { .. })
    ));
    // GC keeps both platforms' blobs.
    let before = store.blobs().list().unwrap().len();
    assert!(store.gc(&no_grace()).unwrap().blobs_removed.is_empty());
    assert_eq!(store.blobs().list().unwrap().len(), before);
    assert!(store.fsck().unwrap().is_empty());
}

#[test]
fn remove_and_gc() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = image(&store, "a");
    let b = image(&store, "b");
    store.tag(&a, "one").unwrap();
    store.tag(&a, "two").unwrap();
    store.tag(&b, "three").unwrap();
    let stray = store.blobs().write_all(b"stray").unwrap();

    // By ID with two tags: refused unless forced.
    let id_a = store.resolve("one").unwrap().id;
    assert!(matches!(
        store.remove_image(id_a.digest(), false),
        Err(StoreError::Conflict { .. })
    ));
    // By name: only that tag.
    assert_eq!(
        store.remove_image("one", false).unwrap(),
        vec!["docker.io/library/one:latest"]
    );
    assert_eq!(store.resolve("two").unwrap().id, id_a);
    assert_eq!(
        store.remove_image(&id_a.digest()[..10], false).unwrap(),
        vec!["docker.io/library/two:latest"]
    );
    assert!(matches!(
        store.resolve(id_a.digest()),
        Err(StoreError::NotFound { .. })
    ));

    // A young stray blob survives the default grace period; with none, a's blobs and it go.
    assert!(store
        .gc(&GcOptions::default())
        .unwrap()
        .blobs_removed
        .is_empty());
    let report = store.gc(&no_grace()).unwrap();
    let manifest_a = store.blobs().has(a.digest()).unwrap();
    assert!(!manifest_a);
    assert!(report.blobs_removed.contains(&stray.digest));
    assert_eq!(report.blobs_removed.len(), 4, "{report:?}"); // a's manifest, config, layer + stray
    assert!(report.bytes_freed > 0);
    assert_eq!(store.resolve("three").unwrap().target.digest(), b.digest());
    assert!(store.fsck().unwrap().is_empty());
}

#[test]
fn gc_waits_for_leases() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let lease = store.lease().unwrap();
    let unreferenced = store
        .blobs()
        .write_all(b"written under a lease, not yet tagged")
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let gc_store = store.clone();
    let handle = std::thread::spawn(move || {
        let report = gc_store.gc(&no_grace()).unwrap();
        tx.send(()).unwrap();
        report
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "gc ran while a lease was held"
    );
    // The writer tags its image, then lets go.
    let layer = Descriptor::new(
        MediaType::ImageLayer,
        unreferenced.size,
        unreferenced.digest.clone(),
    );
    let config = store
        .put_config_json(&json!({"rootfs": {"type": "layers", "diff_ids": []}}))
        .unwrap();
    let m = store.put_manifest(&manifest_of(config, layer)).unwrap();
    store.tag(&m, "leased").unwrap();
    drop(lease);
    let report = handle.join().unwrap();
    assert!(report.blobs_removed.is_empty(), "{report:?}");
    assert!(store.blobs().has(&unreferenced.digest).unwrap());
}

#[test]
fn index_keeps_fields_it_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = image(&store, "a");
    let index_path = dir.path().join("oci/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["annotations"] = json!({"com.example.note": "kept"});
    index["manifests"] = json!([{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": a.digest().to_string(), "size": a.size(),
        "annotations": {"org.opencontainers.image.ref.name": "docker.io/library/x:1", "com.example.extra": "kept too"},
        "x-future-field": 7
    }]);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    store.tag(&a, "y").unwrap();
    let text = std::fs::read_to_string(&index_path).unwrap();
    for kept in ["com.example.note", "kept too", "x-future-field"] {
        assert!(text.contains(kept), "{kept} lost: {text}");
    }
}

#[test]
fn gc_under_the_lock_keeps_the_blobs_it_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let kept = store.blobs().write_all(b"a cache's layer").unwrap();
    let dropped = store.blobs().write_all(b"nobody's layer").unwrap();
    let report = {
        let lock = store.lock_gc().unwrap();
        lock.gc(&no_grace(), std::slice::from_ref(&kept.digest))
            .unwrap()
    };
    assert_eq!(report.blobs_removed, vec![dropped.digest.clone()]);
    assert!(store.blobs().has(&kept.digest).unwrap());
    assert!(!store.blobs().has(&dropped.digest).unwrap());
    // The lock is released: a lease and a plain gc go ahead, and the blob is no root any more.
    drop(store.lease().unwrap());
    assert_eq!(
        store.gc(&no_grace()).unwrap().blobs_removed,
        vec![kept.digest]
    );
}
