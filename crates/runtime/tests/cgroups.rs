//! cgroup limits, checked from inside containers, on whichever layout the host has: cgroup v1
//! (or the hybrid layout) here and in CI's plain `cargo test`, pure cgroup v2 in the VM of
//! `tests/vm/cgroup2.sh`, which runs this same file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use boxwright_runtime::{Container, ContainerBuilder, Containers, ExecOptions, ExitStatus, Stdio};
use common::{busybox_rootfs, text};

/// Generous, only so that a broken test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

/// Whether `/sys/fs/cgroup` is the unified (v2) hierarchy.
fn v2() -> bool {
    #[allow(clippy::unnecessary_cast)]
    let magic = rustix::fs::statfs("/sys/fs/cgroup").unwrap().f_type as i64;
    magic == 0x6367_7270
}

fn sh(root: &Path, script: &str) -> ContainerBuilder {
    Container::builder(root).cmd(["sh", "-c", script])
}

/// The first of `dirs` that holds `file`, and its content (trimmed).
fn read_any(dirs: &[PathBuf], file: &str) -> String {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
        .unwrap_or_else(|| panic!("no {file} in {dirs:?}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn memory_limit_kills_with_137_and_the_cgroup_is_removed() {
    let root = busybox_rootfs();
    let mut child = Container::builder(root.path())
        .cmd(["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"])
        .memory(32 << 20)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let dirs = child.cgroup_paths();
    assert!(!dirs.is_empty());
    if v2() {
        assert_eq!(read_any(&dirs, "memory.max"), (32u64 << 20).to_string());
        // No swap without `memory_swap` (see ContainerBuilder::memory).
        if dirs[0].join("memory.swap.max").exists() {
            assert_eq!(read_any(&dirs, "memory.swap.max"), "0");
        }
    } else {
        assert_eq!(
            read_any(&dirs, "memory.limit_in_bytes"),
            (32u64 << 20).to_string()
        );
    }
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Signaled(9));
    assert_eq!(status.code(), 137);
    for dir in dirs {
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
    // The same command fits without the limit.
    let out = Container::builder(root.path())
        .cmd(["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"])
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn pids_limit_bounds_forks() {
    let root = busybox_rootfs();
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo started";
    let child = sh(root.path(), script)
        .pids_limit(5)
        .stdout(Stdio::Piped)
        .stderr(Stdio::Piped)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let dirs = child.cgroup_paths();
    assert_eq!(read_any(&dirs, "pids.max"), "5");
    let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(text(&out.stderr).contains("can't fork"), "{out:?}");
    for dir in dirs {
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
    let out = sh(root.path(), script)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "started\n", "{out:?}");
}

#[tokio::test]
async fn cpu_quota_is_written() {
    let root = busybox_rootfs();
    let mut child = sh(root.path(), "cat > /dev/null")
        .cpus(0.5)
        .stdin(Stdio::Piped)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let dirs = child.cgroup_paths();
    if v2() {
        assert_eq!(read_any(&dirs, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(read_any(&dirs, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read_any(&dirs, "cpu.cfs_period_us"), "100000");
    }
    drop(child.stdin.take());
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    for dir in dirs {
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_joins_a_detached_containers_cgroup() {
    let rootfs = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path()).unwrap();
    let c = Container::builder(rootfs.path())
        .cmd(["sleep", "100"])
        .memory(48 << 20)
        .pids_limit(20)
        .build()
        .unwrap();
    let id = store.run(&c, &Default::default()).await.unwrap();
    // The exec'd process is in the container's cgroup, which its cgroup namespace shows as
    // the root: `0::/` on v2, `N:memory:/` on v1.
    let out = tokio::time::timeout(
        PATIENCE,
        store
            .exec(&id, ["cat", "/proc/self/cgroup"], &ExecOptions::default())
            .await
            .unwrap()
            .wait_with_output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cgroups = text(&out.stdout);
    let wanted = if v2() { "0::/" } else { ":memory:/" };
    assert!(
        cgroups.lines().any(|l| l.ends_with(wanted)),
        "{wanted} not in {cgroups}"
    );
    let dirs: Vec<PathBuf> = if v2() {
        vec![Path::new("/sys/fs/cgroup/boxwright").join(&id)]
    } else {
        ["memory", "pids"]
            .iter()
            .map(|c| {
                Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join("boxwright")
                    .join(&id)
            })
            .collect()
    };
    for d in &dirs {
        assert!(d.is_dir(), "{} missing", d.display());
    }
    store.remove(&id, true).await.unwrap();
    // The monitor removes the directories once it has reaped the init.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while dirs.iter().any(|d| d.exists()) {
        assert!(tokio::time::Instant::now() < deadline, "{dirs:?} remain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
