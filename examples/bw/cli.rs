//! `bw`'s command line: Docker's commands and flags, as clap definitions (no behaviour here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Docker's command line over boxwright: no daemon, one root (`$BOXWRIGHT_ROOT`).
#[derive(Debug, Parser)]
#[command(name = "bw", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Every command `bw` knows, named as in Docker.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(RunArgs),
    /// List containers.
    Ps(PsArgs),
    /// List images.
    Images(ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Attach to a running container's input and output.
    Attach(AttachArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Remove one or more containers.
    Rm(RmArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(ContainersArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Return low-level information on images, containers or volumes.
    Inspect(InspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Copy files between a container and the local file system.
    Cp(CpArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Import the contents of a tarball to create a file system image.
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Log in to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
}

/// `bw image …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images.
    Inspect(InspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Remove one or more images.
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images.
    Prune(ImagePruneArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// Import the contents of a tarball to create a file system image.
    Import(ImportArgs),
    /// Save one or more images to a tar archive.
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
}

/// `bw container …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ContainerCommand {
    /// List containers.
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all stopped containers.
    Prune(PruneArgs),
    /// Display detailed information on one or more containers.
    Inspect(InspectArgs),
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(RunArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Attach to a running container.
    Attach(AttachArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(ContainersArgs),
    /// Copy files between a container and the local file system.
    Cp(CpArgs),
}

/// `bw volume …`.
#[derive(Debug, Subcommand)]
pub(crate) enum VolumeCommand {
    /// Create a volume.
    Create(VolumeCreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes.
    Prune(VolumePruneArgs),
}

/// `bw build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag").
    #[arg(short = 't', long = "tag")]
    pub(crate) tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile").
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<PathBuf>,
    /// Set build-time variables.
    #[arg(long = "build-arg")]
    pub(crate) build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Do not use cache for the specified stages.
    #[arg(long = "no-cache-filter")]
    pub(crate) no_cache_filter: Vec<String>,
    /// Set metadata for an image.
    #[arg(long = "label")]
    pub(crate) labels: Vec<String>,
    /// Suppress the build output and print image ID on success.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Type of progress output ("auto", "plain", "tty", "quiet").
    #[arg(long, default_value = "auto")]
    pub(crate) progress: String,
    /// The build context.
    pub(crate) context: PathBuf,
}

/// The flags of `bw run` and `bw create`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub(crate) rm: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub(crate) env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub(crate) env_file: Vec<PathBuf>,
    /// Publish a container's port(s) to the host.
    #[arg(short, long = "publish")]
    pub(crate) publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub(crate) publish_all: bool,
    /// Bind mount a volume.
    #[arg(short, long = "volume")]
    pub(crate) volume: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub(crate) workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub(crate) user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub(crate) entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub(crate) init: bool,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub(crate) hostname: Option<String>,
    /// Connect a container to a network ("none", "host", or the default "bridge").
    #[arg(long, alias = "net")]
    pub(crate) network: Option<String>,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short, long)]
    pub(crate) memory: Option<String>,
    /// Tune container pids limit.
    #[arg(long)]
    pub(crate) pids_limit: Option<i64>,
    /// Number of CPUs.
    #[arg(long)]
    pub(crate) cpus: Option<f64>,
    /// Signal to stop the container.
    #[arg(long)]
    pub(crate) stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long)]
    pub(crate) stop_timeout: Option<u64>,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Pull image before running ("always", "missing", "never").
    #[arg(long, default_value = "missing")]
    pub(crate) pull: String,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub(crate) help: Option<bool>,
    /// The image, then the command and its arguments.
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub(crate) image_and_command: Vec<String>,
}

/// `bw ps` / `bw container ls`.
#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Filter output based on conditions provided (name=, status=, ancestor=, id=).
    #[arg(long)]
    pub(crate) filter: Vec<String>,
    /// Don't truncate output.
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long)]
    pub(crate) last: Option<usize>,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    pub(crate) latest: bool,
    /// Format output using a Go template, or "json", or "table".
    #[arg(long)]
    pub(crate) format: Option<String>,
}

/// `bw images` / `bw image ls`.
#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    pub(crate) digests: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=).
    #[arg(short, long)]
    pub(crate) filter: Vec<String>,
    /// Format output using a Go template, or "json", or "table".
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Only images whose name matches (e.g. `busybox`, `team/*`, `app:1.*`).
    pub(crate) pattern: Option<String>,
}

/// `bw logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub(crate) follow: bool,
    /// Show timestamps.
    #[arg(short, long)]
    pub(crate) timestamps: bool,
    /// Number of lines to show from the end of the logs ("all" for all).
    #[arg(short = 'n', long, default_value = "all")]
    pub(crate) tail: String,
    /// The container.
    pub(crate) container: String,
}

/// `bw start`.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub(crate) attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// The containers.
    #[arg(required = true)]
    pub(crate) containers: Vec<String>,
}

/// `bw stop` and `bw restart`.
#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub(crate) time: Option<u64>,
    /// Signal to send to the container.
    #[arg(short, long)]
    pub(crate) signal: Option<String>,
    /// The containers.
    #[arg(required = true)]
    pub(crate) containers: Vec<String>,
}

/// `bw kill`.
#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    pub(crate) signal: String,
    /// The containers.
    #[arg(required = true)]
    pub(crate) containers: Vec<String>,
}

/// `bw attach`.
#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long)]
    pub(crate) no_stdin: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long)]
    pub(crate) detach_keys: Option<String>,
    /// The container.
    pub(crate) container: String,
}

/// `bw exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub(crate) env: Vec<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short, long)]
    pub(crate) user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub(crate) workdir: Option<String>,
    /// The container, then the command and its arguments.
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub(crate) container_and_command: Vec<String>,
}

/// `bw rm` / `bw container rm`.
#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    pub(crate) volumes: bool,
    /// The containers.
    #[arg(required = true)]
    pub(crate) containers: Vec<String>,
}

/// `bw rmi` / `bw image rm`.
#[derive(Debug, Args)]
pub(crate) struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub(crate) force: bool,
    /// The images.
    #[arg(required = true)]
    pub(crate) images: Vec<String>,
}

/// `bw wait` and other commands taking only containers.
#[derive(Debug, Args)]
pub(crate) struct ContainersArgs {
    /// The containers.
    #[arg(required = true)]
    pub(crate) containers: Vec<String>,
}

/// `bw tag`.
#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub(crate) source: String,
    /// TARGET_IMAGE[:TAG]
    pub(crate) target: String,
}

/// `bw inspect` and the `inspect` of each object.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format output using a Go template (`{{.Id}}`, `{{.Config.Env}}`, `{{json .}}`).
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Return JSON for specified type ("container", "image", "volume").
    #[arg(long = "type")]
    pub(crate) kind: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short, long)]
    pub(crate) size: bool,
    /// Names or IDs.
    #[arg(required = true)]
    pub(crate) objects: Vec<String>,
}

/// `bw history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) human: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// The image.
    pub(crate) image: String,
}

/// `bw cp`.
#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    pub(crate) archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long)]
    pub(crate) follow_link: bool,
    /// CONTAINER:SRC_PATH or a local path.
    pub(crate) source: String,
    /// CONTAINER:DEST_PATH or a local path.
    pub(crate) destination: String,
}

/// `bw commit`.
#[derive(Debug, Args)]
pub(crate) struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub(crate) author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub(crate) change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub(crate) message: Option<String>,
    /// Pause container during commit (accepted; containers are not paused).
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) pause: bool,
    /// The container.
    pub(crate) container: String,
    /// REPOSITORY[:TAG]
    pub(crate) repository: Option<String>,
}

/// `bw import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub(crate) change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub(crate) message: Option<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// A tar file (plain, gzip or zstd), a directory, or `-` for STDIN.
    pub(crate) file: String,
    /// REPOSITORY[:TAG]
    pub(crate) repository: Option<String>,
}

/// `bw save`.
#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
    /// The images.
    #[arg(required = true)]
    pub(crate) images: Vec<String>,
}

/// `bw load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub(crate) input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// `bw login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub(crate) username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub(crate) password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// The registry (Docker Hub when absent).
    pub(crate) server: Option<String>,
}

/// `bw logout`.
#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The registry (Docker Hub when absent).
    pub(crate) server: Option<String>,
}

/// `bw pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    pub(crate) image: String,
}

/// `bw push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// NAME[:TAG]
    pub(crate) image: String,
}

/// `bw image prune`.
#[derive(Debug, Args)]
pub(crate) struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub(crate) force: bool,
}

/// `bw container prune`.
#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub(crate) force: bool,
}

/// `bw volume create`.
#[derive(Debug, Args)]
pub(crate) struct VolumeCreateArgs {
    /// The name (generated when absent).
    pub(crate) name: Option<String>,
}

/// `bw volume ls`.
#[derive(Debug, Args)]
pub(crate) struct VolumeLsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub(crate) format: Option<String>,
}

/// `bw volume rm`.
#[derive(Debug, Args)]
pub(crate) struct VolumeRmArgs {
    /// Force the removal of one or more volumes.
    #[arg(short, long)]
    pub(crate) force: bool,
    /// The volumes.
    #[arg(required = true)]
    pub(crate) volumes: Vec<String>,
}

/// `bw volume prune`.
#[derive(Debug, Args)]
pub(crate) struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub(crate) force: bool,
}
