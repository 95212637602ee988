//! The container commands after `create`, over the facade's verbs: `ps`, `logs`, `start`,
//! `stop`, `restart`, `kill`, `attach`, `exec`, `rm`, `wait`, `cp`, `commit`,
//! `container prune`.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use boxwright::runtime::{
    AttachOptions, Chunk, DetachKeys, ExecOptions, LogOptions, RemoveOptions, Status, Stdio, Stream,
};
use boxwright::{CommitOptions, ContainerDetails, Engine, PsFilter, PsOptions};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

use crate::cli::{
    AttachArgs, CommitArgs, ContainersArgs, CpArgs, ExecArgs, KillArgs, LogsArgs, PruneArgs,
    PsArgs, RmArgs, StartArgs, StopArgs,
};
use crate::format::{self, ellipsis, Format, Table};
use crate::{Failure, Outcome};

/// Docker's column names of the fields, for `--format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
];

/// `bw ps` / `bw container ls`.
pub(crate) async fn ps(engine: &Engine, args: PsArgs) -> Outcome {
    let format = Format::parse(args.format.as_deref())?;
    let filters = args
        .filter
        .iter()
        .map(|f| f.parse::<PsFilter>().map_err(Failure::from))
        .collect::<Result<Vec<_>, _>>()?;
    let mut opts = PsOptions::new().all(args.all || args.last.is_some() || args.latest);
    for f in filters {
        opts = opts.filter(f);
    }
    let mut list = engine.ps(&opts).await?;
    if args.latest {
        list.truncate(1);
    } else if let Some(n) = args.last {
        list.truncate(n);
    }
    if args.quiet {
        for c in &list {
            format::println(if args.no_trunc { c.id() } else { &c.id()[..12] });
        }
        return Ok(0);
    }
    let items: Vec<Value> = list.iter().map(|c| ps_json(c, args.no_trunc)).collect();
    if let Some(text) = format.items(&items, HEADERS)? {
        format::print(&text);
        return Ok(0);
    }
    let mut table = Table::new(vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]);
    for item in &items {
        let cell = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
        table.row(vec![
            cell("ID"),
            cell("Image"),
            cell("Command"),
            cell("RunningFor"),
            cell("Status"),
            cell("Ports"),
            cell("Names"),
        ]);
    }
    format::print(&table.render());
    Ok(0)
}

/// The image name a container was created from, as given.
pub(crate) fn image_of(c: &ContainerDetails) -> String {
    c.image_name.clone().unwrap_or_default()
}

/// The command line the container runs (its process' arguments).
pub(crate) fn command_of(c: &ContainerDetails) -> Vec<String> {
    c.info
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default()
}

/// Docker's status column: `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`.
pub(crate) fn status_text(c: &ContainerDetails) -> String {
    let c = &c.info;
    match c.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            format::human_duration(format::since(c.started_at.unwrap_or(c.created)))
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            c.exit_code.unwrap_or(boxwright::runtime::UNKNOWN_EXIT_CODE),
            format::ago_ns(c.finished_at)
        ),
    }
}

/// Docker's ports column: `0.0.0.0:8080->80/tcp`.
pub(crate) fn ports_text(c: &ContainerDetails) -> String {
    c.info
        .ports
        .iter()
        .map(|p| format!("{}->{}/{}", p.host, p.container_port, protocol(p.protocol)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn protocol(p: boxwright::runtime::Protocol) -> &'static str {
    match p {
        boxwright::runtime::Protocol::Udp => "udp",
        _ => "tcp",
    }
}

/// One `ps` line as the JSON `--format` sees it (Docker's field names).
fn ps_json(c: &ContainerDetails, no_trunc: bool) -> Value {
    let command = command_of(c).join(" ");
    let id = c.id();
    json!({
        "ID": if no_trunc { id.to_owned() } else { id[..12].to_owned() },
        "Image": image_of(c),
        "Command": if no_trunc { format!("\"{command}\"") } else { format!("\"{}\"", ellipsis(&command, 20)) },
        "CreatedAt": format::rfc3339_ns(c.info.created),
        "RunningFor": format::ago_ns(Some(c.info.created)),
        "Status": status_text(c),
        "State": c.info.status.to_string(),
        "Ports": ports_text(c),
        "Names": c.name(),
    })
}

/// `bw logs`.
pub(crate) async fn logs(engine: &Engine, args: LogsArgs) -> Outcome {
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| Failure::usage(format!("invalid value {n:?} for --tail")))?,
        ),
    };
    let opts = LogOptions {
        follow: args.follow,
        tail,
        ..LogOptions::default()
    };
    let mut logs = engine.logs(&args.container, &opts).await?;
    while let Some(chunk) = logs.next_chunk().await? {
        if !write_chunk(&chunk, args.timestamps) {
            break;
        }
    }
    Ok(0)
}

/// Writes output to our stdout or stderr as the container wrote it; `false` once our side is
/// closed (`bw logs -f web | head -1`: nobody reads any more).
pub(crate) fn write_chunk(chunk: &Chunk, timestamps: bool) -> bool {
    let stamp = match (timestamps, chunk.time) {
        (true, Some(t)) => format!("{} ", format::rfc3339_ns(t)),
        _ => String::new(),
    };
    let written = match chunk.stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(stamp.as_bytes())
                .and_then(|()| out.write_all(&chunk.data))
                .and_then(|()| out.flush())
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(stamp.as_bytes())
                .and_then(|()| err.write_all(&chunk.data))
        }
    };
    !matches!(written, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `bw start`: prints each name as given; with `-a`, attaches and exits with the command's
/// code.
pub(crate) async fn start(engine: &Engine, args: StartArgs) -> Outcome {
    if args.attach || args.interactive {
        let [container] = args.containers.as_slice() else {
            return Err(Failure::usage(
                "you cannot start and attach multiple containers at once",
            ));
        };
        let opts = AttachOptions {
            stdin: args.interactive,
            ..AttachOptions::default()
        };
        let attached = engine.start_attached(container, opts).await?;
        return relay(engine, attached, args.interactive).await;
    }
    let mut failed = None;
    for c in &args.containers {
        match engine.start(c).await {
            Ok(()) => format::println(c),
            Err(e) => failed = Some(report(e)),
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// Prints one failure of a command over several objects, and keeps the last for the exit code.
fn report(err: impl std::error::Error + 'static) -> Failure {
    let failure = Failure::from_error(err);
    eprintln!("bw: {}", failure.message);
    Failure::msg(failure.message)
}

/// Relays our stdin to an attachment and its output to ours; the command's exit code.
pub(crate) async fn relay(
    engine: &Engine,
    mut attached: boxwright::runtime::Attached,
    interactive: bool,
) -> Outcome {
    // Docker's --sig-proxy: without a terminal, the signals we get go to the container.
    let _proxy = (!attached.tty()).then(|| sig_proxy(engine.clone(), attached.id().to_owned()));
    // With a terminal: ours in raw mode (keys go to the container as typed), its size theirs.
    let _raw = if attached.tty() {
        if let Some((rows, cols)) = crate::tty::size() {
            let _ = attached.resize(rows, cols).await;
        }
        if interactive {
            crate::tty::RawMode::enter()
        } else {
            None
        }
    } else {
        None
    };
    if interactive {
        if let Some(mut input) = attached.stdin.take() {
            tokio::spawn(async move {
                let mut stdin = tokio::io::stdin();
                let _ = tokio::io::copy(&mut stdin, &mut input).await;
                let _ = input.shutdown().await;
            });
        }
    }
    while let Some(chunk) = attached.next_chunk().await? {
        if !write_chunk(&chunk, false) {
            // Our output is gone (a shell reports 141, SIGPIPE); the container goes on, as
            // when a client detaches.
            return Ok(141);
        }
    }
    if attached.detached() {
        return Ok(0);
    }
    let code = attached.wait().await?;
    Ok(exit_byte(code))
}

/// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the container until dropped.
fn sig_proxy(engine: Engine, id: String) -> AbortOnDrop {
    use tokio::signal::unix::{signal, SignalKind};
    let task = tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "INT"),
            (SignalKind::terminate(), "TERM"),
            (SignalKind::hangup(), "HUP"),
            (SignalKind::quit(), "QUIT"),
        ];
        let mut streams = Vec::new();
        for (kind, name) in kinds {
            if let Ok(s) = signal(kind) {
                streams.push((s, name));
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (mut stream, name) in streams {
            let tx = tx.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            });
        }
        while let Some(name) = rx.recv().await {
            if let Err(e) = engine.kill(&id, name).await {
                eprintln!("bw: forwarding SIG{name}: {}", boxwright::Report(&e));
            }
        }
    });
    AbortOnDrop(task)
}

/// A task stopped when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An exit code as a process exit status (Docker's codes are 0-255).
pub(crate) fn exit_byte(code: i32) -> u8 {
    u8::try_from(code.rem_euclid(256)).unwrap_or(1)
}

/// `bw stop`.
pub(crate) async fn stop(engine: &Engine, args: StopArgs) -> Outcome {
    let timeout = args.time.map(Duration::from_secs);
    let mut failed = None;
    for c in &args.containers {
        let result = match &args.signal {
            Some(sig) => stop_with_signal(engine, c, sig, timeout).await,
            None => engine
                .containers()
                .stop(c, timeout)
                .await
                .map(drop)
                .map_err(Failure::from),
        };
        match result {
            Ok(()) => format::println(c),
            Err(e) => {
                eprintln!("bw: {}", e.message);
                failed = Some(e);
            }
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// `stop -s SIG`: the signal, then `SIGKILL` after the timeout.
async fn stop_with_signal(
    engine: &Engine,
    container: &str,
    signal: &str,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    engine.kill(container, signal).await?;
    let waited = tokio::time::timeout(
        timeout.unwrap_or(boxwright::runtime::DEFAULT_STOP_TIMEOUT),
        engine.wait(container),
    )
    .await;
    if waited.is_err() {
        engine.kill(container, "KILL").await?;
        engine.wait(container).await?;
    }
    Ok(())
}

/// `bw restart`.
pub(crate) async fn restart(engine: &Engine, args: StopArgs) -> Outcome {
    let timeout = args.time.map(Duration::from_secs);
    let mut failed = None;
    for c in &args.containers {
        match engine.restart(c, timeout).await {
            Ok(()) => format::println(c),
            Err(e) => failed = Some(report(e)),
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// `bw kill`.
pub(crate) async fn kill(engine: &Engine, args: KillArgs) -> Outcome {
    let mut failed = None;
    for c in &args.containers {
        match engine.kill(c, &args.signal).await {
            Ok(()) => format::println(c),
            Err(e) => failed = Some(report(e)),
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// `bw attach`.
pub(crate) async fn attach(engine: &Engine, args: AttachArgs) -> Outcome {
    let detach_keys = match &args.detach_keys {
        Some(k) => Some(DetachKeys::parse(k)?),
        None => Some(DetachKeys::default()),
    };
    let opts = AttachOptions {
        stdin: !args.no_stdin,
        detach_keys,
        ..AttachOptions::default()
    };
    let attached = engine.attach(&args.container, opts).await?;
    relay(engine, attached, !args.no_stdin).await
}

/// `bw exec`: the command's exit code; 126/127 when it cannot be executed or found.
pub(crate) async fn exec(engine: &Engine, args: ExecArgs) -> Outcome {
    let (container, command) = args
        .container_and_command
        .split_first()
        .ok_or_else(|| Failure::usage("exec needs a container and a command"))?;
    if args.user.is_some() {
        return Err(Failure::usage("exec --user is not supported yet"));
    }
    let env = args
        .env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (e.clone(), std::env::var(e).unwrap_or_default()),
        })
        .collect();
    let inherit = if args.detach {
        Stdio::Null
    } else {
        Stdio::Inherit
    };
    let opts = ExecOptions {
        env,
        workdir: args.workdir.as_ref().map(Into::into),
        tty: args.tty,
        stdin: if args.interactive {
            inherit
        } else {
            Stdio::Null
        },
        stdout: inherit,
        stderr: inherit,
    };
    let mut child = engine
        .exec(container, command, &opts)
        .await
        .map_err(|e| Failure::run_or(e, 1))?;
    if args.detach {
        return Ok(0);
    }
    if let Some(pty) = child.pty.take() {
        relay_pty(pty, args.interactive).await;
    }
    let status = child.wait().await?;
    Ok(exit_byte(status.code()))
}

/// `exec -t`: the process's terminal relayed to ours (raw, with our size) until it closes.
async fn relay_pty(pty: boxwright::runtime::Pty, interactive: bool) {
    if let Some((rows, cols)) = crate::tty::size() {
        let _ = pty.resize(rows, cols);
    }
    let _raw = if interactive {
        crate::tty::RawMode::enter()
    } else {
        None
    };
    let (mut from, mut to) = tokio::io::split(pty);
    if interactive {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut to).await;
        });
    }
    // The terminal ends with EIO once the process and its children are gone.
    let _ = tokio::io::copy(&mut from, &mut tokio::io::stdout()).await;
}

/// `bw rm`.
pub(crate) async fn rm(engine: &Engine, args: RmArgs) -> Outcome {
    let opts = RemoveOptions {
        force: args.force,
        volumes: args.volumes,
    };
    let mut failed = None;
    for c in &args.containers {
        match engine.rm(c, opts).await {
            Ok(()) => format::println(c),
            Err(e) => failed = Some(report(e)),
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// `bw wait`: each container's exit code, one per line.
pub(crate) async fn wait(engine: &Engine, args: ContainersArgs) -> Outcome {
    let mut failed = None;
    for c in &args.containers {
        match engine.wait(c).await {
            Ok(code) => format::println(&code.to_string()),
            Err(e) => failed = Some(report(e)),
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// `bw cp CONTAINER:SRC DST` and `bw cp SRC CONTAINER:DST`.
pub(crate) async fn cp(engine: &Engine, args: CpArgs) -> Outcome {
    let split = |s: &str| -> Option<(String, String)> {
        // A local path with a colon must start with `/` or `.` (as Docker asks).
        if s.starts_with('/') || s.starts_with('.') {
            return None;
        }
        s.split_once(':').map(|(c, p)| (c.to_owned(), p.to_owned()))
    };
    match (split(&args.source), split(&args.destination)) {
        (Some((container, src)), None) => {
            engine
                .cp_out(&container, &src, Path::new(&args.destination))
                .await?;
            Ok(0)
        }
        (None, Some((container, dst))) => {
            engine
                .cp_in(&container, Path::new(&args.source), &dst)
                .await?;
            Ok(0)
        }
        (Some(_), Some(_)) => Err(Failure::usage(
            "copying between containers is not supported",
        )),
        (None, None) => Err(Failure::usage(
            "must specify at least one container source (CONTAINER:PATH)",
        )),
    }
}

/// `bw commit [-m] [-a] [-c …] CONTAINER [REPOSITORY[:TAG]]`: prints the new image's ID.
pub(crate) async fn commit(engine: &Engine, args: CommitArgs) -> Outcome {
    let mut opts = CommitOptions::new();
    if let Some(r) = &args.repository {
        opts = opts.reference(r.clone());
    }
    if let Some(m) = &args.message {
        opts = opts.message(m.clone());
    }
    if let Some(a) = &args.author {
        opts = opts.author(a.clone());
    }
    for c in &args.change {
        opts = opts.change(c.clone());
    }
    let id = engine.commit(&args.container, opts).await?;
    format::println(&id);
    Ok(0)
}

/// `bw container prune`: removes every container that is not running.
pub(crate) async fn prune(engine: &Engine, _args: PruneArgs) -> Outcome {
    let removed = engine.container_prune().await?;
    if !removed.is_empty() {
        format::println("Deleted Containers:");
        for id in &removed {
            format::println(id);
        }
        format::println("");
    }
    format::println("Total reclaimed space: 0B");
    Ok(0)
}
