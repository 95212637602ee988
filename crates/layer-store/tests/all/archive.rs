#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! save and load: round trips in both forms, legacy docker-archive layouts, refusals, and
//! podman reading what we save and us reading what podman saves.

use std::path::Path;
use std::process::Command;

use boxwright_layer_store::sha256;
use boxwright_layer_store::BlobStore;
use boxwright_layer_store::Store;
use boxwright_layer_store::{load, save, ArchiveError, ArchiveFormat};
use oci_spec::image::{Descriptor, MediaType};
use serde_json::json;

use crate::support::{self, gzip, is_root, with_causes};

/// A small tar layer holding `files`.
fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// An image of gzip layers, tagged `name`.
fn put_image(store: &Store, name: &str, layers: &[Vec<u8>]) -> Descriptor {
    let gzipped: Vec<Vec<u8>> = layers.iter().map(|tar| gzip(tar)).collect();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "echo", "hi"], "Healthcheck": {"Test": ["NONE"]}},
    });
    let d = support::put_image(store, &gzipped, &config);
    store.tag(&d, name).unwrap();
    d
}

fn busybox_layer() -> Vec<u8> {
    let busybox =
        std::fs::read("/bin/busybox").unwrap_or_else(|_| b"#!/bin/sh\necho stand-in\n".to_vec());
    layer_tar(&[
        ("bin/busybox", &busybox),
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
    ])
}

#[test]
fn save_then_load_keeps_images_byte_for_byte() {
    for format in [ArchiveFormat::Docker, ArchiveFormat::Oci] {
        let a = tempfile::tempdir().unwrap();
        let store = Store::open(a.path()).unwrap();
        let one = put_image(
            &store,
            "one:1",
            &[layer_tar(&[("a", b"1")]), layer_tar(&[("b", b"2")])],
        );
        let two = put_image(
            &store,
            "localhost:5000/team/two",
            &[layer_tar(&[("c", b"3")])],
        );
        let bytes = save(
            &store,
            &["one:1", "localhost:5000/team/two"],
            format,
            Vec::new(),
        )
        .unwrap();
        // Saving is deterministic.
        assert_eq!(
            bytes,
            save(
                &store,
                &["one:1", "localhost:5000/team/two"],
                format,
                Vec::new()
            )
            .unwrap()
        );

        let b = tempfile::tempdir().unwrap();
        let other = Store::open(b.path()).unwrap();
        let report = load(&other, &bytes[..]).unwrap();
        assert_eq!(
            report.names,
            vec!["docker.io/library/one:1", "localhost:5000/team/two:latest"]
        );
        assert_eq!(
            other.resolve("one:1").unwrap().target.digest(),
            one.digest()
        );
        assert_eq!(
            other
                .resolve("localhost:5000/team/two")
                .unwrap()
                .target
                .digest(),
            two.digest()
        );
        assert!(other
            .config(other.resolve("one:1").unwrap().config().digest())
            .unwrap()
            .json["config"]["Healthcheck"]
            .is_object());
        assert!(other.fsck().unwrap().is_empty());
        assert_eq!(
            other.blobs().list().unwrap().len(),
            7,
            "{format:?}: 2 manifests, 2 configs, 3 layers and nothing else"
        );
    }
}

#[test]
fn a_docker_archive_lists_repo_tags_and_layers() {
    let a = tempfile::tempdir().unwrap();
    let store = Store::open(a.path()).unwrap();
    put_image(&store, "busybox", &[busybox_layer()]);
    let bytes = save(&store, &["busybox"], ArchiveFormat::Docker, Vec::new()).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut manifest = None;
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path == "manifest.json" {
            let v: serde_json::Value = serde_json::from_reader(&mut entry).unwrap();
            manifest = Some(v);
        }
        names.push(path);
    }
    let manifest = manifest.unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!(["busybox:latest"]));
    assert!(manifest[0]["Layers"][0]
        .as_str()
        .unwrap()
        .starts_with("blobs/sha256/"));
    for name in ["oci-layout", "index.json", "repositories", "blobs/sha256/"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
}

/// Writes a legacy docker-archive (`<id>/layer.tar`, `<hex>.json`) by hand, optionally with the
/// layer as a symlink into `blobs/`.
fn legacy_archive(layer: &[u8], diff_id: &str, symlinked: bool) -> Vec<u8> {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config_hex = sha256(&config).digest().to_string();
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&mut b, &format!("{config_hex}.json"), &config);
    add(&mut b, "abc123/VERSION", b"1.0");
    add(&mut b, "abc123/json", b"{}");
    if symlinked {
        let hex = sha256(layer).digest().to_string();
        add(&mut b, &format!("blobs/sha256/{hex}"), layer);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "abc123/layer.tar", format!("../blobs/sha256/{hex}"))
            .unwrap();
    } else {
        add(&mut b, "abc123/layer.tar", layer);
    }
    let manifest = serde_json::to_vec(&json!([{"Config": format!("{config_hex}.json"), "RepoTags": ["legacy:v1"], "Layers": ["abc123/layer.tar"]}])).unwrap();
    add(&mut b, "manifest.json", &manifest);
    add(&mut b, "repositories", b"{}");
    b.into_inner().unwrap()
}

#[test]
fn loads_legacy_docker_archives() {
    let layer = busybox_layer();
    let diff_id = sha256(&layer).to_string();
    for symlinked in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let report = load(&store, &legacy_archive(&layer, &diff_id, symlinked)[..]).unwrap();
        assert_eq!(report.names, vec!["docker.io/library/legacy:v1"]);
        let image = store.resolve("legacy:v1").unwrap();
        assert_eq!(image.layers()[0].digest(), &sha256(&layer));
        assert_eq!(image.layers()[0].media_type(), &MediaType::ImageLayer);
        assert!(store.fsck().unwrap().is_empty());
        // Nothing but the image's blobs stayed (no VERSION or json metadata blobs).
        assert_eq!(
            store.blobs().list().unwrap().len(),
            3,
            "symlinked={symlinked}"
        );
        // Compressed, the archive loads the same.
        let gz = gzip(&legacy_archive(&layer, &diff_id, symlinked));
        let other = tempfile::tempdir().unwrap();
        load(&Store::open(other.path()).unwrap(), &gz[..]).unwrap();
    }
}

#[test]
fn refuses_a_layer_that_is_not_its_diff_id_and_keeps_nothing() {
    let layer = busybox_layer();
    let wrong = sha256(b"something else").to_string();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = load(&store, &legacy_archive(&layer, &wrong, false)[..]).unwrap_err();
    assert!(matches!(err, ArchiveError::Blob { .. }), "{err}");
    assert!(with_causes(&err).contains(&wrong), "{}", with_causes(&err));
    assert!(store.images(None).unwrap().is_empty());
    assert!(
        store.blobs().list().unwrap().is_empty(),
        "blobs kept after a refused load"
    );
}

#[test]
fn refuses_a_tampered_oci_archive_and_keeps_nothing() {
    let a = tempfile::tempdir().unwrap();
    let store = Store::open(a.path()).unwrap();
    let target = put_image(
        &store,
        "app",
        &[layer_tar(&[("file", b"original content")])],
    );
    let layer = store.manifest(target.digest()).unwrap().layers()[0]
        .digest()
        .clone();
    let mut bytes = save(&store, &["app"], ArchiveFormat::Oci, Vec::new()).unwrap();
    // Flip a byte in the middle of the layer blob's data.
    let wanted = format!("blobs/sha256/{}", layer.digest());
    let mut archive = tar::Archive::new(&bytes[..]);
    let (at, len) = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy() == wanted)
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .unwrap();
    bytes[at + len / 2] ^= 0xff;
    let b = tempfile::tempdir().unwrap();
    let other = Store::open(b.path()).unwrap();
    let err = load(&other, &bytes[..]).unwrap_err();
    assert!(
        err.to_string().contains(&wanted) && with_causes(&err).contains("digest mismatch"),
        "{}",
        with_causes(&err)
    );
    assert!(other.images(None).unwrap().is_empty());
    assert!(other.fsck().unwrap().is_empty());
}

fn podman() -> Option<&'static str> {
    let found = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "podman is missing in CI");
        eprintln!("skipped: podman not installed");
    }
    found.then_some("podman")
}

fn podman_cmd(state: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(state.join("root"))
        .arg("--runroot")
        .arg(state.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]);
    c
}

/// Runs `c` (failing the test unless it exits 0) and returns its stdout.
fn run(mut c: Command) -> String {
    String::from_utf8_lossy(&support::run(&mut c).stdout).into_owned()
}

#[test]
fn podman_loads_what_we_save_and_we_load_what_podman_saves() {
    if podman().is_none() || !is_root() {
        return;
    }
    let a = tempfile::tempdir().unwrap();
    let store = Store::open(a.path().join("store")).unwrap();
    put_image(&store, "localhost/bw-busybox:1", &[busybox_layer()]);
    let archive = a.path().join("saved.tar");
    std::fs::write(
        &archive,
        save(
            &store,
            &["localhost/bw-busybox:1"],
            ArchiveFormat::Docker,
            Vec::new(),
        )
        .unwrap(),
    )
    .unwrap();

    let state = a.path().join("podman");
    let mut c = podman_cmd(&state);
    c.arg("load").arg("-i").arg(&archive);
    let out = run(c);
    assert!(out.contains("localhost/bw-busybox:1"), "{out}");
    let mut c = podman_cmd(&state);
    c.args([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "localhost/bw-busybox:1",
    ]);
    let id = run(c);
    assert_eq!(
        id.trim(),
        store.resolve("localhost/bw-busybox:1").unwrap().id.digest()
    );

    // And back: podman's docker-archive and oci-archive both load.
    for (format, file) in [("docker-archive", "p.tar"), ("oci-archive", "p.oci.tar")] {
        let path = a.path().join(file);
        let mut c = podman_cmd(&state);
        c.args(["save", "--format", format, "-o"])
            .arg(&path)
            .arg("localhost/bw-busybox:1");
        run(c);
        let dir = tempfile::tempdir().unwrap();
        let other = Store::open(dir.path()).unwrap();
        let report = load(&other, std::fs::File::open(&path).unwrap()).unwrap();
        assert!(!report.images.is_empty(), "{format}");
        let image = other
            .resolve("localhost/bw-busybox:1")
            .or_else(|_| other.resolve("1"))
            .unwrap();
        assert_eq!(
            image.id.digest(),
            id.trim(),
            "{format}: the config survives byte for byte"
        );
        assert!(other.fsck().unwrap().is_empty());
    }
}
