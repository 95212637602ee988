//! End-to-end builds with the real runtime as executor (feature `runtime`; as root, with
//! Debian's busybox-static as the base image): the Node walkthrough's cache behaviour, a
//! failed RUN, cache mounts, build args, ONBUILD, multi-stage (stages at once, a failed one
//! stopping the other), cancellation, USER/ENV/WORKDIR, two builds at once, reproducible
//! digests across roots, and the built image under podman.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e_runtime/support.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use boxwright_builder::{BuildError, BuildEvent, MissReason};
use serde_json::json;

use support::{cached, misses, output, processes_with, run_ok, tool, Env};

const NODE: &str = "FROM busybox:test\n\
    WORKDIR /app\n\
    COPY package.json .\n\
    RUN sh -c 'mkdir -p node_modules/dep && cp package.json node_modules/dep/ && echo installed'\n\
    COPY . .\n\
    EXPOSE 80\n\
    CMD [\"cat\",\"server.js\"]\n";

/// The RUN's step index in [`NODE`] (`FROM` is no step).
const INSTALL: usize = 2;

/// The Node walkthrough's context.
fn node_env() -> Env {
    let env = Env::new();
    env.write(&[
        (
            "package.json",
            "{\"name\":\"app\",\"dependencies\":{\"dep\":\"1\"}}",
        ),
        ("server.js", "console.log('v1')\n"),
        ("install.sh", "#!/bin/sh\necho fake installer\n"),
        (".dockerignore", "*.log\n"),
        ("npm-debug.log", "one\n"),
    ]);
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn node_walkthrough_caches_as_docker_does_and_names_every_miss() {
    let env = node_env();

    // (a) Cold: every step runs, the RUN's output comes as events.
    let (first, events) = env.build(env.request(NODE)).await;
    let first = first.unwrap();
    assert_eq!(cached(&events), Vec::<usize>::new());
    assert_eq!(
        misses(&events),
        (0..6)
            .map(|i| (i, MissReason::NoEarlierBuild))
            .collect::<Vec<_>>()
    );
    assert_eq!(output(&events), [(INSTALL, "installed".to_string())]);
    assert_eq!(env.executor.runs(), 1);

    // (b) No change: every step cached, zero RUN executed, the same image.
    let (again, events) = env.build(env.request(NODE)).await;
    let again = again.unwrap();
    assert_eq!(cached(&events), (0..6).collect::<Vec<_>>());
    assert!(misses(&events).is_empty());
    assert!(output(&events).is_empty());
    assert_eq!(env.executor.runs(), 1);
    assert_eq!(again.image_id, first.image_id);

    // A `.dockerignore`d file changes: still every step cached.
    env.write(&[("npm-debug.log", "two\n")]);
    let (_, events) = env.build(env.request(NODE)).await;
    assert_eq!(cached(&events), (0..6).collect::<Vec<_>>());
    assert_eq!(env.executor.runs(), 1);

    // (c) A source file changes: only `COPY . .` and after re-run; the miss names the file.
    env.write(&[("server.js", "console.log('v2')\n")]);
    let (_, events) = env.build(env.request(NODE)).await;
    assert_eq!(cached(&events), [0, 1, INSTALL]);
    let missed = misses(&events);
    assert_eq!(
        missed[0],
        (
            3,
            MissReason::FilesChanged {
                paths: vec!["server.js".into()],
                count: 1
            }
        )
    );
    assert_eq!(missed.iter().map(|m| m.0).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(env.executor.runs(), 1, "the install RUN stayed cached");

    // (d) package.json changes: the install re-runs; the miss names package.json.
    let package = "{\"name\":\"app\",\"dependencies\":{\"dep\":\"2\"}}";
    env.write(&[("package.json", package)]);
    let mut request = env.request(NODE);
    request.tags = vec!["node-app:1".into()];
    let (last, events) = env.build(request).await;
    let last = last.unwrap();
    assert_eq!(cached(&events), [0]);
    let missed = misses(&events);
    assert_eq!(
        missed[0],
        (
            1,
            MissReason::FilesChanged {
                paths: vec!["package.json".into()],
                count: 1
            }
        )
    );
    assert_eq!(missed[1].0, INSTALL);
    assert_eq!(
        missed[1].1.to_string(),
        "step 2 (COPY package.json .) changed: files changed: package.json",
        "the install's miss names package.json: {:?}",
        missed[1]
    );
    assert_eq!(env.executor.runs(), 2);
    assert_eq!(output(&events), [(INSTALL, "installed".to_string())]);

    // The image holds what the steps made, and says what the Dockerfile says.
    let rootfs = env.unpack(&last, "rootfs");
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap();
    assert_eq!(read("app/node_modules/dep/package.json"), package);
    assert_eq!(read("app/server.js"), "console.log('v2')\n");
    assert_eq!(read("app/install.sh"), "#!/bin/sh\necho fake installer\n");
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(!rootfs.join("app/npm-debug.log").exists());
    let cfg = env.config(&last);
    let c = &cfg["config"];
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(c["Cmd"], json!(["cat", "server.js"]));
    let history: Vec<(String, bool)> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap_or("").to_string(),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    // The base's own entries first (one layer), then ours. WORKDIR makes a layer with the
    // directory, as BuildKit's.
    let ours = &history[history.len() - 6..];
    let expect = [
        ("WORKDIR /app", false),
        ("COPY package.json . # buildkit", false),
        (
            "RUN /bin/sh -c sh -c 'mkdir -p node_modules/dep && cp package.json node_modules/dep/ && echo installed' # buildkit",
            false,
        ),
        ("COPY . . # buildkit", false),
        ("EXPOSE map[80/tcp:{}]", true),
        ("CMD [\"cat\" \"server.js\"]", true),
    ];
    let expect: Vec<(String, bool)> = expect.iter().map(|(s, b)| (s.to_string(), *b)).collect();
    assert_eq!(ours, expect.as_slice());
    let layers_in_history = history.iter().filter(|h| !h.1).count();
    assert_eq!(
        cfg["rootfs"]["diff_ids"].as_array().unwrap().len(),
        layers_in_history
    );
    assert_eq!(env.store().resolve("node-app:1").unwrap().id, last.image_id);

    // The image's Cmd, run by our runtime over the unpacked image, prints server.js.
    let out = boxwright_runtime::Container::builder(rootfs.as_path())
        .cmd(["cat", "server.js"])
        .workdir("/app")
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"console.log('v2')\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_names_its_step_line_code_and_output_and_tags_nothing() {
    let env = Env::new();
    let dockerfile = "FROM busybox:test\n\
        WORKDIR /w\n\
        RUN echo ok > done\n\
        RUN echo before; exit 3\n\
        CMD [\"true\"]\n";
    let mut request = env.request(dockerfile);
    request.tags = vec!["failing:1".into()];
    let (result, _) = env.build(request.clone()).await;
    let err = result.unwrap_err();
    let BuildError::RunFailed {
        step,
        line,
        code,
        ref last_lines,
    } = err
    else {
        panic!("not a RUN failure: {err:?}");
    };
    assert_eq!((step, line, code), (2, 4, 3));
    assert_eq!(last_lines.last().map(String::as_str), Some("before"));
    let text = err.to_string();
    assert!(
        text.contains("line 4") && text.contains("exit code 3"),
        "{text}"
    );
    assert!(env.store().resolve("failing:1").is_err());
    assert_eq!(env.executor.runs(), 2);

    // A rebuild takes the steps before the failure from the cache and runs only the failure.
    let (result, events) = env.build(request).await;
    assert!(matches!(result, Err(BuildError::RunFailed { code: 3, .. })));
    assert_eq!(cached(&events), [0, 1]);
    assert_eq!(env.executor.runs(), 3);
    assert_eq!(output(&events), [(2, "before".to_string())]);
    assert!(env.store().resolve("failing:1").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_mount_is_kept_between_builds_and_stays_out_of_the_image() {
    let env = Env::new();
    let dockerfile = "FROM busybox:test\n\
        ARG N\n\
        RUN --mount=type=cache,target=/cache sh -c 'echo run$N >> /cache/log; cat /cache/log'\n";
    let mut request = env.request(dockerfile);
    request.build_args.insert("N".into(), "1".into());
    let (first, events) = env.build(request.clone()).await;
    first.unwrap();
    assert_eq!(output(&events), [(1, "run1".to_string())]);

    // Another value of N: the RUN misses (the miss names N) and sees the first build's file.
    request.build_args.insert("N".into(), "2".into());
    let (second, events) = env.build(request).await;
    let second = second.unwrap();
    assert_eq!(
        misses(&events),
        [(1, MissReason::BuildArgChanged { name: "N".into() })]
    );
    assert_eq!(
        output(&events),
        [(1, "run1".to_string()), (1, "run2".to_string())]
    );
    let rootfs = env.unpack(&second, "rootfs");
    assert!(!rootfs.join("cache/log").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_stage_copies_from_two_independent_stages() {
    let env = Env::new();
    // Each independent stage marks a shared cache mount and waits (up to 3 s) for the other's
    // mark, recording whether it saw it. Built one after another, the first stage would time
    // out and record `no`; built at once, both see the other's mark: the proof that
    // independent stages run in parallel.
    let probe = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/sync sh -c 'touch /sync/{me}; i=0; \
             while [ ! -e /sync/{other} ] && [ $i -lt 60 ]; do i=$((i + 1)); sleep 0.05; done; \
             if [ -e /sync/{other} ]; then s=yes; else s=no; fi; echo {me} saw-{other}=$s > /{me}'\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox:test AS a\n{}\
         FROM busybox:test AS b\n{}\
         FROM busybox:test\n\
         COPY --from=a /a /\n\
         COPY --from=b /b /\n",
        probe("a", "b"),
        probe("b", "a"),
    );
    let started = Instant::now();
    let (result, events) = env.build(env.request(&dockerfile)).await;
    let result = result.unwrap();
    let elapsed = started.elapsed();
    let stages: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StageStarted { stage, .. } => Some(*stage),
            _ => None,
        })
        .collect();
    assert_eq!(stages.len(), 3, "{stages:?}");
    assert_eq!(env.executor.runs(), 2);
    let rootfs = env.unpack(&result, "rootfs");
    let a = std::fs::read_to_string(rootfs.join("a")).unwrap();
    let b = std::fs::read_to_string(rootfs.join("b")).unwrap();
    assert!(a.starts_with("a saw-b="), "{a}");
    assert!(b.starts_with("b saw-a="), "{b}");
    // Both ran at once: each saw the other's mark.
    assert_eq!(a, "a saw-b=yes\n", "{a}{b} in {elapsed:?}");
    assert_eq!(b, "b saw-a=yes\n", "{a}{b} in {elapsed:?}");
    // The sync dir is a cache mount: no mark is in the image.
    assert!(!rootfs.join("sync").join("a").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_build_kills_the_run_and_leaves_no_staging() {
    let env = Env::new();
    let token = format!(
        "E2E_TOKEN={}",
        env.tmp.path().file_name().unwrap().to_str().unwrap()
    );
    let dockerfile = format!("FROM busybox:test\nENV {token}\nRUN sleep 1000\n");
    let request = env.request(&dockerfile);
    // Boxed, so that `drop` drops the future itself (not a pinned reference to it).
    let mut build = Box::pin(env.builder.build(request, None));
    let deadline = Instant::now() + Duration::from_secs(30);
    let pids = loop {
        tokio::select! {
            r = &mut build => panic!("the build ended: {r:?}"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let pids = processes_with(&token);
        if !pids.is_empty() {
            break pids;
        }
        assert!(Instant::now() < deadline, "the RUN did not start");
    };
    drop(build);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_with(&token);
        let staging = entries(&env.root.join("tmp"));
        if left.is_empty() && staging.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running: {left:?} (of {pids:?}); staging left: {staging:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing of the RUN is mounted any more.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root.to_str().unwrap()), "{mounts}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stage_stops_the_stage_running_beside_it() {
    let env = Env::new();
    let token = format!(
        "E2E_TOKEN={}",
        env.tmp.path().file_name().unwrap().to_str().unwrap()
    );
    // Stage a runs until stopped; stage b fails once a's RUN is up.
    let dockerfile = format!(
        "FROM busybox:test AS a\nENV {token}\nRUN sleep 1000\n\
         FROM busybox:test AS b\nRUN sleep 2; exit 3\n\
         FROM busybox:test\nCOPY --from=a /bin/busybox /a\nCOPY --from=b /bin/busybox /b\n"
    );
    let started = Instant::now();
    let (result, events) = env.build(env.request(&dockerfile)).await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("line 5"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60), "{err}");
    assert!(!events
        .iter()
        .any(|e| matches!(e, BuildEvent::StageStarted { stage: 2, .. })));
    // Stage a's RUN had started and never finished.
    let sleeper = events
        .iter()
        .find_map(|e| match e {
            BuildEvent::StepStarted { index, text, .. } if text.contains("sleep 1000") => {
                Some(*index)
            }
            _ => None,
        })
        .expect("stage a's RUN started");
    assert!(!events
        .iter()
        .any(|e| matches!(e, BuildEvent::StepDone { index, .. } if *index == sleeper)));
    // Stage a's RUN was stopped with the build, and left no staging.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_with(&token);
        let staging = entries(&env.root.join("tmp"));
        if left.is_empty() && staging.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running: {left:?}; staging left: {staging:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names in `dir` (none when it is missing).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn user_env_and_workdir_apply_to_run() {
    let env = Env::new();
    let dockerfile = "FROM busybox:test\n\
        ENV GREETING=hello PLACE=world\n\
        WORKDIR /srv/app\n\
        RUN echo \"$GREETING $PLACE\" > greeting && pwd > where && id -u > uid-root\n\
        USER nobody\n\
        RUN id -u > /tmp/uid && id -g >> /tmp/uid\n\
        USER root\n\
        RUN cp /tmp/uid /uid\n";
    let (result, _) = env.build(env.request(dockerfile)).await;
    let result = result.unwrap();
    let rootfs = env.unpack(&result, "rootfs");
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap();
    assert_eq!(read("srv/app/greeting"), "hello world\n");
    assert_eq!(read("srv/app/where"), "/srv/app\n");
    assert_eq!(read("srv/app/uid-root"), "0\n");
    assert_eq!(read("uid"), "65534\n65534\n");
    let meta = std::fs::metadata(rootfs.join("tmp/uid")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_built_image_runs_the_same_under_podman() {
    let Some(podman) = tool("podman") else {
        return;
    };
    let env = node_env();
    let mut request = env.request(NODE);
    request.tags = vec!["node-app:1".into()];
    let (result, _) = env.build(request).await;
    let result = result.unwrap();

    // Ours: the image's Cmd in its WorkingDir over the unpacked image.
    let rootfs = env.unpack(&result, "rootfs");
    let cfg = env.config(&result);
    let cmd: Vec<String> = serde_json::from_value(cfg["config"]["Cmd"].clone()).unwrap();
    let ours = boxwright_runtime::Container::builder(rootfs.as_path())
        .cmd(cmd)
        .workdir(cfg["config"]["WorkingDir"].as_str().unwrap())
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(ours.status.success(), "{ours:?}");

    // podman's: pulled from the store's OCI layout, run by its ID. podman names an image from
    // `oci:DIR:REF` after DIR, which must be lowercase: give it the relative `store/oci`.
    let dir = env.tmp.path().join("podman");
    run_ok(
        support::podman(&podman, &dir)
            .current_dir(env.tmp.path())
            .args(["pull", "oci:store/oci:docker.io/library/node-app:1"]),
    );
    let theirs = run_ok(support::podman(&podman, &dir).args([
        "run",
        "--rm",
        "--network=none",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
        result.image_id.digest(),
    ]));
    let _ = support::podman(&podman, &dir)
        .args(["rmi", "--all", "--force"])
        .output();
    assert_eq!(theirs, "console.log('v1')\n");
    assert_eq!(theirs.as_bytes(), ours.stdout.as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn build_args_are_in_the_key_only_where_declared() {
    let env = Env::new();
    let dockerfile = "FROM busybox:test\n\
        RUN echo first > /first\n\
        ARG FLAVOR=plain\n\
        RUN echo $FLAVOR > /flavor\n";
    let mut request = env.request(dockerfile);
    let (result, _) = env.build(request.clone()).await;
    let rootfs = env.unpack(&result.unwrap(), "plain");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("flavor")).unwrap(),
        "plain\n"
    );
    assert_eq!(env.executor.runs(), 2);

    // An argument no ARG declares is in no key: every step cached.
    request.build_args.insert("UNUSED".into(), "x".into());
    let (_, events) = env.build(request.clone()).await;
    assert_eq!(cached(&events), [0, 1, 2]);
    assert_eq!(env.executor.runs(), 2);

    // The declared one: the steps up to its ARG stay cached, the RUN after it re-runs.
    request.build_args.insert("FLAVOR".into(), "spicy".into());
    let (result, events) = env.build(request).await;
    assert_eq!(cached(&events), [0, 1]);
    assert_eq!(
        misses(&events)[0],
        (
            2,
            MissReason::BuildArgChanged {
                name: "FLAVOR".into()
            }
        )
    );
    assert_eq!(env.executor.runs(), 3);
    let rootfs = env.unpack(&result.unwrap(), "spicy");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("flavor")).unwrap(),
        "spicy\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn onbuild_triggers_run_in_the_child_build() {
    let env = Env::new();
    let mut request = env.request(
        "FROM busybox:test\n\
         ONBUILD RUN echo triggered > /triggered\n",
    );
    request.tags = vec!["with-trigger:1".into()];
    let (parent, _) = env.build(request).await;
    let parent = parent.unwrap();
    let rootfs = env.unpack(&parent, "parent");
    assert!(!rootfs.join("triggered").exists());
    assert_eq!(env.executor.runs(), 0);

    let (child, _) = env
        .build(env.request("FROM with-trigger:1\nRUN cat /triggered\n"))
        .await;
    let child = child.unwrap();
    assert_eq!(env.executor.runs(), 2);
    let rootfs = env.unpack(&child, "child");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("triggered")).unwrap(),
        "triggered\n"
    );
    // The trigger is consumed: the child's config has none.
    let cfg = env.config(&child);
    assert!(cfg["config"]["OnBuild"]
        .as_array()
        .is_none_or(Vec::is_empty));
}

/// A Dockerfile whose RUN steps make files, directories, a link and a deletion.
const BUSY: &str = "FROM busybox:test\n\
    WORKDIR /app\n\
    COPY . .\n\
    RUN mkdir -p out/deep && echo made > out/deep/file && ln -s deep/file out/link && rm /etc/group\n\
    RUN wc -c server.js > out/size\n";

#[tokio::test(flavor = "multi_thread")]
async fn two_builds_at_once_on_one_root_agree_and_leave_it_clean() {
    let env = node_env();
    let mut request = env.request(BUSY);
    request.source_date_epoch = Some(1_700_000_000);
    let (a, b) = tokio::join!(env.build(request.clone()), env.build(request));
    let (a, b) = (a.0.unwrap(), b.0.unwrap());
    assert_eq!(a.manifest_digest, b.manifest_digest);
    let problems = env.store().fsck().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(entries(&env.root.join("tmp")), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn run_steps_give_the_same_digest_in_two_empty_roots() {
    let (one, two) = (node_env(), node_env());
    let mut digests = Vec::new();
    for env in [&one, &two] {
        let mut request = env.request(BUSY);
        request.source_date_epoch = Some(1_700_000_000);
        let (result, _) = env.build(request).await;
        let result = result.unwrap();
        let rootfs = env.unpack(&result, "rootfs");
        assert_eq!(
            std::fs::read_link(rootfs.join("app/out/link")).unwrap(),
            Path::new("deep/file")
        );
        assert!(!rootfs.join("etc/group").exists());
        digests.push(result.manifest_digest);
    }
    assert_eq!(digests[0], digests[1]);
}
