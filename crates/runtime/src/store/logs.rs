//! `docker logs`: a detached container's log, its stdout and stderr kept apart. The log is
//! in the CRI format the monitor writes (`monitor::relay`); see the crate docs, *Logs*.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::process::proc::verified_pidfd;
use crate::store::record::Status;
use crate::store::Containers;

/// One of the command's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (and a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// A piece of a container's output: from the log ([`Containers::logs_with`]), one record; from
/// an attachment ([`crate::Attached`]), one read of the command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Which stream it was written on.
    pub stream: Stream,
    /// The bytes, as written (a complete line ends with its newline).
    pub data: Vec<u8>,
    /// When it was logged, in nanoseconds since the Unix epoch (`None` for live output, and
    /// for log lines without a timestamp).
    pub time: Option<u64>,
}

/// Options of [`Containers::logs_with`] (the `docker logs` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `-f`: keep following what the command writes until the container exits.
    pub follow: bool,
    /// `-t`: read through [`AsyncRead`], each line starts with its RFC 3339 timestamp and a
    /// space (the [`Chunk`]s carry the time either way).
    pub timestamps: bool,
    /// `--tail N`: only the last `N` lines (of the streams selected).
    pub tail: Option<usize>,
    /// `--since`: only records logged at or after this time (nanoseconds since the epoch).
    pub since: Option<u64>,
    /// `--until`: only records logged at or before this time (nanoseconds since the epoch);
    /// following ends there.
    pub until: Option<u64>,
    /// Include stdout (default true).
    pub stdout: bool,
    /// Include stderr (default true).
    pub stderr: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            follow: false,
            timestamps: false,
            tail: None,
            since: None,
            until: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// A container's log: its output as [`Chunk`]s ([`Logs::next_chunk`]: stream, bytes, time), or
/// as an [`AsyncRead`] of both streams interleaved in the order they were logged. Following,
/// it ends once the container has exited and all of its output is read. Dropping it stops the
/// background reader.
#[derive(Debug)]
pub struct Logs {
    pub(crate) feed: Feed,
}

impl Logs {
    /// The next piece of output; `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>, Error> {
        std::future::poll_fn(|cx| self.feed.poll_chunk(cx)).await
    }
}

impl AsyncRead for Logs {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.feed.poll_read(cx, buf)
    }
}

/// What a producer task sends to a [`Feed`].
#[derive(Debug)]
pub(crate) enum Event {
    Chunk(Chunk),
    /// The container exited with this code (the end of an attachment).
    Exit(i32),
    /// The monitor ended the attachment (its stdin closed without stdin-once).
    Detached,
    /// The monitor dropped the client: it did not read its output fast enough.
    Dropped,
    Failed(Error),
}

/// The receiving end of a producer task, shared by [`Logs`] and [`crate::Attached`].
#[derive(Debug)]
pub(crate) struct Feed {
    id: String,
    rx: mpsc::Receiver<Event>,
    /// The chunk being read through `AsyncRead`.
    buf: Vec<u8>,
    pos: usize,
    timestamps: bool,
    /// Per stream: the next byte starts a line (for timestamps).
    line_start: [bool; 2],
    pub(crate) exit: Option<i32>,
    pub(crate) detached: bool,
    ended: bool,
}

/// A channel for a producer task and the [`Feed`] reading it.
pub(crate) fn feed(id: &str, timestamps: bool) -> (mpsc::Sender<Event>, Feed) {
    let (tx, rx) = mpsc::channel(32);
    let feed = Feed {
        id: id.to_owned(),
        rx,
        buf: Vec::new(),
        pos: 0,
        timestamps,
        line_start: [true; 2],
        exit: None,
        detached: false,
        ended: false,
    };
    (tx, feed)
}

impl Feed {
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Chunk>, Error>> {
        loop {
            if self.ended {
                return Poll::Ready(Ok(None));
            }
            match ready!(self.rx.poll_recv(cx)) {
                Some(Event::Chunk(c)) => return Poll::Ready(Ok(Some(c))),
                Some(Event::Exit(code)) => self.exit = Some(code),
                Some(Event::Detached) => self.detached = true,
                Some(Event::Dropped) => {
                    self.ended = true;
                    return Poll::Ready(Err(Error::Attach {
                        id: self.id.clone(),
                        reason: "the container's monitor dropped this client: it did not read \
                                 the output fast enough",
                    }));
                }
                Some(Event::Failed(e)) => {
                    self.ended = true;
                    return Poll::Ready(Err(e));
                }
                None => self.ended = true,
            }
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.remaining().min(self.buf.len() - self.pos);
                out.put_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Poll::Ready(Ok(()));
            }
            match ready!(self.poll_chunk(cx)) {
                Ok(Some(c)) => {
                    self.buf = self.render(c);
                    self.pos = 0;
                }
                Ok(None) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }

    /// A chunk's bytes as read through `AsyncRead`: with timestamps, each line starts with
    /// its record's time.
    fn render(&mut self, c: Chunk) -> Vec<u8> {
        let at_start = &mut self.line_start[c.stream.index()];
        let (true, Some(time)) = (self.timestamps, c.time) else {
            if let Some(&last) = c.data.last() {
                *at_start = last == b'\n';
            }
            return c.data;
        };
        let mut stamp = [0u8; 30];
        crate::monitor::proto::rfc3339_nanos(time, &mut stamp);
        let mut out = Vec::with_capacity(c.data.len() + 31);
        for &b in &c.data {
            if *at_start {
                out.extend_from_slice(&stamp);
                out.push(b' ');
            }
            out.push(b);
            *at_start = b == b'\n';
        }
        out
    }
}

/// One record of the log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LogRecord<'a> {
    pub(crate) time: Option<u64>,
    pub(crate) stream: Stream,
    /// `P`: the line goes on in a later record.
    pub(crate) partial: bool,
    pub(crate) content: &'a [u8],
}

impl LogRecord<'_> {
    /// The bytes the command wrote.
    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.content.len() + 1);
        v.extend_from_slice(self.content);
        if !self.partial {
            v.push(b'\n');
        }
        v
    }
}

/// Parses one line of the log (without its newline). A line that is not a CRI record is
/// stdout as it is.
pub(crate) fn parse_record(line: &[u8]) -> LogRecord<'_> {
    let raw = LogRecord {
        time: None,
        stream: Stream::Stdout,
        partial: false,
        content: line,
    };
    let mut fields = line.splitn(4, |&b| b == b' ');
    let (Some(ts), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next()) else {
        return raw;
    };
    let Some(time) = parse_rfc3339(ts) else {
        return raw;
    };
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return raw,
    };
    // Tags are `:`-separated; the first is F or P.
    let partial = match tag.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return raw,
    };
    LogRecord {
        time: Some(time),
        stream,
        partial,
        content: fields.next().unwrap_or(&[]),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses RFC 3339 (`2016-10-06T00:17:09.669794202Z`, or with a `±hh:mm` offset) into
/// nanoseconds since the epoch.
pub(crate) fn parse_rfc3339(s: &[u8]) -> Option<u64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't' | b' ') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos: i64 = 0;
    if s[at] == b'.' {
        let start = at + 1;
        let mut end = start;
        while end < s.len() && s[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        for i in 0..9 {
            nanos = nanos * 10
                + s.get(start + i)
                    .filter(|_| start + i < end)
                    .map_or(0, |b| i64::from(b - b'0'));
        }
        at = end;
    }
    let offset = match s.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if s.len() == at + 6 && s[at + 3] == b':' => {
            let o = num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos as u64)
}

/// Which records to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filter {
    pub(crate) stdout: bool,
    pub(crate) stderr: bool,
    pub(crate) since: Option<u64>,
    pub(crate) until: Option<u64>,
}

impl Filter {
    fn stream(&self, s: Stream) -> bool {
        match s {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        }
    }
}

/// Whether a producer goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    More,
    /// The receiver is gone, or `until` was passed.
    Stop,
}

/// Reads the log's records from an offset and sends the selected ones.
pub(crate) struct Scanner {
    path: PathBuf,
    file: fs::File,
    /// Where the next read starts.
    pos: u64,
    /// Stop here (an attachment's replay ends where its live output starts).
    end: Option<u64>,
    /// The start of a line whose end has not been read yet.
    carry: Vec<u8>,
    filter: Filter,
}

impl Scanner {
    pub(crate) fn open(
        path: &Path,
        start: u64,
        end: Option<u64>,
        filter: Filter,
    ) -> Result<Self, Error> {
        let file = fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
        Ok(Scanner {
            path: path.to_path_buf(),
            file,
            pos: start,
            end,
            carry: Vec::new(),
            filter,
        })
    }

    /// Moves the start to the first record of the last `n` lines (of the selected streams)
    /// between the start and the end of the file, reading backwards.
    fn tail(&mut self, n: usize) -> Result<(), Error> {
        let hi = match self.end {
            Some(e) => e,
            None => self
                .file
                .metadata()
                .map_err(|e| Error::io("reading the size of", &self.path, e))?
                .len(),
        };
        let lo = self.pos;
        if n == 0 {
            self.pos = hi.max(lo);
            return Ok(());
        }
        // Lines entered so far, walking back; a line is P records ended by an F.
        let mut lines = 0usize;
        let mut block = vec![0u8; 64 << 10];
        // The bytes of the line being assembled that lie after the current block.
        let mut cur: Vec<u8> = Vec::new();
        // A newline ending the line being assembled was seen (bytes after the range's last
        // newline are a record still being written, which is not counted).
        let mut in_line = false;
        let mut upto = hi;
        while upto > lo {
            let from = upto.saturating_sub(block.len() as u64).max(lo);
            let len = (upto - from) as usize;
            self.file
                .read_exact_at(&mut block[..len], from)
                .map_err(|e| Error::io("reading", &self.path, e))?;
            let mut j = len;
            for i in (0..len).rev() {
                if block[i] != b'\n' {
                    continue;
                }
                if in_line {
                    let mut line = block[i + 1..j].to_vec();
                    line.extend_from_slice(&cur);
                    let start = from + i as u64 + 1;
                    if let Some(at) = self.count_line(&line, &mut lines, n, start) {
                        self.pos = at;
                        return Ok(());
                    }
                }
                in_line = true;
                cur.clear();
                j = i;
            }
            if in_line {
                let mut t = block[..j].to_vec();
                t.extend_from_slice(&cur);
                cur = t;
            }
            upto = from;
        }
        if in_line {
            if let Some(at) = self.count_line(&cur, &mut lines, n, lo) {
                self.pos = at;
            }
        }
        Ok(())
    }

    /// Counts one record walking back (`line` without its newline, starting at `start`);
    /// returns where the output starts once `n` lines are complete.
    fn count_line(&self, line: &[u8], lines: &mut usize, n: usize, start: u64) -> Option<u64> {
        let r = parse_record(line);
        if !self.filter.stream(r.stream) {
            return None;
        }
        let end = start + line.len() as u64 + 1;
        if !r.partial {
            // An F record ends a line: a new one, walking back.
            if *lines == n {
                return Some(end);
            }
            *lines += 1;
        } else if *lines == 0 {
            // The last line is not finished yet: it counts.
            *lines = 1;
        }
        None
    }

    /// Sends every complete record up to the end of the file (or `end`); with `last`, a last
    /// line without its newline too.
    async fn pump(&mut self, tx: &mpsc::Sender<Event>, last: bool) -> Result<Flow, Error> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let want = match self.end {
                Some(e) if self.pos >= e => break,
                Some(e) => ((e - self.pos) as usize).min(buf.len()),
                None => buf.len(),
            };
            let n = match self.file.read_at(&mut buf[..want], self.pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading", &self.path, e)),
            };
            self.pos += n as u64;
            let mut rest = &buf[..n];
            while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                let flow = if self.carry.is_empty() {
                    self.send(&rest[..i], tx).await
                } else {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(&rest[..i]);
                    self.send(&line, tx).await
                };
                if flow == Flow::Stop {
                    return Ok(Flow::Stop);
                }
                rest = &rest[i + 1..];
            }
            self.carry.extend_from_slice(rest);
        }
        if last && !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            let mut r = parse_record(&line);
            // A record cut short (the monitor died writing it) has no newline to give back.
            r.partial = true;
            return Ok(self.send_record(r, tx).await);
        }
        Ok(Flow::More)
    }

    async fn send(&self, line: &[u8], tx: &mpsc::Sender<Event>) -> Flow {
        self.send_record(parse_record(line), tx).await
    }

    async fn send_record(&self, r: LogRecord<'_>, tx: &mpsc::Sender<Event>) -> Flow {
        if !self.filter.stream(r.stream) {
            return Flow::More;
        }
        if let (Some(since), Some(t)) = (self.filter.since, r.time) {
            if t < since {
                return Flow::More;
            }
        }
        if let (Some(until), Some(t)) = (self.filter.until, r.time) {
            if t > until {
                return Flow::Stop;
            }
        }
        let chunk = Chunk {
            stream: r.stream,
            data: r.bytes(),
            time: r.time,
        };
        match tx.send(Event::Chunk(chunk)).await {
            Ok(()) => Flow::More,
            Err(_) => Flow::Stop,
        }
    }

    /// Sends the range (to `end`, or to the end of the file) and stops.
    pub(crate) async fn replay(mut self, tx: &mpsc::Sender<Event>) -> bool {
        match self.pump(tx, true).await {
            Ok(Flow::More) => true,
            Ok(Flow::Stop) => false,
            Err(e) => {
                let _ = tx.send(Event::Failed(e)).await;
                false
            }
        }
    }
}

/// Waits until the log file is modified (inotify) or the monitor exits.
struct Follow {
    inotify: tokio::io::unix::AsyncFd<OwnedFd>,
    monitor: Option<tokio::io::unix::AsyncFd<OwnedFd>>,
    monitor_gone: bool,
}

impl Follow {
    fn new(path: &Path, monitor: Option<OwnedFd>) -> Result<Self, Error> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| Error::sys("inotify_init1", e))?;
        inotify::add_watch(&fd, path, inotify::WatchFlags::MODIFY)
            .map_err(|e| Error::io("watching", path, e.into()))?;
        let inotify =
            crate::sys::register_readable(fd).map_err(|e| Error::sys("registering inotify", e))?;
        let monitor = match monitor {
            Some(fd) => Some(
                crate::sys::register_pidfd(fd).map_err(|e| Error::sys("registering a pidfd", e))?,
            ),
            None => None,
        };
        Ok(Follow {
            monitor_gone: monitor.is_none(),
            inotify,
            monitor,
        })
    }

    /// Waits for news; returns false once the monitor has exited (everything it wrote is in
    /// the file by then).
    async fn wait(&mut self) -> Result<bool, Error> {
        if self.monitor_gone {
            return Ok(false);
        }
        let monitor = async {
            match &self.monitor {
                Some(m) => m.readable().await.map(drop),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = monitor => {
                r.map_err(|e| Error::sys("polling a pidfd", e))?;
                self.monitor_gone = true;
                Ok(false)
            }
            r = self.inotify.readable() => {
                let mut guard = r.map_err(|e| Error::sys("polling inotify", e))?;
                let mut events = [0u8; 4096];
                // Drain the events: only "modified" matters.
                loop {
                    match rustix::io::read(guard.get_inner(), &mut events) {
                        Ok(n) if n > 0 => continue,
                        Err(rustix::io::Errno::INTR) => continue,
                        _ => break,
                    }
                }
                guard.clear_ready();
                Ok(true)
            }
        }
    }
}

/// What the store tells about a container's log.
#[derive(Debug)]
pub(crate) struct LogView {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    /// Where the current (or last) run's output starts in the log.
    pub(crate) run_start: u64,
    /// Running: its monitor (readable once it has exited).
    pub(crate) monitor: Option<OwnedFd>,
    pub(crate) running: bool,
    /// Exited: its exit code.
    pub(crate) exit_code: Option<i32>,
}

impl LogView {
    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }
}

/// The log's name in the container's directory.
pub(crate) const LOG_FILE: &str = "container.log";

/// The reader task of [`Containers::logs_with`]: the log from the scanner's position on, then
/// (when following) what comes next, until the monitor has exited and the log is drained.
async fn follow_log(mut scanner: Scanner, mut follow: Option<Follow>, tx: mpsc::Sender<Event>) {
    let result = async {
        loop {
            let last = follow.as_ref().is_none_or(|f| f.monitor_gone);
            if scanner.pump(&tx, last).await? == Flow::Stop || last {
                return Ok(());
            }
            if let Some(f) = follow.as_mut() {
                f.wait().await?;
            }
        }
    }
    .await;
    if let Err(e) = result {
        let _ = tx.send(Event::Failed(e)).await;
    }
}

impl Containers {
    /// [`Containers::log_view`] off the runtime (it takes the container's lock).
    pub(crate) async fn log_view_async(&self, query: &str) -> Result<LogView, Error> {
        let query = query.to_owned();
        self.blocking(move |store| store.log_view(&query)).await
    }

    /// What the log readers need: the container's directory, where its current (or last)
    /// run's output starts in the log, and whether it runs (with its monitor's pidfd).
    pub(crate) fn log_view(&self, query: &str) -> Result<LogView, Error> {
        let e = self.entry(query)?;
        let st = self.state(&e)?;
        let run_start = if st.status == Status::Created {
            fs::metadata(e.dir.join("container.log")).map_or(0, |m| m.len())
        } else {
            st.log_offset
        };
        let running = st.status == Status::Running;
        Ok(LogView {
            id: e.record.id,
            dir: e.dir,
            run_start,
            monitor: if running {
                verified_pidfd(st.monitor_pid, st.monitor_start)
            } else {
                None
            },
            running,
            exit_code: st.exit_code.filter(|_| st.status == Status::Exited),
        })
    }

    /// The container's log from its beginning (`docker logs`), stdout and stderr interleaved
    /// as they were written, without timestamps; with `follow`, kept open for what the command
    /// writes next until it exits (`docker logs -f`). Must be called within a tokio runtime: a
    /// task reads the file. See [`Containers::logs_with`] for the other `docker logs` options
    /// and the two streams told apart.
    pub fn logs(&self, query: &str, follow: bool) -> Result<Logs, Error> {
        self.logs_with(
            query,
            &LogOptions {
                follow,
                ..LogOptions::default()
            },
        )
    }

    /// The container's log with `docker logs`' options: follow (ended by the container's exit
    /// once the log is drained, noticed through inotify and the monitor's pidfd — no polling),
    /// timestamps, tail, since, until, and which streams. [`Logs::next_chunk`] tells stdout
    /// from stderr and gives each record's time. Every run's output is in the log, in order.
    /// Must be called within a tokio runtime.
    pub fn logs_with(&self, query: &str, opts: &LogOptions) -> Result<Logs, Error> {
        let view = self.log_view(query)?;
        let path = view.log_path();
        if !path.exists() {
            return Err(Error::io(
                "opening",
                &path,
                io::Error::from(io::ErrorKind::NotFound),
            ));
        }
        let filter = Filter {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: opts.since,
            until: opts.until,
        };
        // Here rather than in the task, so that `tail` counts back from this call. Watch
        // first: a write after the position is then always noticed.
        let follow = if opts.follow && view.running {
            Some(Follow::new(&path, view.monitor)?)
        } else {
            None
        };
        let mut scanner = Scanner::open(&path, 0, None, filter)?;
        if let Some(n) = opts.tail {
            scanner.tail(n)?;
        }
        let (tx, feed) = feed(&view.id, opts.timestamps);
        tokio::spawn(follow_log(scanner, follow, tx));
        Ok(Logs { feed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let mut b = [0u8; 30];
        crate::monitor::proto::rfc3339_nanos(1_475_713_029_669_794_202, &mut b);
        assert_eq!(&b, b"2016-10-06T00:17:09.669794202Z");
        assert_eq!(parse_rfc3339(&b), Some(1_475_713_029_669_794_202));
        crate::monitor::proto::rfc3339_nanos(0, &mut b);
        assert_eq!(&b, b"1970-01-01T00:00:00.000000000Z");
        // Leap day, end of a century year.
        crate::monitor::proto::rfc3339_nanos(951_782_400_000_000_001, &mut b);
        assert_eq!(&b, b"2000-02-29T00:00:00.000000001Z");
        assert_eq!(
            parse_rfc3339(b"2000-02-29T00:00:00.000000001Z"),
            Some(951_782_400_000_000_001)
        );
        // Trimmed fractions and offsets, as other writers of the format use.
        assert_eq!(
            parse_rfc3339(b"2016-10-06T00:17:09.6Z"),
            Some(1_475_713_029_600_000_000)
        );
        assert_eq!(
            parse_rfc3339(b"2016-10-06T02:17:09+02:00"),
            Some(1_475_713_029_000_000_000)
        );
        assert_eq!(parse_rfc3339(b"2016-13-06T00:17:09Z"), None);
        assert_eq!(parse_rfc3339(b"not a time"), None);
        for ns in [
            1u64,
            86_399_999_999_999,
            4_102_444_800_123_456_789,
            1_709_164_800_000_000_000,
        ] {
            crate::monitor::proto::rfc3339_nanos(ns, &mut b);
            assert_eq!(
                parse_rfc3339(&b),
                Some(ns),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn records_parse() {
        let r = parse_record(b"2016-10-06T00:17:09.669794202Z stderr P half a line ");
        assert_eq!(r.stream, Stream::Stderr);
        assert!(r.partial);
        assert_eq!(r.content, b"half a line ");
        assert_eq!(r.time, Some(1_475_713_029_669_794_202));
        let r = parse_record(b"2016-10-06T00:17:09.669794202Z stdout F ");
        assert_eq!(
            (r.stream, r.partial, r.content),
            (Stream::Stdout, false, &b""[..])
        );
        assert_eq!(r.bytes(), b"\n");
        let r = parse_record(b"2016-10-06T00:17:09.669794202Z stdout F:x tagged");
        assert_eq!((r.partial, r.content), (false, &b"tagged"[..]));
        // Not a record: stdout as it is.
        let r = parse_record(b"plain old line");
        assert_eq!(
            (r.stream, r.time, r.content),
            (Stream::Stdout, None, &b"plain old line"[..])
        );
    }

    fn write_log(lines: &[&str]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        fs::write(f.path(), text).unwrap();
        f
    }

    const ALL: Filter = Filter {
        stdout: true,
        stderr: true,
        since: None,
        until: None,
    };

    async fn collect(s: Scanner) -> Vec<(Stream, String)> {
        let (tx, mut rx) = mpsc::channel(64);
        s.replay(&tx).await;
        drop(tx);
        let mut out = Vec::new();
        while let Some(e) = rx.recv().await {
            if let Event::Chunk(c) = e {
                out.push((c.stream, String::from_utf8(c.data).unwrap()));
            }
        }
        out
    }

    #[tokio::test]
    async fn tail_counts_lines_of_the_selected_streams() {
        let f = write_log(&[
            "2020-01-01T00:00:01.000000000Z stdout F one",
            "2020-01-01T00:00:02.000000000Z stderr F err",
            "2020-01-01T00:00:03.000000000Z stdout P tw",
            "2020-01-01T00:00:04.000000000Z stdout F o",
            "2020-01-01T00:00:05.000000000Z stdout P unfinished",
        ]);
        let tail = |n: usize, filter: Filter| {
            let mut s = Scanner::open(f.path(), 0, None, filter).unwrap();
            s.tail(n).unwrap();
            s
        };
        let text = |v: Vec<(Stream, String)>| v.into_iter().map(|(_, t)| t).collect::<String>();
        assert_eq!(text(collect(tail(0, ALL)).await), "");
        assert_eq!(text(collect(tail(1, ALL)).await), "unfinished");
        assert_eq!(text(collect(tail(2, ALL)).await), "two\nunfinished");
        assert_eq!(text(collect(tail(3, ALL)).await), "err\ntwo\nunfinished");
        assert_eq!(
            text(collect(tail(9, ALL)).await),
            "one\nerr\ntwo\nunfinished"
        );
        let only_err = Filter {
            stdout: false,
            ..ALL
        };
        assert_eq!(
            collect(tail(1, only_err)).await,
            [(Stream::Stderr, "err\n".to_owned())]
        );
        let since = Filter {
            since: Some(parse_rfc3339(b"2020-01-01T00:00:03Z").unwrap()),
            until: parse_rfc3339(b"2020-01-01T00:00:04Z"),
            ..ALL
        };
        let s = Scanner::open(f.path(), 0, None, since).unwrap();
        assert_eq!(text(collect(s).await), "two\n");
    }

    #[tokio::test]
    async fn tail_reads_back_across_blocks() {
        let lines: Vec<String> = (0..20_000)
            .map(|i| format!("2020-01-01T00:00:01.000000000Z stdout F line {i}"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let f = write_log(&refs);
        let mut s = Scanner::open(f.path(), 0, None, ALL).unwrap();
        s.tail(3).unwrap();
        let got: String = collect(s).await.into_iter().map(|(_, t)| t).collect();
        assert_eq!(got, "line 19997\nline 19998\nline 19999\n");
    }

    #[tokio::test]
    async fn timestamps_prefix_each_line() {
        let (tx, feed) = feed("x", true);
        let t = parse_rfc3339(b"2020-01-01T00:00:01Z");
        for (s, d) in [
            (Stream::Stdout, "a\nb"),
            (Stream::Stdout, "c\n"),
            (Stream::Stderr, "e\n"),
        ] {
            tx.send(Event::Chunk(Chunk {
                stream: s,
                data: d.into(),
                time: t,
            }))
            .await
            .unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut Logs { feed }, &mut out)
            .await
            .unwrap();
        let ts = "2020-01-01T00:00:01.000000000Z";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{ts} a\n{ts} bc\n{ts} e\n")
        );
    }
}
