//! Adopting the directory a layer was made from as its snapshot: the adopted tree is the one
//! unpacking the layer gives, entry for entry.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use boxwright_layer_store::{chain_ids, Digest, LayerSource, SnapshotError, Store};
use oci_spec::image::Descriptor;

use crate::support::{commit_layer, is_root, tag_image};

/// `SOURCE_DATE_EPOCH` of the tests: later than some mtimes of the tree, earlier than others.
const EPOCH: i64 = 1_600_000_000;

fn set_time(path: &Path, secs: i64, nanos: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: nanos,
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

/// A tree like a COPY's staging: nested directories, files with sub-second mtimes before and
/// after [`EPOCH`], a symlink, a hard link, a fifo, setuid and odd modes, other owners (as
/// root), an extended attribute where the filesystem takes one, and directories whose mtimes
/// are "now".
fn make_tree(dir: &Path) {
    fs::create_dir_all(dir.join("app/src/deep")).unwrap();
    fs::create_dir(dir.join("app/empty")).unwrap();
    fs::write(dir.join("app/old.txt"), b"old").unwrap();
    set_time(&dir.join("app/old.txt"), 1_500_000_000, 123_456_789);
    fs::write(dir.join("app/src/new.rs"), b"fn main() {}\n").unwrap();
    set_time(&dir.join("app/src/new.rs"), 1_700_000_000, 987_654_321);
    fs::write(dir.join("app/src/deep/whole"), vec![7u8; 70_000]).unwrap();
    set_time(&dir.join("app/src/deep/whole"), 1_400_000_000, 0);
    fs::write(dir.join("app/empty-file"), b"").unwrap();
    fs::write(dir.join("app/tool"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("app/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(dir.join("app/empty"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::hard_link(dir.join("app/old.txt"), dir.join("app/src/old-link")).unwrap();
    symlink("../old.txt", dir.join("app/src/sym")).unwrap();
    set_time(&dir.join("app/src/sym"), 1_650_000_000, 5);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("app/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    if is_root() {
        for (path, owner) in [
            ("app/src", 1000),
            ("app/src/new.rs", 1001),
            ("app/src/sym", 7),
        ] {
            std::os::unix::fs::lchown(dir.join(path), Some(owner), Some(owner + 1)).unwrap();
        }
    }
    // Not every filesystem takes user attributes; the comparison covers them where it does.
    let _ = rustix::fs::lsetxattr(
        dir.join("app/old.txt"),
        "user.test",
        b"value",
        rustix::fs::XattrFlags::empty(),
    );
}

/// Everything that describes one entry of a tree, access and change times aside.
#[derive(Debug, PartialEq, Eq)]
struct Described {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    content: Vec<u8>,
    link: Option<PathBuf>,
    mtime: (i64, i64),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The first path (in walk order) of the same inode, for hard links.
    same_as: Option<String>,
}

fn xattrs_of(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names = vec![0u8; 65536];
    let len = rustix::fs::llistxattr(path, &mut names[..]).unwrap_or(0);
    let mut out = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 65536];
        let name_os = std::ffi::OsStr::from_bytes(name);
        let n = rustix::fs::lgetxattr(path, name_os, &mut value[..]).unwrap();
        out.push((name.to_vec(), value[..n].to_vec()));
    }
    out.sort();
    out
}

/// Every entry below `root` (and the root's kind, mode and owner), by relative path.
fn describe(root: &Path) -> BTreeMap<String, Described> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let meta = fs::symlink_metadata(root).unwrap();
    out.insert(
        ".".to_string(),
        Described {
            kind: "dir".into(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: 0,
            content: Vec::new(),
            link: None,
            mtime: (0, 0),
            xattrs: xattrs_of(root),
            same_as: None,
        },
    );
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                stack.push(path.clone());
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_symlink() {
                "symlink"
            } else {
                "other"
            };
            let same_as = (!ft.is_dir() && meta.nlink() > 1).then(|| {
                inodes
                    .entry(meta.ino())
                    .or_insert_with(|| rel.clone())
                    .clone()
            });
            out.insert(
                rel,
                Described {
                    kind: format!("{kind} {:o}", meta.mode() & 0o170000),
                    mode: meta.mode(),
                    uid: meta.uid(),
                    gid: meta.gid(),
                    size: if ft.is_dir() { 0 } else { meta.size() },
                    content: if ft.is_file() {
                        fs::read(&path).unwrap()
                    } else {
                        Vec::new()
                    },
                    link: ft.is_symlink().then(|| fs::read_link(&path).unwrap()),
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                    xattrs: xattrs_of(&path),
                    same_as,
                },
            );
        }
    }
    out
}

/// A store holding a one-file base layer (and its image `base`); returns it and the layer.
fn store_with_base(root: &Path) -> (Store, (Descriptor, Digest)) {
    let store = Store::open(root).unwrap();
    let base_dir = root.with_extension("base");
    fs::create_dir_all(base_dir.join("etc")).unwrap();
    fs::write(base_dir.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    let base = commit_layer(&store, LayerSource::Directory(&base_dir), None);
    (store, base)
}

#[test]
fn an_adopted_tree_is_the_unpacked_layer() {
    let work = tempfile::tempdir().unwrap();
    let (adopting, base) = store_with_base(&work.path().join("a"));
    let (unpacking, base_b) = store_with_base(&work.path().join("b"));
    assert_eq!(base, base_b);
    let tree = adopting.blobs().tmp_dir().join("staged");
    make_tree(&tree);
    let top = commit_layer(&adopting, LayerSource::Directory(&tree), Some(EPOCH));
    assert_eq!(
        commit_layer(&unpacking, LayerSource::Directory(&tree), Some(EPOCH)),
        top
    );
    for store in [&adopting, &unpacking] {
        tag_image(store, "app", &[base.clone(), top.clone()]);
    }

    let chains = chain_ids(&[base.1.clone(), top.1.clone()]);
    let adopted = adopting
        .adopt_snapshot(Some(&chains[0]), top.0.digest(), &top.1, &tree, Some(EPOCH))
        .unwrap();
    assert_eq!(adopted.chain_id, chains[1]);
    assert!(!tree.exists(), "the tree was renamed into place");

    let image = adopting.resolve("app").unwrap();
    let snaps = adopting.snapshots(&image).unwrap();
    assert_eq!(snaps[1], adopted);
    let unpacked = unpacking
        .snapshots(&unpacking.resolve("app").unwrap())
        .unwrap();

    let want = describe(&unpacked[1].dir);
    let got = describe(&adopted.dir);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, entry) in &want {
        assert_eq!(&got[path], entry, "{path}");
    }
    // The clamp and the whole seconds are what the layer holds, so they were applied.
    assert_eq!(got["app/src/new.rs"].mtime, (EPOCH, 0));
    assert_eq!(got["app/old.txt"].mtime, (1_500_000_000, 0));
    assert!(adopting.fsck().unwrap().is_empty(), "fsck is clean");
}

#[test]
fn adopting_an_existing_snapshot_leaves_the_dir_alone() {
    let work = tempfile::tempdir().unwrap();
    let (store, base) = store_with_base(&work.path().join("a"));
    let tree = store.blobs().tmp_dir().join("staged");
    make_tree(&tree);
    let top = commit_layer(&store, LayerSource::Directory(&tree), None);
    tag_image(&store, "app", &[base.clone(), top.clone()]);
    let unpacked = store.snapshots(&store.resolve("app").unwrap()).unwrap();

    let chains = chain_ids(&[base.1.clone(), top.1.clone()]);
    let again = store
        .adopt_snapshot(Some(&chains[0]), top.0.digest(), &top.1, &tree, None)
        .unwrap();
    assert_eq!(again, unpacked[1]);
    assert!(
        tree.join("app/src/new.rs").is_file(),
        "the dir is untouched"
    );
    let nanos = fs::symlink_metadata(tree.join("app/src/new.rs"))
        .unwrap()
        .mtime_nsec();
    assert_eq!(nanos, 987_654_321, "not even normalized");
}

#[test]
fn a_socket_is_not_adoptable() {
    let work = tempfile::tempdir().unwrap();
    let (store, base) = store_with_base(&work.path().join("a"));
    let tree = store.blobs().tmp_dir().join("staged");
    make_tree(&tree);
    let _listener = std::os::unix::net::UnixListener::bind(tree.join("app/sock")).unwrap();
    let top = commit_layer(&store, LayerSource::Directory(&tree), None);
    let chains = chain_ids(&[base.1.clone(), top.1.clone()]);
    let err = store
        .adopt_snapshot(Some(&chains[0]), top.0.digest(), &top.1, &tree, None)
        .unwrap_err();
    assert!(
        matches!(&err, SnapshotError::NotAdoptable { path, .. } if path.ends_with("app/sock")),
        "{err}"
    );
    assert!(tree.join("app/sock").exists(), "the dir stays where it was");
    assert!(!store
        .root()
        .join("snapshots")
        .join(chains[1].digest())
        .exists());
}
