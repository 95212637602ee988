//! `build`: `docker build` over boxwright's builder, with BuildKit-like plain progress lines
//! (cached / ran / why a step missed the cache), RUN steps run by boxwright's runtime.
//!
//! ```text
//! build --root DIR [-t NAME]... [-f FILE] [--build-arg K=V]... [--target S] [--no-cache] CONTEXT
//! build --root DIR --import-base ROOTFS NAME      (a directory imported as a one-layer image)
//! ```
//!
//! RUN steps need the `runtime` feature (`cargo run -p boxwright-builder --features runtime
//! --example build -- …`); without it, COPY-only builds work and a RUN step is an error that
//! says so. `FROM` images the store lacks come from their registry when the `registry` feature
//! is on.
//! Exits 1 when the build fails (the error and its causes on stderr), 2 on a usage error.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use boxwright_builder::{
    BuildError, BuildProgress, BuildRequest, Builder, DockerfileSource, Executor, ImageSource,
    NoCache,
};
use boxwright_layer_store::{import, ImportOptions, ImportSource, Store};

const USAGE: &str = "usage: build --root DIR [-t NAME]... [-f FILE] [--build-arg K=V]... \
[--target S] [--no-cache] CONTEXT\n       build --root DIR --import-base ROOTFS NAME";

/// The command line.
#[derive(Debug, Default)]
struct Args {
    root: Option<PathBuf>,
    tags: Vec<String>,
    file: Option<PathBuf>,
    build_args: BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    import_base: Option<(PathBuf, String)>,
    context: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    let value = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next().ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--root" => args.root = Some(value(&mut it, "--root")?.into()),
            "-t" | "--tag" => args.tags.push(value(&mut it, "-t")?),
            "-f" | "--file" => args.file = Some(value(&mut it, "-f")?.into()),
            "--build-arg" => {
                let kv = value(&mut it, "--build-arg")?;
                match kv.split_once('=') {
                    Some((k, v)) => args.build_args.insert(k.into(), v.into()),
                    // Docker: `--build-arg K` takes K from the environment.
                    None => match std::env::var(&kv) {
                        Ok(v) => args.build_args.insert(kv, v),
                        Err(_) => continue,
                    },
                };
            }
            "--target" => args.target = Some(value(&mut it, "--target")?),
            "--no-cache" => args.no_cache = true,
            "--import-base" => {
                let dir = value(&mut it, "--import-base")?;
                let name = value(&mut it, "--import-base")?;
                args.import_base = Some((dir.into(), name));
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            _ if args.context.is_none() => args.context = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    if args.root.is_none() {
        return Err("--root is required".into());
    }
    if args.context.is_none() && args.import_base.is_none() {
        return Err("the build context is missing".into());
    }
    Ok(args)
}

/// Prints `error` and its causes, one per line.
fn report(error: &(dyn Error + 'static)) {
    eprintln!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

fn dockerfile_path(args: &Args, context: &Path) -> PathBuf {
    args.file
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"))
}

/// What runs `RUN` steps: boxwright's runtime (the `runtime` feature).
#[cfg(feature = "runtime")]
fn executor() -> Arc<dyn Executor> {
    Arc::new(boxwright_builder::RuntimeExecutor::new())
}

/// What runs `RUN` steps: nothing, without the `runtime` feature (a `RUN` step is an error
/// that says so; COPY-only builds work).
#[cfg(not(feature = "runtime"))]
fn executor() -> Arc<dyn Executor> {
    Arc::new(boxwright_builder::RefuseRun)
}

/// Where `FROM` images the store lacks come from: their registry (the `registry` feature).
#[cfg(feature = "registry")]
fn image_source() -> Result<Arc<dyn ImageSource>, Box<dyn Error>> {
    Ok(Arc::new(boxwright_builder::RegistrySource::new()?))
}

/// Where `FROM` images the store lacks come from: nowhere (without the `registry` feature).
#[cfg(not(feature = "registry"))]
fn image_source() -> Result<Arc<dyn ImageSource>, Box<dyn Error>> {
    Ok(Arc::new(boxwright_builder::LocalOnly))
}

fn run(args: Args) -> Result<ExitCode, Box<dyn Error>> {
    let Some(root) = args.root.clone() else {
        return Ok(ExitCode::from(2));
    };
    let store = Store::open(&root)?;
    if let Some((dir, name)) = &args.import_base {
        let options = ImportOptions {
            name: Some(name.clone()),
            ..ImportOptions::default()
        };
        let image = import(&store, ImportSource::Directory(dir), &options)?;
        let _ = writeln!(std::io::stdout(), "imported {} as {name}", image.id);
    }
    let Some(context) = args.context.clone() else {
        return Ok(ExitCode::SUCCESS);
    };
    let path = dockerfile_path(&args, &context);
    let mut progress = std::fs::read_to_string(&path)
        .map(|t| BuildProgress::for_dockerfile(&t))
        .unwrap_or_default();
    let mut request = BuildRequest::new(DockerfileSource::Path(path), &context);
    request.tags = args.tags;
    request.build_args = args.build_args;
    request.target = args.target;
    if args.no_cache {
        request.no_cache = NoCache::All;
    }
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        request.source_date_epoch = Some(epoch);
    }
    let builder = Builder::new(store, executor(), image_source()?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = std::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = rt.block_on(async {
        let render = async {
            while let Some(event) = rx.recv().await {
                let mut out = std::io::stdout().lock();
                for line in progress.lines(&event) {
                    let _ = writeln!(out, "{line}");
                }
            }
        };
        let (result, ()) = tokio::join!(builder.build(request, Some(tx)), render);
        result
    });
    match result {
        Ok(done) => {
            let ran = done.steps.iter().filter(|s| !s.cached).count();
            let _ = writeln!(
                std::io::stdout(),
                "done in {:.2}s: {} steps, {} cached, {ran} ran",
                started.elapsed().as_secs_f64(),
                done.steps.len(),
                done.steps.len() - ran
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if let BuildError::RunFailed { last_lines, .. } = &e {
                for line in last_lines {
                    eprintln!("  > {line}");
                }
            }
            report(&e);
            Ok(ExitCode::from(1))
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("build: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            report(e.as_ref());
            ExitCode::from(1)
        }
    }
}
