//! [`RuntimeExecutor`]: the builder's [`Executor`] seam implemented by boxwright's runtime —
//! one `RUN` step as an attached container over kernel overlayfs (feature `runtime`).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use boxwright_runtime::{Container, ContainerBuilder, Network, OverlayMode, RootFs};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::executor::{
    Executor, ExecutorError, OutputSink, OutputStream, RunStep, StepExit, StepMount, StepNetwork,
};

mod stubs;

use stubs::Stubs;

/// The files the runtime binds over the image's (Docker's), besides the spec's mounts.
const ETC_FILES: [&str; 3] = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// How much of a stream is read at once (one chunk sent to the [`OutputSink`] at most).
const CHUNK: usize = 32 * 1024;

/// The `source` of an [`ExecutorError`]: the runtime's [`boxwright_runtime::Error`] or a
/// [`RuntimeExecutorError`].
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `RUN` steps as containers of boxwright's runtime, as `docker build` does: Docker's
/// default capabilities, seccomp profile and namespaces, the step's command as PID 1 of its own
/// PID namespace, its root file system a kernel overlayfs of the parent's layers under the
/// step's upper dir.
///
/// - **Root file system.** `step.lower` (topmost first) under `step.upper`, with `step.work`.
///   A step `FROM scratch` (no lower dir) gets an empty lower dir made beside `work`
///   (`WORK.empty-lower`) and removed when the step ends or is dropped. Only real overlayfs
///   is used ([`OverlayMode::Always`]): the runtime's fallback copy of the merged view would
///   leave the step's changes outside `upper`, so a kernel that refuses the overlay fails the
///   step with [`ExecutorError::Start`] instead. The mount points the runtime makes for the
///   step (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, the `RUN --mount` targets)
///   when the image lacks them are removed from `upper` after the step if still empty, with
///   the directories copied up only to hold them, as BuildKit removes its mount stubs; the
///   `/proc`, `/dev` and `/sys` it made stay, empty, as runc leaves them in BuildKit's layers:
///   a step that changes nothing leaves only those in `upper`. (Only after a step that ran to
///   its end: after an error or a dropped future the builder removes `upper` anyway.)
/// - **Command.** `args`, `env` (`KEY=value`; a string without `=` is the variable set to the
///   empty string; a later duplicate wins), `workdir` (the runtime creates it when missing,
///   as Docker does), `user` as written (the runtime resolves names and groups in the step's
///   `/etc/passwd` and `/etc/group`; an unknown name fails the start), `hostname` (the
///   runtime's default, the container ID's first 12 digits, when empty).
/// - **Network.** [`StepNetwork::None`]: loopback only; [`StepNetwork::Host`]: the host's;
///   [`StepNetwork::Outbound`]: a private namespace with outbound access through
///   `slirp4netns` when it is installed (loopback only otherwise).
/// - **Mounts.** Binds (read-only or not, recursive) and tmpfs mounts through the runtime's
///   builder. The runtime's tmpfs takes no size, so a [`StepMount::Tmpfs`] size is not
///   enforced (a warning is logged).
/// - **Output.** stdout and stderr are read at once and sent chunk by chunk as they come; a
///   closed receiver only drops them (the pipes are still drained).
/// - **Cancellation.** Dropping the future drops the runtime's `Child`, which kills the step's
///   PID 1 (and with it its whole PID namespace) and reaps it.
///
/// Needs root (or a kernel that allows overlayfs in a user namespace for a rootless caller).
///
/// ```no_run
/// use boxwright_builder::{Executor, RunStep, RuntimeExecutor, StepNetwork};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let executor = RuntimeExecutor::new().memory(512 << 20).pids_limit(1024);
/// let step = RunStep {
///     args: vec!["/bin/sh".into(), "-c".into(), "echo hi > /greeting".into()],
///     env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
///     workdir: "/".into(),
///     user: None,
///     lower: vec!["/var/lib/store/snapshots/base".into()],
///     upper: "/var/lib/store/tmp/step-1/upper".into(),
///     work: "/var/lib/store/tmp/step-1/work".into(),
///     mounts: Vec::new(),
///     network: StepNetwork::None,
///     hostname: "buildkitsandbox".into(),
/// };
/// let (output, mut chunks) = tokio::sync::mpsc::unbounded_channel();
/// let exit = executor.run(step, output).await?;
/// while let Ok((stream, chunk)) = chunks.try_recv() {
///     tracing::info!(?stream, bytes = chunk.len(), "output");
/// }
/// assert!(exit.success()); // `/greeting` is now in the upper dir
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RuntimeExecutor {
    memory: Option<i64>,
    pids_limit: Option<i64>,
    cpus: Option<f64>,
}

impl RuntimeExecutor {
    /// An executor without resource limits (the runtime's and Docker's default for build
    /// steps).
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits each step's memory to `bytes` (no swap), as `docker build --memory`; a step
    /// that exceeds it is killed (exit code 137).
    pub fn memory(mut self, bytes: i64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Limits each step to `n` processes, as `--pids-limit`.
    pub fn pids_limit(mut self, n: i64) -> Self {
        self.pids_limit = Some(n);
        self
    }

    /// Limits each step's CPU time to `cpus` CPUs, as `--cpus`.
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// The runtime's container for `step` over `rootfs`.
    fn container(
        &self,
        step: &RunStep,
        rootfs: RootFs,
    ) -> Result<Container, boxwright_runtime::Error> {
        let mut b = Container::builder(rootfs)
            .cmd(step.args.iter().cloned())
            .workdir(&step.workdir)
            .overlay(OverlayMode::Always);
        for var in &step.env {
            let (key, value) = var.split_once('=').unwrap_or((var.as_str(), ""));
            b = b.env(key, value);
        }
        if let Some(user) = step.user.as_deref().filter(|u| !u.is_empty()) {
            b = b.user(user);
        }
        if !step.hostname.is_empty() {
            b = b.hostname(&step.hostname);
        }
        b = match step.network {
            StepNetwork::None => b.network(Network::None),
            StepNetwork::Host => b.network(Network::Host),
            StepNetwork::Outbound => b.network(Network::Private).outbound(true),
        };
        b = add_mounts(b, &step.mounts);
        if let Some(m) = self.memory {
            b = b.memory(m);
        }
        if let Some(n) = self.pids_limit {
            b = b.pids_limit(n);
        }
        if let Some(c) = self.cpus {
            b = b.cpus(c);
        }
        b.build()
    }
}

/// Adds the step's `RUN --mount`s, in order.
fn add_mounts(mut b: ContainerBuilder, mounts: &[StepMount]) -> ContainerBuilder {
    for m in mounts {
        b = match m {
            StepMount::Bind {
                source,
                target,
                readonly,
            } => b.mount_bind(source, target, *readonly),
            StepMount::Tmpfs { target, size } => {
                if let Some(size) = size {
                    tracing::warn!(
                        target = %target.display(),
                        size,
                        "the runtime's tmpfs takes no size limit: mounted without one"
                    );
                }
                b.tmpfs(target)
            }
        };
    }
    b
}

#[async_trait]
impl Executor for RuntimeExecutor {
    async fn run(&self, step: RunStep, output: OutputSink) -> Result<StepExit, ExecutorError> {
        let start = |e: BoxError| ExecutorError::Start { source: e };
        // Dropped (removed) after the child: the overlay is gone from every mount namespace
        // once the step's PID 1 has been reaped.
        let empty_lower = if step.lower.is_empty() {
            Some(EmptyLower::create(&step.work).map_err(|e| start(e.into()))?)
        } else {
            None
        };
        let lower: Vec<PathBuf> = match &empty_lower {
            Some(e) => vec![e.path.clone()],
            // The runtime takes lower dirs bottom first.
            None => step.lower.iter().rev().cloned().collect(),
        };
        let rootfs = RootFs::overlay(lower, &step.upper, &step.work);
        if let Some(copy) = rootfs.materialized_path().filter(|p| p.exists()) {
            // The runtime would run over it instead of the overlay, leaving `upper` untouched.
            return Err(start(
                RuntimeExecutorError::MaterializedCopy { path: copy }.into(),
            ));
        }
        let container = self.container(&step, rootfs).map_err(|e| start(e.into()))?;
        let mount_stubs = find_stubs(&container, &step, empty_lower.as_ref())
            .await
            .map_err(|e| start(e.into()))?;
        let mut child = container.spawn().await.map_err(|e| start(e.into()))?;
        tracing::debug!(id = child.id(), pid = child.pid(), "RUN step started");
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let wait = async { child.wait().await.map_err(BoxError::from) };
        let (status, (), ()) = tokio::try_join!(
            wait,
            forward(stdout, OutputStream::Stdout, &output),
            forward(stderr, OutputStream::Stderr, &output),
        )
        .map_err(|source| ExecutorError::Wait { source })?;
        drop(child);
        drop(empty_lower);
        remove_stubs(mount_stubs, step.upper).await;
        Ok(StepExit {
            code: status.code(),
        })
    }
}

/// The mount stubs `container` will make over the step's lower dirs (on the blocking pool).
async fn find_stubs(
    container: &Container,
    step: &RunStep,
    empty_lower: Option<&EmptyLower>,
) -> Result<Stubs, RuntimeExecutorError> {
    let destinations: Vec<PathBuf> = container
        .spec()
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().clone())
        .chain(ETC_FILES.iter().map(PathBuf::from))
        .collect();
    let lower = match empty_lower {
        Some(e) => vec![e.path.clone()],
        None => step.lower.clone(),
    };
    let workdir = PathBuf::from(&step.workdir);
    let found = tokio::task::spawn_blocking(move || {
        Stubs::find(&lower, destinations.iter().map(PathBuf::as_path), &workdir)
    })
    .await;
    match found {
        Ok(Ok(stubs)) => Ok(stubs),
        Ok(Err(source)) => Err(RuntimeExecutorError::MountStubs { source }),
        Err(join) => Err(RuntimeExecutorError::MountStubs {
            source: std::io::Error::other(join),
        }),
    }
}

/// Removes the mount stubs from `upper` once the step has ended (on the blocking pool); a
/// failure leaves them in the layer, with a warning.
async fn remove_stubs(stubs: Stubs, upper: PathBuf) {
    let removed = tokio::task::spawn_blocking(move || stubs.remove(&upper)).await;
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "mount stubs left in the upper dir"),
        Err(error) => tracing::warn!(%error, "mount stubs left in the upper dir"),
    }
}

/// Reads `stream` to its end, sending each chunk to `sink` (a closed sink drops them).
async fn forward<R: AsyncRead + Unpin>(
    stream: Option<R>,
    which: OutputStream,
    sink: &OutputSink,
) -> Result<(), BoxError> {
    let Some(mut stream) = stream else {
        return Ok(());
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|source| RuntimeExecutorError::Output {
                stream: which,
                source,
            })
            .map_err(BoxError::from)?;
        if n == 0 {
            return Ok(());
        }
        // A closed receiver is not an error: keep draining so the command never blocks.
        let _ = sink.send((which, buf[..n].to_vec()));
    }
}

/// The empty lower dir of a step `FROM scratch` (overlayfs needs one), removed on drop.
#[derive(Debug)]
struct EmptyLower {
    path: PathBuf,
}

impl EmptyLower {
    /// Makes `WORK.empty-lower` beside `work`.
    fn create(work: &Path) -> Result<Self, RuntimeExecutorError> {
        let mut name = work
            .file_name()
            .ok_or_else(|| RuntimeExecutorError::InvalidWork {
                path: work.to_path_buf(),
            })?
            .to_owned();
        name.push(".empty-lower");
        let path = work.with_file_name(name);
        match std::fs::create_dir(&path) {
            Ok(()) => Ok(EmptyLower { path }),
            Err(source) => Err(RuntimeExecutorError::EmptyLower { path, source }),
        }
    }
}

impl Drop for EmptyLower {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "removing the empty lower dir");
        }
    }
}

/// Why [`RuntimeExecutor`] could not start or wait for a step, besides the runtime's own
/// [`boxwright_runtime::Error`]: either is the `source` of the [`ExecutorError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeExecutorError {
    /// The empty lower dir of a step `FROM scratch` could not be made.
    #[error("creating the empty lower dir {path:?}")]
    EmptyLower {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The step's work dir has no file name to make the empty lower dir beside.
    #[error("the work dir {path:?} has no file name")]
    InvalidWork {
        /// The work dir.
        path: PathBuf,
    },
    /// A materialized copy of the merged view lies beside `upper` (`UPPER.merged`): the
    /// runtime would run over it, and the step's changes would miss `upper`.
    #[error("a materialized root {path:?} lies beside the upper dir; the step would not write to the upper dir")]
    MaterializedCopy {
        /// The copy.
        path: PathBuf,
    },
    /// The lower dirs could not be read to find the mount points the runtime will make.
    #[error("reading the lower dirs for the mount points to make")]
    MountStubs {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading the step's output failed.
    #[error("reading the step's {stream:?}")]
    Output {
        /// Which stream.
        stream: OutputStream,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
