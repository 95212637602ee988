//! `bw login|logout|pull|push` over the facade's registry verbs, with a bar per layer on a
//! terminal and Docker's lines otherwise.

use std::io::{BufRead as _, IsTerminal as _};

use boxwright::Engine;

use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::format;
use crate::progress::Progress;
use crate::{Failure, Outcome};

/// `bw login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]`.
pub(crate) async fn login(engine: &Engine, args: LoginArgs) -> Outcome {
    let server = args.server.clone().unwrap_or_default();
    let username = match &args.username {
        Some(u) => u.clone(),
        None => {
            return Err(Failure::usage(
                "bw login needs --username (it does not prompt)",
            ))
        }
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => {
            return Err(Failure::usage(
                "--password and --password-stdin are mutually exclusive",
            ))
        }
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(Failure::from_error)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => {
            return Err(Failure::usage(
                "bw login needs --password-stdin or --password (it does not prompt)",
            ))
        }
    };
    let mut engine = engine.clone();
    engine.login(&server, &username, &password).await?;
    format::println("Login Succeeded");
    Ok(0)
}

/// `bw logout [SERVER]`.
pub(crate) async fn logout(engine: &Engine, args: LogoutArgs) -> Outcome {
    let server = args.server.clone().unwrap_or_default();
    let mut engine = engine.clone();
    let shown = if server.is_empty() {
        "https://index.docker.io/v1/".to_owned()
    } else {
        server.clone()
    };
    if engine.logout(&server).await? {
        format::println(&format!("Removing login credentials for {shown}"));
    } else {
        format::println(&format!("Not logged in to {shown}"));
    }
    Ok(0)
}

/// `bw pull NAME[:TAG|@DIGEST]`: a bar per layer, then Docker's `Digest:`, `Status:` and the
/// full name.
pub(crate) async fn pull(engine: &Engine, args: PullArgs) -> Outcome {
    let name = pull_image(engine, &args, Progress::new(args.quiet, false)).await?;
    format::println(&name);
    Ok(0)
}

/// Pulls with Docker's lines and a bar per layer shown by `progress`; the full name pulled.
pub(crate) async fn pull_image(
    engine: &Engine,
    args: &PullArgs,
    mut progress: Progress,
) -> Result<String, Failure> {
    if args.platform.is_some() {
        return Err(Failure::usage(
            "pull --platform is not supported: images are pulled for this host's platform",
        ));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<boxwright::builder::PullProgress>();
    let (name, tag) = split_tag(&args.image);
    progress.line(&format!("{tag}: Pulling from {name}"));
    let printer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            progress.blob(&p.event, false);
        }
        progress
    });
    let pulled = engine.pull(&args.image, Some(tx)).await;
    let mut progress = printer.await.map_err(Failure::from_error)?;
    progress.finish();
    let report = pulled?;
    progress.line(&format!("Digest: {}", report.digest));
    progress.line(&if report.up_to_date() {
        format!("Status: Image is up to date for {}", args.image)
    } else {
        format!("Status: Downloaded newer image for {}", args.image)
    });
    Ok(report.name)
}

/// `bw push NAME[:TAG]`: a bar per layer, then Docker's `TAG: digest: … size: …` line.
pub(crate) async fn push(engine: &Engine, args: PushArgs) -> Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<boxwright::PushProgress>();
    let quiet = args.quiet;
    let printer = tokio::spawn(async move {
        let mut progress = Progress::new(quiet, false);
        while let Some(p) = rx.recv().await {
            progress.blob(&p.event, true);
        }
        progress.finish();
    });
    if !quiet && std::io::stdout().is_terminal() {
        format::println(&format!(
            "The push refers to repository [{}]",
            split_tag(&args.image).0
        ));
    }
    let pushed = engine.push(&args.image, Some(tx)).await;
    let _ = printer.await;
    let report = pushed?;
    let tag = split_tag(&args.image).1;
    format::println(&format!("{tag}: digest: {}", report.digest));
    Ok(0)
}

/// `NAME[:TAG]` → (`NAME`, `TAG` or `latest`); a digest reference keeps its digest as tag.
fn split_tag(reference: &str) -> (String, String) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (name.to_owned(), digest.to_owned());
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (
            reference[..slash + i].to_owned(),
            reference[slash + i + 1..].to_owned(),
        ),
        None => (reference.to_owned(), "latest".to_owned()),
    }
}
