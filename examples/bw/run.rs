//! `bw run` and `bw create`: Docker's flags made [`RunOptions`], then [`Engine::run`] (`-d`),
//! [`Engine::run_attached`] (the command's output relayed, its exit code ours) or
//! [`Engine::create`].

use boxwright::runtime::{AttachOptions, Network, PortMapping};
use boxwright::{Engine, RunOptions, VolumeSpec};

use boxwright::store::StoreError;

use crate::cli::{PullArgs, RunArgs};
use crate::containers::relay;
use crate::format;
use crate::progress::Progress;
use crate::EXIT_ENGINE;
use crate::{Failure, Outcome};

/// `bw run`: prints the ID with `-d`; otherwise relays the output and exits with the
/// command's code (125/126/127 when the engine or the command's execution fails).
pub(crate) async fn run(engine: &Engine, args: RunArgs) -> Outcome {
    let (image, opts) = options(&args)?;
    pull_policy(engine, &image, &args.pull).await?;
    if args.detach {
        let id = engine.run(&image, opts).await.map_err(Failure::run)?;
        format::println(&id);
        return Ok(0);
    }
    let attach = AttachOptions {
        stdin: args.interactive,
        ..AttachOptions::default()
    };
    let attached = engine
        .run_attached(&image, opts, attach)
        .await
        .map_err(Failure::run)?;
    let id = attached.id().to_owned();
    let code = relay(engine, attached, args.interactive).await?;
    if args.rm {
        removed(engine, &id).await;
    }
    Ok(code)
}

/// Waits (a bounded poll) until the `--rm` container is gone: its monitor removes it just
/// after its exit, and Docker's `run --rm` returns only once it is removed.
async fn removed(engine: &Engine, id: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        match engine.container_inspect(id).await {
            Ok(details) if details.info.is_running() || details.info.auto_remove => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            _ => return,
        }
    }
}

/// `bw create`: prints the new container's ID.
pub(crate) async fn create(engine: &Engine, args: RunArgs) -> Outcome {
    let (image, opts) = options(&args)?;
    pull_policy(engine, &image, &args.pull).await?;
    let id = engine.create(&image, opts).await.map_err(Failure::run)?;
    format::println(&id);
    Ok(0)
}

/// `--pull always|missing|never`.
async fn pull_policy(engine: &Engine, image: &str, policy: &str) -> Result<(), Failure> {
    match policy {
        "missing" => match engine.image(image).await {
            // As Docker: say so on stderr, and show the pull there (stdout is the container's).
            Err(boxwright::Error::Store(StoreError::NotFound { .. })) => {
                eprintln!("Unable to find image '{image}' locally");
                let args = PullArgs {
                    quiet: false,
                    platform: None,
                    image: image.to_owned(),
                };
                crate::registry::pull_image(engine, &args, Progress::on_stderr())
                    .await
                    .map(drop)
                    .map_err(|f| Failure {
                        code: EXIT_ENGINE,
                        ..f
                    })
            }
            _ => Ok(()),
        },
        "always" => {
            engine.pull(image, None).await.map_err(Failure::run)?;
            Ok(())
        }
        "never" => engine.image(image).await.map(drop).map_err(Failure::run),
        other => Err(Failure::usage(format!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ))),
    }
}

/// The image and the options of a `run`/`create` command line.
fn options(args: &RunArgs) -> Result<(String, RunOptions), Failure> {
    let (image, command) = args
        .image_and_command
        .split_first()
        .ok_or_else(|| Failure::usage("\"run\" requires at least 1 argument"))?;
    let mut opts = RunOptions::new();
    opts.name = args.name.clone();
    if !command.is_empty() {
        opts.cmd = Some(command.to_vec());
    }
    opts.entrypoint = args.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            Vec::new()
        } else {
            vec![e.clone()]
        }
    });
    for file in &args.env_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Failure::usage(format!(
                "reading env file {}: {}",
                file.display(),
                boxwright::Report(&e)
            ))
        })?;
        opts.env.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    opts.env.extend(args.env.iter().cloned());
    opts.workdir = args.workdir.clone();
    opts.user = args.user.clone();
    opts.hostname = args.hostname.clone();
    opts.network = match args.network.as_deref() {
        None | Some("bridge") | Some("default") => None,
        Some("none") => Some(Network::None),
        Some("host") => Some(Network::Host),
        Some(other) => {
            return Err(Failure::usage(format!(
                "network {other} not found (bw knows \"bridge\", \"none\" and \"host\")"
            )))
        }
    };
    for p in &args.publish {
        let mapping: PortMapping = p
            .parse()
            .map_err(|e: boxwright::runtime::Error| Failure::run(e.into()))?;
        opts.publish.push(mapping);
    }
    opts.publish_all = args.publish_all;
    for v in &args.volume {
        let spec: VolumeSpec = v.parse().map_err(Failure::run)?;
        opts.volumes.push(spec);
    }
    opts.auto_remove = args.rm;
    opts.interactive = args.interactive;
    opts.tty = args.tty;
    opts.init = args.init;
    opts.read_only = args.read_only;
    opts.memory = args.memory.as_deref().map(parse_bytes).transpose()?;
    opts.pids_limit = args.pids_limit;
    opts.cpus = args.cpus;
    opts.stop_signal = args.stop_signal.clone();
    opts.stop_timeout = args.stop_timeout.map(std::time::Duration::from_secs);
    Ok((image.clone(), opts))
}

/// Docker's memory sizes: `1024`, `512k`, `64m`, `1g` (binary units, `b` optional).
fn parse_bytes(text: &str) -> Result<i64, Failure> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match lower
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => lower.split_at(i),
        None => (lower, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(Failure::usage(format!("invalid size: '{text}'"))),
    };
    let n: f64 = digits
        .parse()
        .map_err(|_| Failure::usage(format!("invalid size: '{text}'")))?;
    Ok((n * (1u64 << shift) as f64) as i64)
}
