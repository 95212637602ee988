//! `docker start` (and `run`): a stored container started detached under its monitor, which
//! relays its stdio to the log and attached clients and records its exit.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};
use rustix::process::Signal;

use crate::error::Error;
use crate::init::Fail;
use crate::monitor::{self, AutoRemove, MonitorPlan, RelayPlan};
use crate::plan::cpath;
use crate::process::handshake::{read_all, reap_first, reported_error, write_id_maps};
use crate::process::net::{self, find_slirp4netns};
use crate::process::proc::{exited, proc_stat, verified_pidfd};
use crate::process::volumes::claim;
use crate::sandbox::cgroup::Cgroup;
use crate::sandbox::container::{Container, Stdio};
use crate::sandbox::network::{NetConfig, PortMapping};
use crate::sandbox::prepare::{high, pipe, Prepared};
use crate::sandbox::rootfs::{OverlayMode, RootFs};
use crate::store::attach::listen;
use crate::store::lock::{lock, Locked};
use crate::store::record::{read_json, write_json, CreateOptions, Status};
use crate::store::{Containers, Stored};

/// A directory opened `O_PATH`, at 3 or above (for the monitor).
fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", path, e.into()))?;
    high(fd)
}

/// A pidfd (at 3 or above) of the process the container is tied to, if it has one; the
/// error [`Error::OwnerGone`] when that process has ended (or its PID names another one).
fn owner_pidfd(e: &Stored) -> Result<Option<OwnedFd>, Error> {
    let Some(o) = e.record.owner else {
        return Ok(None);
    };
    match verified_pidfd(Some(o.pid), Some(o.start)) {
        Some(fd) => high(fd).map(Some),
        None => Err(Error::OwnerGone {
            id: e.record.id.clone(),
            pid: o.pid as u32,
        }),
    }
}

/// A stored container made ready to start: the container, its spec, its ports and
/// slirp4netns when wanted and installed.
struct Loaded {
    container: Container,
    spec: Spec,
    ports: Vec<PortMapping>,
    slirp: Option<PathBuf>,
}

/// The monitor's plan and the descriptors it names, which the caller closes once it is
/// cloned; the caller's ends of the report and acknowledgement pipes.
struct Monitor {
    plan: MonitorPlan,
    held: Vec<OwnedFd>,
    report_r: OwnedFd,
    ack_w: OwnedFd,
    log_offset: u64,
    cgroup_dirs: Vec<PathBuf>,
}

impl Containers {
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
        // The container's lock, taken off the runtime (its holder may be slow), is held until
        // the start is recorded.
        let dir = e.dir.clone();
        let (_l, mut st) = self
            .blocking(move |_| {
                let l = lock(&dir.join("lock"))?;
                Ok((l, Self::refresh(&dir, true)?))
            })
            .await?;
        if st.status == Status::Running {
            return Ok(None);
        }
        // A tied container whose owner has ended is removed rather than started.
        let owner = match owner_pidfd(&e) {
            Ok(fd) => fd,
            Err(gone) => return Err(self.discard_orphan(e, _l, gone).await),
        };
        let Loaded {
            container,
            spec,
            ports,
            slirp,
        } = Self::load(&e).await?;
        // Its `--exit-fd`: the monitor holds the only write end.
        let slirp_exit = slirp.as_ref().map(|_| net::exit_pipe()).transpose()?;
        let _ = fs::remove_file(e.dir.join("exit"));

        let p = container.prepare(e.record.etc.then_some(e.dir.as_path()), slirp.is_some())?;
        let mon = self.monitor(
            &e,
            &p,
            first_client.as_ref(),
            slirp_exit.as_ref().map(|(_, w)| w),
            owner,
        )?;
        let first = monitor::spawn_detached(&p.plan, p.flags, &mon.plan)
            .map_err(|err| Error::sys("clone3", err))?;
        let Prepared {
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
        let _ = cgroup.map(Cgroup::keep);
        let slirp_exit_r = slirp_exit.map(|(r, w)| {
            drop(w);
            r
        });
        let Monitor {
            held,
            report_r,
            ack_w,
            log_offset,
            cgroup_dirs,
            ..
        } = mon;
        drop((child_fds, held));
        // The monitor holds the command's stdio and the attach socket from here.
        drop((stdin_w, stdout_r, stderr_r, terminal, first_client));
        // The first child exits right after cloning the monitor.
        reap_first(&first.pidfd)?;
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
        st.started(
            (pid, pid_start),
            (monitor_pid, monitor_start),
            cgroup_dirs,
            log_offset,
        );
        let recorded = write_json(&e.dir.join("state.json"), &st);
        let maps = match (&sync_w, &recorded) {
            (Some(_), Ok(())) if rootless => write_id_maps(pid, rootless, &spec),
            _ => Ok(()),
        };
        // slirp4netns before the command runs (the init waits on the sync pipe).
        let net = match (&recorded, &maps, &slirp, slirp_exit_r) {
            (Ok(()), Ok(()), Some(path), Some(exit_r)) => {
                net::start_detached(path, pid, rootless, &e.dir, exit_r, &ports).await
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

        let mut buf = [0u8; Fail::LEN];
        let n = read_all(error_r, &mut buf).await?;
        if n == 0 {
            tracing::debug!(id = %e.record.id, pid, monitor_pid, "container started");
            return Ok(Some(e.record.id));
        }
        let err = reported_error(&plan, &buf, n);
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

    /// Removes a container whose owner has ended (`gone`) instead of starting it: its lock
    /// is released first (removal takes the store's). Returns the error to report.
    async fn discard_orphan(&self, e: Stored, lock: Locked, gone: Error) -> Error {
        drop(lock);
        tracing::debug!(id = %e.record.id, "its owner has ended: removing it");
        match self.blocking(move |store| store.discard(e, true)).await {
            Ok(()) => gone,
            Err(err) => err,
        }
    }

    /// The stored container as it starts: its stdio relayed by the monitor, its options, its
    /// root chosen (see [`Containers::choose_root`]), its volumes claimed again, its ports and
    /// slirp4netns.
    async fn load(e: &Stored) -> Result<Loaded, Error> {
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
        if !e.record.volumes.is_empty() {
            let mounts: Vec<_> = e.record.volumes.iter().map(|v| v.mount()).collect();
            let (id, rootfs) = (e.record.id.clone(), container.rootfs().clone());
            tokio::task::spawn_blocking(move || claim(&mounts, &id, &rootfs))
                .await
                .map_err(|err| Error::sys("claiming volumes", std::io::Error::other(err)))??;
        }
        let ports = e
            .record
            .ports
            .iter()
            .map(|p| p.parse::<PortMapping>())
            .collect::<Result<Vec<_>, _>>()?;
        let slirp = if e.record.outbound || !ports.is_empty() {
            find_slirp4netns()
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
            slirp: slirp.is_some(),
        });
        Ok(Loaded {
            container,
            spec,
            ports,
            slirp,
        })
    }

    /// The monitor's plan: the log, `/dev/null`, the report and acknowledgement pipes, the
    /// attach socket, the removal's descriptors, the owner's pidfd, and which of the caller's
    /// descriptors it keeps.
    fn monitor(
        &self,
        e: &Stored,
        p: &Prepared,
        first_client: Option<&(OwnedFd, u8)>,
        slirp_exit_w: Option<&OwnedFd>,
        owner: Option<OwnedFd>,
    ) -> Result<Monitor, Error> {
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
        let listen = listen(&e.dir)?;
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

        let (removal, mut monitor_fds) = if e.record.auto_remove || owner.is_some() {
            let (ar, fds) = self.removal(e)?;
            (Some(ar), fds)
        } else {
            (None, Vec::new())
        };
        let owner_fd = owner.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        monitor_fds.extend(owner);

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
        let relay = RelayPlan {
            log_fd: log.as_raw_fd(),
            stdin: raw(&p.stdin_w),
            stdout: raw(&p.stdout_r),
            stderr: raw(&p.stderr_r),
            terminal: raw(&p.terminal),
            interactive: e.record.interactive,
            stdin_once: e.record.stdin_once,
            listen: listen.as_raw_fd(),
            first: first_client.map_or(-1, |(fd, _)| fd.as_raw_fd()),
            first_wants: first_client.map_or(0, |(_, w)| *w),
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
        keep.extend(slirp_exit_w.map(AsRawFd::as_raw_fd));
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
            removal,
            auto_remove: e.record.auto_remove,
            owner_fd,
            relay,
        };

        let mut held = vec![log, null, report_w, ack_r, dir_fd, listen];
        held.extend(monitor_fds);
        Ok(Monitor {
            plan: mon,
            held,
            report_r,
            ack_w,
            log_offset,
            cgroup_dirs,
        })
    }

    /// What the monitor needs to remove the container (`--rm`, or an owner that ended): the
    /// store's lock (its own open file description), `names/`, `containers/` and `trash/`,
    /// and the descriptors to keep open until it is cloned.
    fn removal(&self, e: &Stored) -> Result<(AutoRemove, Vec<OwnedFd>), Error> {
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
        Ok((ar, vec![lock_fd, names, containers, trash]))
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
                let probe =
                    tokio::task::spawn_blocking(move || crate::sys::probe_overlay(target, data))
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
}
