//! `bw`: Docker's command line over the boxwright facade, for people who try boxwright from a
//! shell (`bw build -t app .`, `bw run --rm app`, `bw ps`, `bw images`, …).
//!
//! The root is `$BOXWRIGHT_ROOT` (else `$XDG_DATA_HOME/boxwright`, else
//! `~/.local/share/boxwright`); there is no daemon. Exit codes are Docker's: `run` and `create`
//! exit 125 when the engine fails, 126 when the command cannot be executed, 127 when it is not
//! found, and otherwise with the command's own code; other commands exit 1 on failure, and a
//! command line `bw` cannot read exits 125. Errors are printed with their whole cause chain.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod build;
mod cli;
mod containers;
mod format;
mod images;
mod inspect;
mod progress;
mod registry;
mod run;
mod template;
mod tty;
mod volumes;

use std::process::ExitCode;

use boxwright::{Engine, Report};
use clap::Parser;

use cli::{Cli, Command, ContainerCommand, ImageCommand, VolumeCommand};

/// Docker's exit code when the engine (the daemon, for Docker) fails a `run` or `create`.
pub(crate) const EXIT_ENGINE: u8 = 125;
/// Docker's exit code when the container's command cannot be executed.
pub(crate) const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Docker's exit code when the container's command is not found.
pub(crate) const EXIT_NOT_FOUND: u8 = 127;

/// A failed command: what to print on stderr and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The exit code.
    pub(crate) code: u8,
    /// The message (the whole cause chain), printed after `bw: `.
    pub(crate) message: String,
}

impl Failure {
    /// An error with its causes, exit code 1 (Docker's for a failed command).
    pub(crate) fn from_error(err: impl std::error::Error + 'static) -> Failure {
        Failure {
            code: 1,
            message: Report(&err).to_string(),
        }
    }

    /// A command line `bw` cannot use: exit 125, as Docker's flag errors.
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_ENGINE,
            message: message.into(),
        }
    }

    /// A failure already printed: the exit code only.
    pub(crate) fn printed(code: u8) -> Failure {
        Failure {
            code,
            message: String::new(),
        }
    }

    /// A plain failure with exit code 1.
    pub(crate) fn msg(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// A failure of `run`, `create` or `exec`, with Docker's exit code: 127 when the command is
    /// not found, 126 when it cannot be executed, else 125 (the engine failed).
    pub(crate) fn run(err: boxwright::Error) -> Failure {
        Failure::run_or(err, EXIT_ENGINE)
    }

    /// 127 or 126 when the command could not be found or executed, else `code`.
    pub(crate) fn run_or(err: boxwright::Error, code: u8) -> Failure {
        let code = exec_failure_code(&err).unwrap_or(code);
        Failure {
            code,
            ..Failure::from_error(err)
        }
    }
}

/// 127 or 126 when `err` (or a cause of it) is the runtime's failure to execute the command.
fn exec_failure_code(err: &boxwright::Error) -> Option<u8> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        let runtime = e.downcast_ref::<boxwright::runtime::Error>().or(
            match e.downcast_ref::<boxwright::Error>() {
                Some(boxwright::Error::Runtime(r)) => Some(r),
                _ => None,
            },
        );
        match runtime {
            Some(boxwright::runtime::Error::ExecutableNotFound { .. }) => {
                return Some(EXIT_NOT_FOUND)
            }
            Some(boxwright::runtime::Error::Exec { source, .. }) => {
                return Some(match source.kind() {
                    std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                    _ => EXIT_CANNOT_EXECUTE,
                })
            }
            _ => {}
        }
        cause = e.source();
    }
    None
}

impl From<boxwright::Error> for Failure {
    fn from(err: boxwright::Error) -> Failure {
        Failure::from_error(err)
    }
}

#[cfg(feature = "run")]
impl From<boxwright::runtime::Error> for Failure {
    fn from(err: boxwright::runtime::Error) -> Failure {
        Failure::from_error(err)
    }
}

impl From<boxwright::store::StoreError> for Failure {
    fn from(err: boxwright::store::StoreError) -> Failure {
        Failure::from_error(err)
    }
}

/// What a command gives back: its exit code.
pub(crate) type Outcome = Result<u8, Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => EXIT_ENGINE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bw: starting the async runtime: {}", Report(&e));
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    let outcome = runtime.block_on(async {
        let engine = Engine::open_default().map_err(|e| Failure {
            code: EXIT_ENGINE,
            ..Failure::from(e)
        })?;
        dispatch(&engine, cli.command).await
    });
    // Detached work (log followers, attach relays) must not keep the process alive.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            // Commands over several objects print each failure as it happens.
            if !failure.message.is_empty() {
                eprintln!("bw: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Runs one command.
async fn dispatch(engine: &Engine, command: Command) -> Outcome {
    match command {
        Command::Build(a) => build::build(engine, a).await,
        Command::Run(a) => run::run(engine, a).await,
        Command::Create(a) => run::create(engine, a).await,
        Command::Ps(a) => containers::ps(engine, a).await,
        Command::Images(a) => images::images(engine, a).await,
        Command::Image(c) => image_command(engine, c).await,
        Command::Container(c) => container_command(engine, c).await,
        Command::Volume(c) => volume_command(engine, c).await,
        Command::Logs(a) => containers::logs(engine, a).await,
        Command::Start(a) => containers::start(engine, a).await,
        Command::Stop(a) => containers::stop(engine, a).await,
        Command::Restart(a) => containers::restart(engine, a).await,
        Command::Kill(a) => containers::kill(engine, a).await,
        Command::Attach(a) => containers::attach(engine, a).await,
        Command::Exec(a) => containers::exec(engine, a).await,
        Command::Rm(a) => containers::rm(engine, a).await,
        Command::Rmi(a) => images::rmi(engine, a).await,
        Command::Wait(a) => containers::wait(engine, a).await,
        Command::Tag(a) => images::tag(engine, a).await,
        Command::Inspect(a) => inspect::inspect(engine, a, None).await,
        Command::History(a) => images::history(engine, a).await,
        Command::Cp(a) => containers::cp(engine, a).await,
        Command::Commit(a) => containers::commit(engine, a).await,
        Command::Import(a) => images::import(engine, a).await,
        Command::Save(a) => images::save(engine, a).await,
        Command::Load(a) => images::load(engine, a).await,
        Command::Login(a) => registry::login(engine, a).await,
        Command::Logout(a) => registry::logout(engine, a).await,
        Command::Pull(a) => registry::pull(engine, a).await,
        Command::Push(a) => registry::push(engine, a).await,
    }
}

/// `bw image …`.
async fn image_command(engine: &Engine, command: ImageCommand) -> Outcome {
    match command {
        ImageCommand::Ls(a) => images::images(engine, a).await,
        ImageCommand::Inspect(a) => inspect::inspect(engine, a, Some(inspect::Kind::Image)).await,
        ImageCommand::History(a) => images::history(engine, a).await,
        ImageCommand::Rm(a) => images::rmi(engine, a).await,
        ImageCommand::Prune(a) => images::prune(engine, a).await,
        ImageCommand::Tag(a) => images::tag(engine, a).await,
        ImageCommand::Build(a) => build::build(engine, a).await,
        ImageCommand::Import(a) => images::import(engine, a).await,
        ImageCommand::Save(a) => images::save(engine, a).await,
        ImageCommand::Load(a) => images::load(engine, a).await,
        ImageCommand::Pull(a) => registry::pull(engine, a).await,
        ImageCommand::Push(a) => registry::push(engine, a).await,
    }
}

/// `bw container …`.
async fn container_command(engine: &Engine, command: ContainerCommand) -> Outcome {
    match command {
        ContainerCommand::Ls(a) => containers::ps(engine, a).await,
        ContainerCommand::Commit(a) => containers::commit(engine, a).await,
        ContainerCommand::Rm(a) => containers::rm(engine, a).await,
        ContainerCommand::Prune(a) => containers::prune(engine, a).await,
        ContainerCommand::Inspect(a) => {
            inspect::inspect(engine, a, Some(inspect::Kind::Container)).await
        }
        ContainerCommand::Run(a) => run::run(engine, a).await,
        ContainerCommand::Create(a) => run::create(engine, a).await,
        ContainerCommand::Start(a) => containers::start(engine, a).await,
        ContainerCommand::Stop(a) => containers::stop(engine, a).await,
        ContainerCommand::Restart(a) => containers::restart(engine, a).await,
        ContainerCommand::Kill(a) => containers::kill(engine, a).await,
        ContainerCommand::Logs(a) => containers::logs(engine, a).await,
        ContainerCommand::Attach(a) => containers::attach(engine, a).await,
        ContainerCommand::Exec(a) => containers::exec(engine, a).await,
        ContainerCommand::Wait(a) => containers::wait(engine, a).await,
        ContainerCommand::Cp(a) => containers::cp(engine, a).await,
    }
}

/// `bw volume …`.
async fn volume_command(engine: &Engine, command: VolumeCommand) -> Outcome {
    match command {
        VolumeCommand::Create(a) => volumes::create(engine, a).await,
        VolumeCommand::Ls(a) => volumes::ls(engine, a).await,
        VolumeCommand::Inspect(a) => inspect::inspect(engine, a, Some(inspect::Kind::Volume)).await,
        VolumeCommand::Rm(a) => volumes::rm(engine, a).await,
        VolumeCommand::Prune(a) => volumes::prune(engine, a).await,
    }
}
