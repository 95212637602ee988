//! cgroup limits, checked from inside containers, on whichever layout the host has: cgroup v1
//! (or the hybrid layout) here and in CI's plain `cargo test`, pure cgroup v2 in the VM of
//! `tests/vm/cgroup2.sh`, which runs this same module.
//!
//! Also the container's `/sys/fs/cgroup`: its own cgroup, read-only (v2: the `cgroup2` mount
//! of its cgroup namespace; v1: one bind per hierarchy on a tmpfs); an empty read-only tmpfs
//! when it has no cgroup of its own.

use std::path::{Path, PathBuf};

use boxwright_runtime::{Container, Error, ExecOptions, ExitStatus, Network, Output, Stdio};

use crate::common::{
    busybox_rootfs, chown_tree, fixture, reexec_as_nobody, run, sh, test_name, text,
    userns_refused, wait_until, NOBODY, PATIENCE,
};

/// Whether `/sys/fs/cgroup` is the unified (v2) hierarchy.
fn v2() -> bool {
    #[allow(clippy::unnecessary_cast)]
    let magic = rustix::fs::statfs("/sys/fs/cgroup").unwrap().f_type as i64;
    magic == 0x6367_7270
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
    let (rootfs, _state, store) = fixture();
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
    wait_until(&format!("the removal of {dirs:?}"), async || {
        !dirs.iter().any(|d| d.exists())
    })
    .await;
}

/// The `/proc/self/mountinfo` line of the mount at `path` in the script's output (the last
/// one: the mount on top).
fn mount_at<'a>(out: &'a str, path: &str) -> &'a str {
    out.lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(path))
        .unwrap_or_else(|| panic!("no {path} mount in {out}"))
}

fn mountinfo_line(out: &str) -> &str {
    mount_at(out, "/sys/fs/cgroup")
}

/// Whether a mountinfo line's per-mount options include `ro`.
fn mounted_ro(line: &str) -> bool {
    line.split_whitespace()
        .nth(5)
        .is_some_and(|o| o.split(',').any(|o| o == "ro"))
}

/// The script that reads the view's limits and tries to write it, for either layout.
fn view_script() -> &'static str {
    if v2() {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; \
         cat /proc/self/cgroup; \
         echo 1 > /sys/fs/cgroup/memory.max; echo write=$?; \
         mkdir /sys/fs/cgroup/sub; echo mkdir=$?; \
         find /sys/fs/cgroup -mindepth 1 -type d | wc -l; \
         echo procs $(cat /sys/fs/cgroup/cgroup.procs); \
         cat /proc/self/mountinfo"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
             /sys/fs/cgroup/cpu/cpu.cfs_quota_us; \
         echo $(ls /sys/fs/cgroup); \
         echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes; echo write=$?; \
         mkdir /sys/fs/cgroup/memory/sub; echo mkdir=$?; \
         touch /sys/fs/cgroup/file; echo touch=$?; \
         find /sys/fs/cgroup -mindepth 2 -type d | wc -l; \
         echo procs $(cat /sys/fs/cgroup/memory/cgroup.procs); \
         cat /proc/self/mountinfo"
    }
}

/// Checks the output of [`view_script`] for a container with 64 MiB, 64 pids and half a CPU.
fn check_view(out: &Output) {
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let expected: &[&str] = if v2() {
        &[
            "67108864",
            "64",
            "50000 100000",
            "0::/",
            "write=1",
            "mkdir=1",
            // No cgroup below the container's: nothing of the host's is in view.
            "0",
        ]
    } else {
        &[
            "67108864",
            "64",
            "50000",
            "cpu memory pids",
            "write=1",
            "mkdir=1",
            "touch=1",
            "0",
        ]
    };
    assert_eq!(&lines[..expected.len()], expected, "{stdout}");
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    // Only the container's processes are in its cgroup: the shell (PID 1) and what it runs.
    let procs: Vec<&str> = lines[expected.len()]
        .strip_prefix("procs ")
        .unwrap()
        .split(' ')
        .collect();
    assert!(procs.contains(&"1") && procs.len() <= 3, "{stdout}");
    let mount = mountinfo_line(&stdout);
    assert!(mounted_ro(mount), "{mount}");
    if v2() {
        assert!(mount.contains(" - cgroup2 "), "{mount}");
    } else {
        assert!(mount.contains(" - tmpfs "), "{mount}");
        for controller in ["memory", "pids", "cpu"] {
            let line = mount_at(&stdout, &format!("/sys/fs/cgroup/{controller}"));
            assert!(mounted_ro(line) && line.contains(" - cgroup "), "{line}");
        }
    }
}

#[tokio::test]
async fn the_containers_cgroup_is_its_read_only_sys_fs_cgroup() {
    let root = busybox_rootfs();
    let out = run(sh(root.path(), view_script())
        .memory(64 << 20)
        .pids_limit(64)
        .cpus(0.5))
    .await;
    check_view(&out);
}

#[tokio::test]
async fn with_the_host_network_the_view_is_still_the_containers() {
    // `/sys` is then the host's, bound read-only; the cgroup hierarchies mounted beneath it
    // must not show through (nor be writable).
    let root = busybox_rootfs();
    let out = run(sh(root.path(), view_script())
        .network(Network::Host)
        .memory(64 << 20)
        .pids_limit(64)
        .cpus(0.5))
    .await;
    check_view(&out);
    let out = run(sh(
        root.path(),
        "ls -A /sys/fs/cgroup | wc -l; mkdir /sys/fs/cgroup/x; echo mkdir=$?",
    )
    .network(Network::Host))
    .await;
    assert_eq!(text(&out.stdout), "0\nmkdir=1\n", "{out:?}");
}

#[tokio::test]
async fn without_a_cgroup_of_its_own_the_view_is_empty_and_read_only() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "ls -A /sys/fs/cgroup | wc -l; mkdir /sys/fs/cgroup/x; echo mkdir=$?; \
         cat /proc/self/mountinfo",
    ))
    .await;
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("0\nmkdir=1\n"), "{out:?}");
    let mount = mountinfo_line(&stdout);
    assert!(mounted_ro(mount) && mount.contains(" - tmpfs "), "{mount}");
}

const ROOTLESS_ENV: &str = "BOXWRIGHT_CGROUPS_ROOTLESS_ROOTFS";

/// Runs only inside the unprivileged re-execution of
/// `rootless_the_view_is_empty_and_limits_are_refused`.
#[test]
fn rootless_helper() {
    let Ok(rootfs) = std::env::var(ROOTLESS_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        Container::builder(rootfs.as_str())
            .cmd([
                "sh",
                "-c",
                "ls -A /sys/fs/cgroup | wc -l; mkdir /sys/fs/cgroup/x; echo mkdir=$?; \
                 grep ' /sys/fs/cgroup ' /proc/self/mountinfo",
            ])
            .build()?
            .output()
            .await
    });
    match out {
        Ok(out) => print!("VIEW:{}", text(&out.stdout)),
        Err(e) => println!("ERROR:{e}"),
    }
    // The host's /sys, bound read-only with every mount beneath it.
    let host = rt.block_on(async {
        Container::builder(rootfs.as_str())
            .cmd([
                "sh",
                "-c",
                "ls -A /sys/fs/cgroup | wc -l; touch /sys/fs/cgroup/x; echo touch=$?; \
                 ls /sys/class/net | grep -c '^lo$'",
            ])
            .network(Network::Host)
            .build()?
            .output()
            .await
    });
    match host {
        Ok(out) => print!("HOST:{}", text(&out.stdout)),
        Err(e) => println!("HOST-ERROR:{e}"),
    }
    let limited = rt.block_on(async {
        Container::builder(rootfs.as_str())
            .cmd(["true"])
            .memory(64 << 20)
            .build()?
            .output()
            .await
    });
    match limited {
        Err(Error::CgroupUnavailable { controller, .. }) => println!("LIMIT:{controller}"),
        other => println!("LIMIT:{other:?}"),
    }
}

#[test]
fn rootless_the_view_is_empty_and_limits_are_refused() {
    // A rootless container has no cgroup of its own: a user cannot write the cgroup tree.
    let Some(mut helper) = reexec_as_nobody(&test_name(module_path!(), "rootless_helper")) else {
        return;
    };
    let root = busybox_rootfs();
    chown_tree(root.path(), NOBODY);
    let out = helper.env(ROOTLESS_ENV, root.path()).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    if let Some(err) = stdout.lines().find_map(|l| l.strip_prefix("ERROR:")) {
        // As in the rootless module: only CI must have unprivileged user namespaces.
        assert!(
            userns_refused(err) && std::env::var_os("CI").is_none(),
            "{stdout}"
        );
        eprintln!("the kernel refuses unprivileged user namespaces here ({err}); skipped");
        return;
    }
    assert!(stdout.contains("VIEW:0\nmkdir=1\n"), "{stdout}");
    let mount = mountinfo_line(stdout.split("VIEW:").nth(1).unwrap());
    assert!(mounted_ro(mount) && mount.contains(" - tmpfs "), "{mount}");
    assert!(stdout.contains("LIMIT:memory\n"), "{stdout}");
    assert!(stdout.contains("HOST:0\ntouch=1\n1\n"), "{stdout}");
}
