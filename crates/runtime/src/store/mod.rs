//! Docker's container lifecycle without a daemon: containers recorded on disk under a state
//! root, started detached under a small monitor process, and managed from any process.
//!
//! See the crate documentation, *Containers on disk*, for the layout and the monitor. This
//! file holds the store and its lookups; each verb has its file (`create.rs`, `start.rs`,
//! `stop.rs`, `wait.rs`, `remove.rs`, `exec.rs`, `files.rs`, `attach.rs`, `logs.rs`,
//! `probe.rs`, `orphans.rs`), an
//! `impl Containers` importing from here, never the other way.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::Error;
use crate::process::exec::RunningInit;
use crate::process::proc::alive;
use crate::sandbox::volumes::{self, VolumeMount};
use crate::store::lock::{lock, Locked};
use crate::store::names::valid_name;
use crate::store::record::{
    now_ns, parse_exit, read_json, write_json, ContainerInfo, ContainerRecord, State, Status,
    VolumeRecord, UNKNOWN_EXIT_CODE,
};

pub(crate) mod attach;
mod create;
mod exec;
mod files;
mod lock;
pub(crate) mod logs;
pub(crate) mod names;
mod orphans;
mod probe;
pub(crate) mod record;
mod remove;
mod start;
mod stop;
mod wait;

/// One container's directory, found, and its record.
pub(crate) struct Stored {
    pub(crate) dir: PathBuf,
    pub(crate) record: ContainerRecord,
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

impl Containers {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        for d in ["containers", "names", "trash", "tied"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io("creating", &p, e))?;
        }
        Ok(Containers { root })
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub(crate) fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    pub(crate) fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// `ROOT/tied`: one symlink `ID -> PID.START` per container tied to an owner.
    pub(crate) fn tied_dir(&self) -> PathBuf {
        self.root.join("tied")
    }

    pub(crate) fn lock_store(&self) -> Result<Locked, Error> {
        lock(&self.root.join("lock"))
    }

    /// Finishes removals in the background, as the next `create` or `rm` would: deletes the
    /// containers `rm` and `--rm` moved to the trash (releasing their volumes, and removing a
    /// `--rm` container's anonymous ones) and removes tied containers whose owner has ended.
    /// Call it before volume verbs, so that `docker volume rm` right after `docker run --rm -v`
    /// does not find the removed container still using the volume.
    pub fn sweep(&self) -> Result<(), Error> {
        let _store = self.lock_store()?;
        self.sweep_orphans();
        self.collect_trash();
        Ok(())
    }

    /// Deletes what `rm` and `--rm` moved to the trash.
    pub(crate) fn collect_trash(&self) {
        let Ok(entries) = fs::read_dir(self.trash_dir()) else {
            return;
        };
        for e in entries.flatten() {
            // A `--rm` container moved here by its monitor (or a tied one, whose owner has
            // ended) still uses its volumes: release them, and remove its anonymous ones as
            // Docker's `--rm` does (for a container removed by `remove_with`, this was done
            // already and changes nothing).
            if let Ok(record) = read_json::<ContainerRecord>(&e.path().join("container.json")) {
                let mounts: Vec<VolumeMount> =
                    record.volumes.iter().map(VolumeRecord::mount).collect();
                let disposable = record.auto_remove || record.owner.is_some();
                if let Err(err) = volumes::release(&mounts, &record.id, disposable) {
                    tracing::warn!(id = %record.id, error = %err, "cannot release the volumes of a removed container");
                }
            }
            let _ = fs::remove_file(self.tied_dir().join(e.file_name()));
            if let Err(err) = fs::remove_dir_all(e.path()) {
                tracing::warn!(path = %e.path().display(), error = %err, "cannot delete a removed container");
            }
        }
    }

    /// Runs blocking store work (file locks, reads, renames) on tokio's blocking pool, so a
    /// lock held by another process never stalls the caller's runtime.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Containers) -> Result<T, Error> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::sys("a blocking store task", std::io::Error::other(e)))?
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

    pub(crate) fn entry(&self, query: &str) -> Result<Stored, Error> {
        let id = self.resolve(query)?;
        let dir = self.containers_dir().join(&id);
        let record: ContainerRecord =
            read_json(&dir.join("container.json")).map_err(|e| match e {
                Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::NoSuchContainer {
                        query: query.to_owned(),
                    }
                }
                e => e,
            })?;
        Ok(Stored { dir, record })
    }

    /// Reads the state, bringing it up to date: a running container whose monitor recorded an
    /// exit, or whose processes are gone, becomes exited. Call under the container's lock when
    /// `persist`.
    pub(crate) fn refresh(dir: &Path, persist: bool) -> Result<State, Error> {
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

    pub(crate) fn state(&self, e: &Stored) -> Result<State, Error> {
        let _l = lock(&e.dir.join("lock"))?;
        Self::refresh(&e.dir, true)
    }

    fn info(&self, e: Stored, st: State) -> Result<ContainerInfo, Error> {
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
            owner: e.record.owner.map(|o| o.pid as u32),
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

    /// The container's log file path.
    pub fn log_path(&self, query: &str) -> Result<PathBuf, Error> {
        Ok(self.entry(query)?.dir.join("container.log"))
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
