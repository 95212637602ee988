#![allow(clippy::unwrap_used, clippy::expect_used)]
//! import: a directory or a tarball becomes a one-layer image.

use std::io::{Read, Write};

use boxwright_layer_store::sha256;
use boxwright_layer_store::BlobStore;
use boxwright_layer_store::CreateOptions;
use boxwright_layer_store::Store;
use boxwright_layer_store::{decompress, CompressOptions, Compression};
use boxwright_layer_store::{import, ImportError, ImportOptions, ImportSource};
use serde_json::json;

fn layer_bytes(store: &Store, name: &str) -> Vec<u8> {
    let image = store.resolve(name).unwrap();
    let blob = store
        .blobs()
        .read_all(image.layers()[0].digest(), 1 << 30)
        .unwrap();
    let mut plain = Vec::new();
    decompress(&blob[..])
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

fn options(name: &str) -> ImportOptions {
    ImportOptions {
        name: Some(name.into()),
        config: json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}),
        message: Some("from a test".into()),
        create: CreateOptions {
            source_date_epoch: Some(1_700_000_000),
            ..CreateOptions::default()
        },
        ..ImportOptions::default()
    }
}

#[test]
fn imports_a_directory() {
    let root = tempfile::tempdir().unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(rootfs.path().join("bin")).unwrap();
    std::fs::write(rootfs.path().join("bin/hello"), b"#!/bin/sh\necho hi\n").unwrap();
    std::os::unix::fs::symlink("hello", rootfs.path().join("bin/hi")).unwrap();
    let store = Store::open(root.path()).unwrap();
    let image = import(
        &store,
        ImportSource::Directory(rootfs.path()),
        &options("imported:1"),
    )
    .unwrap();
    assert_eq!(image.names, vec!["docker.io/library/imported:1"]);
    assert_eq!(image.layers().len(), 1);
    assert_eq!(
        image.layers()[0].media_type().to_string(),
        Compression::Zstd.layer_media_type()
    );
    // The same layer, digest and size as create_layer makes of the directory on its own.
    let (_, made) = boxwright_layer_store::create_layer(
        boxwright_layer_store::LayerSource::Directory(rootfs.path()),
        std::io::sink(),
        &options("x:1").create,
    )
    .unwrap();
    assert_eq!(image.layers()[0].digest(), &made.digest);
    assert_eq!(image.layers()[0].size(), made.size);
    let config = store.config(&image.id).unwrap();
    assert_eq!(config.json["config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(config.json["history"][0]["comment"], "from a test");
    assert_eq!(config.json["created"], "2023-11-14T22:13:20Z");
    let plain = layer_bytes(&store, "imported:1");
    assert_eq!(config.diff_ids().unwrap(), vec![sha256(&plain)]);
    let mut names = Vec::new();
    for e in tar::Archive::new(&plain[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(names, vec!["bin/", "bin/hello", "bin/hi"]);
    // Same tree, same epoch: the same image ID.
    let again = import(
        &store,
        ImportSource::Directory(rootfs.path()),
        &options("imported:2"),
    )
    .unwrap();
    assert_eq!(again.id, image.id);
    assert!(store.fsck().unwrap().is_empty());
}

#[test]
fn imports_a_compressed_tarball_as_it_is() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/motd", &b"hello"[..]).unwrap();
    let original = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&original).unwrap();
    let gz = gz.finish().unwrap();

    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let mut opts = options("tarball");
    opts.create.compress = CompressOptions {
        compression: Compression::Gzip,
        ..CompressOptions::default()
    };
    let image = import(&store, ImportSource::Tarball(&mut &gz[..]), &opts).unwrap();
    assert_eq!(
        image.layers()[0].media_type().to_string(),
        Compression::Gzip.layer_media_type()
    );
    assert_eq!(
        layer_bytes(&store, "tarball"),
        original,
        "the layer is the tarball, byte for byte"
    );
    assert_eq!(
        store.config(&image.id).unwrap().diff_ids().unwrap(),
        vec![sha256(&original)]
    );
}

#[test]
fn refuses_what_is_not_a_tarball_and_keeps_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let junk = b"this is not a tar archive at all, just some words.".repeat(20);
    let err = import(
        &store,
        ImportSource::Tarball(&mut &junk[..]),
        &options("junk"),
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::Tarball(_)), "{err}");
    assert!(store.images(None).unwrap().is_empty());
    assert!(store.blobs().list().unwrap().is_empty());
    let missing = root.path().join("no-such-dir");
    assert!(matches!(
        import(&store, ImportSource::Directory(&missing), &options("x")),
        Err(ImportError::Create(_))
    ));
    assert!(store.blobs().list().unwrap().is_empty());
}
