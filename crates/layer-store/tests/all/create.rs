//! Layer creation: determinism, the tar form of every kind of entry, overlay upper directories
//! (synthetic and from a real overlayfs mount), directory diffs, digests and compressions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use boxwright_layer_store::sha256;
use boxwright_layer_store::{create_layer, CreateError, CreateOptions, CreatedLayer, LayerSource};
use boxwright_layer_store::{decompress, CompressOptions, Compression};
use rustix::fs::{AtFlags, FileType, Mode, CWD};

use crate::support::{is_root, mkdir, set_mtime, setxattr, write};

fn options(compression: Compression) -> CreateOptions {
    CreateOptions {
        compress: CompressOptions {
            compression,
            level: None,
            threads: 2,
        },
        ..CreateOptions::default()
    }
}

fn make(source: LayerSource<'_>, opts: &CreateOptions) -> (Vec<u8>, CreatedLayer) {
    create_layer(source, Vec::new(), opts).unwrap()
}

fn layer(dir: &Path) -> Vec<u8> {
    make(LayerSource::Directory(dir), &options(Compression::Zstd)).0
}

fn decompressed(blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    decompress(BufReader::new(blob))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// One archive entry as read back by the `tar` crate.
#[derive(Debug, Clone)]
struct Item {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    pax: BTreeMap<String, Vec<u8>>,
    data: Vec<u8>,
    dev: Option<(u32, u32)>,
}

fn list(blob: &[u8]) -> Vec<Item> {
    let tar_bytes = decompressed(blob);
    assert_eq!(tar_bytes.len() % 512, 0);
    assert!(tar_bytes.ends_with(&[0u8; 1024]));
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut items = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let ustar = header.as_ustar().expect("ustar header");
        assert!(ustar.username_bytes().is_empty());
        assert!(ustar.groupname_bytes().is_empty());
        let mut pax = BTreeMap::new();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                pax.insert(ext.key().unwrap().to_owned(), ext.value_bytes().to_vec());
            }
        }
        let kind = header.entry_type();
        let dev = matches!(kind, tar::EntryType::Char | tar::EntryType::Block).then(|| {
            (
                header.device_major().unwrap().unwrap(),
                header.device_minor().unwrap().unwrap(),
            )
        });
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        items.push(Item {
            path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind,
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            mtime: header.mtime().unwrap(),
            link: entry
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap()),
            pax,
            data,
            dev,
        });
    }
    items
}

fn paths(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.path.as_str()).collect()
}

fn find<'a>(items: &'a [Item], path: &str) -> &'a Item {
    items
        .iter()
        .find(|i| i.path == path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", paths(items)))
}

/// A small tree with every kind of entry, all mtimes fixed; `reverse` creates things in the
/// opposite order so that directory order and inode numbers differ.
fn build_tree(root: &Path, reverse: bool) {
    let mut files: Vec<(&str, &[u8])> = vec![
        ("B", b"upper-case"),
        (".hidden", b"dot"),
        ("a-b", b"dash"),
        ("b", b"plain b"),
        ("zz", b"last"),
    ];
    if reverse {
        files.reverse();
    }
    mkdir(&root.join("a"), 0o750);
    mkdir(&root.join("a/sub"), 0o755);
    for (name, data) in &files {
        write(&root.join(name), data, 0o644, 1_600_000_000);
    }
    write(&root.join("a/b"), b"inside a", 0o4755, 1_500_000_000);
    write(
        &root.join("a/sub/big"),
        &vec![7u8; 200_000],
        0o600,
        1_500_000_001,
    );
    fs::hard_link(root.join("b"), root.join("a/sub/link-to-b")).unwrap();
    symlink("../b", root.join("a/rel")).unwrap();
    set_mtime(&root.join("a/rel"), 1_400_000_000);
    setxattr(&root.join("a/b"), "user.test", b"value\0with nul");
    for dir in ["a/sub", "a", "."] {
        set_mtime(&root.join(dir), 1_700_000_000);
    }
}

#[test]
fn same_tree_gives_the_same_blob_wherever_it_lies() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    build_tree(one.path(), false);
    build_tree(two.path(), true);
    let first = layer(one.path());
    assert_eq!(first, layer(one.path()));
    assert_eq!(first, layer(two.path()));
    for compression in [Compression::Gzip, Compression::None] {
        let opts = options(compression);
        assert_eq!(
            make(LayerSource::Directory(one.path()), &opts).0,
            make(LayerSource::Directory(two.path()), &opts).0,
            "{compression:?}"
        );
    }
}

#[test]
fn entries_are_sorted_with_modes_times_links_and_xattrs() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path(), false);
    let items = list(&layer(dir.path()));
    // Directory by directory: `a/` and its children come before `a-b`.
    assert_eq!(
        paths(&items),
        [
            ".hidden",
            "B",
            "a/",
            "a/b",
            "a/rel",
            "a/sub/",
            "a/sub/big",
            "a/sub/link-to-b",
            "a-b",
            "b",
            "zz"
        ]
    );
    let a = find(&items, "a/");
    assert_eq!(
        (a.kind, a.mode, a.mtime),
        (tar::EntryType::Directory, 0o750, 1_700_000_000)
    );
    let ab = find(&items, "a/b");
    assert_eq!(
        (ab.kind, ab.mode, ab.mtime),
        (tar::EntryType::Regular, 0o4755, 1_500_000_000)
    );
    assert_eq!(ab.data, b"inside a");
    assert_eq!(ab.pax["SCHILY.xattr.user.test"], b"value\0with nul");
    let me = rustix::process::geteuid().as_raw();
    assert_eq!(
        (ab.uid, ab.gid),
        (
            u64::from(me),
            u64::from(rustix::process::getegid().as_raw())
        )
    );
    let big = find(&items, "a/sub/big");
    assert_eq!(big.data, vec![7u8; 200_000]);
    assert!(big.pax.is_empty());
    let rel = find(&items, "a/rel");
    assert_eq!(
        (rel.kind, rel.link.as_deref()),
        (tar::EntryType::Symlink, Some("../b"))
    );
    // `b` comes after `a/sub/link-to-b` in entry order, so `b` is the link.
    let first = find(&items, "a/sub/link-to-b");
    assert_eq!(
        (first.kind, first.data.as_slice()),
        (tar::EntryType::Regular, &b"plain b"[..])
    );
    let b = find(&items, "b");
    assert_eq!(
        (b.kind, b.link.as_deref()),
        (tar::EntryType::Link, Some("a/sub/link-to-b"))
    );
}

#[test]
fn owners_devices_and_trusted_xattrs_as_root() {
    if !is_root() {
        eprintln!("skipping owners_devices_and_trusted_xattrs_as_root: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("owned"), b"x", 0o640, 1);
    let chown = |path: &Path, uid: u32, gid: u32| {
        rustix::fs::chownat(
            CWD,
            path,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    };
    chown(&root.join("owned"), 1234, 5678);
    write(&root.join("huge-ids"), b"y", 0o644, 1);
    chown(&root.join("huge-ids"), 3_000_000, 4_000_000);
    setxattr(&root.join("owned"), "trusted.boxwright", b"t");
    // vfs_cap_data revision 2, effective, CAP_NET_BIND_SERVICE permitted.
    let cap: Vec<u8> = [0x0200_0001u32, 1 << 10, 0, 0, 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    setxattr(&root.join("owned"), "security.capability", &cap);
    let dev = |name: &str, ft, major, minor| {
        rustix::fs::mknodat(
            CWD,
            root.join(name),
            ft,
            Mode::from_raw_mode(0o600),
            rustix::fs::makedev(major, minor),
        )
        .unwrap();
    };
    dev("null", FileType::CharacterDevice, 1, 3);
    dev("loop", FileType::BlockDevice, 7, 0);
    rustix::fs::mknodat(
        CWD,
        root.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("socket")).unwrap();

    let items = list(&layer(root));
    assert_eq!(paths(&items), ["fifo", "huge-ids", "loop", "null", "owned"]);
    let owned = find(&items, "owned");
    assert_eq!((owned.uid, owned.gid, owned.mode), (1234, 5678, 0o640));
    assert_eq!(owned.pax["SCHILY.xattr.trusted.boxwright"], b"t");
    assert_eq!(owned.pax["SCHILY.xattr.security.capability"], cap);
    let huge = find(&items, "huge-ids");
    assert_eq!(huge.pax["uid"], b"3000000");
    assert_eq!(huge.pax["gid"], b"4000000");
    let null = find(&items, "null");
    assert_eq!((null.kind, null.dev), (tar::EntryType::Char, Some((1, 3))));
    let lp = find(&items, "loop");
    assert_eq!((lp.kind, lp.dev), (tar::EntryType::Block, Some((7, 0))));
    assert_eq!(find(&items, "fifo").kind, tar::EntryType::Fifo);
}

#[test]
fn long_names_and_link_targets_use_pax() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let long = "n".repeat(150);
    let deep = format!("{}/{}", "d".repeat(200), "e".repeat(200));
    fs::create_dir_all(root.join(&deep)).unwrap();
    write(&root.join(&long), b"long", 0o644, 5);
    write(&root.join(&deep).join("f"), b"deep", 0o644, 5);
    let target = format!("/{}", "t".repeat(180));
    symlink(&target, root.join("sym")).unwrap();
    fs::hard_link(root.join(&long), root.join("short")).unwrap();
    let exact = "x".repeat(100);
    write(&root.join(&exact), b"exactly 100", 0o644, 5);

    let items = list(&layer(root));
    let deep_file = format!("{deep}/f");
    assert_eq!(find(&items, &long).data, b"long");
    assert_eq!(find(&items, &long).pax["path"], long.as_bytes());
    assert_eq!(find(&items, &deep_file).data, b"deep");
    assert!(deep_file.len() > 255);
    assert_eq!(
        find(&items, &format!("{deep}/")).kind,
        tar::EntryType::Directory
    );
    assert_eq!(find(&items, "sym").link.as_deref(), Some(target.as_str()));
    assert_eq!(find(&items, "short").link.as_deref(), Some(long.as_str()));
    assert!(find(&items, &exact).pax.is_empty(), "100 bytes fit ustar");

    // GNU tar reads it the same way.
    let tar_bytes = decompressed(&layer(root));
    let mut child = Command::new("tar")
        .args(["-t", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar_bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.lines().any(|l| l == deep_file), "{listed}");
}

#[test]
fn symlinks_are_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("secret"), b"secret", 0o644, 1);
    let dir = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.path().join("out")).unwrap();
    symlink("/nonexistent/dangling", dir.path().join("dangling")).unwrap();
    let items = list(&layer(dir.path()));
    assert_eq!(paths(&items), ["dangling", "out"]);
    assert_eq!(find(&items, "out").kind, tar::EntryType::Symlink);
    assert_eq!(
        find(&items, "dangling").link.as_deref(),
        Some("/nonexistent/dangling")
    );
}

#[test]
fn source_date_epoch_clamps_later_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("old"), b"o", 0o644, 1_000);
    write(&dir.path().join("new"), b"n", 0o644, 3_000_000_000);
    mkdir(&dir.path().join("d"), 0o755);
    set_mtime(&dir.path().join("d"), 2_500);
    let opts = CreateOptions {
        source_date_epoch: Some(2_000),
        ..options(Compression::Zstd)
    };
    let items = list(&make(LayerSource::Directory(dir.path()), &opts).0);
    assert_eq!(find(&items, "old").mtime, 1_000);
    assert_eq!(find(&items, "new").mtime, 2_000);
    assert_eq!(find(&items, "d/").mtime, 2_000);
    let unclamped = list(&layer(dir.path()));
    assert_eq!(find(&unclamped, "new").mtime, 3_000_000_000);
}

#[test]
fn xattrs_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("f"), b"f", 0o644, 1);
    setxattr(&dir.path().join("f"), "user.k", b"v");
    let opts = CreateOptions {
        xattrs: false,
        ..options(Compression::None)
    };
    let items = list(&make(LayerSource::Directory(dir.path()), &opts).0);
    assert!(find(&items, "f").pax.is_empty());
}

#[test]
fn digests_sizes_and_media_types_for_each_compression() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path(), false);
    let mut diff_ids = Vec::new();
    for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
        let (blob, created) = make(LayerSource::Directory(dir.path()), &options(compression));
        assert_eq!(Compression::detect(&blob), compression);
        let tar_bytes = decompressed(&blob);
        assert_eq!(created.digest, sha256(&blob));
        assert_eq!(created.size, blob.len() as u64);
        assert_eq!(created.diff_id, sha256(&tar_bytes));
        assert_eq!(created.uncompressed_size, tar_bytes.len() as u64);
        assert_eq!(created.media_type, compression.layer_media_type());
        diff_ids.push(created.diff_id);
    }
    assert!(diff_ids.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = create_layer(
        LayerSource::Directory(&missing),
        Vec::new(),
        &CreateOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CreateError::Io { .. }));
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let err = create_layer(
        LayerSource::Diff {
            lower: dir.path(),
            upper: &file,
        },
        Vec::new(),
        &CreateOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CreateError::NotADirectory { .. }), "{err}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

#[test]
fn overlay_upper_whiteouts_and_opaque_dirs() {
    if !is_root() {
        eprintln!("skipping overlay_upper_whiteouts_and_opaque_dirs: needs root for mknod");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path();
    let whiteout = |path: &Path| {
        rustix::fs::mknodat(
            CWD,
            path,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .unwrap();
    };
    whiteout(&upper.join("gone"));
    rustix::fs::mknodat(
        CWD,
        upper.join("real-char"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 5),
    )
    .unwrap();
    mkdir(&upper.join("opq"), 0o711);
    setxattr(&upper.join("opq"), "trusted.overlay.opaque", b"y");
    setxattr(&upper.join("opq"), "user.kept", b"k");
    write(&upper.join("opq/new"), b"new", 0o644, 9);
    whiteout(&upper.join("opq/also-gone"));
    mkdir(&upper.join("uopq"), 0o755);
    setxattr(&upper.join("uopq"), "user.overlay.opaque", b"y");
    mkdir(&upper.join("plain"), 0o755);
    setxattr(&upper.join("plain"), "trusted.overlay.origin", b"\x00\xfb");
    setxattr(&upper.join("plain"), "trusted.overlay.opaque", b"n");

    let (blob, _) = make(
        LayerSource::OverlayUpper(upper),
        &options(Compression::Zstd),
    );
    let items = list(&blob);
    assert_eq!(
        paths(&items),
        [
            ".wh.gone",
            "opq/",
            "opq/.wh..wh..opq",
            "opq/.wh.also-gone",
            "opq/new",
            "plain/",
            "real-char",
            "uopq/",
            "uopq/.wh..wh..opq"
        ]
    );
    let wh = find(&items, ".wh.gone");
    assert_eq!((wh.kind, wh.data.len()), (tar::EntryType::Regular, 0));
    let opq = find(&items, "opq/");
    assert_eq!(
        opq.pax.keys().collect::<Vec<_>>(),
        ["SCHILY.xattr.user.kept"],
        "overlay's own attributes are not written"
    );
    let marker = find(&items, "opq/.wh..wh..opq");
    assert_eq!((marker.kind, marker.mode), (tar::EntryType::Regular, 0o711));
    assert!(find(&items, "plain/").pax.is_empty());
    assert_eq!(find(&items, "real-char").dev, Some((1, 5)));

    // The same tree as a plain directory keeps the devices and attributes as they are.
    let plain = list(&layer(upper));
    assert_eq!(find(&plain, "gone").kind, tar::EntryType::Char);

    setxattr(
        &upper.join("plain"),
        "trusted.overlay.redirect",
        b"/elsewhere",
    );
    let err = create_layer(
        LayerSource::OverlayUpper(upper),
        Vec::new(),
        &CreateOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, CreateError::UnsupportedOverlay { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("plain"), "{err}");
}

/// Unmounts on drop, so a failing assertion does not leave the mount behind.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn layer_from_a_real_overlayfs_upper_dir() {
    if !is_root() {
        eprintln!("skipping layer_from_a_real_overlayfs_upper_dir: mounting overlayfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|n| {
        let p = dir.path().join(n);
        fs::create_dir(&p).unwrap();
        p
    });
    write(&lower.join("keep"), b"keep", 0o644, 1);
    write(&lower.join("delete-me"), b"bye", 0o644, 1);
    fs::create_dir(lower.join("replace")).unwrap();
    write(&lower.join("replace/old1"), b"1", 0o644, 1);
    write(&lower.join("replace/old2"), b"2", 0o644, 1);
    let options_arg = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
        lower.display(),
        upper.display(),
        work.display()
    );
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &options_arg])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success(), "mount -t overlay failed");
    {
        let _mounted = Mounted(&merged);
        fs::remove_file(merged.join("delete-me")).unwrap();
        fs::remove_dir_all(merged.join("replace")).unwrap();
        fs::create_dir(merged.join("replace")).unwrap();
        fs::write(merged.join("replace/new"), b"new").unwrap();
        fs::write(merged.join("added"), b"added").unwrap();
    }
    let (blob, _) = make(
        LayerSource::OverlayUpper(&upper),
        &options(Compression::Zstd),
    );
    let items = list(&blob);
    assert_eq!(
        paths(&items),
        [
            ".wh.delete-me",
            "added",
            "replace/",
            "replace/.wh..wh..opq",
            "replace/new"
        ]
    );
    assert_eq!(find(&items, "replace/new").data, b"new");
    assert!(items
        .iter()
        .all(|i| i.pax.keys().all(|k| !k.contains("overlay"))));
}

#[test]
fn diff_of_two_directories() {
    let dir = tempfile::tempdir().unwrap();
    let lower = dir.path().join("lower");
    let upper = dir.path().join("upper");
    for root in [&lower, &upper] {
        mkdir(root, 0o755);
        write(&root.join("keep"), b"same", 0o644, 10);
        write(&root.join("change-size"), b"old", 0o644, 10);
        write(&root.join("change-mode"), b"mode", 0o644, 10);
        write(&root.join("same-meta"), b"aaaa", 0o644, 10);
        mkdir(&root.join("deldir"), 0o755);
        mkdir(&root.join("deldir/sub"), 0o755);
        write(&root.join("deldir/sub/f"), b"f", 0o644, 10);
        write(&root.join("delfile"), b"d", 0o644, 10);
        mkdir(&root.join("quiet"), 0o755);
        write(&root.join("quiet/x"), b"x", 0o644, 10);
        mkdir(&root.join("touched"), 0o755);
        write(&root.join("touched/x"), b"x", 0o644, 10);
        write(&root.join("to-dir"), b"file", 0o644, 10);
        symlink("target-a", root.join("link")).unwrap();
        set_mtime(&root.join("link"), 10);
    }
    write(&upper.join("change-size"), b"newer", 0o644, 10);
    fs::set_permissions(upper.join("change-mode"), fs::Permissions::from_mode(0o600)).unwrap();
    // Same size and mtime, different bytes: trusted to be unchanged, as Docker does.
    write(&upper.join("same-meta"), b"bbbb", 0o644, 10);
    fs::remove_dir_all(upper.join("deldir")).unwrap();
    fs::remove_file(upper.join("delfile")).unwrap();
    write(&upper.join("touched/y"), b"y", 0o644, 10);
    fs::remove_file(upper.join("to-dir")).unwrap();
    mkdir(&upper.join("to-dir"), 0o755);
    write(&upper.join("to-dir/inside"), b"i", 0o644, 10);
    write(&upper.join("added"), b"added", 0o644, 10);
    fs::remove_file(upper.join("link")).unwrap();
    symlink("target-b", upper.join("link")).unwrap();
    set_mtime(&upper.join("link"), 10);
    for root in [&lower, &upper] {
        for d in ["quiet", "touched", "to-dir", "."] {
            set_mtime(&root.join(d), 20);
        }
    }

    let source = LayerSource::Diff {
        lower: &lower,
        upper: &upper,
    };
    let (blob, _) = make(source, &options(Compression::Zstd));
    let items = list(&blob);
    assert_eq!(
        paths(&items),
        [
            ".wh.deldir",
            ".wh.delfile",
            "added",
            "change-mode",
            "change-size",
            "link",
            "to-dir/",
            "to-dir/inside",
            "touched/",
            "touched/y"
        ]
    );
    assert_eq!(find(&items, "change-size").data, b"newer");
    assert_eq!(find(&items, "change-mode").mode, 0o600);
    assert_eq!(find(&items, "link").link.as_deref(), Some("target-b"));
    let wh = find(&items, ".wh.deldir");
    assert_eq!((wh.kind, wh.data.len()), (tar::EntryType::Regular, 0));

    // Identical trees give an empty layer; the diff is deterministic.
    assert_eq!(blob, make(source, &options(Compression::Zstd)).0);
    let same = make(
        LayerSource::Diff {
            lower: &lower,
            upper: &lower,
        },
        &options(Compression::None),
    );
    assert!(list(&same.0).is_empty());
    assert_eq!(same.1.uncompressed_size, 1024);
}

#[test]
fn diff_notices_xattr_and_mtime_changes() {
    let dir = tempfile::tempdir().unwrap();
    let lower = dir.path().join("lower");
    let upper = dir.path().join("upper");
    for root in [&lower, &upper] {
        mkdir(root, 0o755);
        write(&root.join("x"), b"x", 0o644, 10);
        write(&root.join("t"), b"t", 0o644, 10);
        mkdir(&root.join("d"), 0o755);
        set_mtime(&root.join("d"), 10);
    }
    setxattr(&upper.join("x"), "user.new", b"1");
    set_mtime(&upper.join("t"), 11);
    // A directory whose mtime alone changed is not written (as Docker's ChangesDirs).
    set_mtime(&upper.join("d"), 11);
    let (blob, _) = make(
        LayerSource::Diff {
            lower: &lower,
            upper: &upper,
        },
        &options(Compression::Zstd),
    );
    let items = list(&blob);
    assert_eq!(paths(&items), ["t", "x"]);
    assert_eq!(find(&items, "x").pax["SCHILY.xattr.user.new"], b"1");
}
