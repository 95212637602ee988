//! Runs a command in a container over a root file system directory, attached, the way
//! `crun run` is used on a bundle — with the runtime alone, through the builder API.
//!
//! ```text
//! cargo run -p boxwright-runtime --example sandbox -- \
//!     [-e K=V] [-p [IP:][HOST:]CONTAINER[/udp]] [-v SRC:DST[:ro]] [-v NAME:DST[:ro]] [-v DST] \
//!     [--volumes-root DIR] [--net none|host|private] \
//!     [--memory BYTES] [--pids-limit N] [--read-only] [-u USER] [-h HOSTNAME]
//!     [--security-opt seccomp=unconfined] ROOTFS -- CMD...
//! ```
//!
//! `-p` publishes a port through the runtime's userspace proxy (and implies `--net private`
//! unless `--net` is given); the host ports bound are printed on stderr. `-v` takes a host path
//! (starting with `/` or `.`: a bind mount), a volume name (a named volume under
//! `--volumes-root`, default `/var/lib/boxwright` as root, else `~/.local/share/boxwright`), or
//! a lone container path (an anonymous volume, removed at exit as with `docker run --rm`).
//!
//! Streams the command's stdout and stderr and exits with its exit code (128 + signal when it
//! was killed, as Docker). Errors of the runtime exit with 125, like `docker run`; a missing
//! executable with 127.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use boxwright_runtime::{Container, Error, Network, PortMapping, Volumes};
use tokio::io::AsyncWriteExt;

fn usage() -> ExitCode {
    eprintln!(
        "usage: sandbox [-e K=V] [-p [IP:][HOST:]CONTAINER[/udp]] [-v SRC:DST[:ro]] [-v NAME:DST[:ro]] \
         [-v DST] [--volumes-root DIR] [--net none|host|private] [--memory BYTES] [--pids-limit N] \
         [--read-only] [-u USER] [-h HOSTNAME] ROOTFS -- CMD..."
    );
    ExitCode::from(2)
}

fn parse_bytes(s: &str) -> Option<i64> {
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<i64>().ok().map(|n| n * mult)
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
    let mut args = std::env::args().skip(1);
    let mut rootfs = None;
    let mut env = Vec::new();
    let mut binds = Vec::new();
    let mut named = Vec::new();
    let mut anonymous = Vec::new();
    let mut ports = Vec::new();
    let mut volumes_root = None;
    let mut net = None;
    let mut memory = None;
    let mut pids = None;
    let mut read_only = false;
    let mut unconfined = false;
    let mut user = None;
    let mut hostname = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--" => break,
            "-e" => match args.next().and_then(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            }) {
                Some(kv) => env.push(kv),
                None => return usage(),
            },
            "-p" | "--publish" => match args.next().map(|p| p.parse::<PortMapping>()) {
                Some(Ok(p)) => ports.push(p),
                Some(Err(e)) => {
                    eprintln!("sandbox: {e}");
                    return ExitCode::from(2);
                }
                None => return usage(),
            },
            "-v" | "--volume" => {
                let Some(v) = args.next() else { return usage() };
                let parts: Vec<&str> = v.split(':').collect();
                let (src, dst, ro) = match parts.as_slice() {
                    [dst] => {
                        anonymous.push(dst.to_string());
                        continue;
                    }
                    [src, dst] | [src, dst, "rw"] => (src.to_string(), dst.to_string(), false),
                    [src, dst, "ro"] => (src.to_string(), dst.to_string(), true),
                    _ => return usage(),
                };
                if src.starts_with('/') || src.starts_with('.') {
                    binds.push((src, dst, ro));
                } else {
                    named.push((src, dst, ro));
                }
            }
            "--volumes-root" => match args.next() {
                Some(d) => volumes_root = Some(d),
                None => return usage(),
            },
            "--net" | "--network" => {
                net = match args.next().as_deref() {
                    Some("none") => Some(Network::None),
                    Some("host") => Some(Network::Host),
                    Some("private") => Some(Network::Private),
                    _ => return usage(),
                }
            }
            "--memory" | "-m" => match args.next().as_deref().and_then(parse_bytes) {
                Some(m) => memory = Some(m),
                None => return usage(),
            },
            "--pids-limit" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => pids = Some(n),
                None => return usage(),
            },
            "--read-only" => read_only = true,
            "--security-opt" => match args.next().as_deref() {
                Some("seccomp=unconfined") => unconfined = true,
                _ => return usage(),
            },
            "-u" | "--user" => user = args.next(),
            "-h" | "--hostname" => hostname = args.next(),
            _ if rootfs.is_none() && !a.starts_with('-') => rootfs = Some(a),
            _ => return usage(),
        }
    }
    let cmd: Vec<String> = args.collect();
    let Some(rootfs) = rootfs else { return usage() };
    if cmd.is_empty() {
        return usage();
    }

    let net = net.unwrap_or(if ports.is_empty() {
        Network::None
    } else {
        Network::Private
    });
    let mut b = Container::builder(rootfs.as_str())
        .cmd(cmd)
        .network(net)
        .read_only(read_only);
    for p in ports {
        b = b.publish_port(p);
    }
    if !named.is_empty() || !anonymous.is_empty() {
        let dir = volumes_root.unwrap_or_else(|| {
            if rustix::process::geteuid().is_root() {
                "/var/lib/boxwright".into()
            } else {
                let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
                format!("{home}/.local/share/boxwright")
            }
        });
        let vols = match Volumes::open(&dir) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("sandbox: {}", chain(&e));
                return ExitCode::from(125);
            }
        };
        for (name, dst, ro) in named {
            b = b.volume(&vols, name, dst, ro);
        }
        for dst in anonymous {
            b = b.anonymous_volume(&vols, dst);
        }
    }
    for (k, v) in env {
        b = b.env(k, v);
    }
    for (src, dst, ro) in binds {
        b = b.mount_bind(src, dst, ro);
    }
    if let Some(m) = memory {
        b = b.memory(m);
    }
    if let Some(n) = pids {
        b = b.pids_limit(n);
    }
    if let Some(u) = user {
        b = b.user(u);
    }
    if unconfined {
        b = b.seccomp(None);
    }
    if let Some(h) = hostname {
        b = b.hostname(h);
    }

    let container = match b.build() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let run = async {
        let mut child = container.spawn().await?;
        for p in child.published_ports() {
            eprintln!(
                "sandbox: published {} -> {}/{}",
                p.host, p.container_port, p.protocol
            );
        }
        let out = pump(child.stdout.take(), tokio::io::stdout());
        let err = pump(child.stderr.take(), tokio::io::stderr());
        let (_, _, status) = tokio::join!(out, err, child.wait());
        status
    };
    let result = run.await;
    // As with `docker run --rm`: the container's anonymous volumes go with it.
    if let Err(e) = container.release_volumes(true) {
        eprintln!("sandbox: {}", chain(&e));
    }
    match result {
        Ok(status) => ExitCode::from(status.code().clamp(0, 255) as u8),
        Err(e) => fail(&e),
    }
}

fn chain(e: &Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("sandbox: {}", chain(e));
    ExitCode::from(match e {
        Error::ExecutableNotFound { .. } => 127,
        Error::Exec { .. } => 126,
        _ => 125,
    })
}
