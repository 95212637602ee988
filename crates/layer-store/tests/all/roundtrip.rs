//! Round trips through the creator and the applier: a directory made into a layer and applied
//! gives the same tree; a diff or overlay upper layer applied over its lower gives the upper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use boxwright_layer_store::{apply_layer, ApplyOptions, WhiteoutMode};
use boxwright_layer_store::{create_layer, CreateOptions, CreatedLayer, LayerSource};
use boxwright_layer_store::{CompressOptions, Compression};
use rustix::fs::{AtFlags, FileType, Mode, CWD};

use crate::support::{is_root, mkdir, set_mtime, setxattr, write};

fn make(source: LayerSource<'_>, compression: Compression) -> (Vec<u8>, CreatedLayer) {
    let options = CreateOptions {
        compress: CompressOptions {
            compression,
            level: None,
            threads: 2,
        },
        ..CreateOptions::default()
    };
    create_layer(source, Vec::new(), &options).unwrap()
}

fn apply(blob: &[u8], target: &Path, whiteouts: WhiteoutMode) {
    let dir = cap_std::fs::Dir::open_ambient_dir(target, cap_std::ambient_authority()).unwrap();
    let options = ApplyOptions::default()
        .with_whiteouts(whiteouts)
        .with_devices(is_root());
    apply_layer(Cursor::new(blob), &dir, &options).unwrap();
}

/// Everything the layer format keeps about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    content: Vec<u8>,
    rdev: u64,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A tree below (not including) its root: nodes by relative path, and the groups of paths that
/// share an inode.
#[derive(Debug, PartialEq, Eq)]
struct Tree {
    nodes: BTreeMap<PathBuf, Node>,
    links: BTreeSet<BTreeSet<PathBuf>>,
}

fn snapshot(root: &Path) -> Tree {
    let mut nodes = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), BTreeSet<PathBuf>> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(root.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            let abs = root.join(&rel);
            let meta = fs::symlink_metadata(&abs).unwrap();
            let ft = meta.file_type();
            let (kind, content) = if ft.is_dir() {
                stack.push(rel.clone());
                ("dir", Vec::new())
            } else if ft.is_file() {
                ("file", fs::read(&abs).unwrap())
            } else if ft.is_symlink() {
                let target = fs::read_link(&abs).unwrap();
                ("symlink", target.as_os_str().as_bytes().to_vec())
            } else {
                ("special", Vec::new())
            };
            if !ft.is_dir() && meta.nlink() > 1 {
                inodes
                    .entry((meta.dev(), meta.ino()))
                    .or_default()
                    .insert(rel.clone());
            }
            let mut xattrs = BTreeMap::new();
            let mut names = vec![0u8; 4096];
            let n = rustix::fs::llistxattr(&abs, &mut names[..]).unwrap();
            for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
                let mut value = vec![0u8; 4096];
                let name_os = std::ffi::OsStr::from_bytes(name);
                let len = rustix::fs::lgetxattr(&abs, name_os, &mut value[..]).unwrap();
                xattrs.insert(name.to_vec(), value[..len].to_vec());
            }
            let node = Node {
                kind,
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: meta.mtime(),
                content,
                rdev: meta.rdev(),
                xattrs,
            };
            nodes.insert(rel, node);
        }
    }
    Tree {
        nodes,
        // Paths of one inode, where more than one of them is in this tree.
        links: inodes.into_values().filter(|g| g.len() > 1).collect(),
    }
}

fn assert_same(expected: &Tree, actual: &Tree) {
    let want: Vec<_> = expected.nodes.keys().collect();
    let got: Vec<_> = actual.nodes.keys().collect();
    assert_eq!(want, got, "paths");
    for (path, node) in &expected.nodes {
        assert_eq!(node, &actual.nodes[path], "{}", path.display());
    }
    assert_eq!(expected.links, actual.links, "hard link groups");
}

/// A tree with every kind of entry the format keeps, all times fixed.
fn build(root: &Path) {
    mkdir(&root.join("etc"), 0o755);
    write(
        &root.join("etc/passwd"),
        b"root:x:0:0::/root:/bin/sh\n",
        0o644,
        100,
    );
    write(&root.join("etc/shadow"), b"root:*:1::::::\n", 0o640, 101);
    mkdir(&root.join("bin"), 0o755);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 / 5) as u8).collect();
    write(&root.join("bin/tool"), &big, 0o4755, 102);
    fs::hard_link(root.join("bin/tool"), root.join("bin/tool-alias")).unwrap();
    fs::hard_link(root.join("bin/tool"), root.join("etc/tool-link")).unwrap();
    symlink("tool", root.join("bin/sh")).unwrap();
    symlink("/etc/passwd", root.join("abs-link")).unwrap();
    symlink("../nowhere", root.join("etc/dangling")).unwrap();
    mkdir(&root.join("tmp"), 0o1777);
    write(&root.join("tmp/empty"), b"", 0o600, 103);
    let long = root.join("l".repeat(120)).join("m".repeat(150));
    fs::create_dir_all(&long).unwrap();
    write(&long.join("deep"), b"deep", 0o644, 104);
    rustix::fs::mknodat(
        CWD,
        root.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o620),
        0,
    )
    .unwrap();
    setxattr(&root.join("etc/passwd"), "user.note", b"hello");
    setxattr(&root.join("tmp"), "user.dir", b"");
    if is_root() {
        rustix::fs::chownat(
            CWD,
            root.join("etc/shadow"),
            Some(rustix::fs::Uid::from_raw(0)),
            Some(rustix::fs::Gid::from_raw(42)),
            AtFlags::empty(),
        )
        .unwrap();
        rustix::fs::chownat(
            CWD,
            root.join("abs-link"),
            Some(rustix::fs::Uid::from_raw(1000)),
            Some(rustix::fs::Gid::from_raw(1000)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
        setxattr(&root.join("bin/sh"), "trusted.on-symlink", b"t");
        setxattr(&root.join("etc/shadow"), "trusted.secret", b"s");
        rustix::fs::mknodat(
            CWD,
            root.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        set_mtime(&root.join("null"), 105);
    }
    for link in ["bin/sh", "abs-link", "etc/dangling", "fifo"] {
        set_mtime(&root.join(link), 106);
    }
    let dirs = [long.clone(), long.parent().unwrap().to_owned()];
    for dir in dirs
        .iter()
        .chain(&["etc", "bin", "tmp"].map(|d| root.join(d)))
    {
        set_mtime(dir, 200);
    }
}

#[test]
fn directory_layer_applies_to_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let target = dir.path().join("target");
    fs::create_dir(&source).unwrap();
    fs::create_dir(&target).unwrap();
    build(&source);
    for compression in [Compression::Zstd, Compression::Gzip] {
        let (blob, created) = make(LayerSource::Directory(&source), compression);
        let _ = fs::remove_dir_all(&target);
        fs::create_dir(&target).unwrap();
        apply(&blob, &target, WhiteoutMode::Apply);
        assert_same(&snapshot(&source), &snapshot(&target));
        // And the applied tree makes the same layer again.
        assert_eq!(
            make(LayerSource::Directory(&target), compression).1,
            created
        );
    }
}

#[test]
fn diff_layer_over_its_lower_gives_the_upper() {
    let dir = tempfile::tempdir().unwrap();
    let lower = dir.path().join("lower");
    let upper = dir.path().join("upper");
    let target = dir.path().join("target");
    for d in [&lower, &upper, &target] {
        fs::create_dir(d).unwrap();
    }
    build(&lower);
    build(&upper);
    // Delete a file, a directory tree and one path of a hard-linked inode; change contents,
    // a mode, a symlink and an xattr; turn a file into a directory; add things.
    fs::remove_file(upper.join("etc/shadow")).unwrap();
    fs::remove_dir_all(upper.join("l".repeat(120))).unwrap();
    fs::remove_file(upper.join("bin/tool-alias")).unwrap();
    write(
        &upper.join("etc/passwd"),
        b"root:x:0:0::/root:/bin/bash\n",
        0o644,
        300,
    );
    setxattr(&upper.join("etc/passwd"), "user.note", b"changed");
    fs::set_permissions(upper.join("tmp/empty"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(upper.join("bin/sh")).unwrap();
    symlink("/bin/busybox", upper.join("bin/sh")).unwrap();
    set_mtime(&upper.join("bin/sh"), 301);
    fs::remove_file(upper.join("fifo")).unwrap();
    mkdir(&upper.join("fifo"), 0o700);
    write(&upper.join("fifo/now-a-dir"), b"x", 0o644, 302);
    write(&upper.join("new-file"), b"new", 0o644, 303);
    for d in ["etc", "bin", "tmp", "fifo"] {
        set_mtime(&upper.join(d), 400);
    }

    let (base, _) = make(LayerSource::Directory(&lower), Compression::Zstd);
    apply(&base, &target, WhiteoutMode::Apply);
    let (diff, _) = make(
        LayerSource::Diff {
            lower: &lower,
            upper: &upper,
        },
        Compression::Zstd,
    );
    apply(&diff, &target, WhiteoutMode::Apply);
    assert_same(&snapshot(&upper), &snapshot(&target));
}

/// Unmounts on drop, so a failing assertion does not leave the mount behind.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn overlay_upper_layer_over_its_lower_gives_the_merged_view() {
    if !is_root() {
        eprintln!("skipping overlay_upper_layer_over_its_lower_gives_the_merged_view: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged, target, overlay_form] =
        ["lower", "upper", "work", "merged", "target", "overlay-form"].map(|n| {
            let p = dir.path().join(n);
            fs::create_dir(&p).unwrap();
            p
        });
    build(&lower);
    let options = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
        lower.display(),
        upper.display(),
        work.display()
    );
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &options])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success(), "mount -t overlay failed");
    let expected = {
        let _mounted = Mounted(&merged);
        fs::remove_file(merged.join("etc/shadow")).unwrap();
        fs::remove_dir_all(merged.join("bin")).unwrap();
        mkdir(&merged.join("bin"), 0o750);
        write(&merged.join("bin/only"), b"only", 0o755, 500);
        write(&merged.join("tmp/empty"), b"now full", 0o600, 501);
        write(&merged.join("added"), b"added", 0o644, 502);
        for d in ["etc", "bin", "tmp"] {
            set_mtime(&merged.join(d), 600);
        }
        snapshot(&merged)
    };
    let (base, _) = make(LayerSource::Directory(&lower), Compression::Zstd);
    let (layer, _) = make(LayerSource::OverlayUpper(&upper), Compression::Zstd);
    apply(&base, &target, WhiteoutMode::Apply);
    apply(&layer, &target, WhiteoutMode::Apply);
    assert_same(&expected, &snapshot(&target));

    // Applied in overlay form the layer is an upper directory again, which gives the same
    // entries (whiteout devices carry no times of their own, so compare names and kinds).
    apply(&layer, &overlay_form, WhiteoutMode::Overlay);
    let (again, _) = make(LayerSource::OverlayUpper(&overlay_form), Compression::None);
    let names = |blob: &[u8]| -> Vec<(Vec<u8>, tar::EntryType)> {
        let tar_bytes = {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut boxwright_layer_store::decompress(Cursor::new(blob)).unwrap(),
                &mut out,
            )
            .unwrap();
            out
        };
        tar::Archive::new(&tar_bytes[..])
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path_bytes().into_owned(), e.header().entry_type())
            })
            .collect()
    };
    assert_eq!(names(&layer), names(&again));
}
