//! Fixtures shared by the facade's tests: an engine on a temporary root, a busybox image made
//! from the host's busybox-static, bounded polls and an HTTP GET on 127.0.0.1.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use boxwright::store::{import, ImportOptions, ImportSource};
use boxwright::Engine;
use serde_json::json;

/// Generous, only so that a broken test fails instead of hanging: never a timing assertion.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// An engine on a fresh temporary root (keep the directory alive).
pub(crate) fn engine() -> (tempfile::TempDir, Engine) {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::open(root.path()).unwrap();
    (root, engine)
}

/// An engine on a fresh root holding `busybox:latest` (see [`import_busybox`]).
pub(crate) fn engine_with_busybox() -> (tempfile::TempDir, Engine) {
    let (root, engine) = engine();
    import_busybox(&engine, "busybox");
    (root, engine)
}

/// Imports a busybox image named `name`: `/bin/busybox` with one symlink per applet,
/// `/etc/passwd` and `/etc/group` (root, nobody), `/tmp`, `/root`; config `PATH` and
/// `Cmd ["sh"]`.
pub(crate) fn import_busybox(engine: &Engine, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    fill_busybox(dir.path());
    let opts = ImportOptions {
        name: Some(name.to_owned()),
        config: json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        }),
        ..ImportOptions::default()
    };
    import(engine.store(), ImportSource::Directory(dir.path()), &opts).unwrap();
}

/// Fills `root` with the busybox tree.
pub(crate) fn fill_busybox(root: &Path) {
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Polls `done` until it holds; panics, saying it waited for `what`, once [`PATIENCE`] is
/// spent.
pub(crate) async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reply to `GET path` on `addr`, retried until something answers.
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
                let _ = conn
                    .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
                    .await;
                let mut reply = Vec::new();
                let _ = conn.read_to_end(&mut reply).await;
                if !reply.is_empty() {
                    return String::from_utf8_lossy(&reply).into_owned();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a page through the published port")
}

/// What is in `dir` (names, sorted), for "nothing left behind" checks.
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}
