//! Containers tied to a process ([`CreateOptions::owner`]): killed and removed when their
//! owner is killed with `SIGKILL` (a CI timeout killing a test harness), while an untied one
//! outlives its creator; a tied container whose owner ended before its start is removed.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

use boxwright_runtime::{Container, Containers, CreateOptions, Error, RootFs};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use crate::common::{busybox_rootfs, reexec, test_name, wait_until, PATIENCE};

const CHILD_ENV: &str = "BOXWRIGHT_OWNER_CHILD";

fn sleeper(root: impl Into<RootFs>) -> Container {
    Container::builder(root)
        .cmd(["sleep", "600"])
        .build()
        .unwrap()
}

/// Run only as the child process of `a_tied_container_goes_when_its_owner_is_killed`: starts
/// a container tied to itself (over an overlay whose upper and work dirs the store makes)
/// and an untied one, prints their IDs and waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_child_part() {
    let Ok(paths) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (state, rootfs) = paths.split_once('\n').unwrap();
    let store = Containers::open(state).unwrap();
    let tied = CreateOptions {
        name: Some("tied".into()),
        ..CreateOptions::default()
    }
    .tied_to_caller();
    let overlay = RootFs::overlay([Path::new(rootfs)], "", "");
    let tied = store.run(&sleeper(overlay), &tied).await.unwrap();
    let free = CreateOptions {
        name: Some("free".into()),
        ..CreateOptions::default()
    };
    let free = store.run(&sleeper(Path::new(rootfs)), &free).await.unwrap();
    println!("IDS={tied} {free}");
    tokio::time::sleep(PATIENCE * 10).await;
    panic!("the parent should have killed this process");
}

/// The child process, killed if the test fails before it does (it would otherwise hold the
/// test's output open for ten minutes).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pidfd of the running container's init.
fn init_pidfd(store: &Containers, id: &str) -> OwnedFd {
    let pid = store.inspect(id).unwrap().pid.unwrap();
    pidfd_open(Pid::from_raw(pid).unwrap(), PidfdFlags::empty()).unwrap()
}

/// Whether the process of `fd` has ended, waiting `ms` milliseconds at most.
fn ended_within(fd: &OwnedFd, ms: i64) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: ms / 1000,
        tv_nsec: (ms % 1000) * 1_000_000,
    };
    matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tied_container_goes_when_its_owner_is_killed() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let rootfs = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let child = reexec(&test_name(module_path!(), "owner_child_part"))
        .env(
            CHILD_ENV,
            format!("{}\n{}", state.path().display(), rootfs.path().display()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let ids = loop {
        let line = lines
            .next()
            .expect("the child prints the IDs before it ends")
            .unwrap();
        // libtest's "test NAME ... " comes first on the line.
        if let Some((_, ids)) = line.split_once("IDS=") {
            break ids.to_owned();
        }
    };
    let (tied, free) = ids.split_once(' ').unwrap();

    let store = Containers::open(state.path()).unwrap();
    let tied_info = store.inspect(tied).unwrap();
    assert!(tied_info.is_running());
    assert_eq!(tied_info.owner, Some(child.0.id()));
    let tied_dir = tied_info.dir;
    assert!(
        tied_dir.join("upper").is_dir(),
        "the store made the upper dir"
    );
    assert_eq!(store.inspect(free).unwrap().owner, None);
    let tied_init = init_pidfd(&store, tied);
    let free_init = init_pidfd(&store, free);

    // A CI timeout: SIGKILL, nothing runs in the owner any more.
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    assert!(
        ended_within(&tied_init, PATIENCE.as_millis() as i64),
        "the tied container's init outlived its owner"
    );
    wait_until("the tied container's removal", async || !tied_dir.exists()).await;
    assert!(matches!(
        store.resolve("tied"),
        Err(Error::NoSuchContainer { .. })
    ));
    assert!(!state.path().join("names/tied").exists());

    // The untied one lives on, re-parented, until removed.
    assert!(!ended_within(&free_init, 0));
    let listed = store.list(false).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, free);
    store.remove(free, true).await.unwrap();
    assert!(ended_within(&free_init, PATIENCE.as_millis() as i64));
    // The store's next operation emptied the trash: the tied container's directory, its
    // upper and work dirs are gone.
    assert!(store.list(true).unwrap().is_empty());
    let trash: Vec<_> = std::fs::read_dir(state.path().join("trash"))
        .unwrap()
        .collect();
    assert!(trash.is_empty(), "{trash:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tied_container_whose_owner_ended_before_its_start_is_removed() {
    let rootfs = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path()).unwrap();
    let mut owner = std::process::Command::new("/bin/busybox")
        .args(["sleep", "600"])
        .spawn()
        .unwrap();
    let opts = CreateOptions {
        name: Some("orphan".into()),
        owner: Some(owner.id()),
        ..CreateOptions::default()
    };
    let id = store.create(&sleeper(rootfs.path()), &opts).unwrap();
    assert_eq!(store.inspect(&id).unwrap().owner, Some(owner.id()));
    owner.kill().unwrap();
    owner.wait().unwrap();

    match store.start(&id).await {
        Err(Error::OwnerGone { id: gone, pid }) => {
            assert_eq!((gone.as_str(), pid), (id.as_str(), owner.id()));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.resolve("orphan"),
        Err(Error::NoSuchContainer { .. })
    ));
    assert!(store.list(true).unwrap().is_empty());

    // Nor can a container be tied to a process that has ended.
    let err = store.create(&sleeper(rootfs.path()), &opts).unwrap_err();
    assert!(matches!(err, Error::OwnerGone { .. }), "{err:?}");
    assert!(store.list(true).unwrap().is_empty());
}
