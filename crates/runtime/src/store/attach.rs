//! `docker attach`, `docker start -a -i` and `docker run -i[t]` without `-d`: the client side
//! of the monitor's attach socket (the monitor's side is `monitor::relay`). The semantics and the
//! protocol are documented in the crate docs, *Attaching to a detached container*.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::monitor::proto;
use crate::sandbox::container::Container;
use crate::sandbox::prepare::socketpair;
use crate::store::logs::{feed, Chunk, Event, Feed, Filter, LogView, Logs, Scanner, Stream};
use crate::store::record::{CreateOptions, UNKNOWN_EXIT_CODE};
use crate::store::Containers;

/// How many clients may be attached to one container at once.
pub const MAX_CLIENTS: usize = proto::MAX_CLIENTS;

/// The largest frame payload a client accepts (the monitor sends at most 16 KiB).
const MAX_PAYLOAD: usize = 1 << 20;

/// Options of [`Containers::attach`] (`docker attach` flags, and the Engine API's attach
/// parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachOptions {
    /// Connect [`Attached::stdin`] to the command's stdin (`--no-stdin` is `false`); only a
    /// container created with [`CreateOptions::interactive`] takes input. Default true.
    pub stdin: bool,
    /// Receive its stdout (and a terminal's output). Default true.
    pub stdout: bool,
    /// Receive its stderr. Default true.
    pub stderr: bool,
    /// First the current run's output logged before the attachment (the API's `logs=1`); an
    /// exited container's last run can then be "attached" to as well. Default false.
    pub logs: bool,
    /// The key sequence that detaches from a container with a terminal (`--detach-keys`):
    /// written to [`Attached::stdin`], it is not passed on, and the attachment ends with the
    /// container still running ([`Attached::detached`]; [`Attached::wait`] then fails with
    /// [`Error::Detached`]). Docker's `ctrl-p,ctrl-q` by default; `None` passes every byte.
    pub detach_keys: Option<DetachKeys>,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            logs: false,
            detach_keys: Some(DetachKeys::default()),
        }
    }
}

/// A detach key sequence (Docker's `--detach-keys`), at most 16 keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetachKeys {
    keys: [u8; 16],
    len: u8,
}

impl Default for DetachKeys {
    /// `ctrl-p,ctrl-q`, as Docker.
    fn default() -> Self {
        let mut keys = [0u8; 16];
        keys[0] = 0x10;
        keys[1] = 0x11;
        DetachKeys { keys, len: 2 }
    }
}

impl DetachKeys {
    /// Parses Docker's format: keys separated by commas, each one character (`a`, `Z`, `0`,
    /// ...) or `ctrl-X` with `X` a letter or one of `@ [ \ ] ^ _` (for example
    /// `ctrl-p,ctrl-q`, or `ctrl-a,d`).
    pub fn parse(text: &str) -> Result<DetachKeys, Error> {
        let bad = |reason| Error::InvalidDetachKeys {
            keys: text.to_owned(),
            reason,
        };
        let mut out = DetachKeys {
            keys: [0; 16],
            len: 0,
        };
        for key in text.split(',') {
            let lower = key.to_ascii_lowercase();
            let byte = match (lower.strip_prefix("ctrl-"), key.as_bytes()) {
                (Some(x), _) => match x.as_bytes() {
                    [c @ b'a'..=b'z'] => c - b'a' + 1,
                    [b'@'] => 0,
                    [b'['] => 27,
                    [b'\\'] => 28,
                    [b']'] => 29,
                    [b'^'] => 30,
                    [b'_'] => 31,
                    _ => return Err(bad("ctrl- takes a letter or one of @ [ \\ ] ^ _")),
                },
                (None, [c]) if c.is_ascii() => *c,
                (None, _) => return Err(bad("a key is one character or ctrl-X")),
            };
            if usize::from(out.len) == out.keys.len() {
                return Err(bad("at most 16 keys"));
            }
            out.keys[usize::from(out.len)] = byte;
            out.len += 1;
        }
        Ok(out)
    }

    /// The bytes the sequence is made of.
    pub fn as_bytes(&self) -> &[u8] {
        &self.keys[..usize::from(self.len)]
    }
}

/// Finds the detach keys in the input, across writes, as Docker's escape proxy does: bytes
/// that may begin the sequence are held back until it completes (a detach: they and what
/// follows are dropped) or breaks (they are input after all).
#[derive(Debug)]
struct Escape {
    keys: DetachKeys,
    matched: usize,
}

impl Escape {
    /// Appends to `out` what of `input` is to be passed on; true when the sequence is
    /// complete.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let keys = self.keys.as_bytes();
        for &b in input {
            if b == keys[self.matched] {
                self.matched += 1;
                if self.matched == keys.len() {
                    return true;
                }
                continue;
            }
            if self.matched > 0 {
                out.extend_from_slice(&keys[..self.matched]);
                self.matched = 0;
                if b == keys[0] {
                    self.matched = 1;
                    continue;
                }
            }
            out.push(b);
        }
        false
    }
}

impl AttachOptions {
    fn wants(&self) -> u8 {
        (if self.stdin { proto::WANT_STDIN } else { 0 })
            | (if self.stdout { proto::WANT_STDOUT } else { 0 })
            | (if self.stderr { proto::WANT_STDERR } else { 0 })
    }

    fn filter(&self) -> Filter {
        Filter {
            stdout: self.stdout,
            stderr: self.stderr,
            since: None,
            until: None,
        }
    }
}

/// The command's stdin, through an attachment: what is written here is the command's input
/// (or its terminal's keyboard input). `shutdown` — or dropping it — ends the input: for a
/// stdin-once container the command then reads EOF; otherwise the attachment ends (Docker's
/// behaviour; see [Attaching](crate#attaching-to-a-detached-container)).
#[derive(Debug)]
pub struct AttachStdin {
    inner: DuplexStream,
}

impl AsyncWrite for AttachStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An attachment to a detached container ([`Containers::attach`]): its input
/// ([`Attached::stdin`]), its output as [`Chunk`]s ([`Attached::next_chunk`]) or as one
/// [`AsyncRead`] of stdout and stderr interleaved, its terminal's size and its exit code.
///
/// The output ends when the container exits ([`Attached::wait`] then has the code at once),
/// or when the attachment ends. Dropping it detaches; the container keeps running (a
/// stdin-once container's stdin closes).
#[derive(Debug)]
pub struct Attached {
    id: String,
    store: Containers,
    tty: bool,
    stdin_once: bool,
    /// The command's stdin, when [`AttachOptions::stdin`] was asked and the container takes
    /// input (created with [`CreateOptions::interactive`]).
    pub stdin: Option<AttachStdin>,
    feed: Feed,
    /// Resize requests to the writer task (`None` for a replay of an exited run).
    control: Option<mpsc::Sender<[u8; 4]>>,
    /// Set by the writer task when the detach keys were written.
    escaped: Arc<AtomicBool>,
}

impl Attached {
    /// The container's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the container has a terminal (its output is then all on stdout).
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// Whether the container has Docker's `StdinOnce` (see [`CreateOptions::stdin_once`]).
    pub fn stdin_once(&self) -> bool {
        self.stdin_once
    }

    /// The next piece of output; `None` at the end (the container exited, or the attachment
    /// ended). Fails if the monitor dropped this client for not reading fast enough.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>, Error> {
        std::future::poll_fn(|cx| self.feed.poll_chunk(cx)).await
    }

    /// Sets the terminal's size (`docker attach` does so on `SIGWINCH`): the command's
    /// foreground process group gets `SIGWINCH`. Fails for a container without a terminal.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        if !self.tty {
            return Err(Error::Attach {
                id: self.id.clone(),
                reason: "the container has no terminal to resize",
            });
        }
        let mut size = [0u8; 4];
        size[..2].copy_from_slice(&rows.to_le_bytes());
        size[2..].copy_from_slice(&cols.to_le_bytes());
        let sent = match &self.control {
            Some(c) => c.send(size).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(Error::NotRunning {
                id: self.id.clone(),
            })
        }
    }

    /// The exit code, once the output has ended with the container's exit.
    pub fn exit_code(&self) -> Option<i32> {
        self.feed.exit
    }

    /// Whether this attachment ended by its [detach keys](AttachOptions::detach_keys): the
    /// container keeps running.
    pub fn detached(&self) -> bool {
        self.escaped.load(Ordering::Acquire)
    }

    /// Reads (and discards) the rest of the output, then returns the container's exit code.
    /// If the attachment ended before the container (its stdin closed, or dropped), waits for
    /// the container as [`Containers::wait`] does — but for the detach keys, after which it
    /// fails at once with [`Error::Detached`].
    pub async fn wait(mut self) -> Result<i32, Error> {
        self.stdin = None;
        loop {
            match self.next_chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                // Dropped: the container is still waited for.
                Err(Error::Attach { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        if self.feed.exit.is_none() && self.detached() {
            return Err(Error::Detached { id: self.id });
        }
        match self.feed.exit {
            Some(code) => Ok(code),
            None => self.store.wait(&self.id).await,
        }
    }
}

impl AsyncRead for Attached {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.feed.poll_read(cx, buf)
    }
}

/// What HELLO said.
#[derive(Debug, Clone, Copy)]
struct Hello {
    tty: bool,
    stdin_open: bool,
    stdin_once: bool,
    log_end: u64,
}

/// Why a handshake did not give a HELLO.
enum Handshake {
    /// The connection closed first (the container has just exited).
    Closed,
    Failed(Error),
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(proto::HEADER + payload.len());
    // Payloads are a client's stdin chunks and small control messages, far below 4 GiB.
    f.extend_from_slice(&proto::header(kind, payload.len() as u32));
    f.extend_from_slice(payload);
    f
}

/// Reads one frame header: `None` at a clean end of the stream.
async fn read_header(r: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<(u8, usize)>> {
    let mut hdr = [0u8; proto::HEADER];
    let mut n = 0;
    while n < hdr.len() {
        let k = r.read(&mut hdr[n..]).await?;
        if k == 0 {
            return if n == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        n += k;
    }
    let len = proto::payload_len(&hdr) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "an attach frame larger than any the monitor sends",
        ));
    }
    Ok(Some((hdr[0], len)))
}

async fn read_payload(r: &mut (impl AsyncRead + Unpin), len: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; len];
    r.read_exact(&mut v).await?;
    Ok(v)
}

/// Sends ATTACH (unless the client was attached before the start) and reads HELLO.
async fn handshake(id: &str, s: &mut UnixStream, wants: Option<u8>) -> Result<Hello, Handshake> {
    let io_err = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
        ) {
            Handshake::Closed
        } else {
            Handshake::Failed(Error::sys("the attach socket", e))
        }
    };
    if let Some(w) = wants {
        // A refusal may have closed the connection already: what it said is still to read.
        let _ = s.write_all(&frame(proto::ATTACH, &[w])).await;
    }
    loop {
        let Some((kind, len)) = read_header(s).await.map_err(io_err)? else {
            return Err(Handshake::Closed);
        };
        let payload = read_payload(s, len).await.map_err(io_err)?;
        match kind {
            proto::HELLO if payload.len() >= 16 => {
                let flags = payload[1];
                let mut end = [0u8; 8];
                end.copy_from_slice(&payload[8..16]);
                return Ok(Hello {
                    tty: flags & proto::HELLO_TTY != 0,
                    stdin_open: flags & proto::HELLO_STDIN != 0,
                    stdin_once: flags & proto::HELLO_STDIN_ONCE != 0,
                    log_end: u64::from_le_bytes(end),
                });
            }
            proto::REFUSED => {
                return Err(Handshake::Failed(Error::Attach {
                    id: id.to_owned(),
                    reason: if payload.first() == Some(&proto::REFUSED_TOO_MANY) {
                        "too many clients are attached (16 at most)"
                    } else {
                        "the container's monitor refused the attachment"
                    },
                }))
            }
            proto::HELLO => {
                return Err(Handshake::Failed(Error::Attach {
                    id: id.to_owned(),
                    reason: "the container's monitor speaks another attach protocol",
                }))
            }
            // Anything else before HELLO is skipped.
            _ => {}
        }
    }
}

/// The exit code in an EXIT frame's payload.
fn exit_code(payload: &[u8]) -> i32 {
    let value = match payload.get(4..8) {
        Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => return UNKNOWN_EXIT_CODE,
    };
    match payload.first() {
        Some(b'E') => value,
        Some(b'S') => 128 + value,
        _ => UNKNOWN_EXIT_CODE,
    }
}

/// The reader task: a replay of the log first (when asked), then the monitor's frames.
async fn read_frames(
    mut rd: OwnedReadHalf,
    tx: mpsc::Sender<Event>,
    replay: Option<Scanner>,
    store: Containers,
    id: String,
    escaped: Arc<AtomicBool>,
) {
    // The connection's end after the detach keys is that detach, not a drop.
    let ended = |store: &Containers, id: &str| {
        if escaped.load(Ordering::Acquire) {
            Some(Event::Detached)
        } else {
            store.is_running(id).then_some(Event::Dropped)
        }
    };
    if let Some(scanner) = replay {
        if !scanner.replay(&tx).await {
            return;
        }
    }
    let event = loop {
        let (kind, len) = match read_header(&mut rd).await {
            Ok(Some(h)) => h,
            // The connection ended with no word: the monitor dropped this client without
            // room to say so, or the monitor is gone.
            Ok(None) | Err(_) => break ended(&store, &id),
        };
        let payload = match read_payload(&mut rd, len).await {
            Ok(p) => p,
            Err(_) => break ended(&store, &id),
        };
        let stream = match kind {
            proto::STDOUT => Stream::Stdout,
            proto::STDERR => Stream::Stderr,
            proto::EXIT => break Some(Event::Exit(exit_code(&payload))),
            proto::DETACHED => break Some(Event::Detached),
            proto::DROPPED => break Some(Event::Dropped),
            _ => continue,
        };
        let chunk = Chunk {
            stream,
            data: payload,
            time: None,
        };
        if tx.send(Event::Chunk(chunk)).await.is_err() {
            return;
        }
    };
    if let Some(e) = event {
        let _ = tx.send(e).await;
    }
}

/// The writer task: stdin and resizes as frames. It keeps the socket's write side open as
/// long as the [`Attached`] (and its stdin) live: the monitor takes its end as a detach.
async fn write_frames(
    mut wr: OwnedWriteHalf,
    mut stdin: Option<DuplexStream>,
    mut control: mpsc::Receiver<[u8; 4]>,
    mut escape: Option<Escape>,
    escaped: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 << 10];
    let mut passed = Vec::new();
    let mut control_open = true;
    while stdin.is_some() || control_open {
        let input = async {
            match stdin.as_mut() {
                Some(s) => s.read(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        let out = tokio::select! {
            r = input => match r {
                Ok(n) if n > 0 => match escape.as_mut() {
                    None => wr.write_all(&frame(proto::STDIN, &buf[..n])).await,
                    Some(esc) => {
                        passed.clear();
                        let detach = esc.feed(&buf[..n], &mut passed);
                        let sent = if passed.is_empty() {
                            Ok(())
                        } else {
                            wr.write_all(&frame(proto::STDIN, &passed)).await
                        };
                        if detach {
                            // Ending the connection is the detach; the reader tells it apart
                            // from a drop by this flag.
                            escaped.store(true, Ordering::Release);
                            let _ = wr.shutdown().await;
                            return;
                        }
                        sent
                    }
                },
                _ => {
                    stdin = None;
                    wr.write_all(&frame(proto::CLOSE_STDIN, &[])).await
                }
            },
            m = control.recv(), if control_open => match m {
                Some(size) => wr.write_all(&frame(proto::RESIZE, &size)).await,
                None => {
                    control_open = false;
                    Ok(())
                }
            },
        };
        if out.is_err() {
            return;
        }
    }
}

/// Makes the listening attach socket of a container about to start (non-blocking,
/// close-on-exec, mode 0600), replacing a stale one.
pub(crate) fn listen(dir: &Path) -> Result<OwnedFd, Error> {
    let path = dir.join("attach.sock");
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("removing", &path, e)),
    }
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| Error::sys("socket", e))?;
    let (short, _dir) = crate::plan::socket_path(dir, "attach.sock")?;
    let addr =
        SocketAddrUnix::new(short.as_path()).map_err(|e| Error::io("binding", &path, e.into()))?;
    rustix::net::bind(&fd, &addr).map_err(|e| Error::io("binding", &path, e.into()))?;
    // Whoever may connect may type into the container: its owner only, whatever the umask
    // (before `listen`, no connection is accepted).
    rustix::fs::chmod(&path, rustix::fs::Mode::from_raw_mode(0o600))
        .map_err(|e| Error::io("setting the mode of", &path, e.into()))?;
    rustix::net::listen(&fd, 64).map_err(|e| Error::io("listening on", &path, e.into()))?;
    Ok(fd)
}

/// A connected pair for a client attached before the start: (the caller's, the monitor's —
/// non-blocking, as the monitor needs it).
pub(crate) fn first_client_pair() -> Result<(UnixStream, OwnedFd), Error> {
    let (mine, theirs) = socketpair()?;
    rustix::io::ioctl_fionbio(&theirs, true).map_err(|e| Error::sys("ioctl(FIONBIO)", e))?;
    let std = std::os::unix::net::UnixStream::from(mine);
    std.set_nonblocking(true)
        .map_err(|e| Error::sys("ioctl(FIONBIO)", e))?;
    let stream = UnixStream::from_std(std).map_err(|e| Error::sys("registering a socket", e))?;
    Ok((stream, theirs))
}

impl Containers {
    /// Attaches to a running detached container (`docker attach`): its stdin (for a container
    /// created with [`CreateOptions::interactive`]), its output from now on (with
    /// [`AttachOptions::logs`], from the current run's start), its terminal's size and its
    /// exit code. See [Attaching](crate#attaching-to-a-detached-container) for Docker's
    /// semantics kept here.
    ///
    /// A container that is not running is refused with [`Error::NotRunning`] (Docker's "You
    /// cannot attach to a stopped container"), unless [`AttachOptions::logs`] is set and it
    /// has run: the attachment then gives its last run's output and exit code. Must be called
    /// within a tokio runtime.
    pub async fn attach(&self, query: &str, opts: &AttachOptions) -> Result<Attached, Error> {
        let view = self.log_view_async(query).await?;
        if !view.running {
            return self.replay_exited(view, opts).await;
        }
        let (path, _dir) = crate::plan::socket_path(&view.dir, "attach.sock")?;
        let connected = UnixStream::connect(&path).await;
        let mut stream = match connected {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) =>
            {
                return self.attach_late(view.id, opts).await;
            }
            Err(e) => return Err(Error::io("connecting to", view.dir.join("attach.sock"), e)),
        };
        match handshake(&view.id, &mut stream, Some(opts.wants())).await {
            Ok(hello) => {
                let replay = if opts.logs {
                    Some(Scanner::open(
                        &view.log_path(),
                        view.run_start,
                        Some(hello.log_end),
                        opts.filter(),
                    )?)
                } else {
                    None
                };
                Ok(self.attached(view.id, stream, hello, opts, replay))
            }
            Err(Handshake::Failed(e)) => Err(e),
            Err(Handshake::Closed) => self.attach_late(view.id, opts).await,
        }
    }

    /// The attach socket refused or closed the connection: the container has just exited —
    /// its monitor records the exit before it removes the socket and closes the connections it
    /// did not take — or its monitor does not serve attachments (an earlier version's).
    async fn attach_late(&self, id: String, opts: &AttachOptions) -> Result<Attached, Error> {
        let view = self.log_view_async(&id).await?;
        if !view.running {
            return self.replay_exited(view, opts).await;
        }
        Err(Error::Attach {
            id,
            reason: "the container's monitor does not accept attachments",
        })
    }

    /// Starts a created or exited container attached (`docker start -a [-i]`): the client is
    /// connected before the command runs, so it misses none of its output. A container
    /// already running is attached to as [`Containers::attach`] does. Fails as
    /// [`Containers::start`] does when the command cannot be started.
    pub async fn start_attached(
        &self,
        query: &str,
        opts: &AttachOptions,
    ) -> Result<Attached, Error> {
        let (mut mine, theirs) = first_client_pair()?;
        let started = self.start_with(query, Some((theirs, opts.wants()))).await?;
        let Some(id) = started else {
            return self.attach(query, opts).await;
        };
        match handshake(&id, &mut mine, None).await {
            Ok(hello) => Ok(self.attached(id, mine, hello, opts, None)),
            Err(Handshake::Failed(e)) => Err(e),
            // Gone already: what it wrote is in the log.
            Err(Handshake::Closed) => {
                self.wait(&id).await?;
                let view = self.log_view_async(&id).await?;
                let opts = AttachOptions {
                    logs: true,
                    ..*opts
                };
                self.replay_exited(view, &opts).await
            }
        }
    }

    /// Creates and starts a container attached (`docker run` without `-d`): as
    /// [`Containers::create`] then [`Containers::start_attached`]. As the docker CLI does
    /// for `-i` without `-d`, the container gets `StdinOnce` when it is
    /// [`interactive`](CreateOptions::interactive) and `attach.stdin` is set, so the command
    /// reads EOF when this client's input ends.
    pub async fn run_attached(
        &self,
        container: &Container,
        opts: &CreateOptions,
        attach: &AttachOptions,
    ) -> Result<Attached, Error> {
        let mut opts = opts.clone();
        opts.stdin_once |= opts.interactive && attach.stdin;
        let id = self.create(container, &opts)?;
        self.start_attached(&id, attach).await
    }

    fn attached(
        &self,
        id: String,
        stream: UnixStream,
        hello: Hello,
        opts: &AttachOptions,
        replay: Option<Scanner>,
    ) -> Attached {
        let (rd, wr) = stream.into_split();
        let (tx, feed) = feed(&id, false);
        let (control_tx, control_rx) = mpsc::channel(8);
        let (stdin, stdin_task) = if opts.stdin && hello.stdin_open {
            let (user, task) = tokio::io::duplex(64 << 10);
            (Some(AttachStdin { inner: user }), Some(task))
        } else {
            (None, None)
        };
        // Detach keys are a terminal's, as in Docker.
        let escape = opts
            .detach_keys
            .filter(|k| hello.tty && stdin.is_some() && !k.as_bytes().is_empty())
            .map(|keys| Escape { keys, matched: 0 });
        let escaped = Arc::new(AtomicBool::new(false));
        tokio::spawn(read_frames(
            rd,
            tx,
            replay,
            self.clone(),
            id.clone(),
            escaped.clone(),
        ));
        tokio::spawn(write_frames(
            wr,
            stdin_task,
            control_rx,
            escape,
            escaped.clone(),
        ));
        Attached {
            id,
            store: self.clone(),
            tty: hello.tty,
            stdin_once: hello.stdin_once,
            stdin,
            feed,
            control: Some(control_tx),
            escaped,
        }
    }

    /// An "attachment" to a container that is not running: with `logs`, its last run's output
    /// and exit code; else Docker's refusal.
    async fn replay_exited(&self, view: LogView, opts: &AttachOptions) -> Result<Attached, Error> {
        let Some(code) = view.exit_code.filter(|_| opts.logs) else {
            return Err(Error::NotRunning { id: view.id });
        };
        let scanner = Scanner::open(&view.log_path(), view.run_start, None, opts.filter())?;
        let (tx, feed) = feed(&view.id, false);
        tokio::spawn(async move {
            if scanner.replay(&tx).await {
                let _ = tx.send(Event::Exit(code)).await;
            }
        });
        let record = {
            let id = view.id.clone();
            self.blocking(move |store| store.inspect(&id)).await?
        };
        Ok(Attached {
            id: view.id,
            store: self.clone(),
            tty: record.tty,
            stdin_once: record.stdin_once,
            stdin: None,
            feed,
            control: None,
            escaped: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The output of the container's current run — or of its last one, once exited — from
    /// that run's start, followed until the command exits: what an attachment with
    /// [`AttachOptions::logs`](crate::AttachOptions::logs) and without stdin gives
    /// ([`Containers::attach`]), as a byte stream (and [`Logs::next_chunk`]). Must be called
    /// within a tokio runtime.
    pub fn attach_output(&self, query: &str) -> Result<Logs, Error> {
        let id = self.resolve(query)?;
        let (tx, feed) = feed(&id, false);
        let store = self.clone();
        tokio::spawn(async move {
            let opts = AttachOptions {
                stdin: false,
                logs: true,
                ..AttachOptions::default()
            };
            let mut attached = match store.attach(&id, &opts).await {
                Ok(a) => a,
                Err(e) => {
                    let _ = tx.send(Event::Failed(e)).await;
                    return;
                }
            };
            loop {
                let event = match attached.next_chunk().await {
                    Ok(Some(c)) => Event::Chunk(c),
                    Ok(None) => break,
                    Err(e) => Event::Failed(e),
                };
                let failed = matches!(event, Event::Failed(_));
                if tx.send(event).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Logs { feed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_exit_codes() {
        assert_eq!(
            frame(proto::RESIZE, &[1, 2, 3, 4]),
            [0x22, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]
        );
        let mut e = [b'E', 0, 0, 0, 0, 0, 0, 0];
        e[4..].copy_from_slice(&3i32.to_le_bytes());
        assert_eq!(exit_code(&e), 3);
        e[0] = b'S';
        e[4..].copy_from_slice(&9i32.to_le_bytes());
        assert_eq!(exit_code(&e), 137);
        assert_eq!(exit_code(b"U"), UNKNOWN_EXIT_CODE);
    }

    #[tokio::test]
    async fn headers_reject_oversized_frames() {
        let mut ok: &[u8] = &[1, 0, 0, 0, 0, 0, 0, 5];
        assert_eq!(read_header(&mut ok).await.unwrap(), Some((1, 5)));
        let mut empty: &[u8] = &[];
        assert_eq!(read_header(&mut empty).await.unwrap(), None);
        let mut cut: &[u8] = &[1, 0, 0];
        assert!(read_header(&mut cut).await.is_err());
        let mut huge: &[u8] = &[1, 0, 0, 0, 0xff, 0, 0, 0];
        assert!(read_header(&mut huge).await.is_err());
    }

    #[test]
    fn detach_keys_parse_as_docker() {
        assert_eq!(DetachKeys::default().as_bytes(), [0x10, 0x11]);
        assert_eq!(
            DetachKeys::parse("ctrl-p,ctrl-q").unwrap(),
            DetachKeys::default()
        );
        assert_eq!(DetachKeys::parse("ctrl-a,d").unwrap().as_bytes(), [1, b'd']);
        assert_eq!(
            DetachKeys::parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,CTRL-Z,X")
                .unwrap()
                .as_bytes(),
            [0, 27, 28, 29, 30, 31, 26, b'X']
        );
        for bad in [
            "",
            "ctrl-",
            "ctrl-1",
            "ab",
            "a,,b",
            "é",
            &"a,".repeat(16).to_string(),
        ] {
            assert!(
                matches!(DetachKeys::parse(bad), Err(Error::InvalidDetachKeys { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_escape_holds_a_prefix_and_passes_a_broken_one() {
        let mut esc = Escape {
            keys: DetachKeys::default(),
            matched: 0,
        };
        let mut out = Vec::new();
        assert!(!esc.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        out.clear();
        // Broken: the held byte is input after all; a new start is held again.
        assert!(!esc.feed(b"c\x10\x10", &mut out));
        assert_eq!(out, b"\x10c\x10");
        out.clear();
        // Completed across writes: what follows is not passed on.
        assert!(esc.feed(b"\x11tail", &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn default_options_attach_everything_but_the_log() {
        let o = AttachOptions::default();
        assert_eq!(
            o.wants(),
            proto::WANT_STDIN | proto::WANT_STDOUT | proto::WANT_STDERR
        );
        assert!(!o.logs);
    }
}
