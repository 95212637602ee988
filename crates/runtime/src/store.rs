//! Docker's container lifecycle without a daemon: containers recorded on disk under a state
//! root, started detached under a small monitor process, and managed from any process.
//!
//! See the crate documentation, *Containers on disk*, for the layout and the monitor.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};
use serde::{Deserialize, Serialize};

use crate::child::Stdio;
use crate::container::{pipe, read_all, setup_error, write_id_maps, Container};
use crate::error::Error;
use crate::net::{NetConfig, PortMapping, PublishedPort};
use crate::plan::cpath;
use crate::rootfs::{OverlayMode, RootFs};
use crate::sys::{self, AutoRemove, MonitorPlan};
use crate::volume::{VolumeMount, Volumes};

/// Docker's default stop timeout.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The exit code reported when a container's end was not recorded (its monitor was killed).
pub const UNKNOWN_EXIT_CODE: i32 = 255;

/// A container's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    Created,
    /// Its command runs.
    Running,
    /// Its command has ended (see the exit code).
    Exited,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        })
    }
}

/// Options of [`Containers::create`] (the `docker create` flags that are not the container's
/// spec).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--name`; generated (Docker-style `adjective_name`) when `None`.
    pub name: Option<String>,
    /// `--rm`: remove the container when its command ends.
    pub auto_remove: bool,
    /// `--stop-signal` (the image's `STOPSIGNAL`); `SIGTERM` when `None`.
    pub stop_signal: Option<i32>,
    /// `--stop-timeout`; [`DEFAULT_STOP_TIMEOUT`] when `None`.
    pub stop_timeout: Option<Duration>,
    /// `--init`: run the command under our init (see [`Container::has_init`]); a container
    /// built with [`ContainerBuilder::init`](crate::ContainerBuilder::init) has it anyway.
    pub init: bool,
    /// `-i`: keep the command's stdin open — a pipe whose write end the monitor holds — so
    /// that attached clients can write to it ([`Containers::attach`]). Without it stdin is
    /// `/dev/null`.
    pub interactive: bool,
    /// `-t`: a terminal, whose master the monitor holds: its output goes to the log (as
    /// stdout) and to attached clients, which can resize it; with
    /// [`interactive`](Self::interactive), their input is its keyboard. A container built
    /// with [`ContainerBuilder::tty`](crate::ContainerBuilder::tty) has it anyway.
    pub tty: bool,
    /// Docker's `StdinOnce`: the command's stdin closes (it reads EOF) when an attached client
    /// that had it closes its stdin or goes away; without it that only ends the client's
    /// attachment. Set by `docker run -i` without `-d` ([`Containers::run_attached`]). No
    /// effect with a terminal.
    pub stdin_once: bool,
}

/// The root file system as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootFsRecord {
    /// [`RootFs::Dir`].
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// [`RootFs::Overlay`].
    Overlay {
        /// Lower layers, bottom first.
        lower: Vec<PathBuf>,
        /// The read-write layer.
        upper: PathBuf,
        /// Overlayfs' work directory.
        work: PathBuf,
    },
}

impl RootFsRecord {
    fn from_rootfs(r: &RootFs) -> Self {
        match r {
            RootFs::Dir(path) => RootFsRecord::Dir { path: path.clone() },
            RootFs::Overlay { lower, upper, work } => RootFsRecord::Overlay {
                lower: lower.clone(),
                upper: upper.clone(),
                work: work.clone(),
            },
        }
    }

    pub(crate) fn to_rootfs(&self) -> RootFs {
        match self {
            RootFsRecord::Dir { path } => RootFs::Dir(path.clone()),
            RootFsRecord::Overlay { lower, upper, work } => RootFs::Overlay {
                lower: lower.clone(),
                upper: upper.clone(),
                work: work.clone(),
            },
        }
    }
}

/// `container.json`: what does not change after create.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: String,
    name: String,
    created: u64,
    rootfs: RootFsRecord,
    auto_remove: bool,
    stop_signal: i32,
    stop_timeout_ms: u64,
    #[serde(default)]
    init: bool,
    /// Published ports (`-p`, Docker's syntax), forwarded by slirp4netns.
    #[serde(default)]
    ports: Vec<String>,
    /// A private network with outbound access (slirp4netns when installed).
    #[serde(default)]
    outbound: bool,
    /// The volumes it uses (released by `rm`).
    #[serde(default)]
    volumes: Vec<VolumeRecord>,
    /// Docker's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` are in the container's
    /// directory, bound over the image's at each start.
    #[serde(default)]
    etc: bool,
    /// How an overlay root runs (overlayfs, or its materialized merged view).
    #[serde(default)]
    overlay: OverlayMode,
    /// `-i`, `-t` and Docker's `StdinOnce`.
    #[serde(default)]
    interactive: bool,
    #[serde(default)]
    tty: bool,
    #[serde(default)]
    stdin_once: bool,
}

/// A volume in `container.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeRecord {
    /// The volume store's directory (`Volumes::path`).
    store: PathBuf,
    name: String,
    destination: PathBuf,
    anonymous: bool,
    read_only: bool,
}

impl VolumeRecord {
    fn of(m: &VolumeMount) -> Self {
        VolumeRecord {
            store: m.store().path().to_path_buf(),
            name: m.name.clone(),
            destination: m.destination.clone(),
            anonymous: m.anonymous,
            read_only: m.read_only,
        }
    }

    fn mount(&self) -> VolumeMount {
        VolumeMount::recorded(
            Volumes::at(self.store.clone()),
            self.name.clone(),
            self.destination.clone(),
            self.anonymous,
            self.read_only,
        )
    }
}

/// Options of [`Containers::remove_with`] (`docker rm` flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove its anonymous volumes too (named volumes are kept).
    pub volumes: bool,
}

/// `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    status: Status,
    #[serde(default)]
    pid: Option<i32>,
    #[serde(default)]
    pid_start: Option<u64>,
    #[serde(default)]
    monitor_pid: Option<i32>,
    #[serde(default)]
    monitor_start: Option<u64>,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    signal: Option<i32>,
    #[serde(default)]
    started_at: Option<u64>,
    #[serde(default)]
    finished_at: Option<u64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cgroup_dirs: Vec<PathBuf>,
    #[serde(default)]
    restart_count: u32,
    #[serde(default)]
    ports: Vec<PublishedPort>,
    /// Where the last start's output begins in the log (the log is appended to by every run).
    #[serde(default)]
    log_offset: u64,
}

impl State {
    fn created() -> Self {
        State {
            status: Status::Created,
            pid: None,
            pid_start: None,
            monitor_pid: None,
            monitor_start: None,
            exit_code: None,
            signal: None,
            started_at: None,
            finished_at: None,
            error: None,
            cgroup_dirs: Vec::new(),
            restart_count: 0,
            ports: Vec::new(),
            log_offset: 0,
        }
    }
}

/// What [`Containers::inspect`] and [`Containers::list`] report (`docker inspect`).
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    /// The 64-hex-digit ID.
    pub id: String,
    /// The unique name.
    pub name: String,
    /// Created, running or exited.
    pub status: Status,
    /// The host PID of the command (its PID 1) while running.
    pub pid: Option<i32>,
    /// The exit code (128 + signal when killed) once exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Why the last start failed, or why the exit code is unknown.
    pub error: Option<String>,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created: u64,
    /// Last start, nanoseconds since the Unix epoch.
    pub started_at: Option<u64>,
    /// Last exit, nanoseconds since the Unix epoch.
    pub finished_at: Option<u64>,
    /// How many times it was started again after its first start.
    pub restart_count: u32,
    /// `--rm`.
    pub auto_remove: bool,
    /// The signal [`Containers::stop`] sends first.
    pub stop_signal: i32,
    /// How long [`Containers::stop`] waits before `SIGKILL`, in milliseconds.
    pub stop_timeout_ms: u64,
    /// Whether the command runs under our init (`--init`); `pid` is then the init's.
    pub init: bool,
    /// Where its published ports listen on the host, while it runs (`docker port`).
    pub ports: Vec<PublishedPort>,
    /// The root file system.
    pub rootfs: RootFsRecord,
    /// The materialized merged view the container runs over instead of overlayfs, once the
    /// kernel refused its overlay or [`OverlayMode::Never`](crate::OverlayMode::Never) asked
    /// for it (see [Overlay fallback](crate#overlay-fallback)); its changes are then the
    /// difference between this directory and the lower dirs, not the upper dir.
    pub merged: Option<PathBuf>,
    /// The container's directory.
    pub dir: PathBuf,
    /// Its log file (stdout and stderr of detached runs, in the CRI format: see
    /// [`Containers::logs_with`]).
    pub log_path: PathBuf,
    /// `-i`: its stdin stays open for attached clients.
    pub interactive: bool,
    /// `-t`: it has a terminal.
    pub tty: bool,
    /// Docker's `StdinOnce` (see [`CreateOptions::stdin_once`]).
    pub stdin_once: bool,
    /// The runtime spec it runs with.
    pub spec: Spec,
}

impl ContainerInfo {
    /// True while the command runs.
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }
}

/// A store of containers under a state root: Docker's `create`, `start`, `stop`, `kill`,
/// `restart`, `wait`, `rm`, `ps`, `inspect`, `logs`, `attach` and `exec`, usable from several
/// processes at once.
///
/// The layout under the root, and the monitor that waits for a detached container, are
/// described in the crate documentation's section *Containers on disk*.
#[derive(Debug, Clone)]
pub struct Containers {
    root: PathBuf,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let text = fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    serde_json::from_slice(&text).map_err(|source| Error::Record {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes JSON atomically (a temporary file renamed into place).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| Error::Record {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("renaming into place", path, e))
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        return now_ns() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

fn generated_name() -> String {
    const LEFT: &[&str] = &[
        "admiring", "brave", "clever", "dreamy", "eager", "focused", "gentle", "happy", "jolly",
        "keen", "lucid", "modest", "nifty", "quirky", "serene", "vibrant",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "jepsen", "knuth",
        "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak",
    ];
    let r = random_u64();
    format!(
        "{}_{}",
        LEFT[(r % LEFT.len() as u64) as usize],
        RIGHT[((r >> 8) % RIGHT.len() as u64) as usize]
    )
}

/// What this crate reads of `/proc/PID/stat`.
struct ProcStat {
    state: char,
    ppid: i32,
    /// Start time in clock ticks since boot.
    start: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // After the parent (field 4), field 22 is the 18th.
    let start = fields.nth(17)?.parse().ok()?;
    Some(ProcStat { state, ppid, start })
}

/// True when `pid` is a live (not zombie) process started at `start`.
fn alive(pid: Option<i32>, start: Option<u64>) -> bool {
    match (pid, start) {
        (Some(pid), Some(start)) => {
            matches!(proc_stat(pid), Some(p) if p.start == start && p.state != 'Z' && p.state != 'X')
        }
        _ => false,
    }
}

/// A pidfd of `pid` if it is still the process started at `start` (checked after opening, so
/// the pidfd cannot name a recycled PID).
pub(crate) fn verified_pidfd(pid: Option<i32>, start: Option<u64>) -> Option<OwnedFd> {
    let (pid, start) = (pid?, start?);
    let fd = rustix::process::pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()?;
    match proc_stat(pid) {
        Some(p) if p.start == start && p.state != 'X' => Some(fd),
        _ => None,
    }
}

/// Parses the monitor's `exit` file: `E code ns`, `S signal ns` or `U 0 ns`.
fn parse_exit(text: &str) -> Option<(Option<i32>, Option<i32>, u64)> {
    let mut f = text.split_whitespace();
    let kind = f.next()?;
    let value: i32 = f.next()?.parse().ok()?;
    let at: u64 = f.next()?.parse().ok()?;
    match kind {
        "E" => Some((Some(value), None, at)),
        "S" => Some((Some(128 + value), Some(value), at)),
        _ => Some((None, None, at)),
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", path, e.into()))?;
    high(fd)
}

fn high(fd: OwnedFd) -> Result<OwnedFd, Error> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| Error::sys("fcntl", e))
}

/// Waits until a pidfd is readable (its process has exited).
async fn exited(fd: OwnedFd) -> Result<(), Error> {
    let fd = sys::register_pidfd(fd).map_err(|e| Error::sys("registering a pidfd", e))?;
    let _guard = fd
        .readable()
        .await
        .map_err(|e| Error::sys("polling a pidfd", e))?;
    Ok(())
}

/// A held lock (released on drop).
struct Locked(#[allow(dead_code)] fs::File);

fn lock(path: &Path) -> Result<Locked, Error> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("opening lock", path, e))?;
    f.lock().map_err(|e| Error::io("locking", path, e))?;
    Ok(Locked(f))
}

/// A running container's init, as `exec` needs it.
pub(crate) struct RunningInit {
    pub(crate) id: String,
    pub(crate) pid: i32,
    pub(crate) start: u64,
    pub(crate) cgroup_dirs: Vec<PathBuf>,
    pub(crate) spec: Spec,
    pub(crate) rootfs: RootFs,
}

impl RunningInit {
    /// A process whose namespaces and root the caller may open, and a pidfd of it: the
    /// container's init — or, when the kernel refuses the caller access to it (a rootless
    /// caller and our non-dumpable `--init`, whose memory belongs to the caller's user
    /// namespace), one of the init's children, which have executed the container's own
    /// programs and so belong to the container's user namespace.
    ///
    /// Every candidate is checked after its pidfd is opened: the init by its start time, a
    /// child by having the init as its parent, so a recycled PID is never chosen.
    pub(crate) fn anchor(&self) -> Result<(i32, OwnedFd), Error> {
        let not_running = || Error::NotRunning {
            id: self.id.clone(),
        };
        let init_fd = verified_pidfd(Some(self.pid), Some(self.start)).ok_or_else(not_running)?;
        let accessible = |pid: i32| fs::metadata(format!("/proc/{pid}/ns/mnt")).is_ok();
        if accessible(self.pid) {
            return Ok((self.pid, init_fd));
        }
        for child in children(self.pid) {
            let Some(fd) = Pid::from_raw(child)
                .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok())
            else {
                continue;
            };
            if parent_of(child) == Some(self.pid) && accessible(child) {
                tracing::debug!(
                    init = self.pid,
                    child,
                    "joining the container through a child of its init"
                );
                return Ok((child, fd));
            }
        }
        let path = format!("/proc/{}/ns", self.pid);
        Err(Error::io(
            "opening the namespaces of the container's init",
            path,
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ))
    }
}

/// The children of `pid`: `/proc/PID/task/PID/children`, or a scan of `/proc` where the kernel
/// lacks that file.
fn children(pid: i32) -> Vec<i32> {
    if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| parent_of(*p) == Some(pid))
        .collect()
}

/// The parent PID of `pid` (field 4 of `/proc/PID/stat`).
fn parent_of(pid: i32) -> Option<i32> {
    proc_stat(pid).map(|p| p.ppid)
}

/// One container's directory, found.
struct Entry {
    dir: PathBuf,
    record: Record,
}

impl Containers {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        for d in ["containers", "names", "trash"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io("creating", &p, e))?;
        }
        Ok(Containers { root })
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    fn lock_store(&self) -> Result<Locked, Error> {
        lock(&self.root.join("lock"))
    }

    /// Deletes what `rm` and `--rm` moved to the trash.
    fn collect_trash(&self) {
        let Ok(entries) = fs::read_dir(self.trash_dir()) else {
            return;
        };
        for e in entries.flatten() {
            // A `--rm` container moved here by its monitor still uses its volumes: release
            // them, and remove its anonymous ones as Docker's `--rm` does (for a container
            // removed by `remove_with`, this was done already and changes nothing).
            if let Ok(record) = read_json::<Record>(&e.path().join("container.json")) {
                let mounts: Vec<VolumeMount> =
                    record.volumes.iter().map(VolumeRecord::mount).collect();
                if let Err(err) = crate::volume::release(&mounts, &record.id, record.auto_remove) {
                    tracing::warn!(id = %record.id, error = %err, "cannot release the volumes of a removed container");
                }
            }
            if let Err(err) = fs::remove_dir_all(e.path()) {
                tracing::warn!(path = %e.path().display(), error = %err, "cannot delete a removed container");
            }
        }
    }

    /// Records a container (`docker create`): its spec, root file system and options. Returns
    /// its ID (the container's own). A [`RootFs::Overlay`] whose `upper` is empty gets `upper/`
    /// and `work/` in the container's directory, removed with it.
    pub fn create(&self, container: &Container, opts: &CreateOptions) -> Result<String, Error> {
        let tty = opts.tty
            || container
                .spec()
                .process()
                .as_ref()
                .and_then(|p| p.terminal())
                == Some(true);
        let net = container.net_config();
        if !net.ports.is_empty() && crate::net::find_slirp4netns().is_none() {
            return Err(Error::Unsupported {
                what: "published ports for a detached container without slirp4netns, which \
                       forwards them once the caller has gone (install slirp4netns)"
                    .into(),
            });
        }
        let _store = self.lock_store()?;
        self.collect_trash();
        let id = container.id().to_owned();
        let dir = self.containers_dir().join(&id);
        fs::create_dir(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let name = match self.claim_name(&id, opts.name.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let written = (|| {
            let mut rootfs = container.rootfs().clone();
            let mut spec = container.spec().clone();
            if let Some(p) = spec.process_mut() {
                p.set_terminal(Some(tty));
            }
            if let RootFs::Overlay { upper, work, .. } = &mut rootfs {
                if upper.as_os_str().is_empty() {
                    *upper = dir.join("upper");
                    *work = dir.join("work");
                    for d in [&*upper, &*work] {
                        fs::create_dir(d).map_err(|e| Error::io("creating", d, e))?;
                    }
                    if let Some(root) = spec.root_mut() {
                        root.set_path(upper.clone());
                    }
                }
            }
            write_json(&dir.join("config.json"), &spec)?;
            if let Some(files) = container.etc_files() {
                files.write(&dir)?;
            }
            let record = Record {
                id: id.clone(),
                name: name.clone(),
                created: now_ns(),
                rootfs: RootFsRecord::from_rootfs(&rootfs),
                auto_remove: opts.auto_remove,
                stop_signal: opts.stop_signal.unwrap_or(libc::SIGTERM),
                stop_timeout_ms: opts
                    .stop_timeout
                    .unwrap_or(DEFAULT_STOP_TIMEOUT)
                    .as_millis() as u64,
                init: opts.init || container.has_init(),
                ports: net.ports.iter().map(ToString::to_string).collect(),
                outbound: net.slirp.is_some(),
                volumes: container.volumes().iter().map(VolumeRecord::of).collect(),
                etc: container.etc_files().is_some(),
                overlay: container.overlay_mode(),
                interactive: opts.interactive,
                tty,
                stdin_once: opts.stdin_once,
            };
            // The builder has registered the container as their user already; again, in case
            // a release came in between.
            for m in container.volumes() {
                m.store().acquire(&m.name, &id)?;
            }
            write_json(&dir.join("container.json"), &record)?;
            write_json(&dir.join("state.json"), &State::created())?;
            let log = dir.join("container.log");
            fs::File::create(&log).map_err(|e| Error::io("creating", &log, e))?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(self.names_dir().join(&name));
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::debug!(%id, %name, "container created");
        Ok(id)
    }

    /// Takes a name (given or generated) for `id`: a symlink `names/NAME -> ID`, which exists
    /// once. Called under the store lock.
    fn claim_name(&self, id: &str, name: Option<&str>) -> Result<String, Error> {
        if let Some(n) = name {
            let n = n.trim_start_matches('/');
            if !valid_name(n) {
                return Err(Error::InvalidName { name: n.to_owned() });
            }
            let link = self.names_dir().join(n);
            return match symlink(id, &link) {
                Ok(()) => Ok(n.to_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_link(&link)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Err(Error::NameInUse {
                        name: n.to_owned(),
                        id: owner,
                    })
                }
                Err(e) => Err(Error::io("creating", link, e)),
            };
        }
        for attempt in 0..64 {
            let mut n = generated_name();
            if attempt >= 8 {
                n = format!("{n}{}", random_u64() % 1000);
            }
            match symlink(id, self.names_dir().join(&n)) {
                Ok(()) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("creating", self.names_dir().join(&n), e)),
            }
        }
        Err(Error::InvalidName {
            name: "(no free generated name)".into(),
        })
    }

    /// Resolves a full ID, a name or a unique ID prefix to the container's ID (Docker's order:
    /// exact ID, exact name, ID prefix).
    pub fn resolve(&self, query: &str) -> Result<String, Error> {
        let none = || Error::NoSuchContainer {
            query: query.to_owned(),
        };
        let query = query.trim_start_matches('/');
        if query.is_empty() {
            return Err(none());
        }
        let hex = query.bytes().all(|b| b.is_ascii_hexdigit());
        if hex && query.len() == 64 && self.containers_dir().join(query).is_dir() {
            return Ok(query.to_owned());
        }
        if valid_name(query) {
            if let Ok(target) = fs::read_link(self.names_dir().join(query)) {
                let id = target.to_string_lossy().into_owned();
                if self.containers_dir().join(&id).is_dir() {
                    return Ok(id);
                }
            }
        }
        if !hex {
            return Err(none());
        }
        let query = query.to_ascii_lowercase();
        let dir = self.containers_dir();
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
        let mut found: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&query))
            .collect();
        found.sort();
        match found.len() {
            0 => Err(none()),
            1 => Ok(found.remove(0)),
            _ => Err(Error::AmbiguousId {
                prefix: query,
                candidates: found,
            }),
        }
    }

    fn entry(&self, query: &str) -> Result<Entry, Error> {
        let id = self.resolve(query)?;
        let dir = self.containers_dir().join(&id);
        let record: Record = read_json(&dir.join("container.json")).map_err(|e| match e {
            Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::NoSuchContainer {
                    query: query.to_owned(),
                }
            }
            e => e,
        })?;
        Ok(Entry { dir, record })
    }

    /// Reads the state, bringing it up to date: a running container whose monitor recorded an
    /// exit, or whose processes are gone, becomes exited. Call under the container's lock when
    /// `persist`.
    fn refresh(dir: &Path, persist: bool) -> Result<State, Error> {
        let mut st: State = read_json(&dir.join("state.json"))?;
        if st.status != Status::Running {
            return Ok(st);
        }
        let exit_path = dir.join("exit");
        let read_exit = || {
            fs::read_to_string(&exit_path)
                .ok()
                .and_then(|t| parse_exit(&t))
        };
        let mut ended = read_exit();
        if ended.is_none() {
            if alive(st.monitor_pid, st.monitor_start) || alive(st.pid, st.pid_start) {
                return Ok(st);
            }
            // Gone: the monitor may have written the file just now.
            ended = read_exit();
        }
        match ended {
            Some((code, signal, at)) => {
                st.exit_code = Some(code.unwrap_or(UNKNOWN_EXIT_CODE));
                st.signal = signal;
                st.finished_at = Some(at);
                if code.is_none() {
                    st.error = Some("the monitor could not wait for the command".into());
                }
            }
            None => {
                st.exit_code = Some(UNKNOWN_EXIT_CODE);
                st.signal = None;
                st.finished_at = Some(now_ns());
                st.error = Some("the container's monitor died; exit code unknown".into());
            }
        }
        st.status = Status::Exited;
        st.ports.clear();
        st.pid = None;
        st.pid_start = None;
        // The monitor is kept: it outlives the command for a moment (cgroups, `--rm`), and
        // `wait` waits for it. Its start time keeps a recycled PID from being taken for it.
        if persist {
            write_json(&dir.join("state.json"), &st)?;
            let _ = fs::remove_file(&exit_path);
        }
        Ok(st)
    }

    fn state(&self, e: &Entry) -> Result<State, Error> {
        let _l = lock(&e.dir.join("lock"))?;
        Self::refresh(&e.dir, true)
    }

    fn info(&self, e: Entry, st: State) -> Result<ContainerInfo, Error> {
        let spec: Spec = read_json(&e.dir.join("config.json"))?;
        Ok(ContainerInfo {
            id: e.record.id,
            name: e.record.name,
            status: st.status,
            pid: (st.status == Status::Running).then_some(st.pid).flatten(),
            exit_code: st.exit_code,
            signal: st.signal,
            error: st.error,
            created: e.record.created,
            started_at: st.started_at,
            finished_at: st.finished_at,
            restart_count: st.restart_count,
            auto_remove: e.record.auto_remove,
            stop_signal: e.record.stop_signal,
            stop_timeout_ms: e.record.stop_timeout_ms,
            init: e.record.init,
            ports: if st.status == Status::Running {
                st.ports
            } else {
                Vec::new()
            },
            merged: e
                .record
                .rootfs
                .to_rootfs()
                .materialized_path()
                .filter(|m| m.is_dir()),
            rootfs: e.record.rootfs,
            log_path: e.dir.join("container.log"),
            interactive: e.record.interactive,
            tty: e.record.tty,
            stdin_once: e.record.stdin_once,
            dir: e.dir,
            spec,
        })
    }

    /// The container's record and current state (`docker inspect`).
    pub fn inspect(&self, query: &str) -> Result<ContainerInfo, Error> {
        let e = self.entry(query)?;
        let st = self.state(&e)?;
        self.info(e, st)
    }

    /// The containers, running ones only or all (`docker ps`, `docker ps -a`), newest first.
    pub fn list(&self, all: bool) -> Result<Vec<ContainerInfo>, Error> {
        let dir = self.containers_dir();
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
        let mut out = Vec::new();
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            // A container being created or removed by another process is skipped.
            let info = self.entry(&id).and_then(|e| {
                let st = self.state(&e)?;
                self.info(e, st)
            });
            match info {
                Ok(i) if all || i.is_running() => out.push(i),
                Ok(_) => {}
                Err(err) => tracing::debug!(%id, error = %err, "skipping a container"),
            }
        }
        out.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(out)
    }

    /// Creates and starts a container (`docker run -d`); returns its ID.
    pub async fn run(&self, container: &Container, opts: &CreateOptions) -> Result<String, Error> {
        let id = self.create(container, opts)?;
        self.start(&id).await?;
        Ok(id)
    }

    /// Starts a created or exited container, detached (`docker start`): its monitor copies
    /// its stdout and stderr (or its terminal's output) to its log and to attached clients
    /// ([`Containers::attach`]), holds its stdin open with [`CreateOptions::interactive`], and
    /// records its exit. Starting a running container does nothing. Returns once the command
    /// has been executed, or with the error its init reported (the container is then exited
    /// with code 127, as the init).
    pub async fn start(&self, query: &str) -> Result<(), Error> {
        self.start_with(query, None).await.map(drop)
    }

    /// [`Containers::start`], with a client attached from the start (its socket, for the
    /// monitor, and what it wants). Returns the ID, or `None` when it was running already.
    pub(crate) async fn start_with(
        &self,
        query: &str,
        first_client: Option<(OwnedFd, u8)>,
    ) -> Result<Option<String>, Error> {
        let e = self.entry(query)?;
        let _l = lock(&e.dir.join("lock"))?;
        let mut st = Self::refresh(&e.dir, true)?;
        if st.status == Status::Running {
            return Ok(None);
        }
        let spec: Spec = read_json(&e.dir.join("config.json"))?;
        let mut container =
            Container::new(spec.clone(), e.record.rootfs.to_rootfs())?.with_id(e.record.id.clone());
        // The monitor relays the command's stdio (a terminal ignores these).
        let stdin = if e.record.interactive {
            Stdio::Piped
        } else {
            Stdio::Null
        };
        container.set_stdio(stdin, Stdio::Piped, Stdio::Piped);
        container.set_init(e.record.init);
        container.set_overlay_mode(e.record.overlay);
        Self::choose_root(container.rootfs(), e.record.overlay).await?;
        let ports = e
            .record
            .ports
            .iter()
            .map(|p| p.parse::<PortMapping>())
            .collect::<Result<Vec<_>, _>>()?;
        let slirp = if e.record.outbound || !ports.is_empty() {
            crate::net::find_slirp4netns()
        } else {
            None
        };
        if !ports.is_empty() && slirp.is_none() {
            return Err(Error::Unsupported {
                what: "published ports for a detached container without slirp4netns".into(),
            });
        }
        container.set_net_config(NetConfig {
            ports: ports.clone(),
            slirp: slirp.clone(),
        });
        // Its `--exit-fd`: the monitor holds the only write end.
        let slirp_exit = slirp
            .as_ref()
            .map(|_| crate::net::exit_pipe())
            .transpose()?;
        let _ = fs::remove_file(e.dir.join("exit"));

        let p = container.prepare(e.record.etc.then_some(e.dir.as_path()))?;
        let log_path = e.dir.join("container.log");
        let log = rustix::fs::open(
            &log_path,
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o640),
        )
        .map_err(|err| Error::io("opening", &log_path, err.into()))?;
        let log_offset = rustix::fs::fstat(&log)
            .map(|s| s.st_size as u64)
            .map_err(|err| Error::io("reading the size of", &log_path, err.into()))?;
        let log = high(log)?;
        let listen = crate::attach::listen(&e.dir)?;
        let null = high(
            rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
                .map_err(|err| Error::io("opening", "/dev/null", err.into()))?,
        )?;
        let (report_r, report_w) = pipe()?;
        let (ack_r, ack_w) = pipe()?;
        let dir_fd = open_dir(&e.dir)?;
        let cgroup_dirs = p
            .cgroup
            .as_ref()
            .map(|c| c.dirs().to_vec())
            .unwrap_or_default();

        let mut monitor_fds: Vec<OwnedFd> = Vec::new();
        let auto_remove = if e.record.auto_remove {
            let lock_path = self.root.join("lock");
            let lock_fd = high(
                rustix::fs::open(
                    &lock_path,
                    OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .map_err(|err| Error::io("opening", &lock_path, err.into()))?,
            )?;
            let names = open_dir(&self.names_dir())?;
            let containers = open_dir(&self.containers_dir())?;
            let trash = open_dir(&self.trash_dir())?;
            let ar = AutoRemove {
                lock_fd: lock_fd.as_raw_fd(),
                names_fd: names.as_raw_fd(),
                name: CString::new(e.record.name.clone()).unwrap_or_default(),
                containers_fd: containers.as_raw_fd(),
                trash_fd: trash.as_raw_fd(),
                id: cpath(Path::new(&e.record.id))?,
            };
            monitor_fds.extend([lock_fd, names, containers, trash]);
            Some(ar)
        } else {
            None
        };

        let plan_fds: Vec<RawFd> = p
            .child_fds
            .iter()
            .map(AsRawFd::as_raw_fd)
            .chain(std::iter::once(p.plan.error_fd))
            .collect();
        // The monitor's ends of the command's stdio are non-blocking (its own descriptions).
        for fd in [&p.stdin_w, &p.stdout_r, &p.stderr_r].into_iter().flatten() {
            rustix::io::ioctl_fionbio(fd, true).map_err(|err| Error::sys("ioctl(FIONBIO)", err))?;
        }
        let raw = |fd: &Option<OwnedFd>| fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let relay = sys::RelayPlan {
            log_fd: log.as_raw_fd(),
            stdin: raw(&p.stdin_w),
            stdout: raw(&p.stdout_r),
            stderr: raw(&p.stderr_r),
            terminal: raw(&p.terminal),
            interactive: e.record.interactive,
            stdin_once: e.record.stdin_once,
            listen: listen.as_raw_fd(),
            first: first_client.as_ref().map_or(-1, |(fd, _)| fd.as_raw_fd()),
            first_wants: first_client.as_ref().map_or(0, |(_, w)| *w),
        };
        let mut keep: Vec<RawFd> = plan_fds.clone();
        keep.extend([
            log.as_raw_fd(),
            null.as_raw_fd(),
            report_w.as_raw_fd(),
            ack_r.as_raw_fd(),
            dir_fd.as_raw_fd(),
            listen.as_raw_fd(),
        ]);
        keep.extend(
            [
                relay.stdin,
                relay.stdout,
                relay.stderr,
                relay.terminal,
                relay.first,
            ]
            .into_iter()
            .filter(|fd| *fd >= 0),
        );
        keep.extend(monitor_fds.iter().map(AsRawFd::as_raw_fd));
        keep.extend(slirp_exit.as_ref().map(|(_, w)| w.as_raw_fd()));
        keep.sort_unstable();
        keep.dedup();
        let mon = MonitorPlan {
            stdio: [null.as_raw_fd(); 3],
            keep,
            close_after: plan_fds,
            report_fd: report_w.as_raw_fd(),
            ack_fd: ack_r.as_raw_fd(),
            dir_fd: dir_fd.as_raw_fd(),
            cgroup_dirs: cgroup_dirs
                .iter()
                .map(|d| cpath(d))
                .collect::<Result<_, _>>()?,
            auto_remove,
            relay,
        };

        let first =
            sys::spawn_detached(&p.plan, p.flags, &mon).map_err(|err| Error::sys("clone3", err))?;
        let crate::container::Prepared {
            plan,
            rootless,
            error_r,
            sync_w,
            child_fds,
            cgroup,
            stdin_w,
            stdout_r,
            stderr_r,
            terminal,
            ..
        } = p;
        // The monitor owns the cgroup now (it removes it after the exit).
        let _ = cgroup.map(crate::cgroup::Cgroup::keep);
        let slirp_exit_r = slirp_exit.map(|(r, w)| {
            drop(w);
            r
        });
        drop((child_fds, log, null, report_w, ack_r, dir_fd, monitor_fds));
        // The monitor holds the command's stdio and the attach socket from here.
        drop((stdin_w, stdout_r, stderr_r, terminal, listen, first_client));
        // The first child exits right after cloning the monitor.
        loop {
            match rustix::process::waitid(WaitId::PidFd(first.pidfd.as_fd()), WaitIdOptions::EXITED)
            {
                Err(rustix::io::Errno::INTR) => continue,
                other => {
                    other.map_err(|err| Error::sys("waitid", err))?;
                    break;
                }
            }
        }
        let mut report = [0u8; 8];
        let n = read_all(report_r, &mut report).await?;
        if n != report.len() {
            return Err(Error::InitDied);
        }
        let pid = i32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
        let monitor_pid = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
        if pid < 0 {
            return Err(Error::sys(
                "clone3 (the container's init)",
                std::io::Error::from_raw_os_error(-pid),
            ));
        }
        // The init cannot be reaped before `ack_w` is closed: its start time is its own.
        let pid_start = proc_stat(pid).map(|p| p.start);
        let monitor_start = proc_stat(monitor_pid).map(|p| p.start);
        if st.started_at.is_some() {
            st.restart_count += 1;
        }
        st.status = Status::Running;
        st.pid = Some(pid);
        st.pid_start = pid_start;
        st.monitor_pid = Some(monitor_pid);
        st.monitor_start = monitor_start;
        st.exit_code = None;
        st.signal = None;
        st.started_at = Some(now_ns());
        st.finished_at = None;
        st.error = None;
        st.cgroup_dirs = cgroup_dirs;
        st.log_offset = log_offset;
        let recorded = write_json(&e.dir.join("state.json"), &st);
        let maps = match (&sync_w, &recorded) {
            (Some(_), Ok(())) if rootless => write_id_maps(pid, rootless, &spec),
            _ => Ok(()),
        };
        // slirp4netns before the command runs (the init waits on the sync pipe).
        let net = match (&recorded, &maps, &slirp, slirp_exit_r) {
            (Ok(()), Ok(()), Some(path), Some(exit_r)) => {
                crate::net::start_detached(path, pid, rootless, &e.dir, exit_r, &ports).await
            }
            _ => Ok(Vec::new()),
        };
        let net = net.and_then(|published| {
            if published.is_empty() {
                return Ok(());
            }
            st.ports = published;
            write_json(&e.dir.join("state.json"), &st)
        });
        if recorded.is_err() || maps.is_err() || net.is_err() {
            if let Some(fd) = verified_pidfd(Some(pid), pid_start) {
                let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
            }
        }
        if let Some(w) = sync_w {
            if maps.is_ok() && net.is_ok() {
                let _ = rustix::io::write(&w, &[1]);
            }
        }
        drop(ack_w);
        recorded?;
        maps?;
        net?;

        let mut buf = [0u8; sys::Fail::LEN];
        let n = read_all(error_r, &mut buf).await?;
        if n == 0 {
            tracing::debug!(id = %e.record.id, pid, monitor_pid, "container started");
            return Ok(Some(e.record.id));
        }
        let err = match (n == buf.len()).then(|| sys::Fail::decode(&buf)).flatten() {
            Some(fail) => setup_error(&plan, fail),
            None => Error::InitDied,
        };
        // Record the failure once the monitor has recorded the exit (127).
        if let Some(fd) = verified_pidfd(Some(monitor_pid), monitor_start) {
            let _ = tokio::time::timeout(Duration::from_secs(10), exited(fd)).await;
        }
        if let Ok(mut st) = Self::refresh(&e.dir, true) {
            st.error = Some(err.to_string());
            let _ = write_json(&e.dir.join("state.json"), &st);
        }
        Err(err)
    }

    /// Materializes an overlay's merged view before a detached start when it is to be used:
    /// always with [`OverlayMode::Never`], and with [`OverlayMode::Auto`] when the kernel
    /// refuses the overlay (tried first in a throwaway mount namespace, rootful only: a
    /// refusal inside the container's init could not be retried, as its monitor already
    /// runs — and removes a `--rm` container when it ends).
    async fn choose_root(rootfs: &RootFs, mode: OverlayMode) -> Result<(), Error> {
        let current = rootfs.effective();
        if !matches!(current, RootFs::Overlay { .. }) {
            return Ok(());
        }
        match mode {
            OverlayMode::Always => Ok(()),
            OverlayMode::Never => rootfs.materialize_async().await,
            OverlayMode::Auto => {
                if !rustix::process::geteuid().is_root() {
                    return Ok(());
                }
                let (target, how) = current.root_mount()?;
                let crate::plan::RootMount::Overlay { data } = how else {
                    return Ok(());
                };
                let probe = tokio::task::spawn_blocking(move || sys::probe_overlay(target, data))
                    .await
                    .map_err(|e| Error::sys("probing overlayfs", std::io::Error::other(e)))?;
                match probe {
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EPERM | libc::EINVAL | libc::ENODEV)
                        ) =>
                    {
                        tracing::warn!(error = %e, "overlayfs refused: running over a materialized copy of the merged view");
                        rootfs.materialize_async().await
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Sends a signal to the container's command (`docker kill -s`).
    pub fn kill(&self, query: &str, signal: i32) -> Result<(), Error> {
        let e = self.entry(query)?;
        let st = self.state(&e)?;
        let not_running = || Error::NotRunning {
            id: e.record.id.clone(),
        };
        if st.status != Status::Running {
            return Err(not_running());
        }
        let sig = Signal::from_named_raw(signal).ok_or_else(|| {
            Error::sys(
                "pidfd_send_signal",
                std::io::Error::from_raw_os_error(libc::EINVAL),
            )
        })?;
        let fd = verified_pidfd(st.pid, st.pid_start).ok_or_else(not_running)?;
        match rustix::process::pidfd_send_signal(&fd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(err) => Err(Error::sys("pidfd_send_signal", err)),
        }
    }

    /// Waits for the container's command to end and returns its exit code (`docker wait`).
    /// Works from any process; for a `--rm` container the code is read before it is deleted.
    pub async fn wait(&self, query: &str) -> Result<i32, Error> {
        // `--rm`: the monitor moves the directory to the trash once the exit is recorded, which
        // may happen before this call; a full ID still finds it there until the trash is emptied.
        let (id, dir) = match self.entry(query) {
            Ok(e) => (e.record.id.clone(), e.dir),
            Err(Error::NoSuchContainer { .. })
                if is_full_id(query) && self.trash_dir().join(query).is_dir() =>
            {
                (query.to_string(), self.trash_dir().join(query))
            }
            Err(err) => return Err(err),
        };
        let trash = self.trash_dir().join(&id);
        let read = |dir: &Path| lock(&dir.join("lock")).and_then(|_l| Self::refresh(dir, true));
        let mut misses = 0;
        loop {
            let st = match read(&dir).or_else(|_| read(&trash)) {
                Ok(st) => st,
                Err(_) if !dir.exists() && !trash.exists() => {
                    return Err(Error::NoSuchContainer { query: id });
                }
                // Caught in the middle of the move: look again.
                Err(_) if misses < 100 => {
                    misses += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            if st.status != Status::Running {
                // The monitor records the exit first, then removes the cgroups and, for
                // `--rm`, the container: like `docker run --rm`, return once that is done.
                if let Some(fd) = verified_pidfd(st.monitor_pid, st.monitor_start) {
                    exited(fd).await?;
                }
                return Ok(st.exit_code.unwrap_or(0));
            }
            let target = verified_pidfd(st.monitor_pid, st.monitor_start)
                .or_else(|| verified_pidfd(st.pid, st.pid_start));
            match target {
                Some(fd) => exited(fd).await?,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Stops the container (`docker stop`): its stop signal (`SIGTERM` unless configured), then
    /// `SIGKILL` after `timeout` (the container's stop timeout when `None`). Returns the exit
    /// code; a container that is not running is left as it is.
    pub async fn stop(&self, query: &str, timeout: Option<Duration>) -> Result<i32, Error> {
        let e = self.entry(query)?;
        let id = e.record.id.clone();
        let timeout = timeout.unwrap_or(Duration::from_millis(e.record.stop_timeout_ms));
        match self.kill(&id, e.record.stop_signal) {
            Ok(()) => {}
            Err(Error::NotRunning { .. }) => return self.wait(&id).await,
            Err(err) => return Err(err),
        }
        if let Ok(code) = tokio::time::timeout(timeout, self.wait(&id)).await {
            return code;
        }
        tracing::debug!(%id, "stop timeout: sending SIGKILL");
        match self.kill(&id, libc::SIGKILL) {
            Ok(()) | Err(Error::NotRunning { .. }) => {}
            Err(err) => return Err(err),
        }
        self.wait(&id).await
    }

    /// Stops (if running) and starts the container again (`docker restart`).
    pub async fn restart(&self, query: &str, timeout: Option<Duration>) -> Result<(), Error> {
        let id = self.resolve(query)?;
        self.stop(&id, timeout).await?;
        self.start(&id).await
    }

    /// Removes the container (`docker rm`): refused while it runs unless `force`, which kills
    /// it first (`docker rm -f`). Its directory, log and read-write layer are deleted, and it
    /// stops using its volumes (which are kept; see [`Containers::remove_with`]).
    pub async fn remove(&self, query: &str, force: bool) -> Result<(), Error> {
        self.remove_with(
            query,
            RemoveOptions {
                force,
                volumes: false,
            },
        )
        .await
    }

    /// Removes the container as [`Containers::remove`] does, and with
    /// [`RemoveOptions::volumes`] its anonymous volumes too (`docker rm -v`); named volumes
    /// always outlive it.
    pub async fn remove_with(&self, query: &str, opts: RemoveOptions) -> Result<(), Error> {
        let force = opts.force;
        let e = self.entry(query)?;
        let id = e.record.id.clone();
        let st = self.state(&e)?;
        if st.status == Status::Running {
            if !force {
                return Err(Error::Running {
                    action: "remove",
                    id,
                });
            }
            match self.kill(&id, libc::SIGKILL) {
                Ok(()) | Err(Error::NotRunning { .. }) => {}
                Err(err) => return Err(err),
            }
            self.wait(&id).await?;
        }
        let _store = self.lock_store()?;
        let mounts: Vec<VolumeMount> = e.record.volumes.iter().map(VolumeRecord::mount).collect();
        crate::volume::release(&mounts, &id, opts.volumes)?;
        let link = self.names_dir().join(&e.record.name);
        if fs::read_link(&link).is_ok_and(|t| t.as_os_str() == id.as_str()) {
            let _ = fs::remove_file(&link);
        }
        let trash = self.trash_dir().join(&id);
        match fs::rename(&e.dir, &trash) {
            Ok(()) => {}
            // Removed meanwhile (`--rm`, another process).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::io("removing", &e.dir, err)),
        }
        self.collect_trash();
        Ok(())
    }

    /// The container's log file path.
    pub fn log_path(&self, query: &str) -> Result<PathBuf, Error> {
        Ok(self.entry(query)?.dir.join("container.log"))
    }

    /// What the log readers need: the container's directory, where its current (or last)
    /// run's output starts in the log, and whether it runs (with its monitor's pidfd).
    pub(crate) fn log_view(&self, query: &str) -> Result<crate::logs::LogView, Error> {
        let e = self.entry(query)?;
        let st = self.state(&e)?;
        let run_start = if st.status == Status::Created {
            fs::metadata(e.dir.join("container.log")).map_or(0, |m| m.len())
        } else {
            st.log_offset
        };
        let running = st.status == Status::Running;
        Ok(crate::logs::LogView {
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

    /// The running container, for exec.
    pub(crate) fn running(&self, query: &str) -> Result<RunningInit, Error> {
        let e = self.entry(query)?;
        let st = self.state(&e)?;
        match (st.status, st.pid, st.pid_start) {
            (Status::Running, Some(pid), Some(start)) => Ok(RunningInit {
                spec: read_json(&e.dir.join("config.json"))?,
                id: e.record.id,
                pid,
                start,
                cgroup_dirs: st.cgroup_dirs,
                rootfs: e.record.rootfs.to_rootfs(),
            }),
            _ => Err(Error::NotRunning { id: e.record.id }),
        }
    }

    /// True while the container runs (an attachment that ended without a word).
    pub(crate) fn is_running(&self, query: &str) -> bool {
        self.entry(query)
            .and_then(|e| Self::refresh(&e.dir, false))
            .is_ok_and(|st| st.status == Status::Running)
    }
}

/// Whether `s` is a whole container ID (64 lowercase hex digits), safe to join to a path.
fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("web-1.a_b"));
        assert!(valid_name("a1"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("web/1"));
        assert!(!valid_name("wéb"));
        assert!(valid_name(&generated_name()));
    }

    #[test]
    fn exit_files_parse() {
        assert_eq!(parse_exit("E 3 17\n"), Some((Some(3), None, 17)));
        assert_eq!(parse_exit("S 9 18\n"), Some((Some(137), Some(9), 18)));
        assert_eq!(parse_exit("U 0 1\n"), Some((None, None, 1)));
        assert_eq!(parse_exit("garbage"), None);
    }

    #[test]
    fn proc_stat_reads_our_start_time() {
        let me = std::process::id() as i32;
        let ProcStat { state, ppid, start } = proc_stat(me).unwrap();
        assert!(state == 'R' || state == 'S', "{state}");
        assert_eq!(
            ppid,
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
        );
        assert!(alive(Some(me), Some(start)));
        assert!(!alive(Some(me), Some(start + 1)));
    }
}
