//! `cargo run --example test-harness`: a container in a test, the way a user writes it — start
//! busybox's httpd with a published port, wait until `GET /` answers 2xx, use its address,
//! and have it removed when the test ends (or when the test process is killed).
//!
//! `homepage_answers` below is the test as it sits in a user's `tests/web.rs` (there under
//! `#[tokio::test]`): ten lines. Everything else is this example's scaffolding: CI has no
//! internet, so instead of pulling `busybox:1.36` the example first makes it from this
//! machine's `/bin/busybox` (Debian's busybox-static) in a temporary root, which it names in
//! `BOXWRIGHT_ROOT` (an engine's default root); then it runs the test and checks that nothing
//! is left. With `BOXWRIGHT_ROOT` already set, that root is used (and `busybox:1.36` made
//! there only when missing): `benches/harness.sh` times it so.
//!
//! Needs root (namespaces, overlayfs) and slirp4netns (published ports). Exits 1 on failure,
//! the error and its causes on stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::ExitCode;

use boxwright::{Engine, ImportFrom, ImportOptions, Report, WaitFor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const IMAGE: &str = "busybox:1.36";

// The user's test: ten lines.
async fn homepage_answers() -> Result<(), AnyError> {
    let engine = Engine::open_default()?;
    let web = engine
        .harness("busybox:1.36")
        .cmd(["sh", "-c", "echo hello > index.html && exec httpd -f -p 80"])
        .expose(80)
        .wait_for(WaitFor::http(80, "/"))
        .start()
        .await?;
    assert!(get(web.addr(80)?, "/").await?.ends_with("hello\n"));
    Ok(())
}

/// The user's own HTTP client (reqwest, hyper…): here a few lines over a `TcpStream`.
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await?;
    Ok(reply)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", Report(&*err));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), AnyError> {
    let quiet = std::env::args().any(|a| a == "--quiet");
    let temporary = match std::env::var_os("BOXWRIGHT_ROOT") {
        Some(_) => None,
        None => {
            let dir = tempfile::Builder::new()
                .prefix("boxwright-test-harness")
                .tempdir()?;
            std::env::set_var("BOXWRIGHT_ROOT", dir.path());
            Some(dir)
        }
    };
    let engine = Engine::open_default()?;
    if engine.image(IMAGE).await.is_err() {
        busybox_from_host(&engine).await?;
    }
    homepage_answers().await?;
    // The container went with the test: no record, nothing running.
    let left = engine.containers().list(true)?;
    if !left.is_empty() {
        return Err(format!("{} container(s) left behind", left.len()).into());
    }
    if !quiet {
        println!("homepage_answers ... ok (the container is gone)");
    }
    drop(temporary);
    Ok(())
}

/// What `docker pull busybox:1.36` would give, made offline: `/bin/busybox` with a link per
/// applet, `/etc/passwd` and `/etc/group`, `/tmp`; `Cmd ["sh"]`.
async fn busybox_from_host(engine: &Engine) -> Result<(), AnyError> {
    let stage = tempfile::tempdir()?;
    let root = stage.path();
    for dir in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .map_err(|e| format!("/bin/busybox (apt-get install busybox-static): {e}"))?;
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            symlink("busybox", root.join("bin").join(applet))?;
        }
    }
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")?;
    write(root, "etc/group", "root:x:0:\n")?;
    let config = serde_json::json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    });
    let from = ImportFrom::Dir(root.to_path_buf());
    let opts = ImportOptions::default().config(config);
    engine.import(from, Some(IMAGE), opts).await?;
    Ok(())
}

fn write(root: &Path, path: &str, text: &str) -> std::io::Result<()> {
    std::fs::write(root.join(path), text)
}
