//! The `Executor` seam: runs one `RUN` step of a build on the parent's layers.
//!
//! The builder owns this trait (it is the consumer); the runtime implements it behind the
//! builder's `runtime` feature, so a user who only wants cache keys or COPY-only images compiles
//! no namespace code.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::sync::mpsc::UnboundedSender;

/// Where a `RUN` step's network goes (`RUN --network=none|host|default`, after the build
/// request's default has been applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepNetwork {
    /// A network namespace with only a loopback interface.
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace with outbound access (what Docker's default bridge gives a build
    /// step; the runtime uses slirp4netns).
    Outbound,
}

/// One extra mount of a `RUN` step (`RUN --mount`), resolved by the builder to host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMount {
    /// A host directory or file bound at `target`: a cache mount's directory, a bind mount of
    /// the context or of another stage's root, a secret's file.
    Bind {
        /// The host path.
        source: PathBuf,
        /// The absolute path in the step's root file system.
        target: PathBuf,
        /// Whether the step may write through it.
        readonly: bool,
    },
    /// An empty tmpfs at `target` (`type=tmpfs`).
    Tmpfs {
        /// The absolute path in the step's root file system.
        target: PathBuf,
        /// Its size limit in bytes, if any.
        size: Option<u64>,
    },
}

/// One `RUN` step, prepared by the builder: the command and its environment, and the root file
/// system as overlay directories whose upper dir receives the step's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// The command line: exec form as written, shell form after `SHELL` (`/bin/sh -c …` by
    /// default), a heredoc's body handed to the shell.
    pub args: Vec<String>,
    /// The environment, `KEY=value`, in order (the stage's `ENV`, then the build args the step
    /// sees), with `PATH` set.
    pub env: Vec<String>,
    /// The working directory, absolute (`WORKDIR`, `/` by default); the executor creates it when
    /// it is missing, as Docker does.
    pub workdir: String,
    /// `USER` as written (`name`, `uid`, `name:group`, `uid:gid`), resolved in the step's root
    /// file system by the executor (`/etc/passwd`, `/etc/group`); `None` is root.
    pub user: Option<String>,
    /// The parent's layers, unpacked (the store's snapshots), topmost first: the overlay's lower
    /// dirs. Empty for a stage `FROM scratch`.
    pub lower: Vec<PathBuf>,
    /// An empty directory where the step's changes land, in overlayfs' form (whiteouts as 0/0
    /// character devices, opaque directories by xattr): the new layer's diff.
    pub upper: PathBuf,
    /// An empty directory on the same file system as `upper`, for overlayfs' own use.
    pub work: PathBuf,
    /// `RUN --mount`s, in order.
    pub mounts: Vec<StepMount>,
    /// `RUN --network`.
    pub network: StepNetwork,
    /// The step's host name.
    pub hostname: String,
}

/// Which stream a chunk of a step's output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

/// Where a step's output goes, chunk by chunk as the command writes it (the builder splits it
/// into lines for its events). A closed receiver is not an error: the output is then dropped.
pub type OutputSink = UnboundedSender<(OutputStream, Vec<u8>)>;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepExit {
    /// The exit code, as Docker reports it (128 + the signal for a command killed by one).
    pub code: i32,
}

impl StepExit {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Why an executor could not run a step at all (a command that runs and fails is a
/// [`StepExit`] with a non-zero code, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutorError {
    /// The step's sandbox could not be prepared or started.
    #[error("the RUN step could not start")]
    Start {
        /// The executor's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The step started but could not be waited for.
    #[error("the RUN step could not be waited for")]
    Wait {
        /// The executor's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Runs `RUN` steps.
///
/// Contract:
/// - [`run`](Executor::run) runs `step.args` with the step's environment, working directory and
///   user on the overlay of `step.lower` under `step.upper`, with `step.mounts`, until the
///   command ends, sending its output to `output`. Every change to the root file system lands in
///   `step.upper` and nowhere else (mounts aside); the builder makes the layer from it.
/// - It returns the exit code; a command that fails is `Ok` with a non-zero code.
/// - Dropping the future stops the step: its processes are killed and reaped, nothing keeps
///   running; the builder then removes `upper` and `work`.
/// - Several steps may run at once (independent stages): implementations are `Send + Sync` and
///   keep no state between steps.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Runs one step to its end.
    async fn run(&self, step: RunStep, output: OutputSink) -> Result<StepExit, ExecutorError>;
}

/// An [`Executor`] for COPY-only builds: any `RUN` step is an error
/// ([`ExecutorError::Start`]). Use it where no container runtime is wanted (or available).
#[derive(Debug, Clone, Copy, Default)]
pub struct RefuseRun;

/// The error [`RefuseRun`] gives.
#[derive(Debug, thiserror::Error)]
#[error("this builder runs no RUN steps (it was made with RefuseRun)")]
pub struct RunRefused;

#[async_trait]
impl Executor for RefuseRun {
    async fn run(&self, _step: RunStep, _output: OutputSink) -> Result<StepExit, ExecutorError> {
        Err(ExecutorError::Start {
            source: Box::new(RunRefused),
        })
    }
}
