//! Copies an image between registries and OCI layout directories, like `skopeo copy`.
//!
//! ```text
//! cargo run -p boxwright-registry-client --example copy -- [--platform os/arch[/variant]]
//!     [--insecure] [--concurrency N] [--chunked] SRC DST
//! ```
//! Each side is `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG]`. Without
//! `--platform` the index and every platform are copied; manifests keep their bytes (and so
//! their digests). Two OCI layouts are copied between directly (blobs verified). Credentials
//! come from `~/.docker/config.json`; `--insecure` speaks plain HTTP to the registries named
//! (always done for localhost and 127.0.0.1). On a terminal, progress is one line redrawn;
//! otherwise a line per blob.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boxwright_registry_client::oci_spec::distribution::Reference;
use boxwright_registry_client::oci_spec::image::Platform;
use boxwright_registry_client::{
    copy, platform, pull, push, reference, Client, DockerConfig, OciDir, ProgressEvent,
    ProgressKind, PullOptions, PushOptions, UploadMode,
};

enum Side {
    Docker(Reference),
    Oci(PathBuf, Option<String>),
}

fn parse_side(s: &str) -> Result<Side, String> {
    if let Some(rest) = s.strip_prefix("docker://") {
        return reference::parse(rest)
            .map(Side::Docker)
            .map_err(|e| chain(&e));
    }
    if let Some(rest) = s.strip_prefix("oci:") {
        // A tag is what follows the last ':' when it has no '/'.
        return Ok(match rest.rsplit_once(':') {
            Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                Side::Oci(PathBuf::from(dir), Some(tag.to_string()))
            }
            _ => Side::Oci(PathBuf::from(rest), None),
        });
    }
    Err(format!(
        "{s:?}: expected docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]"
    ))
}

/// Progress on standard error: on a terminal one line, redrawn at most every 100 ms, with the
/// bytes of each blob in flight; otherwise a plain line per blob event.
fn progress() -> boxwright_registry_client::ProgressFn {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|e: &ProgressEvent| {
            let short = &e.digest.digest()[..12];
            match e.kind {
                ProgressKind::Started => eprintln!("copying blob {short} ({} bytes)", e.total),
                ProgressKind::Skipped => eprintln!("skipped blob {short}: already there"),
                ProgressKind::Mounted => eprintln!("mounted blob {short}"),
                ProgressKind::Done => eprintln!("done    blob {short}"),
                _ => {}
            }
        });
    }
    let state = Mutex::new(Board::default());
    Arc::new(move |e: &ProgressEvent| {
        let Ok(mut b) = state.lock() else { return };
        let short = e.digest.digest()[..8].to_string();
        match e.kind {
            ProgressKind::Skipped | ProgressKind::Mounted => {
                b.finished += 1;
                b.blobs.remove(&short);
            }
            ProgressKind::Done => {
                b.finished += 1;
                b.done_bytes += e.total;
                b.blobs.remove(&short);
            }
            _ => {
                b.blobs.insert(short, (e.bytes, e.total));
            }
        }
        let now = Instant::now();
        let due = b
            .drawn
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100));
        if due || matches!(e.kind, ProgressKind::Done) {
            b.drawn = Some(now);
            let in_flight: u64 = b.blobs.values().map(|(n, _)| n).sum();
            let mut line = format!(
                "{} blobs done, {:.1} MB",
                b.finished,
                (b.done_bytes + in_flight) as f64 / 1e6
            );
            for (d, (n, total)) in &b.blobs {
                let pct = if *total == 0 { 100 } else { n * 100 / total };
                line.push_str(&format!(
                    "  {d} {:.1}/{:.1} MB {pct}%",
                    *n as f64 / 1e6,
                    *total as f64 / 1e6
                ));
            }
            let width = terminal_width();
            let line: String = line.chars().take(width.saturating_sub(1)).collect();
            eprint!("\r\x1b[K{line}");
            let _ = std::io::stderr().flush();
        }
    })
}

#[derive(Default)]
struct Board {
    blobs: BTreeMap<String, (u64, u64)>,
    finished: usize,
    done_bytes: u64,
    drawn: Option<Instant>,
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// Ends the progress line, if one was drawn.
fn end_progress_line() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

struct Args {
    platform: Option<Platform>,
    insecure: bool,
    concurrency: usize,
    chunked: bool,
    src: Side,
    dst: Side,
}

fn parse_args() -> Result<Args, String> {
    let mut platform = None;
    let mut insecure = false;
    let mut chunked = false;
    let mut concurrency = boxwright_registry_client::DEFAULT_CONCURRENCY;
    let mut sides = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--platform" => {
                let p = it.next().ok_or("--platform needs os/arch[/variant]")?;
                platform = Some(platform::parse(&p).map_err(|e| chain(&e))?);
            }
            "--insecure" => insecure = true,
            "--chunked" => chunked = true,
            "--concurrency" => {
                concurrency = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--concurrency needs a number")?;
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => sides.push(parse_side(other)?),
        }
    }
    let mut sides = sides.into_iter();
    match (sides.next(), sides.next(), sides.next()) {
        (Some(src), Some(dst), None) => Ok(Args {
            platform,
            insecure,
            concurrency,
            chunked,
            src,
            dst,
        }),
        _ => Err("usage: copy [--platform os/arch[/variant]] [--insecure] [--concurrency N] [--chunked] SRC DST".into()),
    }
}

/// An error and its causes, one after another (`GET URL: request failed: connection refused`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The descriptor tagged `tag` in a layout, resolved to `platform`'s manifest if asked.
async fn resolve_oci(
    oci: &OciDir,
    dir: &std::path::Path,
    tag: Option<&str>,
    platform: &Option<Platform>,
) -> Result<boxwright_registry_client::oci_spec::image::Descriptor, String> {
    let mut root = oci.resolve(tag).await.map_err(|e| chain(&e))?;
    if let Some(platform) = platform {
        let m = oci.read_manifest(&root).await.map_err(|e| chain(&e))?;
        if m.is_index() {
            root = m
                .select(platform, &dir.display().to_string())
                .map_err(|e| chain(&e))?
                .clone();
        }
    }
    Ok(root)
}

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut builder =
        Client::builder().credentials(Arc::new(DockerConfig::load().map_err(|e| chain(&e))?));
    if args.insecure {
        for side in [&args.src, &args.dst] {
            if let Side::Docker(r) = side {
                builder = builder.insecure_registry(r.registry());
            }
        }
    }
    let client = builder.build().map_err(|e| chain(&e))?;
    let pull_opts = PullOptions {
        platform: args.platform.clone(),
        concurrency: args.concurrency,
        progress: Some(progress()),
    };
    // Between two repositories of one registry, blobs are mounted rather than sent again.
    let mount_from = match (&args.src, &args.dst) {
        (Side::Docker(s), Side::Docker(d))
            if s.registry() == d.registry() && s.repository() != d.repository() =>
        {
            Some(s.repository().to_string())
        }
        _ => None,
    };
    let push_opts = PushOptions {
        mount_from,
        concurrency: args.concurrency,
        upload: if args.chunked {
            UploadMode::chunked()
        } else {
            UploadMode::Monolithic
        },
        progress: Some(progress()),
    };
    let started = Instant::now();
    let (root, bytes) = match (&args.src, &args.dst) {
        (Side::Docker(src), Side::Oci(dir, tag)) => {
            let oci = OciDir::create(dir).await.map_err(|e| chain(&e))?;
            let done = pull(&client, src, &oci, &pull_opts)
                .await
                .map_err(|e| chain(&e))?;
            let tag = tag.as_deref().or(src.tag()).unwrap_or("latest");
            oci.set_ref(tag, &done.root).await.map_err(|e| chain(&e))?;
            (done.root, done.bytes_moved)
        }
        (Side::Oci(dir, tag), Side::Docker(dst)) => {
            let oci = OciDir::open(dir).await.map_err(|e| chain(&e))?;
            let root = resolve_oci(&oci, dir, tag.as_deref(), &args.platform).await?;
            let done = push(&client, &oci, &root, dst, &push_opts)
                .await
                .map_err(|e| chain(&e))?;
            (done.root, done.bytes_moved)
        }
        (Side::Docker(src), Side::Docker(dst)) => {
            let tmp = tempfile::tempdir().map_err(|e| chain(&e))?;
            let oci = OciDir::create(tmp.path()).await.map_err(|e| chain(&e))?;
            let pulled = pull(&client, src, &oci, &pull_opts)
                .await
                .map_err(|e| chain(&e))?;
            let done = push(&client, &oci, &pulled.root, dst, &push_opts)
                .await
                .map_err(|e| chain(&e))?;
            (done.root, pulled.bytes_moved + done.bytes_moved)
        }
        (Side::Oci(src_dir, src_tag), Side::Oci(dir, tag)) => {
            let src = OciDir::open(src_dir).await.map_err(|e| chain(&e))?;
            let root = resolve_oci(&src, src_dir, src_tag.as_deref(), &args.platform).await?;
            let dst = OciDir::create(dir).await.map_err(|e| chain(&e))?;
            let done = copy(&src, &root, &dst, &pull_opts)
                .await
                .map_err(|e| chain(&e))?;
            let tag = tag.as_deref().or(src_tag.as_deref()).unwrap_or("latest");
            dst.set_ref(tag, &done.root).await.map_err(|e| chain(&e))?;
            (done.root, done.bytes_moved)
        }
    };
    end_progress_line();
    let secs = started.elapsed().as_secs_f64();
    println!("{}", root.digest());
    eprintln!(
        "copied in {secs:.2} s ({:.1} MB of blobs moved, {:.0} MB/s)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        end_progress_line();
        eprintln!("copy: {e}");
        std::process::exit(1);
    }
}
