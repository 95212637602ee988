//! `cargo run --example quickstart`: Docker's first lesson with boxwright, on a machine that
//! has nothing installed but a Linux userland — no busybox, no registry, no network.
//!
//! 1. makes a base image from this machine's programs (`sh`, `cat`, `ls`, `tr`, `wc`) and the
//!    shared libraries they load ([`Engine::import_host`]);
//! 2. builds `examples/quickstart/Dockerfile` on it ([`Engine::build`]), its `RUN` steps in
//!    containers;
//! 3. runs a container of the image and shows its output ([`Engine::run_attached`], as
//!    `docker run --rm`);
//! 4. edits `greeting.txt` and builds again: the steps before its `COPY` come from the cache,
//!    and the others say why they missed (the file that changed);
//! 5. runs the new image.
//!
//! Needs root (namespaces, overlayfs). Works in a temporary root, removed at the end, unless
//! `--root DIR` or `BOXWRIGHT_ROOT` names one (then it removes the images it made there; the
//! build cache stays, as Docker's does). Exits 1 on any failure, the error and its causes on
//! stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use boxwright::build::{BuildEvent, BuildProgress, BuildRequest, BuildResult, DockerfileSource};
use boxwright::{Engine, HostImage, Report};

/// The base image's programs, found on this machine by name.
const PROGRAMS: [&str; 5] = ["sh", "cat", "ls", "tr", "wc"];
const BASE: &str = "quickstart-base";
const IMAGE: &str = "quickstart";

type AnyError = Box<dyn std::error::Error + Send + Sync>;

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
    let (root, temporary) = root()?;
    let engine = Engine::open(&root)?;
    // The build context is a copy: the lesson edits a file in it.
    let context = engine.root().join("tmp/quickstart-context");
    let outcome = lesson(&engine, &context).await;
    let _ = std::fs::remove_dir_all(&context);
    if temporary.is_none() {
        // A root the user gave: remove what this example made in it.
        for name in [IMAGE, BASE] {
            let _ = engine.store().remove_image(name, true);
        }
    }
    drop(temporary);
    println!("\nCleaned up: {}", root.display());
    outcome
}

async fn lesson(engine: &Engine, context: &Path) -> Result<(), AnyError> {
    println!("boxwright quickstart, root {}\n", engine.root().display());

    step("1. A base image from this machine's own programs (nothing downloaded)");
    let programs = PROGRAMS
        .iter()
        .map(|p| find_program(p))
        .collect::<Result<Vec<_>, _>>()?;
    let base = engine
        .import_host(BASE, &HostImage::new(&programs).cmd(["/bin/sh"]))
        .await?;
    let shown: Vec<String> = programs.iter().map(|p| p.display().to_string()).collect();
    println!("   {} + the libraries they load", shown.join(" "));
    println!(
        "   => {BASE}, image {} ({})\n",
        base.short_id(),
        size(base.layers().iter().map(|l| l.size()).sum())
    );

    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"),
        context,
    )?;
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile"))?;

    step("2. docker build -t quickstart examples/quickstart");
    build(engine, context, &dockerfile).await?;

    step("\n3. docker run --rm quickstart");
    let first = run_image(engine, IMAGE).await?;

    step(
        "\n4. Edit greeting.txt, then build again: what comes from the cache, and why the rest ran",
    );
    // Unique text, so that a root given with --root (whose build cache remembers earlier
    // edits) misses too.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 86_400;
    let edited = format!(
        "Hello again: edited at {:02}:{:02}:{:02} UTC, and only the steps after its COPY ran.\n",
        now / 3600,
        now / 60 % 60,
        now % 60
    );
    std::fs::write(context.join("greeting.txt"), &edited)?;
    println!("   greeting.txt is now: {}", edited.trim_end());
    let again = build(engine, context, &dockerfile).await?;
    let cached = again.steps.iter().filter(|s| s.cached).count();
    println!(
        "   => {cached} of {} steps came from the cache; {} ran",
        again.steps.len(),
        again.steps.len() - cached
    );

    step("\n5. docker run --rm quickstart");
    let second = run_image(engine, IMAGE).await?;

    // The lesson's claims, checked (CI runs this example).
    if cached == 0 || cached == again.steps.len() {
        return Err(format!("expected some steps cached and some run, got {cached} cached").into());
    }
    if first == second || !second.contains("edited") {
        return Err("the second run does not show the edited greeting".into());
    }
    Ok(())
}

/// Builds the context as `quickstart`, printing the progress as `docker build` does.
async fn build(engine: &Engine, context: &Path, dockerfile: &str) -> Result<BuildResult, AnyError> {
    let mut request =
        BuildRequest::new(DockerfileSource::Path(context.join("Dockerfile")), context);
    request.tags = vec![IMAGE.into()];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BuildEvent>();
    let mut progress = BuildProgress::for_dockerfile(dockerfile);
    let printer = async {
        while let Some(event) = rx.recv().await {
            for line in progress.lines(&event) {
                println!("   {line}");
            }
        }
    };
    let (result, ()) = tokio::join!(engine.build(request, Some(tx)), printer);
    Ok(result?)
}

/// `docker run --rm --network none IMAGE`: prints the container's output as it comes and
/// returns its stdout; an exit code other than 0 is an error.
async fn run_image(engine: &Engine, image: &str) -> Result<String, AnyError> {
    use boxwright::runtime::{AttachOptions, Network, Stream};
    use boxwright::RunOptions;

    let options = RunOptions::new().auto_remove(true).network(Network::None);
    let mut attached = engine
        .run_attached(image, options, AttachOptions::default())
        .await?;
    let mut stdout = String::new();
    while let Some(chunk) = attached.next_chunk().await? {
        let text = String::from_utf8_lossy(&chunk.data);
        for line in text.lines() {
            match chunk.stream {
                Stream::Stdout => println!("   | {line}"),
                Stream::Stderr => println!("   | (stderr) {line}"),
            }
        }
        if chunk.stream == Stream::Stdout {
            stdout.push_str(&text);
        }
    }
    match attached.wait().await? {
        0 => Ok(stdout),
        code => Err(format!("the container exited with code {code}").into()),
    }
}

/// The root: `--root DIR`, else `$BOXWRIGHT_ROOT`, else a temporary directory (returned too,
/// so it lives until the end).
fn root() -> Result<(PathBuf, Option<tempfile::TempDir>), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, dir] if flag == "--root" => return Ok((dir.into(), None)),
        _ => return Err("usage: quickstart [--root DIR]".into()),
    }
    if let Some(dir) = std::env::var_os("BOXWRIGHT_ROOT") {
        return Ok((dir.into(), None));
    }
    let dir = tempfile::Builder::new()
        .prefix("boxwright-quickstart-")
        .tempdir()?;
    Ok((dir.path().to_path_buf(), Some(dir)))
}

/// The first of `/usr/bin/NAME`, `/bin/NAME` that exists (as the host's `PATH` would find it).
fn find_program(name: &str) -> Result<PathBuf, AnyError> {
    ["/bin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or_else(|| format!("{name} is in neither /bin nor /usr/bin").into())
}

/// Copies the files of `from` (one level) into a fresh `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), AnyError> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn step(title: &str) {
    println!("{title}");
}

/// `12.3 MB` (powers of 1000, as Docker).
fn size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
