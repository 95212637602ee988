//! Push to and pull from a registry given by URL, with the credentials `docker login` stored
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
//!
//! ```text
//! cargo run --example registry -- push      REGISTRY_URL IMAGE   # IMAGE from the local root
//! cargo run --example registry -- pull      REGISTRY_URL IMAGE   # into the local root
//! cargo run --example registry -- roundtrip REGISTRY_URL [IMAGE] # push, then pull into an
//!                                                                # empty root, same image ID
//! ```
//!
//! `REGISTRY_URL` is `http://127.0.0.1:5000`, `localhost:5000` or `https://registry.example`;
//! `IMAGE` is a local name (`busybox:1.36`), pushed as `REGISTRY/IMAGE`. Without an image,
//! `roundtrip` makes a small one itself (one file, no host program needed). The local root is
//! `$BOXWRIGHT_ROOT` (else `~/.local/share/boxwright`). Plain HTTP is used for localhost and
//! 127.0.0.1, as Docker does.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use boxwright::registry::{ProgressEvent, ProgressKind};
use boxwright::{Engine, ImportFrom, ImportOptions};

const USAGE: &str = "usage: registry push|pull|roundtrip REGISTRY_URL [IMAGE]

  push REGISTRY_URL IMAGE       push the local IMAGE as REGISTRY/IMAGE
  pull REGISTRY_URL IMAGE       pull REGISTRY/IMAGE into the local root
  roundtrip REGISTRY_URL [IMAGE]
                                push IMAGE (or a small image made here) and pull it
                                into an empty root; checks the image ID is the same

Credentials: those `docker login` stored ($DOCKER_CONFIG/config.json or ~/.docker/config.json).
Local root: $BOXWRIGHT_ROOT, else ~/.local/share/boxwright.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (verb, url, image) = match args.as_slice() {
        [verb, url] => (verb.as_str(), url.as_str(), None),
        [verb, url, image] => (verb.as_str(), url.as_str(), Some(image.as_str())),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let host = host_of(url);
    let result = match (verb, image) {
        ("push", Some(image)) => push(&host, image).await,
        ("pull", Some(image)) => pull(&host, image).await,
        ("roundtrip", image) => roundtrip(&host, image).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: "pulling … failed: …: Connection refused (os error 111)".
            eprintln!("error: {}", e.report());
            ExitCode::FAILURE
        }
    }
}

/// `http://host:5000/` -> `host:5000`.
fn host_of(url: &str) -> String {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// `busybox:1.36` at `host` -> `host/busybox:1.36` (a name that already starts with the
/// host is kept).
fn remote_name(host: &str, image: &str) -> String {
    if image.starts_with(&format!("{host}/")) {
        image.to_owned()
    } else {
        format!("{host}/{image}")
    }
}

/// Prints one line per blob event worth a line (start, skip, mount, done).
fn print_event(verb: &str, e: &ProgressEvent) {
    let short = &e.digest.digest()[..12];
    match e.kind {
        ProgressKind::Started => println!("{short}: {verb} ({} bytes)", e.total),
        ProgressKind::Skipped => println!("{short}: already exists"),
        ProgressKind::Mounted => println!("{short}: mounted from another repository"),
        ProgressKind::Done => println!("{short}: done ({} bytes)", e.bytes),
        _ => {}
    }
}

async fn push(host: &str, image: &str) -> boxwright::Result<()> {
    let engine = Engine::open_default()?;
    push_from(&engine, host, image).await.map(drop)
}

/// Tags `image` as `host/image` and pushes it; returns the remote name.
async fn push_from(engine: &Engine, host: &str, image: &str) -> boxwright::Result<String> {
    let remote = remote_name(host, image);
    if remote != image {
        engine.tag(image, &remote).await?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<boxwright::PushProgress>();
    let printer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            print_event("pushing", &p.event);
        }
    });
    let pushed = engine.push(&remote, Some(tx)).await;
    let _ = printer.await;
    let pushed = pushed?;
    println!(
        "{}: digest: {} ({} blobs pushed, {} already there)",
        pushed.reference,
        pushed.digest,
        pushed.transferred.blobs_moved,
        pushed.transferred.blobs_skipped
    );
    Ok(remote)
}

async fn pull(host: &str, image: &str) -> boxwright::Result<()> {
    let engine = Engine::open_default()?;
    pull_into(&engine, &remote_name(host, image))
        .await
        .map(drop)
}

/// Pulls `remote` into `engine`'s root; returns the image ID.
async fn pull_into(engine: &Engine, remote: &str) -> boxwright::Result<String> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<boxwright::PullProgress>();
    let printer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            print_event("pulling", &p.event);
        }
    });
    let pulled = engine.pull(remote, Some(tx)).await;
    let _ = printer.await;
    let pulled = pulled?;
    println!("Digest: {}", pulled.digest);
    if pulled.up_to_date() {
        println!("Status: Image is up to date for {remote}");
    } else {
        println!("Status: Downloaded newer image for {remote}");
    }
    Ok(pulled.id.to_string())
}

async fn roundtrip(host: &str, image: Option<&str>) -> boxwright::Result<()> {
    let scratch =
        tempfile::tempdir().map_err(|e| io("making a temp dir in", std::env::temp_dir(), e))?;
    let (engine, image) = match image {
        Some(image) => (Engine::open_default()?, image.to_owned()),
        None => {
            // A small image made here: one file, in a root of its own.
            let engine = Engine::open(scratch.path().join("source"))?;
            let rootfs = scratch.path().join("rootfs");
            std::fs::create_dir_all(&rootfs).map_err(|e| io("making", &rootfs, e))?;
            std::fs::write(rootfs.join("hello.txt"), "hello from boxwright\n")
                .map_err(|e| io("writing", rootfs.join("hello.txt"), e))?;
            let id = engine
                .import(
                    ImportFrom::Dir(rootfs),
                    Some("boxwright-example/hello:latest"),
                    ImportOptions::default().message("made by the registry example"),
                )
                .await?;
            println!("made boxwright-example/hello:latest ({id})");
            (engine, "boxwright-example/hello:latest".to_owned())
        }
    };
    let id = engine.image(&image).await?.id.to_string();
    let remote = push_from(&engine, host, &image).await?;
    let empty = Engine::open(scratch.path().join("empty"))?;
    let pulled = pull_into(&empty, &remote).await?;
    if pulled != id {
        return Err(boxwright::Error::Invalid {
            what: "roundtrip",
            value: remote,
            reason: format!("pushed image {id}, pulled image {pulled}"),
        });
    }
    println!("roundtrip ok: {remote} is {id} on both sides");
    Ok(())
}

fn io(
    what: &'static str,
    path: impl Into<std::path::PathBuf>,
    source: std::io::Error,
) -> boxwright::Error {
    boxwright::Error::Io {
        what,
        path: path.into(),
        source,
    }
}
