//! `cp` into and out of running and stopped containers, and the symlink-escape cases
//! (CVE-2018-15664): nothing outside the container's root is read or changed.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use boxwright_runtime::{Child, Container, ContainerRoot, Error, RootFs};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{fill_busybox, sh, subdirs, text, wait_until, PATIENCE, TEMP_MOUNTS};

/// A host tree to copy in: `tree/file` (0754, 1234:5678, a fixed mtime), `tree/link -> file`,
/// `tree/sub/deep`, and a FIFO.
fn host_tree(at: &Path) -> PathBuf {
    let tree = at.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("file"), "file-data\n").unwrap();
    std::fs::write(tree.join("sub/deep"), "deep\n").unwrap();
    symlink("file", tree.join("link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o620),
        0,
    )
    .unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(tree.join("file"))
        .unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .unwrap();
    std::fs::set_permissions(tree.join("file"), PermissionsExt::from_mode(0o754)).unwrap();
    std::fs::set_permissions(tree.join("fifo"), PermissionsExt::from_mode(0o620)).unwrap();
    std::os::unix::fs::chown(tree.join("file"), Some(1234), Some(5678)).unwrap();
    tree
}

fn assert_tree_copied(dst: &Path) {
    let file = std::fs::metadata(dst.join("file")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dst.join("file")).unwrap(),
        "file-data\n"
    );
    assert_eq!(file.mode() & 0o7777, 0o754);
    assert_eq!((file.uid(), file.gid()), (1234, 5678));
    assert_eq!(file.mtime(), 1_000_000_000);
    assert_eq!(
        std::fs::read_link(dst.join("link")).unwrap(),
        Path::new("file")
    );
    assert_eq!(
        std::fs::read_to_string(dst.join("sub/deep")).unwrap(),
        "deep\n"
    );
    let fifo = std::fs::symlink_metadata(dst.join("fifo")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
    assert_eq!(fifo.mode() & 0o7777, 0o620);
}

#[tokio::test]
async fn cp_both_ways_with_a_stopped_directory_container() {
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    fill_busybox(&rootfs);
    let tree = host_tree(t.path());
    let root = ContainerRoot::stopped(&RootFs::dir(&rootfs)).unwrap();

    // A new name: the tree arrives under it; an existing directory: the tree goes into it.
    root.copy_in(&tree, "/copied").unwrap();
    assert_tree_copied(&rootfs.join("copied"));
    root.copy_in(&tree, "/tmp").unwrap();
    assert_tree_copied(&rootfs.join("tmp/tree"));
    // `SRC/.`: the contents into an existing directory.
    std::fs::create_dir(rootfs.join("contents")).unwrap();
    root.copy_in(&tree.join("."), "/contents").unwrap();
    assert_tree_copied(&rootfs.join("contents"));
    // A single file onto an existing file replaces it.
    root.copy_in(&tree.join("sub/deep"), "/etc/group").unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/group")).unwrap(),
        "deep\n"
    );
    // A missing parent is an error.
    assert!(matches!(
        root.copy_in(&tree, "/no/such/dir"),
        Err(Error::Copy { .. })
    ));

    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    root.copy_out("/copied", &out).unwrap();
    assert_tree_copied(&out.join("copied"));
    root.copy_out("/etc/passwd", &out.join("passwd")).unwrap();
    assert!(std::fs::read_to_string(out.join("passwd"))
        .unwrap()
        .starts_with("root:x:0:0"));
    root.copy_out("/copied/.", &out.join("again")).unwrap();
    assert_tree_copied(&out.join("again"));
}

#[tokio::test]
async fn cp_both_ways_with_a_stopped_overlay_container() {
    // Another test's temporary mount, in use, is no leak of this one.
    let _mounts = TEMP_MOUNTS.lock().await;
    let t = tempfile::tempdir().unwrap();
    let [lower, upper, work] = subdirs(t.path(), ["lower", "upper", "work"]);
    fill_busybox(&lower);
    std::fs::write(lower.join("etc/from-lower"), "lower\n").unwrap();
    let tree = host_tree(t.path());
    let rootfs = RootFs::overlay([&lower], &upper, &work);
    {
        let root = ContainerRoot::stopped(&rootfs).unwrap();
        root.copy_in(&tree, "/tmp/x").unwrap();
        root.copy_out("/etc/from-lower", &t.path().join("got"))
            .unwrap();
    }
    // Written into the container's layer, the image's layer untouched; read through the merge.
    assert_tree_copied(&upper.join("tmp/x"));
    assert!(!lower.join("tmp/x").exists());
    assert_eq!(
        std::fs::read_to_string(t.path().join("got")).unwrap(),
        "lower\n"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("boxwright-mnt-"),
        "a temporary mount was left"
    );

    // The container sees what was copied in.
    let out = Container::builder(rootfs)
        .cmd(["cat", "/tmp/x/sub/deep"])
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "deep\n", "{out:?}");
}

/// Starts `script` and waits for it to print `ready`.
async fn start(root: impl Into<RootFs>, script: &str) -> Child {
    let mut child = sh(root, script).build().unwrap().spawn().await.unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.as_deref(), Some("ready"));
    child.stdout = Some(lines.into_inner().into_inner());
    child
}

#[tokio::test]
async fn cp_both_ways_with_a_running_container() {
    let t = tempfile::tempdir().unwrap();
    let [lower, upper, work] = subdirs(t.path(), ["lower", "upper", "work"]);
    fill_busybox(&lower);
    let tree = host_tree(t.path());
    // /dev/shm is a tmpfs only the container's mount namespace has.
    let child = start(
        RootFs::overlay([&lower], &upper, &work),
        "echo in-shm > /dev/shm/note; echo ready; \
         while [ ! -f /tmp/done ]; do sleep 0.02; done; cat /tmp/tree/sub/deep",
    )
    .await;
    let root = ContainerRoot::of_child(&child).unwrap();
    root.copy_out("/dev/shm/note", &t.path().join("note"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(t.path().join("note")).unwrap(),
        "in-shm\n"
    );
    root.copy_in(&tree, "/tmp").unwrap();
    // A copy is not atomic: a marker copied afterwards tells the container it is complete.
    let done = t.path().join("done");
    std::fs::write(&done, "").unwrap();
    root.copy_in(&done, "/tmp/done").unwrap();
    let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&out.stdout), "deep\n", "{out:?}");
    assert_tree_copied(&upper.join("tmp/tree"));
}

/// A container root under `t/rootfs` with hostile symlinks, next to a host secret `t/secret`:
/// `/tdir -> ..` and `/up -> ../../..` (the host's `t` and above, if followed naively),
/// `/abs -> T` (the absolute host path), `/escape -> /`, `/etc/evil -> T/secret`, and
/// `/box/sub -> T`.
fn hostile_root(t: &Path) -> PathBuf {
    let rootfs = t.join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    fill_busybox(&rootfs);
    std::fs::write(t.join("secret"), "host-secret\n").unwrap();
    std::fs::write(rootfs.join("secret"), "box-secret\n").unwrap();
    symlink("..", rootfs.join("tdir")).unwrap();
    symlink("../../..", rootfs.join("up")).unwrap();
    symlink(t, rootfs.join("abs")).unwrap();
    symlink("/", rootfs.join("escape")).unwrap();
    symlink(t.join("secret"), rootfs.join("etc/evil")).unwrap();
    std::fs::create_dir(rootfs.join("box")).unwrap();
    symlink(t, rootfs.join("box/sub")).unwrap();
    rootfs
}

/// The host side of `t`, apart from the container root: names and contents.
fn host_state(t: &Path) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "rootfs")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).ok(),
            )
        })
        .collect();
    v.sort();
    v
}

fn escape_suite(t: &Path, rootfs: &Path, root: &ContainerRoot) {
    let before = host_state(t);
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("payload");
    std::fs::write(&file, "payload\n").unwrap();
    let tree = src.path().join("sub");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("planted"), "planted\n").unwrap();
    let out = tempfile::tempdir().unwrap();

    // Reading through the links finds the container's files, never the host's.
    for path in [
        "/tdir/secret",
        "/up/secret",
        "/escape/secret",
        "/escape/../../secret",
    ] {
        let dst = out.path().join("got");
        root.copy_out(path, &dst).unwrap();
        assert_eq!(
            std::fs::read_to_string(&dst).unwrap(),
            "box-secret\n",
            "{path}"
        );
        std::fs::remove_file(&dst).unwrap();
    }
    // The absolute host path means nothing inside the container.
    assert!(root
        .copy_out("/abs/secret", &out.path().join("no"))
        .is_err());
    assert!(root
        .copy_out("/etc/evil/.", &out.path().join("no"))
        .is_err());
    // A link copied out stays a link (its target is not read).
    root.copy_out("/escape", &out.path().join("escape"))
        .unwrap();
    assert_eq!(
        std::fs::read_link(out.path().join("escape")).unwrap(),
        Path::new("/")
    );

    // Writing through the links lands inside the root.
    root.copy_in(&file, "/tdir/secret").unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("secret")).unwrap(),
        "payload\n"
    );
    root.copy_in(&file, "/up/from-up").unwrap();
    assert!(rootfs.join("from-up").exists());
    assert!(root.copy_in(&file, "/abs/").is_err());
    // A symlink at the destination path is replaced, not followed.
    root.copy_in(&file, "/etc/evil").unwrap();
    let evil = std::fs::symlink_metadata(rootfs.join("etc/evil")).unwrap();
    assert!(evil.is_file());
    // A directory copied onto a symlinked directory of the same name replaces the link.
    root.copy_in(&tree, "/box").unwrap();
    assert!(rootfs.join("box/sub/planted").exists());
    assert!(!std::fs::symlink_metadata(rootfs.join("box/sub"))
        .unwrap()
        .file_type()
        .is_symlink());

    assert_eq!(
        host_state(t),
        before,
        "something outside the container changed"
    );
    assert!(!t.join("planted").exists() && !t.join("payload").exists());
}

#[tokio::test]
async fn no_symlink_escape_from_a_stopped_container() {
    let t = tempfile::tempdir().unwrap();
    let rootfs = hostile_root(t.path());
    let root = ContainerRoot::stopped(&RootFs::dir(&rootfs)).unwrap();
    escape_suite(t.path(), &rootfs, &root);
}

#[tokio::test]
async fn no_symlink_escape_from_a_running_container() {
    let t = tempfile::tempdir().unwrap();
    let rootfs = hostile_root(t.path());
    let child = start(rootfs.as_path(), "echo ready; exec sleep 600").await;
    let root = ContainerRoot::of_child(&child).unwrap();
    escape_suite(t.path(), &rootfs, &root);
    drop(child);
}

/// `Containers::files` by name: a stored container's files while it runs (its volume too)
/// and after it stopped; a missing container is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_containers_by_name_running_and_stopped() {
    use boxwright_runtime::{Containers, CreateOptions};
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    fill_busybox(&rootfs);
    let store = Containers::open(t.path().join("state")).unwrap();
    let c = Container::builder(RootFs::dir(&rootfs))
        .cmd(["sh", "-c", "echo running > /dev/shm/note; exec sleep 30"])
        .build()
        .unwrap();
    let opts = CreateOptions {
        name: Some("copier".into()),
        ..CreateOptions::default()
    };
    let id = store.run(&c, &opts).await.unwrap();
    let root = store.files("copier").unwrap();
    // /dev/shm is the container's own tmpfs: only the running container's root has it.
    let note = t.path().join("note");
    wait_until("the running container's note", async || {
        root.copy_out("/dev/shm/note", &note).is_ok()
    })
    .await;
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "running\n");
    std::fs::write(t.path().join("in"), "in\n").unwrap();
    root.copy_in(&t.path().join("in"), "/tmp/in").unwrap();
    drop(root);
    store.stop(&id, Some(Duration::from_secs(1))).await.unwrap();

    let root = store.files(&id[..12]).unwrap();
    root.copy_out("/tmp/in", &t.path().join("back")).unwrap();
    assert_eq!(
        std::fs::read_to_string(t.path().join("back")).unwrap(),
        "in\n"
    );
    assert!(root
        .copy_out("/dev/shm/note", &t.path().join("gone"))
        .is_err());
    drop(root);
    store.remove(&id, false).await.unwrap();
    assert!(matches!(
        store.files("copier"),
        Err(Error::NoSuchContainer { .. })
    ));
}
