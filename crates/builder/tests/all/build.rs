//! End-to-end builds into a real store in a temp dir: COPY-only images (no executor), the
//! cache and its miss reasons, multi-stage, reproducible digests, FROM a local image, and the
//! builder's RUN logic against a recording test double.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use boxwright_builder::{
    BuildError, BuildEvent, BuildRequest, BuildResult, Builder, DockerfileSource, Executor,
    ExecutorError, LocalOnly, MissReason, OutputSink, OutputStream, RefuseRun, RunStep, StepExit,
};
use boxwright_layer_store::Store;
use serde_json::Value;

use crate::support::{context_dir, run_build, write_files};

/// Builds `dockerfile` (text) in `ctx` into the store at `root`, with `edit` applied to the
/// request; returns the result (or error) and the events.
fn build_with(
    root: &Path,
    ctx: &Path,
    dockerfile: &str,
    executor: Arc<dyn Executor>,
    edit: impl FnOnce(&mut BuildRequest),
) -> (Result<BuildResult, BuildError>, Vec<BuildEvent>) {
    let store = Store::open(root).unwrap();
    let builder = Builder::new(store, executor, Arc::new(LocalOnly));
    let mut request = BuildRequest::new(
        DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: dockerfile.into(),
        },
        ctx,
    );
    edit(&mut request);
    run_build(&builder, request)
}

fn build(
    root: &Path,
    ctx: &Path,
    dockerfile: &str,
    edit: impl FnOnce(&mut BuildRequest),
) -> (BuildResult, Vec<BuildEvent>) {
    let (r, e) = build_with(root, ctx, dockerfile, Arc::new(RefuseRun), edit);
    (r.unwrap(), e)
}

fn cached(events: &[BuildEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, BuildEvent::StepCached { .. }))
        .count()
}

fn misses(events: &[BuildEvent]) -> Vec<MissReason> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepCacheMiss { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn config(root: &Path, result: &BuildResult) -> Value {
    Store::open(root)
        .unwrap()
        .config(&result.image_id)
        .unwrap()
        .json
}

const APP: &str = "FROM scratch\n\
    ENV APP=/app PATH=/bin\n\
    WORKDIR /app\n\
    COPY package.json .\n\
    COPY src/ ./src/\n\
    LABEL org.example.name=\"demo app\"\n\
    EXPOSE 8080 53/udp\n\
    USER 1000:1000\n\
    VOLUME /data\n\
    STOPSIGNAL SIGINT\n\
    ENTRYPOINT [\"/bin/app\"]\n\
    CMD serve\n";

fn app_context() -> tempfile::TempDir {
    context_dir(&[
        ("package.json", "{}"),
        ("src/main.js", "console.log(1)"),
        ("src/lib/util.js", "exports.x = 1"),
        ("notes.md", "not copied"),
    ])
}

#[test]
fn copy_only_image_has_the_config_and_history_the_dockerfile_says() {
    let root = tempfile::tempdir().unwrap();
    let ctx = app_context();
    let (result, events) = build(root.path(), ctx.path(), APP, |r| {
        r.tags = vec!["demo:1".into()];
        r.source_date_epoch = Some(1_700_000_000);
    });
    let cfg = config(root.path(), &result);
    let c = &cfg["config"];
    assert_eq!(c["Env"], serde_json::json!(["APP=/app", "PATH=/bin"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["Labels"]["org.example.name"], "demo app");
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/app"]));
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh", "-c", "serve"]));
    assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
    let history: Vec<(String, bool)> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap().to_string(),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let expect = [
        ("ENV APP=/app PATH=/bin", true),
        // BuildKit's WORKDIR makes a layer (the directory, or nothing when it exists).
        ("WORKDIR /app", false),
        ("COPY package.json . # buildkit", false),
        ("COPY src/ ./src/ # buildkit", false),
        ("LABEL org.example.name=demo app", true),
        ("EXPOSE map[53/udp:{} 8080/tcp:{}]", true),
        ("USER 1000:1000", true),
        ("VOLUME [/data]", true),
        ("STOPSIGNAL SIGINT", true),
        ("ENTRYPOINT [\"/bin/app\"]", true),
        ("CMD [\"/bin/sh\" \"-c\" \"serve\"]", true),
    ];
    let expect: Vec<(String, bool)> = expect.iter().map(|(s, b)| (s.to_string(), *b)).collect();
    assert_eq!(history, expect);
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    assert_eq!(result.steps.len(), 11);
    assert!(result.steps.iter().all(|s| !s.cached));
    assert_eq!(result.steps.iter().filter(|s| s.layer.is_some()).count(), 3);

    // The image is tagged and its files are where COPY put them.
    let store = Store::open(root.path()).unwrap();
    let image = store.resolve("demo:1").unwrap();
    assert_eq!(image.id, result.image_id);
    let out = tempfile::tempdir().unwrap();
    store.unpack(&image, out.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("app/package.json")).unwrap(),
        "{}"
    );
    assert!(out.path().join("app/src/lib/util.js").is_file());
    assert!(!out.path().join("app/notes.md").exists());
    assert!(events.iter().any(|e| matches!(e, BuildEvent::ImageWritten { tags, .. } if tags == &["docker.io/library/demo:1"])));
}

#[test]
fn rebuilds_hit_the_cache_and_every_miss_names_its_cause() {
    let root = tempfile::tempdir().unwrap();
    let ctx = app_context();
    std::fs::write(ctx.path().join(".dockerignore"), "**/*.log\n").unwrap();
    write_files(ctx.path(), &[("src/debug.log", "a")]);
    let (first, events) = build(root.path(), ctx.path(), APP, |_| {});
    assert_eq!(cached(&events), 0);
    assert!(misses(&events)
        .iter()
        .all(|r| *r == MissReason::NoEarlierBuild));

    // No change: every step cached, the same image (a second later too: the image's time is
    // its last step's).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (again, events) = build(root.path(), ctx.path(), APP, |_| {});
    assert_eq!(cached(&events), 11);
    assert!(again.steps.iter().all(|s| s.cached));
    assert_eq!(again.manifest_digest, first.manifest_digest);

    // An ignored file changes: still every step cached.
    write_files(ctx.path(), &[("src/debug.log", "b")]);
    let (_, events) = build(root.path(), ctx.path(), APP, |_| {});
    assert_eq!(cached(&events), 11);

    // A file no COPY matches changes: nothing is invalidated.
    write_files(ctx.path(), &[("notes.md", "edited")]);
    let (_, events) = build(root.path(), ctx.path(), APP, |_| {});
    assert_eq!(cached(&events), 11);

    // A copied file changes: that COPY and the steps after it re-run; the miss names the file.
    write_files(ctx.path(), &[("src/main.js", "console.log(2)")]);
    let (result, events) = build(root.path(), ctx.path(), APP, |_| {});
    assert_eq!(cached(&events), 3, "ENV, WORKDIR, COPY package.json");
    let flags: Vec<bool> = result.steps.iter().map(|s| s.cached).collect();
    assert_eq!(flags[..4], [true, true, true, false]);
    let reasons = misses(&events);
    assert_eq!(
        reasons[0],
        MissReason::FilesChanged {
            paths: vec!["src/main.js".into()],
            count: 1
        }
    );
    // Every miss after it names it as the root cause.
    let root_cause = MissReason::EarlierStepChanged {
        index: 3,
        text: "COPY src/ ./src/".into(),
        reason: Box::new(reasons[0].clone()),
    };
    assert!(reasons[1..].iter().all(|r| *r == root_cause), "{reasons:?}");
    assert_eq!(reasons[0].to_string(), "files changed: src/main.js");
    assert_eq!(
        reasons[1].to_string(),
        "step 4 (COPY src/ ./src/) changed: files changed: src/main.js"
    );
}

#[test]
fn a_build_arg_is_in_the_key_of_the_steps_that_read_it_only() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a.txt", "a")]);
    let df =
        "FROM scratch\nARG VERSION=1\nARG UNUSED\nCOPY a.txt /a\nLABEL version=$VERSION\nENV X=1\n";
    let (_, _) = build(root.path(), ctx.path(), df, |_| {});
    // An argument no step reads does not invalidate anything.
    let (_, events) = build(root.path(), ctx.path(), df, |r| {
        r.build_args = BTreeMap::from([("UNUSED".into(), "x".into())]);
    });
    assert_eq!(cached(&events), 5);
    // One LABEL reads: it and what follows re-run, and the miss names the argument.
    let (result, events) = build(root.path(), ctx.path(), df, |r| {
        r.build_args = BTreeMap::from([("VERSION".into(), "2".into())]);
    });
    assert_eq!(cached(&events), 3);
    assert_eq!(
        misses(&events)[0],
        MissReason::BuildArgChanged {
            name: "VERSION".into()
        }
    );
    assert_eq!(
        config(root.path(), &result)["config"]["Labels"]["version"],
        "2"
    );
}

#[test]
fn multi_stage_copy_from_builds_only_what_the_target_needs() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("bin/tool", "#!/bin/sh\n"), ("etc/conf", "x=1")]);
    let df = "FROM scratch AS build\nCOPY bin/ /out/bin/\nENV STAGE=build\n\
              FROM scratch AS unused\nCOPY etc/conf /conf\n\
              FROM scratch\nCOPY --from=build /out/bin/tool /usr/bin/tool\nCMD [\"tool\"]\n";
    let (result, events) = build(root.path(), ctx.path(), df, |_| {});
    let started: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StageStarted { stage, .. } => Some(*stage),
            _ => None,
        })
        .collect();
    assert_eq!(started, [0, 2]);
    let store = Store::open(root.path()).unwrap();
    let image = store.resolve(&result.image_id.digest()[..12]).unwrap();
    let out = tempfile::tempdir().unwrap();
    store.unpack(&image, out.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("usr/bin/tool")).unwrap(),
        "#!/bin/sh\n"
    );
    assert!(!out.path().join("out").exists());
    let cfg = config(root.path(), &result);
    assert!(
        cfg["config"].get("Env").is_none(),
        "ENV of another stage is not inherited"
    );

    // --target builds the named stage only.
    let (t, events) = build(root.path(), ctx.path(), df, |r| {
        r.target = Some("unused".into())
    });
    assert_eq!(t.steps.len(), 1);
    assert!(events
        .iter()
        .any(|e| matches!(e, BuildEvent::StageStarted { stage: 1, .. })));

    // A change in the first stage re-runs the COPY --from of the last one.
    write_files(ctx.path(), &[("bin/tool", "#!/bin/sh\necho 2\n")]);
    let (r, _) = build(root.path(), ctx.path(), df, |_| {});
    assert!(r
        .steps
        .iter()
        .all(|s| !s.cached || s.stage == 0 && s.line == 3));
}

/// The position of the first event `f` matches.
fn position(events: &[BuildEvent], f: impl Fn(&BuildEvent) -> bool) -> usize {
    events.iter().position(f).unwrap()
}

#[test]
fn independent_stages_start_before_the_other_finishes() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a1", "1"), ("a2", "2"), ("a3", "3"), ("b1", "b")]);
    let df = "FROM scratch AS a\nCOPY a1 /a1\nCOPY a2 /a2\nCOPY a3 /a3\n\
              FROM scratch AS b\nCOPY b1 /b1\n\
              FROM scratch\nCOPY --from=a /a3 /a3\nCOPY --from=b /b1 /b1\n";
    // Cold, then every step cached: the same schedule.
    for round in 0..2 {
        let (result, events) = build(root.path(), ctx.path(), df, |_| {});
        assert_eq!(cached(&events), round * 6);
        let stage_started = |n: usize| {
            position(
                &events,
                |e| matches!(e, BuildEvent::StageStarted { stage, .. } if *stage == n),
            )
        };
        let step_indices = |n: usize| -> Vec<usize> {
            events
                .iter()
                .filter_map(|e| match e {
                    BuildEvent::StepStarted { stage, index, .. } if *stage == n => Some(*index),
                    _ => None,
                })
                .collect()
        };
        let done = |i: usize| {
            position(
                &events,
                |e| matches!(e, BuildEvent::StepDone { index, .. } if *index == i),
            )
        };
        let a_last = *step_indices(0).last().unwrap();
        // Stage b started while stage a was still building.
        assert!(stage_started(1) < done(a_last), "{events:#?}");
        assert!(stage_started(0) < done(*step_indices(1).last().unwrap()));
        // The last stage started once both had finished.
        let last = stage_started(2);
        for i in step_indices(0).into_iter().chain(step_indices(1)) {
            assert!(done(i) < last, "{events:#?}");
        }
        // The result's steps are in Dockerfile order.
        let order: Vec<(usize, usize)> = result.steps.iter().map(|s| (s.stage, s.line)).collect();
        assert_eq!(order, [(0, 2), (0, 3), (0, 4), (1, 6), (2, 8), (2, 9)]);
    }

    // A change in stage a: its COPY misses naming the file; the last stage's COPY --from=a
    // names that COPY as its root cause; stage b stays cached.
    write_files(ctx.path(), &[("a3", "changed")]);
    let (result, events) = build(root.path(), ctx.path(), df, |_| {});
    let flags: Vec<bool> = result.steps.iter().map(|s| s.cached).collect();
    assert_eq!(flags, [true, true, false, true, false, false]);
    let reasons = misses(&events);
    let files = MissReason::FilesChanged {
        paths: vec!["a3".into()],
        count: 1,
    };
    assert_eq!(reasons[0], files);
    let a3 = events
        .iter()
        .find_map(|e| match e {
            BuildEvent::StepStarted { index, text, .. } if text == "COPY a3 /a3" => Some(*index),
            _ => None,
        })
        .unwrap();
    let root_cause = MissReason::EarlierStepChanged {
        index: a3,
        text: "COPY a3 /a3".into(),
        reason: Box::new(files),
    };
    assert_eq!(reasons[1..], [root_cause.clone(), root_cause]);
    assert_eq!(
        reasons[1].to_string(),
        format!("step {} (COPY a3 /a3) changed: files changed: a3", a3 + 1)
    );
}

#[test]
fn the_build_future_is_send() {
    fn send<T: Send>(_: &T) {}
    let root = tempfile::tempdir().unwrap();
    let builder = Builder::new(
        Store::open(root.path()).unwrap(),
        Arc::new(RefuseRun),
        Arc::new(LocalOnly),
    );
    let request = BuildRequest::new(
        DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: "FROM scratch\n".into(),
        },
        root.path(),
    );
    send(&builder.build(request, None));
}

#[test]
fn a_failed_stage_stops_the_build_and_reports_its_step() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("b1", "b")]);
    let df = "FROM scratch AS a\nRUN false\n\
              FROM scratch AS b\nCOPY b1 /b1\n\
              FROM scratch\nCOPY --from=a / /\nCOPY --from=b /b1 /b1\n";
    let (result, events) = build_with(root.path(), ctx.path(), df, Arc::new(RefuseRun), |_| {});
    let err = result.unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(!events
        .iter()
        .any(|e| matches!(e, BuildEvent::StageStarted { stage: 2, .. })
            || matches!(e, BuildEvent::ImageWritten { .. })));
}

#[test]
fn the_same_inputs_give_the_same_digest_from_two_empty_roots() {
    let ctx = app_context();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let epoch = |r: &mut BuildRequest| r.source_date_epoch = Some(1_600_000_000);
    let (ra, _) = build(a.path(), ctx.path(), APP, epoch);
    // Touch every file: times later than the epoch are clamped.
    for f in ["package.json", "src/main.js", "src/lib/util.js"] {
        let p = ctx.path().join(f);
        let text = std::fs::read(&p).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let (rb, _) = build(b.path(), ctx.path(), APP, epoch);
    assert_eq!(ra.manifest_digest, rb.manifest_digest);
    assert_eq!(ra.image_id, rb.image_id);
}

#[test]
fn from_a_local_image_by_name_and_by_id_prefix() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("base.txt", "base"), ("top.txt", "top")]);
    let (base, _) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY base.txt /\nCOPY base.txt /base.d/\nENV FROM_BASE=yes\nCMD [\"base\"]\nONBUILD LABEL triggered=yes\n",
        |r| r.tags = vec!["example/base:1".into()],
    );
    for from in [
        "example/base:1".to_string(),
        base.image_id.digest()[..10].to_string(),
    ] {
        let df =
            format!("FROM {from}\nCOPY top.txt /\nCOPY top.txt /base.d\nENTRYPOINT [\"/top\"]\n");
        let (r, _) = build(root.path(), ctx.path(), &df, |_| {});
        let cfg = config(root.path(), &r);
        assert_eq!(cfg["config"]["Env"], serde_json::json!(["FROM_BASE=yes"]));
        assert!(
            cfg["config"].get("Cmd").is_none(),
            "ENTRYPOINT resets an inherited CMD"
        );
        assert_eq!(
            cfg["config"]["Labels"]["triggered"], "yes",
            "the ONBUILD trigger ran"
        );
        assert!(cfg["config"].get("OnBuild").is_none());
        assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
        let store = Store::open(root.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let img = store.resolve(&r.image_id.digest()[..12]).unwrap();
        store.unpack(&img, out.path()).unwrap();
        assert!(out.path().join("base.txt").is_file() && out.path().join("top.txt").is_file());
        // `/base.d` is a directory in the base image: the file goes into it.
        assert!(out.path().join("base.d/top.txt").is_file());
    }
    // A missing image, with LocalOnly, is an error naming it.
    let (r, _) = build_with(
        root.path(),
        ctx.path(),
        "FROM nothere:1\n",
        Arc::new(RefuseRun),
        |_| {},
    );
    assert!(
        matches!(r, Err(BuildError::BaseImage { ref reference, .. }) if reference == "nothere:1")
    );
}

/// A test double for the builder's own RUN logic (not a runtime): it records each step it is
/// given and writes `ran-<n>` into the upper dir; it exits with `code`.
#[derive(Default)]
struct RecordingExecutor {
    steps: Mutex<Vec<RunStep>>,
    code: i32,
}

#[async_trait]
impl Executor for RecordingExecutor {
    async fn run(&self, step: RunStep, output: OutputSink) -> Result<StepExit, ExecutorError> {
        let n = {
            let mut steps = self.steps.lock().unwrap();
            steps.push(step.clone());
            steps.len()
        };
        std::fs::write(step.upper.join(format!("ran-{n}")), step.args.join(" ")).unwrap();
        let _ = output.send((OutputStream::Stdout, b"line one\nline ".to_vec()));
        let _ = output.send((OutputStream::Stdout, b"two\n".to_vec()));
        let _ = output.send((OutputStream::Stderr, b"oops".to_vec()));
        Ok(StepExit { code: self.code })
    }
}

#[test]
fn run_steps_get_the_stage_env_and_shell_and_are_cached_by_their_args() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("package.json", "{}"), ("index.js", "1")]);
    let df = "FROM scratch\nARG MODE=dev\nENV HOME=/root\nWORKDIR /app\nUSER node\n\
              COPY . .\nRUN --mount=type=cache,target=/cache npm install\nSHELL [\"/bin/bash\", \"-c\"]\nRUN [\"echo\", \"exec\"]\nRUN echo $MODE\n";
    let exec = Arc::new(RecordingExecutor::default());
    let (r, events) = build_with(root.path(), ctx.path(), df, exec.clone(), |_| {});
    let r = r.unwrap();
    let steps = exec.steps.lock().unwrap().clone();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0].args, ["/bin/sh", "-c", "npm install"]);
    assert_eq!(steps[0].workdir, "/app");
    assert_eq!(steps[0].user.as_deref(), Some("node"));
    assert!(steps[0].env.contains(&"HOME=/root".to_string()));
    assert!(steps[0].env.contains(&"MODE=dev".to_string()));
    assert!(steps[0].env.iter().any(|e| e.starts_with("PATH=")));
    assert_eq!(steps[0].lower.len(), 2, "the WORKDIR and COPY layers below");
    assert_eq!(steps[1].args, ["echo", "exec"]);
    assert_eq!(steps[2].args, ["/bin/bash", "-c", "echo $MODE"]);
    assert_eq!(steps[2].lower.len(), 4);
    assert!(matches!(
        steps[0].mounts[0],
        boxwright_builder::StepMount::Bind {
            readonly: false,
            ..
        }
    ));
    let lines: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::RunOutput { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines[..3], ["line one", "line two", "oops"]);
    let cfg = config(root.path(), &r);
    let hist: Vec<&str> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert!(
        hist.contains(&"RUN |1 MODE=dev /bin/sh -c npm install # buildkit"),
        "{hist:?}"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, BuildEvent::Warning { span, .. } if span.start_line == 7)));

    // Rebuilt: nothing runs.
    let (_, events) = build_with(root.path(), ctx.path(), df, exec.clone(), |_| {});
    assert_eq!(exec.steps.lock().unwrap().len(), 3);
    assert_eq!(cached(&events), 9);
    // A changed argument re-runs every RUN (they all see it), named in the first miss.
    let (_, events) = build_with(root.path(), ctx.path(), df, exec.clone(), |r| {
        r.build_args = BTreeMap::from([("MODE".into(), "prod".into())]);
    });
    assert_eq!(exec.steps.lock().unwrap().len(), 6);
    assert_eq!(
        misses(&events)[0],
        MissReason::BuildArgChanged {
            name: "MODE".into()
        }
    );
}

#[test]
fn a_failed_run_reports_its_line_and_output_and_tags_nothing() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a", "a")]);
    let df = "FROM scratch\nCOPY a /a\nRUN false\n";
    let exec = Arc::new(RecordingExecutor {
        code: 3,
        ..Default::default()
    });
    let (r, _) = build_with(root.path(), ctx.path(), df, exec.clone(), |r| {
        r.tags = vec!["t".into()]
    });
    match r {
        Err(BuildError::RunFailed {
            step,
            line,
            code,
            last_lines,
        }) => {
            assert_eq!((step, line, code), (1, 3, 3));
            assert_eq!(last_lines, ["line one", "line two", "oops"]);
        }
        other => panic!("{other:?}"),
    }
    let store = Store::open(root.path()).unwrap();
    assert!(store.resolve("t").is_err());
    // The COPY before it stays cached; no staging is left behind.
    let (_, events) = build_with(root.path(), ctx.path(), df, exec, |_| {});
    assert_eq!(cached(&events), 1);
    let leftovers: Vec<_> = std::fs::read_dir(root.path().join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("build-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn copy_only_builds_refuse_run_steps() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a", "a")]);
    let (r, _) = build_with(
        root.path(),
        ctx.path(),
        "FROM scratch\nRUN true\n",
        Arc::new(RefuseRun),
        |_| {},
    );
    assert!(matches!(r, Err(BuildError::Executor { line: 2, .. })));
}

#[test]
fn no_cache_reruns_everything_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a", "a")]);
    let df = "FROM scratch\nCOPY a /a\nENV X=1\n";
    build(root.path(), ctx.path(), df, |_| {});
    let (r, events) = build(root.path(), ctx.path(), df, |r| {
        r.no_cache = boxwright_builder::NoCache::All
    });
    assert!(r.steps.iter().all(|s| !s.cached));
    assert_eq!(misses(&events), [MissReason::NoCache, MissReason::NoCache]);
    // An edited instruction names its old text.
    let (_, events) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY a /a\nENV X=2\n",
        |_| {},
    );
    assert_eq!(
        misses(&events),
        [MissReason::InstructionChanged {
            old: "ENV X=1".into()
        }]
    );
}

#[test]
fn copy_chown_chmod_heredocs_and_add_of_a_local_tar() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("dir/x.sh", "echo x"), ("dir/sub/y", "y")]);
    // A tar archive made with the system's tar.
    let src = tempfile::tempdir().unwrap();
    write_files(src.path(), &[("inner/z.txt", "z")]);
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ctx.path().join("bundle.tar.gz"))
        .arg("-C")
        .arg(src.path())
        .arg("inner")
        .status()
        .unwrap();
    assert!(status.success());
    let df = "FROM scratch\n\
              COPY --chown=1000:50 --chmod=750 dir /opt/dir\n\
              COPY <<EOF /etc/motd\nhello\nEOF\n\
              ADD bundle.tar.gz /unpacked/\n\
              COPY bundle.tar.gz /kept/\n";
    let (r, _) = build(root.path(), ctx.path(), df, |_| {});
    let store = Store::open(root.path()).unwrap();
    let img = store.resolve(&r.image_id.digest()[..12]).unwrap();
    let out = tempfile::tempdir().unwrap();
    store.unpack(&img, out.path()).unwrap();
    let x = std::fs::metadata(out.path().join("opt/dir/x.sh")).unwrap();
    assert_eq!(
        (x.uid(), x.gid(), x.permissions().mode() & 0o7777),
        (1000, 50, 0o750)
    );
    assert!(
        out.path().join("opt/dir/sub/y").is_file(),
        "a directory's contents are copied"
    );
    assert!(!out.path().join("opt/dir/dir").exists());
    assert_eq!(
        std::fs::read_to_string(out.path().join("etc/motd")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("unpacked/inner/z.txt")).unwrap(),
        "z"
    );
    assert!(
        out.path().join("kept/bundle.tar.gz").is_file(),
        "COPY never extracts"
    );
}

/// An executor that never finishes: its step is stopped only by dropping the build.
struct Hang;

#[async_trait]
impl Executor for Hang {
    async fn run(&self, step: RunStep, _output: OutputSink) -> Result<StepExit, ExecutorError> {
        std::fs::write(step.upper.join("partial"), "x").unwrap();
        std::future::pending().await
    }
}

#[test]
fn a_dropped_build_leaves_no_staging() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a", "a")]);
    let store = Store::open(root.path()).unwrap();
    let builder = Builder::new(store, Arc::new(Hang), Arc::new(LocalOnly));
    let request = BuildRequest::new(
        DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: "FROM scratch\nCOPY a /a\nRUN sleep 1000\n".into(),
        },
        ctx.path(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_millis(500),
            builder.build(request, None),
        )
        .await
    });
    assert!(out.is_err(), "timed out, so the build future was dropped");
    let left: Vec<_> = std::fs::read_dir(root.path().join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("build-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn two_builds_at_once_on_one_root_agree() {
    let root = tempfile::tempdir().unwrap();
    let ctx = app_context();
    let epoch = |r: &mut BuildRequest| r.source_date_epoch = Some(1_600_000_000);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| build(root.path(), ctx.path(), APP, epoch).0);
        let b = s.spawn(|| build(root.path(), ctx.path(), APP, epoch).0);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.manifest_digest, b.manifest_digest);
    let (c, events) = build(root.path(), ctx.path(), APP, epoch);
    assert_eq!(c.manifest_digest, a.manifest_digest);
    assert_eq!(cached(&events), 11);
    assert!(Store::open(root.path()).unwrap().fsck().unwrap().is_empty());
}

#[test]
fn a_dockerfile_on_disk_uses_its_own_ignore_file() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("keep.txt", "k"), ("skip.txt", "s")]);
    let df = ctx.path().join("app.Dockerfile");
    std::fs::write(&df, "FROM scratch\nCOPY . /all/\n").unwrap();
    std::fs::write(ctx.path().join("app.Dockerfile.dockerignore"), "skip.txt\n").unwrap();
    let store = Store::open(root.path()).unwrap();
    let builder = Builder::new(store.clone(), Arc::new(RefuseRun), Arc::new(LocalOnly));
    let request = BuildRequest::new(DockerfileSource::Path(df), ctx.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = rt.block_on(builder.build(request, None)).unwrap();
    let out = tempfile::tempdir().unwrap();
    store
        .unpack(
            &store.resolve(&r.image_id.digest()[..12]).unwrap(),
            out.path(),
        )
        .unwrap();
    assert!(out.path().join("all/keep.txt").is_file());
    assert!(!out.path().join("all/skip.txt").exists());
}

/// Records what a bind mount showed the step: the file `tool` under the mount's source.
#[derive(Default)]
struct SeeMount {
    seen: Mutex<Vec<(String, bool)>>,
}

#[async_trait]
impl Executor for SeeMount {
    async fn run(&self, step: RunStep, _output: OutputSink) -> Result<StepExit, ExecutorError> {
        for m in &step.mounts {
            if let boxwright_builder::StepMount::Bind {
                source, readonly, ..
            } = m
            {
                let text = std::fs::read_to_string(source.join("tool")).unwrap_or_default();
                self.seen.lock().unwrap().push((text, *readonly));
            }
        }
        Ok(StepExit { code: 0 })
    }
}

#[test]
fn run_bind_mount_from_a_stage_sees_its_files_and_is_keyed_by_it() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("tool", "v1")]);
    let df = "FROM scratch AS tools\nCOPY tool /bin/tool\n\
              FROM scratch\nRUN --mount=type=bind,from=tools,source=/bin,target=/mnt --network=none x\n";
    let exec = Arc::new(SeeMount::default());
    let (r, events) = build_with(root.path(), ctx.path(), df, exec.clone(), |_| {});
    r.unwrap();
    assert_eq!(
        exec.seen.lock().unwrap().clone(),
        [("v1".to_string(), true)]
    );
    let text = events.iter().find_map(|e| match e {
        BuildEvent::StepStarted { text, .. } if text.starts_with("RUN") => Some(text.clone()),
        _ => None,
    });
    assert_eq!(
        text.as_deref(),
        Some(
            "RUN --mount=type=bind,from=tools,source=/bin,target=/mnt --network=none /bin/sh -c x"
        )
    );
    write_files(ctx.path(), &[("tool", "v2")]);
    let (r, _) = build_with(root.path(), ctx.path(), df, exec.clone(), |_| {});
    r.unwrap();
    assert_eq!(
        exec.seen.lock().unwrap().len(),
        2,
        "the stage changed: the RUN re-ran"
    );
    assert_eq!(exec.seen.lock().unwrap()[1].0, "v2");
}
