//! Helpers shared by the test modules: a busybox rootfs, a deterministic layer tar (a
//! stopgap until `create_layer` lands), writing an image into a store, finding peer tools, gc
//! options without a grace period, and (in `raw_tar`) hand-made tar archives.
#![allow(dead_code, clippy::print_stderr)]

pub(crate) mod raw_tar;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use boxwright_layer_store::sha256;
use boxwright_layer_store::{decompress, Compression};
use boxwright_layer_store::{BlobStore, GcOptions, Store};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::Value;

/// Debian's busybox-static binary.
pub(crate) const BUSYBOX: &str = "/bin/busybox";

/// Builds a minimal rootfs in `dir` from Debian's busybox-static: `/bin/busybox` with one
/// symlink per applet under `/bin`, `/etc/passwd` and `/etc/group` (root, nobody), and empty
/// `/tmp` (1777), `/root`, `/proc`, `/dev`, `/sys`.
pub(crate) fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    assert!(list.status.success(), "busybox --list failed");
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", bin.join(applet)).unwrap();
    }
    let etc = dir.join("etc");
    fs::create_dir_all(&etc).unwrap();
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(etc.join("group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    for d in ["tmp", "root", "proc", "dev", "sys"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(dir.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
}

/// A plain tar of `dir`'s contents (directories, regular files, symlinks), entries sorted by
/// path, owner root, mtime 0: the same tree gives the same bytes. A test helper only.
pub(crate) fn layer_from_dir(dir: &Path) -> Vec<u8> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let mut names: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let rel = rel.join(name);
            out.push(rel.clone());
            if fs::symlink_metadata(root.join(&rel)).unwrap().is_dir() {
                walk(root, &rel, out);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, Path::new(""), &mut paths);
    let mut builder = tar::Builder::new(Vec::new());
    for rel in paths {
        let path = dir.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        let ft = meta.file_type();
        if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            let name = format!("{}/", rel.display());
            builder
                .append_data(&mut header, name, std::io::empty())
                .unwrap();
        } else if ft.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(&path).unwrap();
            builder.append_link(&mut header, &rel, target).unwrap();
        } else if ft.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            builder
                .append_data(&mut header, &rel, fs::File::open(&path).unwrap())
                .unwrap();
        } else {
            panic!(
                "layer_from_dir: unsupported file type at {}",
                path.display()
            );
        }
    }
    builder.into_inner().unwrap()
}

/// gzip-compresses `bytes`.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The sha256 of a layer's uncompressed tar (its diffID).
pub(crate) fn diff_id(layer: &[u8]) -> oci_spec::image::Digest {
    let mut plain = Vec::new();
    decompress(layer).unwrap().read_to_end(&mut plain).unwrap();
    sha256(&plain)
}

/// Writes `layers` (plain, gzip or zstd tars; the media type follows the magic number) as
/// blobs, then `config` with `rootfs` set to their diffIDs, then a manifest. Returns the
/// manifest's descriptor (not yet tagged).
pub(crate) fn put_image(store: &Store, layers: &[Vec<u8>], config: &Value) -> Descriptor {
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let info = store.blobs().write_all(layer).unwrap();
        let media_type = MediaType::from(Compression::detect(layer).layer_media_type());
        descriptors.push(Descriptor::new(media_type, info.size, info.digest));
        diff_ids.push(Value::String(diff_id(layer).to_string()));
    }
    let mut config = config.clone();
    config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
    let config = store.put_config_json(&config).unwrap();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(descriptors)
        .build()
        .unwrap();
    store.put_manifest(&manifest).unwrap()
}

/// A busybox image config for the host platform running `cmd`.
pub(crate) fn busybox_config(cmd: &[&str]) -> Value {
    let arch = boxwright_layer_store::platform::host()
        .architecture()
        .to_string();
    serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
            "WorkingDir": "/",
        },
    })
}

/// Finds a peer tool on `PATH` (and in `/usr/sbin`, `/sbin`). When it is absent, prints why the
/// calling test is skipped and returns `None` — except under CI (`CI` set), which installs the
/// peers, where an absent tool fails the test.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "peer tool {name} is not installed, and CI must run every interop test"
        );
        eprintln!("SKIPPED: peer tool {name} is not installed");
    }
    found
}

/// gc options that collect at once (no grace period for young blobs).
pub(crate) fn no_grace() -> GcOptions {
    GcOptions {
        grace: Duration::ZERO,
        prune_dangling: false,
    }
}

/// An error's message followed by its causes' (`a: b: c`): what the tests look for in an error
/// whose message says what failed and whose `source()` says why.
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Whether we run as root (the runtime tests need it; CI runs as root).
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Sets a path's mtime (and atime) to `secs`, not following a symlink.
pub(crate) fn set_mtime(path: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// Writes a file with this mode and mtime.
pub(crate) fn write(path: &Path, data: &[u8], mode: u32, mtime: i64) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(path, mtime);
}

/// Makes a directory with this mode.
pub(crate) fn mkdir(path: &Path, mode: u32) {
    fs::create_dir(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets an extended attribute on a path, not following a symlink.
pub(crate) fn setxattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

/// Runs `cmd`, failing the test with its stderr and stdout when it does not exit 0.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstderr:\n{}\nstdout:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Runs `cmd` and returns its output whatever its exit status.
pub(crate) fn run_any(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Writes the layer of `source` (mtimes clamped to `epoch` when given) into the store; its
/// descriptor and diffID.
pub(crate) fn commit_layer(
    store: &Store,
    source: boxwright_layer_store::LayerSource<'_>,
    epoch: Option<i64>,
) -> (Descriptor, oci_spec::image::Digest) {
    let options = boxwright_layer_store::CreateOptions {
        source_date_epoch: epoch,
        ..boxwright_layer_store::CreateOptions::default()
    };
    let w = store.blobs().writer().unwrap();
    let (w, layer) = boxwright_layer_store::create_layer(source, w, &options).unwrap();
    let info = w.commit(Some(&layer.digest), Some(layer.size)).unwrap();
    (
        Descriptor::new(
            MediaType::from(layer.media_type.as_str()),
            info.size,
            info.digest,
        ),
        layer.diff_id,
    )
}

/// Tags `name` as an image of `layers` (descriptor, diffID), bottom first.
pub(crate) fn tag_image(
    store: &Store,
    name: &str,
    layers: &[(Descriptor, oci_spec::image::Digest)],
) {
    let diff_ids: Vec<String> = layers.iter().map(|(_, d)| d.to_string()).collect();
    let config = store
        .put_config_json(&serde_json::json!({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}}))
        .unwrap();
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>())
        .build()
        .unwrap();
    let d = store.put_manifest(&m).unwrap();
    store.tag(&d, name).unwrap();
}
