//! The applier's ordinary behaviour: what a well-formed layer turns into.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::support::is_root;
use crate::support::raw_tar::{compress, Hdr, RawTar};
use boxwright_layer_store::Compression;
use boxwright_layer_store::{
    apply_layer, apply_layer_path, ApplyOptions, ApplyStats, WhiteoutMode,
};
use cap_std::fs::Dir;

fn apply(target: &Path, archive: &[u8], options: &ApplyOptions) -> ApplyStats {
    let dir = Dir::open_ambient_dir(target, cap_std::ambient_authority()).unwrap();
    apply_layer(archive, &dir, options).unwrap()
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

#[allow(clippy::print_stderr)]
fn skip(what: &str) {
    eprintln!("skipping root-only assertions ({what}): not running as root");
}

#[test]
fn files_dirs_links_modes_and_times() {
    let tmp = tempfile::tempdir().unwrap();
    let mut root = Hdr::new("./", b'5');
    root.mode = 0o711;
    root.mtime = 1_000_000_001;
    let mut dir = Hdr::new("etc/", b'5');
    dir.mode = 0o750;
    dir.mtime = 1_000_000_002;
    dir.uid = 1234;
    dir.gid = 5678;
    let mut file = Hdr::new("etc/conf", b'0');
    file.mode = 0o640;
    file.mtime = 1_000_000_003;
    file.uid = 42;
    file.gid = 43;
    let mut suid = Hdr::new("usr/bin/tool", b'0');
    suid.mode = 0o6755;
    let mut sticky = Hdr::new("tmp", b'5');
    sticky.mode = 0o1777;
    let mut link = Hdr::new("etc/link", b'2');
    link.link = b"conf".to_vec();
    link.mtime = 1_000_000_004;
    link.uid = 7;
    let mut fifo = Hdr::new("run/fifo", b'6');
    fifo.mode = 0o620;
    fifo.mtime = 1_000_000_005;
    let tar = RawTar::new()
        .entry(&root, b"")
        .entry(&dir, b"")
        .entry(&file, b"conf contents")
        .entry(&suid, b"\x7fELF")
        .entry(&sticky, b"")
        .entry(&link, b"")
        .hardlink("etc/hard", "etc/conf")
        .entry(&fifo, b"")
        .file("deep/er/still/file", b"made parents")
        .finish();
    let t = tmp.path();
    let stats = apply(t, &tar, &ApplyOptions::default());
    assert_eq!(stats.entries, 9);

    let meta = |p: &str| fs::symlink_metadata(t.join(p)).unwrap();
    assert_eq!(fs::read(t.join("etc/conf")).unwrap(), b"conf contents");
    assert_eq!(meta("").mode() & 0o7777, 0o711);
    assert_eq!(meta("").mtime(), 1_000_000_001);
    assert_eq!(meta("etc").mode() & 0o7777, 0o750);
    assert_eq!(meta("etc").mtime(), 1_000_000_002, "set after its children");
    assert_eq!(meta("etc/conf").mode() & 0o7777, 0o640);
    assert_eq!(meta("etc/conf").mtime(), 1_000_000_003);
    assert_eq!(meta("usr/bin/tool").mode() & 0o7777, 0o6755);
    assert_eq!(
        meta("usr").mode() & 0o7777,
        0o755,
        "implicit parents are 0755"
    );
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(
        fs::read_link(t.join("etc/link")).unwrap(),
        Path::new("conf")
    );
    assert_eq!(
        meta("etc/link").mtime(),
        1_000_000_004,
        "symlink's own time"
    );
    assert_eq!(meta("etc/hard").ino(), meta("etc/conf").ino());
    assert_eq!(meta("etc/conf").nlink(), 2);
    assert!(meta("run/fifo").file_type().is_fifo());
    assert_eq!(meta("run/fifo").mode() & 0o7777, 0o620);
    assert_eq!(meta("run/fifo").mtime(), 1_000_000_005);
    assert_eq!(
        fs::read(t.join("deep/er/still/file")).unwrap(),
        b"made parents"
    );
    if is_root() {
        assert_eq!((meta("etc").uid(), meta("etc").gid()), (1234, 5678));
        assert_eq!((meta("etc/conf").uid(), meta("etc/conf").gid()), (42, 43));
        assert_eq!(meta("etc/link").uid(), 7);
    } else {
        skip("owners");
    }
}

#[test]
fn owners_are_kept_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut file = Hdr::new("f", b'0');
    file.uid = 4321;
    file.gid = 4321;
    let tar = RawTar::new().entry(&file, b"x").finish();
    apply(
        tmp.path(),
        &tar,
        &ApplyOptions::default().with_same_owner(false),
    );
    let meta = fs::metadata(tmp.path().join("f")).unwrap();
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
}

#[test]
fn pax_and_gnu_extensions() {
    let tmp = tempfile::tempdir().unwrap();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let long_target = "t".repeat(200);
    let tar = RawTar::new()
        .pax(&[
            (b"path", long.as_bytes()),
            (b"mtime", b"1234567890.25"),
            (b"uid", b"3000000"),
            (b"comment", b"ignored"),
        ])
        .file("short-name-overridden", b"long")
        .pax(&[(b"linkpath", long_target.as_bytes())])
        .symlink("sym", "ignored")
        .finish();
    apply(tmp.path(), &tar, &ApplyOptions::default());
    let meta = fs::metadata(tmp.path().join(&long)).unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_234_567_890, 250_000_000)
    );
    if is_root() {
        assert_eq!(meta.uid(), 3_000_000);
    }
    assert_eq!(
        fs::read_link(tmp.path().join("sym")).unwrap(),
        Path::new(&long_target)
    );

    // The tar crate writes GNU long names and long link targets.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o600);
    b.append_data(&mut h, format!("gnu/{}", "g".repeat(150)), &b"gnu"[..])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    b.append_link(&mut h, "gnu/link", "l".repeat(150)).unwrap();
    let archive = b.into_inner().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    apply(tmp.path(), &archive, &ApplyOptions::default());
    let path = tmp.path().join(format!("gnu/{}", "g".repeat(150)));
    assert_eq!(fs::read(path).unwrap(), b"gnu");
    assert_eq!(
        fs::read_link(tmp.path().join("gnu/link")).unwrap(),
        Path::new(&"l".repeat(150))
    );
}

#[test]
fn xattrs_from_pax_records() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .pax(&[
            (b"SCHILY.xattr.user.note", b"hello"),
            (b"SCHILY.xattr.trusted.mark", b"\x00\x01bin"),
        ])
        .file("f", b"x")
        .pax(&[(b"SCHILY.xattr.user.dir", b"d")])
        .dir("d")
        .finish();
    apply(tmp.path(), &tar, &ApplyOptions::default());
    let f = tmp.path().join("f");
    assert_eq!(xattr(&f, "user.note").as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        xattr(&tmp.path().join("d"), "user.dir").as_deref(),
        Some(&b"d"[..])
    );
    if is_root() {
        assert_eq!(
            xattr(&f, "trusted.mark").as_deref(),
            Some(&b"\x00\x01bin"[..])
        );
    } else {
        skip("trusted.* xattrs");
    }

    let tmp = tempfile::tempdir().unwrap();
    apply(
        tmp.path(),
        &tar,
        &ApplyOptions::default().with_xattrs(false),
    );
    assert_eq!(xattr(&tmp.path().join("f"), "user.note"), None);
}

/// A lower layer for the whiteout tests.
fn lower() -> Vec<u8> {
    RawTar::new()
        .file("a/gone", b"1")
        .file("a/stays", b"2")
        .file("b/old", b"3")
        .file("b/sub/deeper", b"4")
        .file("c/old", b"5")
        .file("c/sub/lower", b"hidden by c's opaque whiteout")
        .file("keep/x", b"6")
        .finish()
}

#[test]
fn whiteouts_apply_over_a_lower_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    apply(t, &lower(), &ApplyOptions::default());
    let upper = RawTar::new()
        .file("a/.wh.gone", b"")
        // Opaque marker first, then the layer's own entries.
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"new")
        // The layer's own entries first, then the marker: they survive it too.
        .dir("c")
        .file("c/sub/mine", b"mine")
        .file("c/.wh..wh..opq", b"")
        .file(".wh.nonexistent", b"")
        .finish();
    let stats = apply(t, &upper, &ApplyOptions::default());
    assert_eq!(stats.entries, 7);
    assert!(!t.join("a/gone").exists());
    assert!(!t.join("a/.wh.gone").exists());
    assert_eq!(fs::read(t.join("a/stays")).unwrap(), b"2");
    let names = |d: &str| {
        let mut v: Vec<String> = fs::read_dir(t.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("b"), ["new"]);
    assert_eq!(names("c"), ["sub"]);
    assert_eq!(names("c/sub"), ["mine"]);
    assert_eq!(names("keep"), ["x"]);
}

#[test]
fn whiteouts_in_overlay_form() {
    if !is_root() {
        skip("overlay whiteouts need mknod and trusted.* xattrs");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let upper = RawTar::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"new")
        .finish();
    let options = ApplyOptions::default().with_whiteouts(WhiteoutMode::Overlay);
    apply(t, &upper, &options);
    let meta = fs::symlink_metadata(t.join("a/gone")).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), 0);
    assert!(!t.join("a/.wh.gone").exists());
    assert_eq!(
        xattr(&t.join("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(fs::read(t.join("b/new")).unwrap(), b"new");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut redo = Hdr::new("d2", b'5');
    redo.mode = 0o700;
    let tar = RawTar::new()
        .file("x/child", b"c")
        .file("x", b"file now") // a file over a directory tree
        .file("y", b"y")
        .dir("y") // a directory over a file
        .symlink("z", "elsewhere")
        .file("z", b"z") // a file over a symlink
        .file("w", b"first")
        .file("w", b"second")
        .dir("d2")
        .file("d2/kept", b"k")
        .entry(&redo, b"") // a directory over a directory: metadata only
        .finish();
    apply(t, &tar, &ApplyOptions::default());
    assert_eq!(fs::read(t.join("x")).unwrap(), b"file now");
    assert!(fs::metadata(t.join("y")).unwrap().is_dir());
    assert_eq!(fs::read(t.join("z")).unwrap(), b"z");
    assert_eq!(fs::read(t.join("w")).unwrap(), b"second");
    assert_eq!(fs::read(t.join("d2/kept")).unwrap(), b"k");
    assert_eq!(fs::metadata(t.join("d2")).unwrap().mode() & 0o7777, 0o700);
}

/// The applier keeps the last directory handle between entries; every entry that changes what
/// a path resolves to must make the next entry resolve it again.
#[test]
fn entries_after_a_path_changes_go_where_it_now_leads() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tar = RawTar::new()
        .dir("real")
        .dir("other")
        .symlink("l", "real")
        .file("l/a", b"a") // real/a
        .file("l/a2", b"a2") // real/a2, through the kept handle
        .symlink("l", "/other") // replaces the symlink
        .file("l/b", b"b") // other/b, not real/b
        .dir("d")
        .file("d/x", b"x")
        .hardlink("d/x2", "d/x")
        .file(".wh.d", b"") // removes d
        .file("d/y", b"y") // a new d, not the removed one
        .dir("e")
        .file("e/x", b"x")
        .symlink("e", "other") // a symlink over the directory
        .file("e/z", b"z") // other/z
        .finish();
    apply(t, &tar, &ApplyOptions::default());
    assert_eq!(fs::read(t.join("real/a")).unwrap(), b"a");
    assert_eq!(fs::read(t.join("real/a2")).unwrap(), b"a2");
    assert_eq!(fs::read(t.join("other/b")).unwrap(), b"b");
    assert!(!t.join("real/b").exists());
    let names = |p: &str| {
        let mut v: Vec<_> = fs::read_dir(t.join(p))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("d"), ["y"]);
    assert_eq!(names("other"), ["b", "z"]);
    assert_eq!(fs::read_link(t.join("e")).unwrap(), Path::new("other"));

    // A file over a directory, then an entry beneath it: an error, not a file in the old one.
    let tmp = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .dir("d")
        .file("d/x", b"x")
        .file("d", b"now a file")
        .file("d/y", b"y")
        .finish();
    let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
    let err = apply_layer(&tar[..], &dir, &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("d/y"), "{err}");
    assert_eq!(fs::read(tmp.path().join("d")).unwrap(), b"now a file");

    // A parent reached through its own child: `l` leads to `real` through `real/n/..`, so
    // replacing `real/n` (an entry in that very parent) changes where `l` leads: nowhere.
    let tmp = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .dir("real/n")
        .symlink("l", "real/n/..")
        .file("l/a", b"a")
        .file("l/n", b"a file over real/n")
        .file("l/c", b"c")
        .finish();
    let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
    let err = apply_layer(&tar[..], &dir, &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("l/c"), "{err}");
    assert_eq!(fs::read(tmp.path().join("real/a")).unwrap(), b"a");
    assert!(!tmp.path().join("real/c").exists());
}

#[test]
fn diff_id_is_the_uncompressed_digest_for_each_compression() {
    let mut tar = RawTar::new()
        .file("a", &[5; 70_000])
        .symlink("b", "a")
        .finish();
    // GNU tar pads to a 10 KiB record after the end blocks; that is part of the diffID.
    tar.resize(tar.len().div_ceil(10240) * 10240, 0);
    let expected = boxwright_layer_store::sha256(&tar);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let tmp = tempfile::tempdir().unwrap();
        let blob = compress(&tar, compression);
        let stats = apply(tmp.path(), &blob, &ApplyOptions::default());
        assert_eq!(stats.diff_id, expected, "{compression:?}");
        assert_eq!(stats.bytes, tar.len() as u64);
        assert_eq!(stats.entries, 2);
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), vec![5; 70_000]);
    }
}

#[test]
fn device_nodes_when_enabled() {
    if !is_root() {
        skip("mknod");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Hdr::new("dev/null", b'3');
    h.major = 1;
    h.minor = 3;
    h.mode = 0o666;
    let tar = RawTar::new().entry(&h, b"").finish();
    apply(
        tmp.path(),
        &tar,
        &ApplyOptions::default().with_devices(true),
    );
    let meta = fs::symlink_metadata(tmp.path().join("dev/null")).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(meta.mode() & 0o7777, 0o666);
}

#[test]
fn size_limit_allows_what_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = RawTar::new()
        .file("a", &[1; 600])
        .file("b", &[2; 400])
        .finish();
    let options = ApplyOptions::default().with_max_total_size(Some(1000));
    apply(tmp.path(), &tar, &options);
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
    let options = ApplyOptions::default().with_max_total_size(Some(999));
    let err = apply_layer(&tar[..], &dir, &options).unwrap_err();
    assert!(err.to_string().contains("\"b\""), "{err}");
}

#[test]
fn by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = compress(
        &RawTar::new().file("f", b"by path").finish(),
        Compression::Zstd,
    );
    let layer = tmp.path().join("layer.tar.zst");
    fs::write(&layer, tar).unwrap();
    let target = tmp.path().join("root");
    fs::create_dir(&target).unwrap();
    let stats = apply_layer_path(&layer, &target, &ApplyOptions::default()).unwrap();
    assert_eq!(stats.entries, 1);
    assert_eq!(fs::read(target.join("f")).unwrap(), b"by path");
    let err = apply_layer_path(
        &tmp.path().join("missing"),
        &target,
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
