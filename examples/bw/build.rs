//! `bw build`: [`Engine::build`] with Docker's flags, its progress as `--progress=plain`
//! lines (a spinner on the running step on a terminal), the image ID with `-q`.

use std::collections::BTreeMap;

use boxwright::build::{BuildEvent, BuildProgress, BuildRequest, DockerfileSource, NoCache};
use boxwright::Engine;

use crate::cli::BuildArgs;
use crate::format;
use crate::progress::Progress;
use crate::{Failure, Outcome};

/// `bw build [-t NAME] [-f FILE] [--build-arg K=V] [--target S] [--no-cache] DIR`.
pub(crate) async fn build(engine: &Engine, args: BuildArgs) -> Outcome {
    let dockerfile = match &args.file {
        Some(f) if f.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(Failure::from_error)?;
            DockerfileSource::Text {
                name: "Dockerfile".into(),
                text,
            }
        }
        Some(f) => DockerfileSource::Path(f.clone()),
        None => DockerfileSource::Path(args.context.join("Dockerfile")),
    };
    let text = match &dockerfile {
        DockerfileSource::Path(p) => std::fs::read_to_string(p).unwrap_or_default(),
        DockerfileSource::Text { text, .. } => text.clone(),
    };
    let mut request = BuildRequest::new(dockerfile, args.context.clone());
    request.tags = args.tags.clone();
    request.build_args = pairs(&args.build_args, "--build-arg", true)?;
    request.labels = pairs(&args.labels, "--label", false)?;
    request.target = args.target.clone();
    request.no_cache = if args.no_cache {
        NoCache::All
    } else if !args.no_cache_filter.is_empty() {
        NoCache::Stages(args.no_cache_filter.clone())
    } else {
        NoCache::None
    };
    let quiet = args.quiet || args.progress == "quiet";
    let plain = args.progress == "plain";
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BuildEvent>();
    let printer = tokio::spawn(async move {
        let mut progress = Progress::new(quiet, plain);
        let mut lines = BuildProgress::for_dockerfile(&text);
        while let Some(event) = rx.recv().await {
            let started = matches!(event, BuildEvent::StepStarted { .. });
            for (i, line) in lines.lines(&event).into_iter().enumerate() {
                if started && i == 0 {
                    progress.step(&line);
                } else {
                    progress.line(&line);
                }
            }
        }
        progress.finish();
    });
    let built = engine.build(request, Some(tx)).await;
    let _ = printer.await;
    let built = built?;
    if quiet {
        format::println(built.image_id.as_ref());
    }
    Ok(0)
}

/// `K=V` flags as a map; a build arg without `=` takes the variable from our environment (as
/// Docker does), or is left out when unset.
fn pairs(
    items: &[String],
    flag: &str,
    from_env: bool,
) -> Result<BTreeMap<String, String>, Failure> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) => {
                map.insert(k.to_owned(), v.to_owned());
            }
            None if from_env => {
                if let Ok(v) = std::env::var(item) {
                    map.insert(item.clone(), v);
                }
            }
            None => {
                map.insert(item.clone(), String::new());
            }
        }
    }
    if map.keys().any(String::is_empty) {
        return Err(Failure::usage(format!("invalid {flag}: empty name")));
    }
    Ok(map)
}
