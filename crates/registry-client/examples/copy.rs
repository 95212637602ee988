//! Copies an image between registries and OCI layout directories, like `skopeo copy`.
//!
//! ```text
//! cargo run -p boxwright-registry-client --example copy -- [--platform os/arch[/variant]]
//!     [--insecure] [--concurrency N] [--chunked] SRC DST
//! ```
//! Each side is `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG]`. Without
//! `--platform` the index and every platform are copied; manifests keep their bytes (and so
//! their digests). Credentials come from `~/.docker/config.json`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use boxwright_registry_client::oci_spec::distribution::Reference;
use boxwright_registry_client::{
    pull, push, reference, Client, DockerConfig, OciDir, ProgressEvent, ProgressKind, PullOptions,
    PushOptions, TargetPlatform, UploadMode,
};

enum Side {
    Docker(Reference),
    Oci(PathBuf, Option<String>),
}

fn parse_side(s: &str) -> Result<Side, String> {
    if let Some(rest) = s.strip_prefix("docker://") {
        return reference::parse(rest)
            .map(Side::Docker)
            .map_err(|e| e.to_string());
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

fn progress() -> boxwright_registry_client::ProgressFn {
    Arc::new(|e: &ProgressEvent| {
        let short = &e.digest.digest()[..12];
        match e.kind {
            ProgressKind::Started => eprintln!("copying blob {short} ({} bytes)", e.total),
            ProgressKind::Skipped => eprintln!("skipped blob {short}: already there"),
            ProgressKind::Mounted => eprintln!("mounted blob {short}"),
            ProgressKind::Done => eprintln!("done    blob {short}"),
            _ => {}
        }
    })
}

struct Args {
    platform: Option<TargetPlatform>,
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
                platform = Some(p.parse::<TargetPlatform>().map_err(|e| e.to_string())?);
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

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut builder =
        Client::builder().credentials(Arc::new(DockerConfig::load().map_err(|e| e.to_string())?));
    if args.insecure {
        for side in [&args.src, &args.dst] {
            if let Side::Docker(r) = side {
                builder = builder.insecure_registry(r.registry());
            }
        }
    }
    let client = builder.build().map_err(|e| e.to_string())?;
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
            let oci = OciDir::create(dir).await.map_err(|e| e.to_string())?;
            let done = pull(&client, src, &oci, &pull_opts)
                .await
                .map_err(|e| e.to_string())?;
            let tag = tag.as_deref().or(src.tag()).unwrap_or("latest");
            oci.set_ref(tag, &done.root)
                .await
                .map_err(|e| e.to_string())?;
            (done.root, done.bytes_moved)
        }
        (Side::Oci(dir, tag), Side::Docker(dst)) => {
            let oci = OciDir::open(dir).await.map_err(|e| e.to_string())?;
            let mut root = oci
                .resolve(tag.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if let Some(platform) = &args.platform {
                let m = oci.read_manifest(&root).await.map_err(|e| e.to_string())?;
                if m.is_index() {
                    root = m
                        .select(platform, &dir.display().to_string())
                        .map_err(|e| e.to_string())?
                        .clone();
                }
            }
            let done = push(&client, &oci, &root, dst, &push_opts)
                .await
                .map_err(|e| e.to_string())?;
            (done.root, done.bytes_moved)
        }
        (Side::Docker(src), Side::Docker(dst)) => {
            let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
            let oci = OciDir::create(tmp.path())
                .await
                .map_err(|e| e.to_string())?;
            let pulled = pull(&client, src, &oci, &pull_opts)
                .await
                .map_err(|e| e.to_string())?;
            let done = push(&client, &oci, &pulled.root, dst, &push_opts)
                .await
                .map_err(|e| e.to_string())?;
            (done.root, pulled.bytes_moved + done.bytes_moved)
        }
        (Side::Oci(..), Side::Oci(..)) => {
            return Err(
                "copying between two OCI layouts is not supported; copy the directory".into(),
            )
        }
    };
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
        eprintln!("copy: {e}");
        std::process::exit(1);
    }
}
