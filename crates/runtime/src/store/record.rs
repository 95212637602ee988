//! What the store keeps on disk — `container.json`, `state.json`, the monitor's `exit` file —
//! and what it reports (`docker inspect`), with the options of its verbs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sandbox::network::PublishedPort;
use crate::sandbox::rootfs::{OverlayMode, RootFs};
use crate::sandbox::volumes::{VolumeMount, Volumes};

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

/// Options of [`Containers::create`](crate::Containers::create) (the `docker create` flags that are not the container's
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
    /// `--init`: run the command under our init (see [`Container::has_init`](crate::Container::has_init)); a container
    /// built with [`ContainerBuilder::init`](crate::ContainerBuilder::init) has it anyway.
    pub init: bool,
    /// `-i`: keep the command's stdin open — a pipe whose write end the monitor holds — so
    /// that attached clients can write to it ([`Containers::attach`](crate::Containers::attach)). Without it stdin is
    /// `/dev/null`.
    pub interactive: bool,
    /// `-t`: a terminal, whose master the monitor holds: its output goes to the log (as
    /// stdout) and to attached clients, which can resize it; with
    /// [`interactive`](Self::interactive), their input is its keyboard. A container built
    /// with [`ContainerBuilder::tty`](crate::ContainerBuilder::tty) has it anyway.
    pub tty: bool,
    /// Docker's `StdinOnce`: the command's stdin closes (it reads EOF) when an attached client
    /// that had it closes its stdin or goes away; without it that only ends the client's
    /// attachment. Set by `docker run -i` without `-d` ([`Containers::run_attached`](crate::Containers::run_attached)). No
    /// effect with a terminal.
    pub stdin_once: bool,
    /// The PID of the process this container is tied to (none by default): when that process
    /// ends — however it ends, `SIGKILL` included — the container's monitor kills the
    /// container's init with `SIGKILL` (its stop signal and timeout are skipped: the container
    /// is going away, and a test harness killed by a CI timeout wants it gone at once) and
    /// removes the container, as `--rm` does. Its directory (with an upper and work dir the
    /// runtime made) moves to the store's trash at once, so it is no longer listed; the trash,
    /// its volumes' release and its anonymous volumes go with the next `create` or `rm` in
    /// the store.
    ///
    /// The process is recorded by PID *and* start time (read by `create`, which fails with
    /// [`Error::OwnerGone`](crate::Error::OwnerGone) if it has ended), so a recycled PID is
    /// never taken for it. A tied container whose owner has ended before it starts is removed
    /// by [`Containers::start`](crate::Containers::start), which fails with that error. What
    /// outlives the owner unwatched: a tied container that had already exited (its monitor
    /// is gone) stays until removed. [`CreateOptions::tied_to_caller`] ties it to this
    /// process.
    pub owner: Option<u32>,
}

impl CreateOptions {
    /// Ties the container to the calling process ([`CreateOptions::owner`] set to
    /// [`std::process::id`]): when this process ends, even killed by `SIGKILL`, the container
    /// is killed and removed.
    pub fn tied_to_caller(mut self) -> Self {
        self.owner = Some(std::process::id());
        self
    }
}

/// The process a container is tied to, as recorded: its PID and start time (clock ticks
/// since boot, `/proc/PID/stat`), so that a recycled PID is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OwnerRecord {
    pub(crate) pid: i32,
    pub(crate) start: u64,
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
    pub(crate) fn from_rootfs(r: &RootFs) -> Self {
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
pub(crate) struct ContainerRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created: u64,
    pub(crate) rootfs: RootFsRecord,
    pub(crate) auto_remove: bool,
    pub(crate) stop_signal: i32,
    pub(crate) stop_timeout_ms: u64,
    #[serde(default)]
    pub(crate) init: bool,
    /// Published ports (`-p`, Docker's syntax), forwarded by slirp4netns.
    #[serde(default)]
    pub(crate) ports: Vec<String>,
    /// A private network with outbound access (slirp4netns when installed).
    #[serde(default)]
    pub(crate) outbound: bool,
    /// The volumes it uses (released by `rm`).
    #[serde(default)]
    pub(crate) volumes: Vec<VolumeRecord>,
    /// Docker's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` are in the container's
    /// directory, bound over the image's at each start.
    #[serde(default)]
    pub(crate) etc: bool,
    /// How an overlay root runs (overlayfs, or its materialized merged view).
    #[serde(default)]
    pub(crate) overlay: OverlayMode,
    /// `-i`, `-t` and Docker's `StdinOnce`.
    #[serde(default)]
    pub(crate) interactive: bool,
    #[serde(default)]
    pub(crate) tty: bool,
    #[serde(default)]
    pub(crate) stdin_once: bool,
    /// The process the container is tied to ([`CreateOptions::owner`]).
    #[serde(default)]
    pub(crate) owner: Option<OwnerRecord>,
}

/// A volume in `container.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VolumeRecord {
    /// The volume store's directory (`Volumes::path`).
    store: PathBuf,
    name: String,
    destination: PathBuf,
    anonymous: bool,
    read_only: bool,
}

impl VolumeRecord {
    pub(crate) fn of(m: &VolumeMount) -> Self {
        VolumeRecord {
            store: m.store().path().to_path_buf(),
            name: m.name.clone(),
            destination: m.destination.clone(),
            anonymous: m.anonymous,
            read_only: m.read_only,
        }
    }

    pub(crate) fn mount(&self) -> VolumeMount {
        VolumeMount::recorded(
            Volumes::at(self.store.clone()),
            self.name.clone(),
            self.destination.clone(),
            self.anonymous,
            self.read_only,
        )
    }
}

/// Options of [`Containers::remove_with`](crate::Containers::remove_with) (`docker rm` flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove its anonymous volumes too (named volumes are kept).
    pub volumes: bool,
}

/// `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) pid: Option<i32>,
    #[serde(default)]
    pub(crate) pid_start: Option<u64>,
    #[serde(default)]
    pub(crate) monitor_pid: Option<i32>,
    #[serde(default)]
    pub(crate) monitor_start: Option<u64>,
    #[serde(default)]
    pub(crate) exit_code: Option<i32>,
    #[serde(default)]
    pub(crate) signal: Option<i32>,
    #[serde(default)]
    pub(crate) started_at: Option<u64>,
    #[serde(default)]
    pub(crate) finished_at: Option<u64>,
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) cgroup_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub(crate) restart_count: u32,
    #[serde(default)]
    pub(crate) ports: Vec<PublishedPort>,
    /// Where the last start's output begins in the log (the log is appended to by every run).
    #[serde(default)]
    pub(crate) log_offset: u64,
}

impl State {
    pub(crate) fn created() -> Self {
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

    /// Records a start: the init's and the monitor's PIDs and start times, its cgroups, where
    /// its output starts in the log.
    pub(crate) fn started(
        &mut self,
        (pid, pid_start): (i32, Option<u64>),
        (monitor_pid, monitor_start): (i32, Option<u64>),
        cgroup_dirs: Vec<PathBuf>,
        log_offset: u64,
    ) {
        if self.started_at.is_some() {
            self.restart_count += 1;
        }
        self.status = Status::Running;
        self.pid = Some(pid);
        self.pid_start = pid_start;
        self.monitor_pid = Some(monitor_pid);
        self.monitor_start = monitor_start;
        self.exit_code = None;
        self.signal = None;
        self.started_at = Some(now_ns());
        self.finished_at = None;
        self.error = None;
        self.cgroup_dirs = cgroup_dirs;
        self.log_offset = log_offset;
    }
}

/// What [`Containers::inspect`](crate::Containers::inspect) and [`Containers::list`](crate::Containers::list) report (`docker inspect`).
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
    /// The signal [`Containers::stop`](crate::Containers::stop) sends first.
    pub stop_signal: i32,
    /// How long [`Containers::stop`](crate::Containers::stop) waits before `SIGKILL`, in milliseconds.
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
    /// [`Containers::logs_with`](crate::Containers::logs_with)).
    pub log_path: PathBuf,
    /// `-i`: its stdin stays open for attached clients.
    pub interactive: bool,
    /// `-t`: it has a terminal.
    pub tty: bool,
    /// Docker's `StdinOnce` (see [`CreateOptions::stdin_once`]).
    pub stdin_once: bool,
    /// The PID of the process the container is tied to ([`CreateOptions::owner`]).
    pub owner: Option<u32>,
    /// The runtime spec it runs with.
    pub spec: Spec,
}

impl ContainerInfo {
    /// True while the command runs.
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Reads a JSON record.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let text = fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    serde_json::from_slice(&text).map_err(|source| Error::Record {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes JSON atomically (a temporary file renamed into place).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| Error::Record {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("renaming into place", path, e))
}

/// Parses the monitor's `exit` file: `E code ns`, `S signal ns` or `U 0 ns`.
pub(crate) fn parse_exit(text: &str) -> Option<(Option<i32>, Option<i32>, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_files_parse() {
        assert_eq!(parse_exit("E 3 17\n"), Some((Some(3), None, 17)));
        assert_eq!(parse_exit("S 9 18\n"), Some((Some(137), Some(9), 18)));
        assert_eq!(parse_exit("U 0 1\n"), Some((None, None, 1)));
        assert_eq!(parse_exit("garbage"), None);
    }
}
