//! `cargo run --example node-app`: the Node walkthrough Docker courses use, with boxwright.
//!
//! 1. a `node-base` image from this machine's `node` and `npm` and the libraries they load
//!    ([`Engine::import_host`]; needs node installed, e.g. Debian's `nodejs` package);
//! 2. `docker build` of `examples/node-app/` (`COPY package.json`, `RUN npm install` of a local
//!    dependency, offline; `COPY . .`; `EXPOSE 80`; `CMD ["node","server.js"]`);
//! 3. `docker run -d -p 3000:80` and a GET on 127.0.0.1:3000 (another port when 3000 is taken);
//! 4. edit `server.js` and rebuild: only `COPY . .` and what follows run again — `npm install`
//!    comes from the cache;
//! 5. live editing: the source bind-mounted over `/app` with an anonymous volume over
//!    `/app/node_modules` (seeded from the image), an edit on the host, a restart, no rebuild.
//!
//! Needs root. Works in a temporary root unless `--root DIR` or `BOXWRIGHT_ROOT` names one (then
//! it removes the containers, volumes and images it made there). Exits 1 on any failure.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use boxwright::build::{BuildProgress, BuildRequest, BuildResult, DockerfileSource};
use boxwright::runtime::{PortMapping, RemoveOptions};
use boxwright::{Engine, HostImage, Report, RunOptions, VolumeSpec};

const BASE: &str = "node-base";
const IMAGE: &str = "node-app";

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
    let context = engine.root().join("tmp/node-app-context");
    let mut made = Vec::new();
    let outcome = lesson(&engine, &context, &mut made).await;
    for id in &made {
        let opts = RemoveOptions {
            force: true,
            volumes: true,
        };
        let _ = engine.rm(id, opts).await;
    }
    let _ = std::fs::remove_dir_all(&context);
    if temporary.is_none() {
        for name in [IMAGE, BASE] {
            let _ = engine.store().remove_image(name, true);
        }
    }
    drop(temporary);
    println!("\nCleaned up: {}", root.display());
    outcome
}

async fn lesson(engine: &Engine, context: &Path, made: &mut Vec<String>) -> Result<(), AnyError> {
    println!("boxwright node-app, root {}\n", engine.root().display());
    println!("1. A node base image from this machine's node and npm");
    for program in ["/usr/bin/node", "/usr/bin/npm"] {
        if !Path::new(program).exists() {
            return Err(format!(
                "{program} is missing: install node (Debian: apt-get install nodejs npm)"
            )
            .into());
        }
    }
    let npm_dir = std::fs::canonicalize("/usr/bin/npm")?
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .ok_or("where npm lives")?;
    let spec = HostImage::new(["/usr/bin/node", "/usr/bin/npm", "/usr/bin/env", "/bin/sh"])
        .tree(&npm_dir)
        .cmd(["node"]);
    let base = engine.import_host(BASE, &spec).await?;
    println!(
        "   node, npm ({}), env, sh + the libraries they load",
        npm_dir.display()
    );
    println!("   => {BASE}, image {}\n", base.short_id());

    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node-app"),
        context,
    )?;
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile"))?;

    println!("2. docker build -t node-app examples/node-app");
    build(engine, context, &dockerfile).await?;

    let port = host_port();
    println!("\n3. docker run -d -p {port}:80 node-app, then GET http://127.0.0.1:{port}/");
    let (id, addr) = run_detached(engine, &format!("{port}:80"), Vec::new()).await?;
    made.push(id.clone());
    let first = get(addr).await?;
    println!("   {}", first.trim_end());

    println!("\n4. Edit server.js and rebuild: npm install stays cached");
    edit_server(
        context,
        "Hello from node in a boxwright container",
        "Edited, rebuilt, and npm install was cached",
    )?;
    let again = build(engine, context, &dockerfile).await?;
    let cached = again.steps.iter().filter(|s| s.cached).count();
    println!(
        "   => {cached} of {} steps came from the cache",
        again.steps.len()
    );
    engine.stop(&id, None).await?;
    let (id, addr) = run_detached(engine, &format!("{port}:80"), Vec::new()).await?;
    made.push(id.clone());
    let second = get(addr).await?;
    println!("   {}", second.trim_end());
    if !second.contains("npm install was cached") {
        return Err("the rebuilt image does not serve the edited server.js".into());
    }

    println!("\n5. Live editing: -v $PWD:/app -v /app/node_modules, edit, restart (no rebuild)");
    engine.stop(&id, None).await?;
    let volumes = vec![
        format!("{}:/app", context.display()).parse::<VolumeSpec>()?,
        "/app/node_modules".parse::<VolumeSpec>()?,
    ];
    let (id, addr) = run_detached(engine, &format!("{port}:80"), volumes).await?;
    made.push(id.clone());
    println!("   {}", get(addr).await?.trim_end());
    edit_server(
        context,
        "Edited, rebuilt, and npm install was cached",
        "Edited live on the host",
    )?;
    engine.restart(&id, Some(Duration::from_secs(2))).await?;
    let details = engine.container_inspect(&id).await?;
    let addr = details
        .info
        .ports
        .first()
        .ok_or("no published port")?
        .connect_addr();
    let live = get(addr).await?;
    println!("   {}", live.trim_end());
    if !live.contains("Edited live on the host") {
        return Err("the bind-mounted edit is not served".into());
    }
    Ok(())
}

/// `docker run -d -p MAPPING [-v …] node-app`: its ID and the address its port answers on.
async fn run_detached(
    engine: &Engine,
    mapping: &str,
    volumes: Vec<VolumeSpec>,
) -> Result<(String, SocketAddr), AnyError> {
    let mut options = RunOptions::new().publish(mapping.parse::<PortMapping>()?);
    for v in volumes {
        options = options.volume(v);
    }
    let id = engine.run(IMAGE, options).await?;
    let details = engine.container_inspect(&id).await?;
    let addr = details
        .info
        .ports
        .first()
        .ok_or("no published port")?
        .connect_addr();
    println!("   container {}", &id[..12]);
    Ok((id, addr))
}

/// Builds the context as `node-app`, printing the progress as `docker build` does.
async fn build(engine: &Engine, context: &Path, dockerfile: &str) -> Result<BuildResult, AnyError> {
    let mut request =
        BuildRequest::new(DockerfileSource::Path(context.join("Dockerfile")), context);
    request.tags = vec![IMAGE.into()];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
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

/// A GET of `/` on `addr`, retried until it answers (the server starts) for up to 15 s; the
/// body.
async fn get(addr: SocketAddr) -> Result<String, AnyError> {
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match get_once(addr) {
                Ok(body) => return Ok(body),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("GET http://{addr}/ failed: {e}").into())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    })
    .await?
}

fn get_once(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    match reply.split_once("\r\n\r\n") {
        Some((head, body))
            if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") =>
        {
            Ok(body.to_owned())
        }
        _ => Err(std::io::Error::other(format!(
            "unexpected reply: {reply:?}"
        ))),
    }
}

/// Replaces `old` by `new` in the context's server.js.
fn edit_server(context: &Path, old: &str, new: &str) -> Result<(), AnyError> {
    let path = context.join("server.js");
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(&path, text.replace(old, new))?;
    println!("   server.js: \"{old}\" -> \"{new}\"");
    Ok(())
}

/// 3000, as the walkthrough says, unless something listens there already: then a free port.
fn host_port() -> u16 {
    if TcpListener::bind("0.0.0.0:3000").is_ok() {
        return 3000;
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(3000, |a| a.port())
}

/// The root: `--root DIR`, else `$BOXWRIGHT_ROOT`, else a temporary directory.
fn root() -> Result<(PathBuf, Option<tempfile::TempDir>), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, dir] if flag == "--root" => return Ok((dir.into(), None)),
        _ => return Err("usage: node-app [--root DIR]".into()),
    }
    if let Some(dir) = std::env::var_os("BOXWRIGHT_ROOT") {
        return Ok((dir.into(), None));
    }
    let dir = tempfile::Builder::new()
        .prefix("boxwright-node-app-")
        .tempdir()?;
    Ok((dir.path().to_path_buf(), Some(dir)))
}

/// Copies the directory `from` into a fresh `to` (files and directories).
fn copy_dir(from: &Path, to: &Path) -> Result<(), AnyError> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
