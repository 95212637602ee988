//! Docker-like verbs on a container store, with no daemon.
//!
//! ```text
//! cargo run -p boxwright-runtime --example containers -- [--root DIR] VERB ...
//!   run [-d] [-i] [-t] [--name N] [--rm] [--init] [-e K=V] [-h HOSTNAME]
//!          [-p [IP:][HOST:]PORT[/udp]] [-v NAME:DST[:ro] | -v /HOST/PATH:DST[:ro] | -v DST]
//!          ROOTFS -- CMD...       -d prints the ID; without -d, attached until it exits
//!   ps [-a]                       logs [-f] [-t] [--tail N] ID|NAME
//!   attach [--no-stdin] [--detach-keys KEYS] ID|NAME
//!                                 stdin, output and terminal of a running container
//!                                 (with a terminal, ctrl-p ctrl-q detaches, as Docker)
//!   start [-a] [-i] ID|NAME       stop [-t SECONDS] ID|NAME
//!   restart [-t SECONDS] ID|NAME  kill [-s SIGNAL] ID|NAME
//!   rm [-f] [-v] ID|NAME          wait ID|NAME (exits with the container's code)
//!   inspect ID|NAME (JSON)        exec ID|NAME -- CMD... (attached; exits with its code)
//!   cp ID|NAME:SRC DST            cp SRC ID|NAME:DST (running or stopped)
//! ```
//!
//! The state root is `--root DIR`, else `$BOXWRIGHT_ROOT`, else `/var/lib/boxwright`; volumes
//! live under it too (`ROOT/volumes`). `-p` gives the container a private network whose ports
//! slirp4netns forwards (it must be installed); `--init` runs our init as PID 1. `-i` keeps the
//! command's stdin open and `-t` gives it a terminal, for `attach` (`docker run -dit IMAGE sh`
//! then `attach`, as with Docker; with a terminal this program's own terminal is put in raw
//! mode while attached, and `attach` ends when the container does, or with this program).
//! Attached without a terminal (`run` without `-d`, `start -a`, `attach`), the signals this
//! program gets (INT, TERM, HUP, QUIT, USR1, USR2) are passed to the container, as docker's
//! `--sig-proxy`. Containers keep running after this program exits; any later invocation
//! manages them.
//! Errors exit with 125, as the docker CLI; `exec` of a missing command with 127.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use boxwright_runtime::{
    AttachOptions, Attached, Container, Containers, CreateOptions, DetachKeys, Error, ExecOptions,
    LogOptions, Network, PortMapping, RemoveOptions, Stream, Volumes,
};
use tokio::io::AsyncWriteExt;

/// Relays this program's stdin to the attached container and its output to ours (a terminal
/// in raw mode when the container has one), until the attachment ends. Returns the
/// container's exit code, or `None` when it is still running (detached).
async fn session(store: &Containers, mut a: Attached) -> Result<Option<i32>, Error> {
    // docker's --sig-proxy: without a terminal, the signals this program gets go to the
    // container (with one, ctrl-c is a byte the terminal turns into SIGINT in there).
    if !a.tty() {
        proxy_signals(store.clone(), a.id().to_owned());
    }
    let stdin_fd = std::io::stdin();
    let saved = if a.tty() && rustix::termios::isatty(&stdin_fd) {
        let saved = rustix::termios::tcgetattr(&stdin_fd).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ =
                rustix::termios::tcsetattr(&stdin_fd, rustix::termios::OptionalActions::Now, &raw);
        }
        saved
    } else {
        None
    };
    if a.tty() {
        if let Ok(ws) = rustix::termios::tcgetwinsize(std::io::stdout()) {
            a.resize(ws.ws_row, ws.ws_col).await?;
        }
    }
    if let Some(mut input) = a.stdin.take() {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut input).await;
            let _ = input.shutdown().await;
        });
    }
    let (mut out, mut err) = (tokio::io::stdout(), tokio::io::stderr());
    let result = loop {
        match a.next_chunk().await {
            Ok(Some(c)) => {
                let w: &mut (dyn tokio::io::AsyncWrite + Unpin) = match c.stream {
                    Stream::Stdout => &mut out,
                    Stream::Stderr => &mut err,
                };
                let _ = w.write_all(&c.data).await;
                let _ = w.flush().await;
            }
            Ok(None) => {
                if a.detached() {
                    // Docker's words when its detach keys are typed.
                    eprintln!("\r\nread escape sequence\r");
                }
                break Ok(a.exit_code());
            }
            Err(e) => break Err(e),
        }
    };
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(&stdin_fd, rustix::termios::OptionalActions::Now, &t);
    }
    result
}

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container's command.
fn proxy_signals(store: Containers, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        let Ok(mut stream) = signal(SignalKind::from_raw(sig)) else {
            continue;
        };
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if let Err(e) = store.kill(&id, sig) {
                    eprintln!("containers: forwarding signal {sig}: {e}");
                }
            }
        });
    }
}

/// Ends the program with the container's code (or 0 when detached). A direct exit: the task
/// reading this program's stdin may be blocked in a read that would hold up the runtime's end.
fn finish(code: Option<i32>) -> ! {
    std::process::exit(code.unwrap_or(0))
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: containers [--root DIR] (run [-d] [-i] [-t] [--name N] [--rm] [--init] [-e K=V] \
         [-h HOST] [-p [IP:][HOST:]PORT[/udp]] [-v SRC:DST[:ro]|-v DST] ROOTFS -- CMD... \
         | ps [-a] | logs [-f] [-t] [--tail N] C | attach [--no-stdin] [--detach-keys KEYS] C | start [-a] [-i] C \
         | stop [-t S] C | restart [-t S] C | kill [-s SIG] C \
         | rm [-f] [-v] C | wait C | inspect C | exec C -- CMD... \
         | cp C:SRC DST | cp SRC C:DST)"
    );
    ExitCode::from(2)
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("containers: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
    ExitCode::from(if e.is_exec_error() { 127 } else { 125 })
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(255))
}

fn ago(ns: Option<u64>) -> String {
    let Some(ns) = ns else { return "-".into() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{}s ago", now.saturating_sub(ns) / 1_000_000_000)
}

fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let name = s.trim_start_matches("SIG");
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        _ => return None,
    })
}

async fn pump(
    from: Option<boxwright_runtime::ChildStdout>,
    mut to: impl tokio::io::AsyncWrite + Unpin,
) {
    if let Some(mut from) = from {
        let _ = tokio::io::copy(&mut from, &mut to).await;
        let _ = to.flush().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut root = std::env::var("BOXWRIGHT_ROOT").unwrap_or_else(|_| "/var/lib/boxwright".into());
    if args.first().map(String::as_str) == Some("--root") {
        if args.len() < 2 {
            return usage();
        }
        root = args.remove(1);
        args.remove(0);
    }
    if args.is_empty() {
        return usage();
    }
    let store = match Containers::open(&root) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let verb = args.remove(0);
    // Flags before the container (or `--`), then the rest.
    let flag = |args: &mut Vec<String>, name: &str| -> bool {
        match args.iter().position(|a| a == name) {
            Some(i) if !args[..i].contains(&"--".to_owned()) => {
                args.remove(i);
                true
            }
            _ => false,
        }
    };
    let value = |args: &mut Vec<String>, name: &str| -> Option<String> {
        let i = args.iter().position(|a| a == name)?;
        if args[..i].contains(&"--".to_owned()) || i + 1 >= args.len() {
            return None;
        }
        args.remove(i);
        Some(args.remove(i))
    };
    let seconds = |v: Option<String>| {
        v.and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
    };

    let result: Result<ExitCode, Error> = async {
        match verb.as_str() {
            "run" => {
                // `-dit` and the like: one flag each (before `--`).
                let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
                let mut split = Vec::new();
                for a in args.drain(..end) {
                    let short = a.len() > 2
                        && a.starts_with('-')
                        && a[1..].chars().all(|c| matches!(c, 'd' | 'i' | 't'));
                    if short {
                        split.extend(a[1..].chars().map(|c| format!("-{c}")));
                    } else {
                        split.push(a);
                    }
                }
                args.splice(0..0, split);
                let detached = flag(&mut args, "-d");
                let interactive = flag(&mut args, "-i");
                let tty = flag(&mut args, "-t");
                let auto_remove = flag(&mut args, "--rm");
                let init = flag(&mut args, "--init");
                let name = value(&mut args, "--name");
                let hostname = value(&mut args, "-h");
                let mut env = Vec::new();
                while let Some(kv) = value(&mut args, "-e") {
                    if let Some((k, v)) = kv.split_once('=') {
                        env.push((k.to_owned(), v.to_owned()));
                    }
                }
                let mut ports = Vec::new();
                while let Some(p) = value(&mut args, "-p") {
                    ports.push(p.parse::<PortMapping>()?);
                }
                let mut volumes = Vec::new();
                while let Some(v) = value(&mut args, "-v") {
                    volumes.push(v);
                }
                let Some(dash) = args.iter().position(|a| a == "--") else {
                    return Ok(usage());
                };
                if dash != 1 || dash + 1 >= args.len() {
                    eprintln!("containers: run needs ROOTFS, -- and a command");
                    return Ok(usage());
                }
                let mut b = Container::builder(args[0].as_str()).cmd(args[dash + 1..].to_vec());
                for (k, v) in env {
                    b = b.env(k, v);
                }
                if let Some(h) = hostname {
                    b = b.hostname(h);
                }
                if !ports.is_empty() {
                    b = b.network(Network::Private);
                }
                for p in ports {
                    b = b.publish_port(p);
                }
                if !volumes.is_empty() {
                    let vols = Volumes::open(&root)?;
                    for v in volumes {
                        let (spec, ro) = match v.strip_suffix(":ro") {
                            Some(s) => (s, true),
                            None => (v.strip_suffix(":rw").unwrap_or(&v), false),
                        };
                        b = match spec.split_once(':') {
                            Some((src, dst)) if src.starts_with('/') => b.mount_bind(src, dst, ro),
                            Some((name, dst)) => b.volume(&vols, name, dst, ro),
                            None => b.anonymous_volume(&vols, spec),
                        };
                    }
                }
                let c = b.build()?;
                let opts = CreateOptions {
                    name,
                    auto_remove,
                    init,
                    interactive,
                    tty,
                    ..CreateOptions::default()
                };
                if !detached {
                    let attach = AttachOptions {
                        stdin: interactive,
                        ..AttachOptions::default()
                    };
                    let a = store.run_attached(&c, &opts, &attach).await?;
                    finish(session(&store, a).await?);
                }
                let id = store.run(&c, &opts).await?;
                println!("{id}");
                Ok(ExitCode::SUCCESS)
            }
            "ps" => {
                let all = flag(&mut args, "-a");
                println!(
                    "{:<14}{:<22}{:<12}{:<14}{:<24}COMMAND",
                    "CONTAINER ID", "NAME", "STATUS", "STARTED", "PORTS"
                );
                for c in store.list(all)? {
                    let status = match c.exit_code {
                        Some(code) if !c.is_running() => format!("exited({code})"),
                        _ => c.status.to_string(),
                    };
                    let cmd = c
                        .spec
                        .process()
                        .as_ref()
                        .and_then(|p| p.args().clone())
                        .unwrap_or_default()
                        .join(" ");
                    let ports = c
                        .ports
                        .iter()
                        .map(|p| format!("{}->{}/{}", p.host, p.container_port, p.protocol))
                        .collect::<Vec<_>>()
                        .join(",");
                    println!(
                        "{:<14}{:<22}{:<12}{:<14}{:<24}{cmd}",
                        &c.id[..12],
                        c.name,
                        status,
                        ago(c.started_at),
                        if ports.is_empty() { "-" } else { &ports }
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            "logs" => {
                let opts = LogOptions {
                    follow: flag(&mut args, "-f"),
                    timestamps: flag(&mut args, "-t"),
                    tail: value(&mut args, "--tail").and_then(|n| n.parse().ok()),
                    ..LogOptions::default()
                };
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                let mut logs = store.logs_with(c, &opts)?;
                if opts.timestamps {
                    let _ = tokio::io::copy(&mut logs, &mut tokio::io::stdout()).await;
                    return Ok(ExitCode::SUCCESS);
                }
                let (mut out, mut err) = (tokio::io::stdout(), tokio::io::stderr());
                while let Some(chunk) = logs.next_chunk().await? {
                    let _ = match chunk.stream {
                        Stream::Stdout => out.write_all(&chunk.data).await,
                        Stream::Stderr => err.write_all(&chunk.data).await,
                    };
                }
                let _ = (out.flush().await, err.flush().await);
                Ok(ExitCode::SUCCESS)
            }
            "attach" => {
                let no_stdin = flag(&mut args, "--no-stdin");
                let keys = value(&mut args, "--detach-keys");
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                let opts = AttachOptions {
                    stdin: !no_stdin,
                    detach_keys: match keys {
                        Some(k) => Some(DetachKeys::parse(&k)?),
                        None => AttachOptions::default().detach_keys,
                    },
                    ..AttachOptions::default()
                };
                let a = store.attach(c, &opts).await?;
                finish(session(&store, a).await?)
            }
            "start" => {
                let attach = flag(&mut args, "-a");
                let interactive = flag(&mut args, "-i");
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                if attach || interactive {
                    let opts = AttachOptions {
                        stdin: interactive,
                        ..AttachOptions::default()
                    };
                    let a = store.start_attached(c, &opts).await?;
                    finish(session(&store, a).await?);
                }
                store.start(c).await?;
                println!("{c}");
                Ok(ExitCode::SUCCESS)
            }
            "stop" => {
                let t = seconds(value(&mut args, "-t"));
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                store.stop(c, t).await?;
                println!("{c}");
                Ok(ExitCode::SUCCESS)
            }
            "restart" => {
                let t = seconds(value(&mut args, "-t"));
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                store.restart(c, t).await?;
                println!("{c}");
                Ok(ExitCode::SUCCESS)
            }
            "kill" => {
                let sig = value(&mut args, "-s").map_or(Some(9), |s| signal_number(&s));
                let (Some(sig), Some(c)) = (sig, args.first()) else {
                    return Ok(usage());
                };
                store.kill(c, sig)?;
                println!("{c}");
                Ok(ExitCode::SUCCESS)
            }
            "rm" => {
                let force = flag(&mut args, "-f");
                let volumes = flag(&mut args, "-v");
                if args.is_empty() {
                    return Ok(usage());
                }
                for c in &args {
                    store
                        .remove_with(c, RemoveOptions { force, volumes })
                        .await?;
                    println!("{c}");
                }
                Ok(ExitCode::SUCCESS)
            }
            "wait" => {
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                let code = store.wait(c).await?;
                println!("{code}");
                Ok(ExitCode::SUCCESS)
            }
            "inspect" => {
                let Some(c) = args.first() else {
                    return Ok(usage());
                };
                let info = store.inspect(c)?;
                match serde_json::to_string_pretty(&info) {
                    Ok(j) => println!("{j}"),
                    Err(e) => eprintln!("containers: {e}"),
                }
                Ok(ExitCode::SUCCESS)
            }
            "exec" => {
                let Some(dash) = args.iter().position(|a| a == "--") else {
                    return Ok(usage());
                };
                if dash != 1 || dash + 1 >= args.len() {
                    return Ok(usage());
                }
                let mut child = store
                    .exec(&args[0], args[dash + 1..].to_vec(), &ExecOptions::default())
                    .await?;
                let (out, err) = (child.stdout.take(), child.stderr.take());
                tokio::join!(
                    pump(out, tokio::io::stdout()),
                    pump(err, tokio::io::stderr())
                );
                Ok(code(child.wait().await?.code()))
            }
            "cp" => {
                // `docker cp`: one side is CONTAINER:PATH (a name or ID has no '/').
                let [src, dst] = &args[..] else {
                    return Ok(usage());
                };
                let side = |a: &str| {
                    a.split_once(':')
                        .filter(|(c, _)| !c.is_empty() && !c.contains('/'))
                        .map(|(c, p)| (c.to_owned(), p.to_owned()))
                };
                match (side(src), side(dst)) {
                    (Some((c, path)), None) => store
                        .files(&c)?
                        .copy_out(&path, std::path::Path::new(dst))?,
                    (None, Some((c, path))) => {
                        store.files(&c)?.copy_in(std::path::Path::new(src), &path)?
                    }
                    _ => return Ok(usage()),
                }
                Ok(ExitCode::SUCCESS)
            }
            _ => Ok(usage()),
        }
    }
    .await;
    result.unwrap_or_else(|e| fail(&e))
}
