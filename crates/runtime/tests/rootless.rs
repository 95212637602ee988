//! A rootless run: this test binary re-executes itself as uid/gid 65534 (nobody), and that
//! unprivileged process starts a container in a user namespace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use boxwright_runtime::Container;

const HELPER_ENV: &str = "BOXWRIGHT_ROOTLESS_ROOTFS";
/// Set: the helper runs its container under our init.
const INIT_ENV: &str = "BOXWRIGHT_ROOTLESS_INIT";

/// Runs inside the unprivileged re-execution only.
#[test]
fn rootless_helper() {
    let Ok(rootfs) = std::env::var(HELPER_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let init = std::env::var_os(INIT_ENV).is_some();
    let script = if init {
        "echo pid=$$ init=$(cat /proc/1/comm) cmdline=$(tr '\\0' . < /proc/1/cmdline); cat /proc/1/mem 2>&1 >/dev/null | head -n1; exit 5"
    } else {
        "echo uid=$(id -u) pid=$$ host=$(hostname); cat /proc/self/uid_map; grep CapEff /proc/self/status; ls /dev/null; ls /proc/1/fd; exit 0"
    };
    let result = rt.block_on(async {
        Container::builder(rootfs.as_str())
            .cmd(["sh", "-c", script])
            .hostname("rootless")
            .init(init)
            .build()?
            .output()
            .await
    });
    match result {
        Ok(out) => {
            print!("STDOUT:{}", String::from_utf8_lossy(&out.stdout));
            print!("STDERR:{}", String::from_utf8_lossy(&out.stderr));
            println!("STATUS:{}", out.status.code());
        }
        Err(e) => println!(
            "ERROR:{e} ({:?})",
            std::error::Error::source(&e).map(|s| s.to_string())
        ),
    }
}

/// Runs the helper as nobody over a busybox root of its own; `None` when skipped.
fn run_helper_as_nobody(name: &str, init: bool) -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("{name}: needs root to become nobody; skipped");
        return None;
    }
    // A rootless user runs containers over root file systems of its own.
    let root = common::busybox_rootfs();
    chown_tree(root.path(), 65534);
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args([
        "rootless_helper",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(HELPER_ENV, root.path())
    .uid(65534)
    .gid(65534);
    if init {
        cmd.env(INIT_ENV, "1");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Some(err) = stdout.lines().find_map(|l| l.strip_prefix("ERROR:")) {
        let refused = err.contains("user namespace") || err.contains("clone3 failed");
        if refused && std::env::var_os("CI").is_none() {
            eprintln!(
                "{name}: the kernel refuses unprivileged user namespaces here ({err}); skipped"
            );
            return None;
        }
        panic!("rootless run failed: {err}\n{stdout}");
    }
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

#[test]
fn rootless_run_under_our_init() {
    let Some(stdout) = run_helper_as_nobody("rootless_run_under_our_init", true) else {
        return;
    };
    assert!(
        stdout.contains("STDOUT:pid=2 init=init cmdline=init.\n")
            && stdout.contains("Permission denied\n"),
        "{stdout}"
    );
    assert!(stdout.contains("STATUS:5"), "{stdout}");
}

#[test]
fn rootless_run_as_nobody() {
    let Some(stdout) = run_helper_as_nobody("rootless_run_as_nobody", false) else {
        return;
    };
    assert!(
        stdout.contains("STDOUT:uid=0 pid=1 host=rootless\n"),
        "{stdout}"
    );
    // Root inside is nobody outside, and only that one id is mapped.
    let after = stdout
        .lines()
        .skip_while(|l| !l.contains("STDOUT:"))
        .nth(1)
        .unwrap();
    let map: Vec<&str> = after.split_whitespace().collect();
    assert_eq!(map, ["0", "65534", "1"], "{stdout}");
    assert!(stdout.contains("CapEff:\t00000000a80425fb"), "{stdout}");
    // Device nodes are bound from the host (no mknod in a user namespace); no fd leaks.
    assert!(
        stdout.contains("/dev/null\n0\n1\n2\nSTDERR:STATUS:0"),
        "{stdout}"
    );
    assert!(stdout.contains("STATUS:0"), "{stdout}");
}

fn chown_tree(path: &std::path::Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), id);
        }
    }
}
