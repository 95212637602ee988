//! The overlay fallback: a container over the materialized merged view of its layers, forced
//! or because the kernel refused the overlay.

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use boxwright_runtime::{Container, Containers, CreateOptions, Error, OverlayMode, RootFs, Step};

use crate::common::{busybox_rootfs, text, wait};

const SCRIPT: &str = "cat /etc/a /etc/b /up; test -e /data/x && echo x-visible; \
                      ls /opaque; stat -c '%u:%g %h' /owned /links/two; readlink /link; \
                      echo written > /written; rm /etc/a";

/// Two lowers and an upper: a whiteout and an opaque dir in the upper lower, hard links,
/// an owner, an xattr and an mtime in the bottom one.
fn layers(base: &Path, upper: &Path) -> tempfile::TempDir {
    let l0 = base;
    std::fs::create_dir_all(l0.join("data")).unwrap();
    std::fs::create_dir_all(l0.join("opaque")).unwrap();
    std::fs::create_dir_all(l0.join("links")).unwrap();
    std::fs::write(l0.join("etc/a"), "a0\n").unwrap();
    std::fs::write(l0.join("data/x"), "x\n").unwrap();
    std::fs::write(l0.join("data/kept"), "kept\n").unwrap();
    std::fs::write(l0.join("opaque/old"), "old\n").unwrap();
    std::fs::write(l0.join("links/one"), "linked\n").unwrap();
    std::fs::hard_link(l0.join("links/one"), l0.join("links/two")).unwrap();
    std::fs::write(l0.join("owned"), "").unwrap();
    std::os::unix::fs::chown(l0.join("owned"), Some(1234), Some(5678)).unwrap();
    rustix::fs::setxattr(
        l0.join("owned"),
        "user.note",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let old = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        l0.join("owned"),
        &old,
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();

    let l1 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(l1.path().join("etc")).unwrap();
    std::fs::create_dir_all(l1.path().join("data")).unwrap();
    std::fs::create_dir_all(l1.path().join("opaque")).unwrap();
    std::fs::write(l1.path().join("etc/b"), "b1\n").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        l1.path().join("data/x"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    rustix::fs::setxattr(
        l1.path().join("opaque"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    std::fs::write(l1.path().join("opaque/new"), "new\n").unwrap();

    std::fs::write(upper.join("up"), "up\n").unwrap();
    symlink("/etc/b", upper.join("link")).unwrap();
    l1
}

const EXPECTED: &str = "a0\nb1\nup\nnew\n1234:5678 1\n0:0 2\n/etc/b\n";

fn check_materialized(merged: &Path, lowers: &[&Path], upper: &Path) {
    assert_eq!(
        std::fs::read_to_string(merged.join("written")).unwrap(),
        "written\n"
    );
    assert!(
        !merged.join("etc/a").exists(),
        "the deletion is in the copy"
    );
    assert!(!merged.join("data/x").exists());
    assert!(merged.join("data/kept").exists());
    assert!(!merged.join("opaque/old").exists());
    let owned = std::fs::symlink_metadata(merged.join("owned")).unwrap();
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mtime()),
        (1234, 5678, 1_000_000_000)
    );
    let mut v = [0u8; 16];
    let n = rustix::fs::getxattr(merged.join("owned"), "user.note", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"kept");
    let (one, two) = (
        std::fs::metadata(merged.join("links/one")).unwrap(),
        std::fs::metadata(merged.join("links/two")).unwrap(),
    );
    assert_eq!(one.ino(), two.ino(), "hard links stay linked");
    // The layers are untouched: no write, no deletion, no whiteout in the upper dir.
    assert_eq!(
        std::fs::read_to_string(lowers[0].join("etc/a")).unwrap(),
        "a0\n"
    );
    assert!(lowers[0].join("data/x").exists());
    assert!(!lowers.iter().any(|l| l.join("written").exists()));
    let mut names: Vec<_> = std::fs::read_dir(upper)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["link", "up"]);
}

#[tokio::test]
async fn a_forced_copy_merges_two_lowers_and_the_upper() {
    let l0 = busybox_rootfs();
    let up = tempfile::tempdir().unwrap();
    let l1 = layers(l0.path(), up.path());
    let work = tempfile::tempdir().unwrap();
    let rootfs = RootFs::overlay([l0.path(), l1.path()], up.path(), work.path());
    let out = Container::builder(rootfs.clone())
        .cmd(["sh", "-c", SCRIPT])
        .overlay(OverlayMode::Never)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), EXPECTED, "{out:?}");
    let merged = rootfs.materialized_path().unwrap();
    check_materialized(&merged, &[l0.path(), l1.path()], up.path());
    // The next run continues over the same copy: the container's changes persist.
    let out = Container::builder(rootfs)
        .cmd(["cat", "/written"])
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "written\n", "{out:?}");
}

/// An upper dir and a work dir on different file systems: overlayfs refuses them (EINVAL).
/// `None` when this machine has no second file system at hand (`/dev/shm` beside the temp dir).
fn refused_overlay_dirs() -> Option<(tempfile::TempDir, tempfile::TempDir)> {
    let upper = tempfile::tempdir_in("/dev/shm").ok()?;
    let work = tempfile::tempdir().unwrap();
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    if dev(upper.path()) == dev(work.path()) {
        return None;
    }
    Some((upper, work))
}

fn skip(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "cannot run in CI: {why}");
    eprintln!("skipped: {why}");
}

#[tokio::test]
async fn a_refused_overlay_falls_back_to_the_copy() {
    let Some((up, work)) = refused_overlay_dirs() else {
        return skip("no second file system (/dev/shm) to make overlayfs refuse the upper dir");
    };
    let l0 = busybox_rootfs();
    let l1 = layers(l0.path(), up.path());
    let rootfs = RootFs::overlay([l0.path(), l1.path()], up.path(), work.path());
    // Overlayfs only: the refusal is the error.
    let err = Container::builder(rootfs.clone())
        .cmd(["true"])
        .overlay(OverlayMode::Always)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Setup { step: Step::MountRoot, source, .. } if source.raw_os_error() == Some(libc::EINVAL)),
        "{err:?}"
    );
    assert!(!rootfs.materialized_path().unwrap().exists());
    // The default: the copy.
    let out = Container::builder(rootfs.clone())
        .cmd(["sh", "-c", SCRIPT])
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), EXPECTED, "{out:?}");
    check_materialized(
        &rootfs.materialized_path().unwrap(),
        &[l0.path(), l1.path()],
        up.path(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_container_probes_and_falls_back_before_it_starts() {
    let Some((up, work)) = refused_overlay_dirs() else {
        return skip("no second file system (/dev/shm) to make overlayfs refuse the upper dir");
    };
    let l0 = busybox_rootfs();
    let rootfs = RootFs::overlay([l0.path()], up.path(), work.path());
    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path()).unwrap();
    let c = Container::builder(rootfs.clone())
        .cmd(["sh", "-c", "echo stored > /stored; cat /stored"])
        .build()
        .unwrap();
    let opts = CreateOptions {
        auto_remove: true,
        ..CreateOptions::default()
    };
    let id = store.run(&c, &opts).await.unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    let merged = rootfs.materialized_path().unwrap();
    assert_eq!(
        std::fs::read_to_string(merged.join("stored")).unwrap(),
        "stored\n"
    );
    assert!(!up.path().join("stored").exists());
}

/// Once a container runs over the copy, a user added inside it is found by the next build
/// (the copy's `/etc/passwd`, not the layers'), and `inspect` names the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_inspect_follow_the_copy() {
    let l0 = busybox_rootfs();
    let up = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let rootfs = RootFs::overlay([l0.path()], up.path(), work.path());
    let out = Container::builder(rootfs.clone())
        .cmd([
            "sh",
            "-c",
            "echo 'late:x:4242:4242::/home/late:/bin/sh' >> /etc/passwd",
        ])
        .overlay(OverlayMode::Never)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = Container::builder(rootfs.clone())
        .cmd(["sh", "-c", "id -u; echo $HOME"])
        .user("late")
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "4242\n/home/late\n", "{out:?}");

    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path()).unwrap();
    let c = Container::builder(rootfs.clone())
        .cmd(["true"])
        .build()
        .unwrap();
    let id = store.create(&c, &CreateOptions::default()).unwrap();
    let merged = rootfs.materialized_path().unwrap();
    assert_eq!(
        store.inspect(&id).unwrap().merged.as_deref(),
        Some(&*merged)
    );
    store.remove(&id, true).await.unwrap();

    // A fresh overlay that has not fallen back has no copy to name.
    let up2 = tempfile::tempdir().unwrap();
    let work2 = tempfile::tempdir().unwrap();
    let fresh = RootFs::overlay([l0.path()], up2.path(), work2.path());
    let c = Container::builder(fresh).cmd(["true"]).build().unwrap();
    let id = store.create(&c, &CreateOptions::default()).unwrap();
    assert_eq!(store.inspect(&id).unwrap().merged, None);
    store.remove(&id, true).await.unwrap();
}
