//! Running a private network: published ports through a userspace proxy, outbound access through
//! `slirp4netns`.
//!
//! # Published ports
//!
//! Each [`PortMapping`] is bound on the host **before** the container starts (so a port in use
//! fails the start with [`Error::PortAllocated`] and nothing runs). Once the container exists, a
//! small dedicated thread joins its network namespace (`setns(CLONE_NEWNET)` is per thread) and
//! becomes a *socket factory*: it creates sockets there on request and hands them back. A socket
//! keeps the namespace it was created in, so the proxy tasks — tokio tasks of the calling
//! program — then use it like any other: TCP connections are accepted on the host, a socket from
//! the factory connects to `127.0.0.1:CONTAINER_PORT` inside the container, and the bytes are
//! copied both ways; UDP datagrams get one session (one socket inside) per client address, kept
//! while replies flow and dropped after 90 s without one, as Docker's proxy does. No iptables,
//! no bridge, no veth: the container only ever has `lo` (and `tap0` with slirp4netns).
//!
//! A connection accepted before anything listens in the container is closed at once (the
//! inside connect is refused), as with Docker's userland proxy.
//!
//! Published ports need a network namespace of the container's own ([`Network::Private`]).
//! The proxy is for rootful callers only: joining the namespace of a rootless container needs
//! `CAP_SYS_ADMIN` in its user namespace, which a thread of a multi-threaded program cannot
//! get. A rootless container's ports are forwarded by slirp4netns instead (below).
//!
//! # Outbound access
//!
//! With [`Network::Private`], when `slirp4netns` is installed (searched in `$PATH`), it is
//! started as `slirp4netns --configure --mtu=65520 --disable-host-loopback PID tap0` before the
//! container's command runs (the init waits on a pipe until slirp4netns reports ready): the
//! container gets `tap0` with 10.0.2.100/24, a default route through 10.0.2.2 and a DNS
//! forwarder at 10.0.2.3; the host's loopback is not reachable from inside. Without
//! slirp4netns the container has loopback only. slirp4netns is stopped with the container.
//!
//! # Rootless published ports
//!
//! In a user namespace, an attached container's ports are published by slirp4netns (started
//! even without outbound access): it gets `--api-socket` in a private temporary directory, and
//! once it is ready each port — bound first like the proxy's, then released — is asked for with
//! `add_hostfwd`, the same exchange as for detached containers (below). slirp4netns forwards
//! to the container's `tap0` address, 10.0.2.100, **not to its loopback**: the server must
//! listen on all of the container's addresses (`0.0.0.0`). slirp4netns, and so the ports, stop
//! when the [`Child`](crate::Child) is reaped or dropped. Only IPv4 host addresses can be
//! published this way; without slirp4netns, a rootless container's published ports are
//! refused.
//!
//! # Detached containers
//!
//! A detached container outlives its caller, so its ports cannot be served by the caller's
//! tasks. Its private network is slirp4netns' (outbound access, and published ports through
//! slirp4netns' own port forwarding: `--api-socket` and `add_hostfwd`, which forwards a host
//! port to the container's `tap0` address, 10.0.2.100 — so the server must listen on all of
//! the container's addresses, not on its loopback only, as with Docker's bridge). slirp4netns
//! is started outside the caller's process tree (re-parented to init, like the monitor), with
//! its `--exit-fd` the read end of a pipe whose only write end the container's monitor holds:
//! when the container ends and its monitor exits — or the monitor is killed — slirp4netns
//! exits too, releasing the ports. Without slirp4netns, publishing ports of a detached
//! container is refused.
//!
//! [`Network::Private`]: crate::Network::Private

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::Error;
use crate::protocol::Protocol;
use crate::sandbox::etc_files::TempEtc;
use crate::sandbox::network::{PortMapping, PublishedPort};
use crate::sandbox::prepare::pipe;

/// How long a UDP session lives without a reply (Docker's `UDPConnTrackTimeout`).
const UDP_IDLE: Duration = Duration::from_secs(90);
/// How long slirp4netns may take to configure the namespace.
const SLIRP_READY: Duration = Duration::from_secs(10);
/// The name of slirp4netns' API socket, in its working directory.
const API_SOCKET: &str = "slirp4netns.sock";

/// `slirp4netns` in `$PATH`, if installed.
pub(crate) fn find_slirp4netns() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join("slirp4netns"))
        .find(|p| {
            rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok()
                && std::fs::metadata(p).is_ok_and(|m| m.is_file())
        })
}

/// A host socket bound for one mapping, before the container starts.
#[derive(Debug)]
pub(crate) enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// Binds every mapping on the host; the first one in use fails with
/// [`Error::PortAllocated`].
pub(crate) fn bind(ports: &[PortMapping]) -> Result<Vec<(PortMapping, Bound)>, Error> {
    let mut out = Vec::with_capacity(ports.len());
    for m in ports {
        let addr = m.host_addr();
        let err = |source: io::Error| {
            if source.kind() == io::ErrorKind::AddrInUse {
                Error::PortAllocated {
                    addr,
                    protocol: m.protocol,
                    source,
                }
            } else {
                Error::io("binding published port", addr.to_string(), source)
            }
        };
        let b = match m.protocol {
            Protocol::Tcp => Bound::Tcp(std::net::TcpListener::bind(addr).map_err(err)?),
            Protocol::Udp => Bound::Udp(std::net::UdpSocket::bind(addr).map_err(err)?),
        };
        out.push((*m, b));
    }
    Ok(out)
}

/// What keeps a container's network running: the proxy tasks and slirp4netns. Dropping it
/// stops them.
#[derive(Debug, Default)]
pub(crate) struct NetHandle {
    pub(crate) ports: Vec<PublishedPort>,
    tasks: Vec<JoinHandle<()>>,
    slirp: Option<Slirp>,
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A running slirp4netns: killed and reaped when dropped (closing its exit pipe also ends it).
#[derive(Debug)]
struct Slirp {
    process: std::process::Child,
    _exit_w: OwnedFd,
    /// The directory of its API socket, removed once it has been reaped.
    _api_dir: Option<TempEtc>,
}

impl Drop for Slirp {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Sets up the container's network once its init exists (and, in a user namespace, after its
/// id maps): starts slirp4netns and waits until it is ready, then starts the port proxies.
pub(crate) async fn start(
    ports: &[PortMapping],
    slirp: Option<&PathBuf>,
    bound: Vec<(PortMapping, Bound)>,
    pid: i32,
    user_ns: bool,
) -> Result<Option<NetHandle>, Error> {
    // In a user namespace, the proxy cannot join the container's network namespace:
    // slirp4netns forwards the ports instead (see the module documentation), and `bound` is
    // empty (the init must not hold a copy of sockets slirp4netns is to bind).
    let forward = user_ns && !ports.is_empty();
    if bound.is_empty() && slirp.is_none() && !forward {
        return Ok(None);
    }
    let mut handle = NetHandle::default();
    if forward {
        if slirp.is_none() {
            return Err(Error::Unsupported {
                what: "published ports in a rootless container without slirp4netns, which \
                       forwards them there (install slirp4netns)"
                    .into(),
            });
        }
        handle.ports = reserved(bind(ports)?)?;
    }
    if let Some(path) = slirp {
        let api_dir = forward
            .then(|| TempEtc::empty("slirp", &pid.to_string()))
            .transpose()?;
        let slirp = start_slirp(path, pid, user_ns, api_dir).await?;
        if let Some(dir) = &slirp._api_dir {
            add_hostfwds(dir.path(), &handle.ports).await?;
        }
        handle.slirp = Some(slirp);
    }
    if bound.is_empty() {
        return Ok(Some(handle));
    }
    let ns_path = format!("/proc/{pid}/ns/net");
    let netns = rustix::fs::open(&ns_path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("opening the network namespace", &ns_path, e.into()))?;
    let factory = Factory::spawn(netns)?;
    for (m, b) in bound {
        let reg = |e| Error::sys("registering a published port with tokio", e);
        let task = match b {
            Bound::Tcp(l) => {
                l.set_nonblocking(true).map_err(reg)?;
                let l = TcpListener::from_std(l).map_err(reg)?;
                let host = l.local_addr().map_err(reg)?;
                handle.ports.push(PublishedPort {
                    host,
                    container_port: m.container_port,
                    protocol: Protocol::Tcp,
                });
                tokio::spawn(tcp_proxy(l, m.container_port, factory.clone()))
            }
            Bound::Udp(s) => {
                s.set_nonblocking(true).map_err(reg)?;
                let s = UdpSocket::from_std(s).map_err(reg)?;
                let host = s.local_addr().map_err(reg)?;
                handle.ports.push(PublishedPort {
                    host,
                    container_port: m.container_port,
                    protocol: Protocol::Udp,
                });
                tokio::spawn(udp_proxy(Arc::new(s), m.container_port, factory.clone()))
            }
        };
        tracing::debug!(mapping = %m, "published");
        handle.tasks.push(task);
    }
    Ok(Some(handle))
}

/// Starts slirp4netns for an attached container, with its API socket in `api_dir` when given
/// (`api_dir/slirp4netns.sock`), and waits until it is ready.
async fn start_slirp(
    path: &PathBuf,
    pid: i32,
    user_ns: bool,
    api_dir: Option<TempEtc>,
) -> Result<Slirp, Error> {
    use tokio::io::AsyncReadExt;
    let fail = |reason: String| Error::Slirp4netns { reason };
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::sys("pipe2", e))
    };
    let (ready_r, ready_w) = pipe()?;
    let (exit_r, exit_w) = pipe()?;
    let mut cmd = std::process::Command::new(path);
    cmd.args([
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--ready-fd=3",
        "--exit-fd=4",
    ]);
    if user_ns {
        cmd.arg(format!("--userns-path=/proc/{pid}/ns/user"));
    }
    if let Some(dir) = &api_dir {
        cmd.arg(format!("--api-socket={API_SOCKET}"))
            .current_dir(dir.path());
    }
    cmd.arg(pid.to_string())
        .arg("tap0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let passed = crate::sys::pass_fds(&mut cmd, &[(&ready_w, 3), (&exit_r, 4)])
        .map_err(|e| Error::sys("fcntl", e))?;
    let mut process = cmd
        .spawn()
        .map_err(|e| Error::io("starting", path.clone(), e))?;
    drop(passed);
    drop(ready_w);
    drop(exit_r);
    let stderr = process.stderr.take();
    let slirp = Slirp {
        process,
        _exit_w: exit_w,
        _api_dir: api_dir,
    };
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(ready_r)
        .map_err(|e| Error::sys("registering the slirp4netns ready pipe", e))?;
    let mut b = [0u8; 1];
    let ready = tokio::time::timeout(SLIRP_READY, rx.read(&mut b)).await;
    match ready {
        Ok(Ok(1)) => {
            drop(stderr);
            Ok(slirp)
        }
        Ok(_) => {
            drop(slirp);
            let mut msg = String::new();
            if let Some(mut e) = stderr {
                use std::io::Read;
                let _ = (&mut e).take(4096).read_to_string(&mut msg);
            }
            Err(fail(format!(
                "it exited before the network was ready: {}",
                msg.trim()
            )))
        }
        Err(_) => Err(fail(format!("not ready after {} s", SLIRP_READY.as_secs()))),
    }
}

/// The pipe that ties a detached container's slirp4netns to its monitor: `(read end for
/// slirp4netns' `--exit-fd`, write end for the monitor)`.
pub(crate) fn exit_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    pipe()
}

/// Starts slirp4netns for a detached container (see the module documentation, *Detached
/// containers*) once the container's init exists and, in a user namespace, has its id maps;
/// waits until it is ready and publishes `ports` through its API socket in `dir`. The host
/// ports are chosen (port 0) and checked free by binding them first.
pub(crate) async fn start_detached(
    path: &std::path::Path,
    pid: i32,
    user_ns: bool,
    dir: &std::path::Path,
    exit_r: OwnedFd,
    ports: &[PortMapping],
) -> Result<Vec<PublishedPort>, Error> {
    use std::os::fd::AsRawFd;
    use tokio::io::AsyncReadExt;
    let fail = |reason: String| Error::Slirp4netns { reason };

    let published = reserved(bind(ports)?)?;

    let sock = dir.join(API_SOCKET);
    let _ = std::fs::remove_file(&sock);
    let log_path = dir.join("slirp4netns.log");
    let log = rustix::fs::open(
        &log_path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o640),
    )
    .map_err(|e| Error::io("opening", &log_path, e.into()))?;
    let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("opening", "/dev/null", e.into()))?;
    let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::sys("pipe2", e))?;
    // Sources above every target, so installing one never clobbers another.
    let high =
        |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 10).map_err(|e| Error::sys("fcntl", e));
    let sources = [
        (high(&null)?, 0),
        (high(&null)?, 1),
        (high(&log)?, 2),
        (high(&ready_w)?, 3),
        (high(&exit_r)?, 4),
    ];
    let mut args = vec![
        "slirp4netns".to_owned(),
        "--configure".into(),
        "--mtu=65520".into(),
        "--disable-host-loopback".into(),
        "--ready-fd=3".into(),
        "--exit-fd=4".into(),
        format!("--api-socket={API_SOCKET}"),
    ];
    if user_ns {
        args.push(format!("--userns-path=/proc/{pid}/ns/user"));
    }
    args.push(pid.to_string());
    args.push("tap0".into());
    let plan = crate::init::OrphanPlan {
        path: crate::plan::cpath(path)?,
        argv: args
            .iter()
            .map(|a| crate::plan::cstring(a))
            .collect::<Result<_, _>>()?,
        envp: std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_encoded_bytes();
                kv.push(b'=');
                kv.extend(v.into_encoded_bytes());
                std::ffi::CString::new(kv).ok()
            })
            .collect(),
        cwd: crate::plan::cpath(dir)?,
        fds: sources.iter().map(|(s, t)| (s.as_raw_fd(), *t)).collect(),
    };
    let first = crate::init::spawn_orphan(&plan).map_err(|e| Error::sys("clone3", e))?;
    drop((sources, ready_w, exit_r, null, log));
    loop {
        match rustix::process::waitid(
            rustix::process::WaitId::PidFd(first.pidfd.as_fd()),
            rustix::process::WaitIdOptions::EXITED,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => {
                other.map_err(|e| Error::sys("waitid", e))?;
                break;
            }
        }
    }

    let log_text = || {
        std::fs::read_to_string(&log_path)
            .map(|t| t.trim().chars().take(2000).collect::<String>())
            .unwrap_or_default()
    };
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(ready_r)
        .map_err(|e| Error::sys("registering the slirp4netns ready pipe", e))?;
    let mut b = [0u8; 1];
    match tokio::time::timeout(SLIRP_READY, rx.read(&mut b)).await {
        Ok(Ok(1)) => {}
        Ok(_) => {
            return Err(fail(format!(
                "it exited before the network was ready: {}",
                log_text()
            )))
        }
        Err(_) => return Err(fail(format!("not ready after {} s", SLIRP_READY.as_secs()))),
    }
    add_hostfwds(dir, &published).await?;
    Ok(published)
}

/// The host ports of `bound` (the chosen one where 0 was asked for), released so that
/// slirp4netns can bind them. slirp4netns forwards IPv4 host addresses only.
fn reserved(bound: Vec<(PortMapping, Bound)>) -> Result<Vec<PublishedPort>, Error> {
    let mut published = Vec::with_capacity(bound.len());
    for (m, b) in bound {
        if !m.host_ip.is_ipv4() {
            return Err(Error::Unsupported {
                what: format!("publishing {m} on an IPv6 address through slirp4netns"),
            });
        }
        let host = match &b {
            Bound::Tcp(l) => l.local_addr(),
            Bound::Udp(s) => s.local_addr(),
        }
        .map_err(|e| Error::io("binding published port", m.host_addr().to_string(), e))?;
        published.push(PublishedPort {
            host,
            container_port: m.container_port,
            protocol: m.protocol,
        });
    }
    Ok(published)
}

/// Asks the ready slirp4netns whose API socket is `dir/slirp4netns.sock` to forward each of
/// `published` (`add_hostfwd`) to the container's `tap0` address.
async fn add_hostfwds(dir: &std::path::Path, published: &[PublishedPort]) -> Result<(), Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fail = |reason: String| Error::Slirp4netns { reason };
    let sock = dir.join(API_SOCKET);
    // The socket's path may be longer than a sockaddr_un holds.
    let (short, _dir) = crate::plan::socket_path(dir, API_SOCKET)?;
    for p in published {
        let request = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": p.protocol.to_string(),
                "host_addr": p.host.ip().to_string(),
                "host_port": p.host.port(),
                "guest_port": p.container_port,
            }
        });
        let exchange = async {
            let mut conn = tokio::net::UnixStream::connect(&short).await?;
            conn.write_all(request.to_string().as_bytes()).await?;
            conn.shutdown().await?;
            let mut reply = Vec::new();
            conn.read_to_end(&mut reply).await?;
            Ok::<_, io::Error>(reply)
        };
        let reply = tokio::time::timeout(SLIRP_READY, exchange)
            .await
            .map_err(|_| fail(format!("no answer to publishing {}", p.host)))?
            .map_err(|e| Error::io("talking to slirp4netns at", &sock, e))?;
        let reply: serde_json::Value = serde_json::from_slice(&reply).map_err(|e| {
            fail(format!(
                "an unreadable answer to publishing {}: {e}",
                p.host
            ))
        })?;
        if let Some(err) = reply.get("error") {
            let desc = err.get("desc").and_then(|d| d.as_str()).unwrap_or("");
            return Err(fail(format!(
                "publishing {}/{} on port {}: {desc}",
                p.host, p.protocol, p.container_port
            )));
        }
        tracing::debug!(host = %p.host, container_port = p.container_port, "published by slirp4netns");
    }
    Ok(())
}

/// A request to the socket factory.
enum Request {
    Tcp(oneshot::Sender<io::Result<TcpSocket>>),
    Udp(u16, oneshot::Sender<io::Result<std::net::UdpSocket>>),
}

/// A thread inside the container's network namespace that makes sockets there.
#[derive(Clone)]
struct Factory {
    tx: std::sync::mpsc::Sender<Request>,
}

impl Factory {
    /// Starts the thread; it ends when the last `Factory` clone is dropped.
    fn spawn(netns: OwnedFd) -> Result<Factory, Error> {
        let (tx, rx) = std::sync::mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
        std::thread::Builder::new()
            .name("boxwright-netns".into())
            .spawn(move || {
                let joined = rustix::thread::move_into_link_name_space(
                    netns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(io::Error::from);
                drop(netns);
                let ok = joined.is_ok();
                let _ = ready_tx.send(joined);
                if !ok {
                    return;
                }
                while let Ok(req) = rx.recv() {
                    match req {
                        Request::Tcp(reply) => {
                            let _ = reply.send(TcpSocket::new_v4());
                        }
                        Request::Udp(port, reply) => {
                            let s = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                                .and_then(|s| s.connect((Ipv4Addr::LOCALHOST, port)).map(|()| s));
                            let _ = reply.send(s);
                        }
                    }
                }
            })
            .map_err(|e| Error::sys("spawning the network namespace thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Factory { tx }),
            Ok(Err(e)) => Err(Error::sys(
                "setns into the container's network namespace",
                e,
            )),
            Err(_) => Err(Error::sys(
                "setns into the container's network namespace",
                io::Error::other("the namespace thread died"),
            )),
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<io::Result<T>>) -> Request,
    ) -> io::Result<T> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| io::Error::other("the network namespace thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the network namespace thread is gone"))?
    }
}

async fn tcp_proxy(listener: TcpListener, port: u16, factory: Factory) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (mut client, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept on a published port");
                        // EMFILE and friends: let other tasks run before trying again.
                        tokio::task::yield_now().await;
                        continue;
                    }
                };
                let factory = factory.clone();
                conns.spawn(async move {
                    let sock = match factory.ask(Request::Tcp).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(error = %e, "socket in the container");
                            return;
                        }
                    };
                    let inside = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                    match sock.connect(inside).await {
                        Ok(mut up) => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                        }
                        Err(e) => tracing::debug!(%peer, port, error = %e, "connect inside the container"),
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn udp_proxy(host: Arc<UdpSocket>, port: u16, factory: Factory) {
    let mut sessions: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut replies = JoinSet::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<SocketAddr>();
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            got = host.recv_from(&mut buf) => {
                let (n, peer) = match got {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "recv on a published UDP port");
                        tokio::task::yield_now().await;
                        continue;
                    }
                };
                let up = match sessions.get(&peer) {
                    Some(s) => s.clone(),
                    None => {
                        let made = factory
                            .ask(|tx| Request::Udp(port, tx))
                            .await
                            .and_then(|s| {
                                s.set_nonblocking(true)?;
                                UdpSocket::from_std(s)
                            });
                        let up = match made {
                            Ok(s) => Arc::new(s),
                            Err(e) => {
                                tracing::debug!(error = %e, "UDP socket in the container");
                                continue;
                            }
                        };
                        sessions.insert(peer, up.clone());
                        replies.spawn(udp_replies(up.clone(), host.clone(), peer, done_tx.clone()));
                        up
                    }
                };
                if let Err(e) = up.send(&buf[..n]).await {
                    tracing::debug!(error = %e, port, "UDP send inside the container");
                }
            }
            Some(peer) = done_rx.recv() => {
                sessions.remove(&peer);
            }
            Some(_) = replies.join_next(), if !replies.is_empty() => {}
        }
    }
}

/// Copies a UDP session's replies back to its client until it has been idle for `UDP_IDLE`.
async fn udp_replies(
    up: Arc<UdpSocket>,
    host: Arc<UdpSocket>,
    peer: SocketAddr,
    done: tokio::sync::mpsc::UnboundedSender<SocketAddr>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(UDP_IDLE, up.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                let _ = host.send_to(&buf[..n], peer).await;
            }
            // Nothing listens inside (ICMP port unreachable): keep the session for a retry.
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let _ = done.send(peer);
}
