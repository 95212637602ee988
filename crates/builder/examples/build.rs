//! Builds an image from a Dockerfile and renders the build's events as readable lines.
//!
//! `cargo run -p boxwright-builder --example build -- --root DIR [-t NAME]... [-f FILE]
//! [--build-arg K=V]... [--target STAGE] [--no-cache] CONTEXT`
//!
//! Each step prints whether it came from the cache or ran, and why it missed. Exits non-zero
//! when the build fails. `SOURCE_DATE_EPOCH` makes the image reproducible. This example runs
//! no `RUN` steps (it uses `RefuseRun`) and pulls nothing (`LocalOnly`): `FROM` images must
//! be in the store.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use boxwright_builder::{
    BuildEvent, BuildRequest, Builder, DockerfileSource, LocalOnly, NoCache, OutputStream,
    RefuseRun,
};
use boxwright_layer_store::Store;

const USAGE: &str = "usage: build --root DIR [-t NAME]... [-f FILE] [--build-arg K=V]... \
                     [--target STAGE] [--no-cache] CONTEXT";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("build: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut root: Option<PathBuf> = None;
    let mut file: Option<PathBuf> = None;
    let mut context: Option<PathBuf> = None;
    let mut tags = Vec::new();
    let mut build_args = std::collections::BTreeMap::new();
    let mut target = None;
    let mut no_cache = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--root" => root = Some(value()?.into()),
            "-t" | "--tag" => tags.push(value()?),
            "-f" | "--file" => file = Some(value()?.into()),
            "--build-arg" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("--build-arg {kv}: no '='"))?;
                build_args.insert(k.to_string(), v.to_string());
            }
            "--target" => target = Some(value()?),
            "--no-cache" => no_cache = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if context.is_none() && !arg.starts_with('-') => context = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg}\n{USAGE}")),
        }
    }
    let root = root.ok_or(USAGE)?;
    let context = context.ok_or(USAGE)?;
    let file = file.unwrap_or_else(|| context.join("Dockerfile"));
    let store =
        Store::open(&root).map_err(|e| format!("opening the store {}: {e}", root.display()))?;
    let builder = Builder::new(store, Arc::new(RefuseRun), Arc::new(LocalOnly));
    let mut request = BuildRequest::new(DockerfileSource::Path(file), context);
    request.tags = tags;
    request.build_args = build_args;
    request.target = target;
    request.source_date_epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok());
    if no_cache {
        request.no_cache = NoCache::All;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("starting tokio: {e}"))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = rt.block_on(async {
        let printer = async {
            while let Some(event) = rx.recv().await {
                render(&event);
            }
        };
        let build = async move { builder.build(request, Some(tx)).await };
        let (result, ()) = tokio::join!(build, printer);
        result
    });
    match result {
        Ok(r) => {
            let cached = r.steps.iter().filter(|s| s.cached).count();
            println!(
                "{} steps, {cached} cached; image {}",
                r.steps.len(),
                r.image_id
            );
            Ok(())
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            if let boxwright_builder::BuildError::RunFailed { last_lines, .. } = &e {
                for line in last_lines {
                    message.push_str(&format!("\n  | {line}"));
                }
            }
            Err(message)
        }
    }
}

/// One event as a line.
fn render(event: &BuildEvent) {
    match event {
        BuildEvent::StageStarted { stage, name } => {
            println!(
                "stage {stage}{}",
                name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
            )
        }
        BuildEvent::StepStarted {
            index, span, text, ..
        } => {
            println!("#{index} line {}: {text}", span.start_line)
        }
        BuildEvent::StepCached { index, .. } => println!("#{index} cached"),
        BuildEvent::StepCacheMiss { index, reason } => println!("#{index} runs: {reason}"),
        BuildEvent::RunOutput {
            index,
            stream,
            line,
        } => {
            let s = if *stream == OutputStream::Stderr {
                "err"
            } else {
                "out"
            };
            println!("#{index} {s} | {line}")
        }
        BuildEvent::StepDone {
            index,
            duration,
            layer_size,
        } => match layer_size {
            Some(size) => println!("#{index} done in {duration:.2?}, layer {size} bytes"),
            None => println!("#{index} done in {duration:.2?}"),
        },
        BuildEvent::Warning { span, message } => {
            println!("warning: line {}: {message}", span.start_line)
        }
        BuildEvent::ImageWritten { image_id, tags, .. } => {
            println!("image {image_id} {}", tags.join(" "))
        }
        _ => {}
    }
}
