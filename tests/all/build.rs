//! `Engine::build` through the facade: Docker's cache lesson (every step cached on rebuild, a
//! changed file re-runs only what follows, the miss names the file), `RUN` on the runtime,
//! `FROM` an image the store lacks through the registry path, and host-program base images.

use std::collections::BTreeMap;

use boxwright::build::{BuildEvent, BuildProgress, BuildRequest, DockerfileSource, MissReason};
use boxwright::{Engine, HostImage};

use crate::support;

/// What one build did, step by step, from its events.
#[derive(Debug, Default)]
struct Seen {
    /// Step index → instruction text.
    text: BTreeMap<usize, String>,
    /// Step index → the miss reason (absent: cached).
    missed: BTreeMap<usize, MissReason>,
    cached: Vec<usize>,
    /// Output lines of RUN steps.
    output: Vec<String>,
    /// The rendered progress.
    lines: Vec<String>,
}

impl Seen {
    /// The RUN steps that ran (missed the cache).
    fn runs_ran(&self) -> usize {
        self.missed
            .keys()
            .filter(|i| self.text[i].starts_with("RUN"))
            .count()
    }
}

/// Builds `dockerfile` in `context`, tagged `tag`, collecting its events.
async fn build(
    engine: &Engine,
    dockerfile: &str,
    context: &std::path::Path,
    tag: &str,
) -> boxwright::Result<(boxwright::build::BuildResult, Seen)> {
    let mut request = BuildRequest::new(
        DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: dockerfile.into(),
        },
        context,
    );
    request.tags = vec![tag.into()];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = engine.build(request, Some(tx)).await;
    let mut seen = Seen::default();
    let mut progress = BuildProgress::for_dockerfile(dockerfile);
    while let Ok(event) = rx.try_recv() {
        seen.lines.extend(progress.lines(&event));
        match event {
            BuildEvent::StepStarted { index, text, .. } => {
                seen.text.insert(index, text);
            }
            BuildEvent::StepCached { index, .. } => seen.cached.push(index),
            BuildEvent::StepCacheMiss { index, reason } => {
                seen.missed.insert(index, reason);
            }
            BuildEvent::RunOutput { line, .. } => seen.output.push(line),
            _ => {}
        }
    }
    result.map(|r| (r, seen))
}

const LESSON: &str = "FROM bb\n\
WORKDIR /app\n\
COPY deps.txt .\n\
RUN wc -l deps.txt > deps.count\n\
COPY src.txt .\n\
RUN tr a-z A-Z < src.txt > out.txt && cat out.txt\n\
CMD [\"cat\", \"/app/out.txt\"]\n";

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_is_all_cached_and_a_changed_file_reruns_only_what_follows() {
    let (_root, engine) = support::engine();
    let dir = tempfile::tempdir().unwrap();
    support::busybox_image(&engine, "bb");
    let ctx = dir.path().join("ctx");
    support::write_files(&ctx, &[("deps.txt", "a\nb\n"), ("src.txt", "hello\n")]);

    let (first, seen) = build(&engine, LESSON, &ctx, "lesson:1").await.unwrap();
    assert_eq!(seen.runs_ran(), 2, "{:#?}", seen.lines);
    assert!(
        seen.output.iter().any(|l| l == "HELLO"),
        "{:?}",
        seen.output
    );
    assert_eq!(engine.image("lesson:1").await.unwrap().id, first.image_id);

    // Nothing changed: every step comes from the cache, and the image is the same.
    let (again, seen) = build(&engine, LESSON, &ctx, "lesson:1").await.unwrap();
    assert!(seen.missed.is_empty(), "{:#?}", seen.lines);
    assert_eq!(seen.cached.len(), seen.text.len());
    assert_eq!(seen.cached.len(), 6);
    assert_eq!(again.image_id, first.image_id);
    assert!(again.steps.iter().all(|s| s.cached));

    // src.txt changed: the steps before its COPY are cached; the COPY misses naming the file,
    // and only the RUN after it runs again.
    support::write_files(&ctx, &[("src.txt", "changed\n")]);
    let (third, seen) = build(&engine, LESSON, &ctx, "lesson:1").await.unwrap();
    assert_ne!(third.image_id, first.image_id);
    assert_eq!(seen.runs_ran(), 1, "{:#?}", seen.lines);
    let copy = seen
        .text
        .iter()
        .find(|(_, t)| t.starts_with("COPY src.txt"))
        .map(|(i, _)| *i)
        .unwrap();
    assert!(
        matches!(&seen.missed[&copy], MissReason::FilesChanged { paths, count: 1 } if paths == &["src.txt"]),
        "{:?}",
        seen.missed
    );
    for (i, text) in &seen.text {
        let before = text.starts_with("WORKDIR")
            || text.starts_with("COPY deps.txt")
            || text.contains("wc -l");
        assert_eq!(seen.cached.contains(i), before, "{text}: {:#?}", seen.lines);
    }
    assert!(
        seen.output.iter().any(|l| l == "CHANGED"),
        "{:?}",
        seen.output
    );
    // The rendered progress says why, with the file's name.
    assert!(
        seen.lines
            .iter()
            .any(|l| l.ends_with("cache miss: src.txt changed (1 file)")),
        "{:#?}",
        seen.lines
    );
    assert!(
        seen.lines.iter().any(|l| l.ends_with(
            "cache miss: earlier step #5 (COPY src.txt .) missed: src.txt changed (1 file)"
        )),
        "{:#?}",
        seen.lines
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_is_an_error_with_its_step() {
    let (_root, engine) = support::engine();
    let dir = tempfile::tempdir().unwrap();
    support::busybox_image(&engine, "bb");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let err = build(
        &engine,
        "FROM bb\nRUN echo oops && false\n",
        &ctx,
        "fails:1",
    )
    .await
    .unwrap_err();
    let report = err.report().to_string();
    assert!(
        report.contains("(line 2) failed with exit code 1"),
        "{report}"
    );
    match err {
        boxwright::Error::Build(build) => match *build {
            boxwright::build::BuildError::RunFailed { last_lines, .. } => {
                assert_eq!(last_lines, ["oops"]);
            }
            other => panic!("not a failed RUN: {other:?}"),
        },
        other => panic!("not a build error: {other:?}"),
    }
    // Nothing was tagged.
    assert!(engine.image("fails:1").await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn from_an_image_the_store_lacks_goes_to_its_registry() {
    let (_root, engine) = support::engine();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let port = support::free_port();
    let dockerfile = format!("FROM 127.0.0.1:{port}/nothing/here:1\nCMD [\"x\"]\n");
    let err = build(&engine, &dockerfile, &ctx, "never:1")
        .await
        .unwrap_err();
    let report = err.report().to_string();
    assert!(report.contains(&format!("127.0.0.1:{port}")), "{report}");
    assert!(report.to_lowercase().contains("refused"), "{report}");
}

/// The programs of the host-base tests (Debian's coreutils and dash: dynamically linked).
const HOST_PROGRAMS: [&str; 5] = [
    "/bin/sh",
    "/bin/cat",
    "/bin/ls",
    "/usr/bin/tr",
    "/usr/bin/wc",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_host_base_runs_build_steps_and_is_deterministic() {
    let (_root, engine) = support::engine();
    let dir = tempfile::tempdir().unwrap();
    let spec = HostImage::new(HOST_PROGRAMS).cmd(["/bin/sh"]);
    let base = engine.import_host("hostbase:1", &spec).await.unwrap();

    // The same host files in another root give the same image ID.
    let (_other_dir, other) = support::engine();
    let again = other.import_host("elsewhere", &spec).await.unwrap();
    assert_eq!(again.id, base.id);

    let ctx = dir.path().join("ctx");
    support::write_files(&ctx, &[("word.txt", "quiet\n")]);
    let dockerfile = "FROM hostbase:1\nCOPY word.txt /\n\
        RUN tr a-z A-Z < /word.txt && ls /bin | wc -l && cat /etc/passwd\n";
    let (_, seen) = build(&engine, dockerfile, &ctx, "fromhost:1")
        .await
        .unwrap();
    assert!(
        seen.output.iter().any(|l| l == "QUIET"),
        "{:#?}",
        seen.lines
    );
    assert!(
        seen.output.iter().any(|l| l.starts_with("root:x:0:0:")),
        "{:#?}",
        seen.lines
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_program_that_is_missing_is_an_error_naming_it() {
    let (_root, engine) = support::engine();
    let err = engine
        .import_host("x", &HostImage::new(["/no/such/program"]))
        .await
        .unwrap_err();
    let report = err.report().to_string();
    assert!(report.contains("/no/such/program"), "{report}");
    assert!(report.contains("No such file"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn build_cache_gc_over_its_size_drops_the_records_and_the_next_build_runs_again() {
    use boxwright::build::{GcOptions, PruneOptions};

    let (_root, engine) = support::engine();
    let dir = tempfile::tempdir().unwrap();
    support::busybox_image(&engine, "bb");
    let ctx = dir.path().join("ctx");
    support::write_files(&ctx, &[("deps.txt", "a\n"), ("src.txt", "b\n")]);
    build(&engine, LESSON, &ctx, "gc:1").await.unwrap();

    // Nothing over any limit: only unusable records would go, and there are none.
    let report = engine
        .build_cache_prune(PruneOptions::default())
        .await
        .unwrap();
    assert_eq!(report.unusable + report.expired + report.over_size, 0);
    assert!(report.kept > 0);

    // The built image removed and the cache capped at 0 bytes: its records go, and the
    // store's gc takes the layers nothing holds any more.
    engine.store().remove_image("gc:1", true).unwrap();
    let prune = PruneOptions {
        keep_bytes: Some(0),
        ..PruneOptions::default()
    };
    let gc = GcOptions {
        grace: std::time::Duration::ZERO,
        ..GcOptions::default()
    };
    let report = engine.build_cache_gc(prune, gc).await.unwrap();
    assert!(report.cache.over_size > 0, "{report:?}");
    assert_eq!(report.cache.kept, 0, "{report:?}");

    // Same inputs, but no record left: every step misses and both RUNs run again.
    let (_, seen) = build(&engine, LESSON, &ctx, "gc:1").await.unwrap();
    assert!(seen.cached.is_empty(), "{:#?}", seen.lines);
    assert_eq!(seen.runs_ran(), 2, "{:#?}", seen.lines);
}
