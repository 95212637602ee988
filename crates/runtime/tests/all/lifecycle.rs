//! Docker's lifecycle without a daemon: detached containers recorded under a state root,
//! managed from this process and from another one.

use std::path::Path;
use std::time::Duration;

use boxwright_runtime::{
    Container, Containers, CreateOptions, Error, ExecOptions, LogOptions, Status, Stream,
};
use tokio::io::AsyncReadExt;

use crate::common::{
    busybox_rootfs, fixture, read_log, read_until, reexec, sh, test_name, text, wait, wait_for_log,
    wait_until, PATIENCE,
};

fn named(name: &str) -> CreateOptions {
    CreateOptions {
        name: Some(name.into()),
        ..CreateOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_start_wait_logs_and_states() {
    let (rootfs, _state, store) = fixture();
    let c = sh(rootfs.path(), "echo out; echo err >&2; exit 7")
        .build()
        .unwrap();
    let id = store.create(&c, &named("seven")).unwrap();
    assert_eq!(id, c.id());
    let info = store.inspect("seven").unwrap();
    assert_eq!(info.status, Status::Created);
    assert_eq!(info.name, "seven");
    assert!(info.dir.join("config.json").is_file());
    assert!(store.list(false).unwrap().is_empty());
    assert_eq!(store.list(true).unwrap().len(), 1);

    store.start("seven").await.unwrap();
    assert_eq!(wait(&store, "seven").await, 7);
    let info = store.inspect(&id).unwrap();
    assert_eq!(info.status, Status::Exited);
    assert_eq!(info.exit_code, Some(7));
    assert!(info.pid.is_none());
    assert!(info.finished_at >= info.started_at);
    let log = read_log(&store, &id).await;
    assert!(log.contains("out\n") && log.contains("err\n"), "{log:?}");
    assert!(store.list(false).unwrap().is_empty());
    let all = store.list(true).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].exit_code, Some(7));

    // A missing executable: the start fails with Docker's message; the container is exited 127.
    let bad = Container::builder(rootfs.path())
        .cmd(["nonexistent-cmd"])
        .build()
        .unwrap();
    let err = store
        .run(&bad, &CreateOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ExecutableNotFound { .. }), "{err:?}");
    let info = store.inspect(bad.id()).unwrap();
    assert_eq!((info.status, info.exit_code), (Status::Exited, Some(127)));
    assert!(info.error.unwrap().contains("executable file not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_term_then_kill_after_the_timeout() {
    let (rootfs, _state, store) = fixture();

    // Ignores SIGTERM: killed after the timeout.
    let stubborn = sh(rootfs.path(), "trap '' TERM; echo ready; sleep 100")
        .build()
        .unwrap();
    let stubborn = store.run(&stubborn, &named("stubborn")).await.unwrap();
    // Exits on SIGTERM with its own code.
    let polite = sh(
        rootfs.path(),
        "trap 'echo bye; exit 143' TERM; echo ready; sleep 100 & wait",
    )
    .build()
    .unwrap();
    let polite = store.run(&polite, &named("polite")).await.unwrap();
    wait_for_log(&store, &stubborn, "ready").await;
    wait_for_log(&store, &polite, "ready").await;
    assert_eq!(store.list(false).unwrap().len(), 2);

    let code = store
        .stop("stubborn", Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(code, 137);
    let info = store.inspect(&stubborn).unwrap();
    assert_eq!(info.signal, Some(9));

    // A timeout far beyond the test: only SIGTERM can have ended it.
    let code = store.stop("polite", Some(PATIENCE * 4)).await.unwrap();
    assert_eq!(code, 143);
    assert!(read_log(&store, &polite).await.contains("bye"));
    // Stopping a stopped container reports its code again.
    assert_eq!(store.stop("polite", None).await.unwrap(), 143);
    assert!(store.list(false).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rm_refused_while_running_and_forced() {
    let (rootfs, _state, store) = fixture();
    let c = sh(rootfs.path(), "echo run; sleep 100").build().unwrap();
    let id = store.run(&c, &named("again")).await.unwrap();
    wait_for_log(&store, &id, "run").await;
    let first_pid = store.inspect(&id).unwrap().pid.unwrap();

    store
        .restart("again", Some(Duration::from_millis(200)))
        .await
        .unwrap();
    let info = store.inspect(&id).unwrap();
    assert_eq!(info.status, Status::Running);
    assert_eq!(info.restart_count, 1);
    assert_ne!(info.pid, Some(first_pid));
    wait_until("the second run's line in the log", async || {
        read_log(&store, &id).await.matches("run\n").count() >= 2
    })
    .await;

    let err = store.remove("again", false).await.unwrap_err();
    assert!(matches!(err, Error::Running { .. }), "{err:?}");
    assert!(store.inspect(&id).unwrap().is_running());
    let dir = store.inspect(&id).unwrap().dir;
    store.remove("again", true).await.unwrap();
    assert!(!dir.exists());
    assert!(matches!(
        store.inspect("again"),
        Err(Error::NoSuchContainer { .. })
    ));
    // The name is free again.
    let c = sh(rootfs.path(), "true").build().unwrap();
    store.create(&c, &named("again")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_remove_deletes_the_container_after_it_exits() {
    let (rootfs, state, store) = fixture();
    let c = sh(rootfs.path(), "exit 3").build().unwrap();
    let opts = CreateOptions {
        name: Some("gone".into()),
        auto_remove: true,
        ..CreateOptions::default()
    };
    let id = store.create(&c, &opts).unwrap();
    let dir = store.inspect(&id).unwrap().dir;
    store.start(&id).await.unwrap();
    // The exit code is still reported, though the monitor removes the container.
    assert_eq!(wait(&store, &id).await, 3);
    assert!(!dir.exists());
    assert!(!state.path().join("names/gone").exists());
    assert!(matches!(
        store.resolve("gone"),
        Err(Error::NoSuchContainer { .. })
    ));
    assert!(store.list(true).unwrap().is_empty());
    // Waiting only after the monitor has removed it still gives the exit code (by full ID).
    assert_eq!(wait(&store, &id).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_and_ids_resolve_by_unique_prefix() {
    let (rootfs, _state, store) = fixture();
    let build = || sh(rootfs.path(), "true").build().unwrap();
    let web = store.create(&build(), &named("web")).unwrap();
    let err = store.create(&build(), &named("web")).unwrap_err();
    assert!(
        matches!(&err, Error::NameInUse { name, id } if name == "web" && *id == web),
        "{err:?}"
    );
    assert!(matches!(
        store.create(&build(), &named("-bad")),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        store.create(&build(), &named("x")),
        Err(Error::InvalidName { .. })
    ));
    // Generated names follow Docker's rule and are unique.
    let mut ids = vec![web.clone()];
    for _ in 0..16 {
        ids.push(store.create(&build(), &CreateOptions::default()).unwrap());
    }
    let mut names: Vec<String> = store
        .list(true)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names.len(), 17);
    assert!(names.iter().all(|n| boxwright_runtime::valid_name(n)));
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 17);

    assert_eq!(store.resolve("web").unwrap(), web);
    assert_eq!(store.resolve(&web).unwrap(), web);
    assert_eq!(store.resolve(&web[..63]).unwrap(), web);
    // 17 IDs: at least two share their first hex digit.
    let digit = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|d| ids.iter().filter(|id| id.starts_with(d.as_str())).count() >= 2)
        .unwrap();
    match store.resolve(&digit) {
        Err(Error::AmbiguousId { prefix, candidates }) => {
            assert_eq!(prefix, digit);
            assert!(candidates.len() >= 2);
            assert!(candidates.iter().all(|c| c.starts_with(&digit)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.resolve("nothing-here"),
        Err(Error::NoSuchContainer { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_from_outside_is_exited_137() {
    let (rootfs, _state, store) = fixture();
    let c = sh(rootfs.path(), "echo ready; sleep 100").build().unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    wait_for_log(&store, &id, "ready").await;
    let pid = store.inspect(&id).unwrap().pid.unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert_eq!(wait(&store, &id).await, 137);
    let info = store.inspect(&id).unwrap();
    assert_eq!(
        (info.status, info.exit_code, info.signal),
        (Status::Exited, Some(137), Some(9))
    );
    // `kill` of an exited container is refused.
    assert!(matches!(store.kill(&id, 15), Err(Error::NotRunning { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_sees_lines_written_after_it_started() {
    let (rootfs, _state, store) = fixture();
    let shared = tempfile::tempdir().unwrap();
    let c = sh(
        rootfs.path(),
        "echo first; while [ ! -e /shared/go ]; do sleep 0.05; done; echo second",
    )
    .mount_bind(shared.path(), "/shared", false)
    .build()
    .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    let mut follow = store.logs(&id, true).unwrap();
    let mut seen = String::new();
    read_until(&mut follow, &mut seen, "first\n").await;
    // Only now does the container write its second line.
    assert!(!seen.contains("second"));
    std::fs::write(shared.path().join("go"), "").unwrap();
    tokio::time::timeout(PATIENCE, follow.read_to_string(&mut seen))
        .await
        .expect("the followed log ends when the container exits")
        .unwrap();
    assert_eq!(seen, "first\nsecond\n");
    assert_eq!(wait(&store, &id).await, 0);
}

/// `attach_output`: the current run's output from its start, followed to its end — not the
/// earlier runs' that the log keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_output_follows_the_current_run_from_its_start() {
    let (rootfs, _state, store) = fixture();
    let shared = tempfile::tempdir().unwrap();
    // Each run counts itself in /shared/runs and waits for /shared/goN before its last line.
    let c = sh(
        rootfs.path(),
        "echo x >> /shared/runs; n=$(wc -l < /shared/runs); echo run $n; \
         while [ ! -e /shared/go$n ]; do sleep 0.05; done; echo end $n",
    )
    .mount_bind(shared.path(), "/shared", false)
    .build()
    .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    std::fs::write(shared.path().join("go1"), "").unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    // An exited container: its last run, whole.
    let mut out = String::new();
    store
        .attach_output(&id)
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "run 1\nend 1\n");

    store.start(&id).await.unwrap();
    let mut attached = store.attach_output(&id).unwrap();
    let mut seen = String::new();
    read_until(&mut attached, &mut seen, "run 2\n").await;
    std::fs::write(shared.path().join("go2"), "").unwrap();
    tokio::time::timeout(PATIENCE, attached.read_to_string(&mut seen))
        .await
        .expect("the attached output ends when the container exits")
        .unwrap();
    assert_eq!(seen, "run 2\nend 2\n");
    assert_eq!(read_log(&store, &id).await, "run 1\nend 1\nrun 2\nend 2\n");
    assert_eq!(wait(&store, &id).await, 0);
}

/// Whether `s` starts with an RFC 3339 UTC timestamp with nine fractional digits and a space.
fn stamped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 31
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[20..29].iter().all(u8::is_ascii_digit)
        && &b[29..31] == b"Z "
}

async fn read_logs(store: &Containers, id: &str, opts: LogOptions) -> String {
    let mut out = String::new();
    tokio::time::timeout(PATIENCE, async {
        store
            .logs_with(id, &opts)
            .unwrap()
            .read_to_string(&mut out)
            .await
    })
    .await
    .expect("the log ends")
    .unwrap();
    out
}

/// `docker logs` and its options: stdout and stderr apart, each record timestamped (the file is
/// in the CRI format), `--tail`, `--since`, `--until`, stream selection, `-t`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_keep_stdout_and_stderr_apart_with_timestamps() {
    let (rootfs, _state, store) = fixture();
    let c = sh(
        rootfs.path(),
        "echo out1; echo err1 >&2; printf 'no newline'; sleep 0.2; echo; \
         sleep 0.05; echo out2; echo err2 >&2",
    )
    .build()
    .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    let info = store.inspect(&id).unwrap();

    let mut logs = store.logs_with(&id, &LogOptions::default()).unwrap();
    let (mut out, mut err, mut times) = (String::new(), String::new(), Vec::new());
    let mut out2_time = None;
    while let Some(c) = logs.next_chunk().await.unwrap() {
        let t = c.time.expect("every record has its time");
        times.push(t);
        match c.stream {
            Stream::Stdout => out.push_str(&text(&c.data)),
            Stream::Stderr => err.push_str(&text(&c.data)),
        }
        if c.data == b"out2\n" {
            out2_time = Some(t);
        }
    }
    assert_eq!(out, "out1\nno newline\nout2\n");
    assert_eq!(err, "err1\nerr2\n");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let (started, finished) = (info.started_at.unwrap(), info.finished_at.unwrap());
    assert!(times[0] >= started && times[times.len() - 1] <= finished);

    // The file: one CRI record per line; the piece written without a newline is a P record.
    let raw = std::fs::read_to_string(&info.log_path).unwrap();
    for line in raw.lines() {
        assert!(stamped(line), "{line:?}");
        let rest = &line[31..];
        assert!(
            ["stdout F ", "stdout P ", "stderr F ", "stderr P "]
                .iter()
                .any(|p| rest.starts_with(p)),
            "{line:?}"
        );
    }
    assert!(raw.contains(" stdout P no newline\n"), "{raw}");
    assert!(raw.contains(" stderr F err1\n"), "{raw}");

    // --tail counts lines of the streams asked for.
    let tail = |n, stderr| LogOptions {
        tail: Some(n),
        stderr,
        ..LogOptions::default()
    };
    assert_eq!(read_logs(&store, &id, tail(2, true)).await, "out2\nerr2\n");
    assert_eq!(
        read_logs(&store, &id, tail(2, false)).await,
        "no newline\nout2\n"
    );
    // --since and --until.
    let since = LogOptions {
        since: out2_time,
        ..LogOptions::default()
    };
    assert_eq!(read_logs(&store, &id, since).await, "out2\nerr2\n");
    let until = LogOptions {
        until: out2_time.map(|t| t - 1),
        stdout: false,
        ..LogOptions::default()
    };
    assert_eq!(read_logs(&store, &id, until).await, "err1\n");
    // -t: each line starts with its time.
    let stamps = LogOptions {
        timestamps: true,
        stdout: false,
        ..LogOptions::default()
    };
    let lines = read_logs(&store, &id, stamps).await;
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| stamped(l)), "{lines:?}");
    assert_eq!((&lines[0][31..], &lines[1][31..]), ("err1", "err2"));
}

/// `docker logs -f --tail 0`: only what comes after the call, and the end at the container's
/// exit. (A current-thread runtime, and the rest of the output awaited without yielding to it:
/// the position must be taken by the call itself, not later by its reader task.)
#[tokio::test]
async fn logs_follow_from_the_end_ends_when_the_container_exits() {
    let (rootfs, _state, store) = fixture();
    let shared = tempfile::tempdir().unwrap();
    let c = sh(
        rootfs.path(),
        "echo old; while [ ! -e /shared/go ]; do sleep 0.02; done; \
         echo new; echo new-err >&2; sleep 0.1; echo last",
    )
    .mount_bind(shared.path(), "/shared", false)
    .build()
    .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    wait_for_log(&store, &id, "old\n").await;
    let mut follow = store
        .logs_with(
            &id,
            &LogOptions {
                follow: true,
                tail: Some(0),
                stderr: false,
                ..LogOptions::default()
            },
        )
        .unwrap();
    std::fs::write(shared.path().join("go"), "").unwrap();
    let log = store.log_path(&id).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains(" stdout F last")
    {
        assert!(std::time::Instant::now() < deadline, "the container writes");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut seen = String::new();
    tokio::time::timeout(PATIENCE, follow.read_to_string(&mut seen))
        .await
        .expect("following ends when the container exits")
        .unwrap();
    assert_eq!(seen, "new\nlast\n");
    assert_eq!(wait(&store, &id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_joins_the_containers_namespaces() {
    let (rootfs, _state, store) = fixture();
    let c = Container::builder(rootfs.path())
        .cmd(["sleep", "100"])
        .hostname("boxy")
        .env("FROM_IMAGE", "yes")
        .build()
        .unwrap();
    let id = store.run(&c, &named("target")).await.unwrap();

    let opts = ExecOptions {
        env: vec![("EXTRA".into(), "1".into())],
        ..ExecOptions::default()
    };
    let out = store
        .exec(
            "target",
            [
                "sh",
                "-c",
                "hostname; echo $FROM_IMAGE$EXTRA; ps -o pid,comm; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status",
            ],
            &opts,
        )
        .await
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("boxy"));
    assert_eq!(lines.next(), Some("yes1"));
    // The container's init is PID 1 of the PID namespace the exec'd shell sees.
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "{stdout}"
    );
    assert!(stdout.contains("CapEff:\t00000000a80425fb"), "{stdout}");
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    assert!(stdout.contains("NoNewPrivs:\t1"), "{stdout}");

    let status = store
        .exec(&id, ["sh", "-c", "exit 5"], &ExecOptions::default())
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(status.code(), 5);
    let err = store
        .exec(&id, ["no-such-thing"], &ExecOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ExecutableNotFound { .. }), "{err:?}");

    store.remove(&id, true).await.unwrap();
    let c = sh(rootfs.path(), "true").build().unwrap();
    let stopped = store.create(&c, &CreateOptions::default()).unwrap();
    assert!(matches!(
        store
            .exec(&stopped, ["true"], &ExecOptions::default())
            .await,
        Err(Error::NotRunning { .. })
    ));
}

const CHILD_ENV: &str = "BOXWRIGHT_LIFECYCLE_CHILD";

/// Run only as the child process of `another_process_manages_a_detached_container`: starts a
/// detached container, prints its ID and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_part() {
    let Ok(paths) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (state, rootfs) = paths.split_once('\n').unwrap();
    let store = Containers::open(state).unwrap();
    let c = sh(
        Path::new(rootfs),
        "trap 'echo terminated; exit 143' TERM; echo hello from the child; sleep 100 & wait",
    )
    .build()
    .unwrap();
    let id = store.run(&c, &named("from-child")).await.unwrap();
    println!("ID={id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_manages_a_detached_container() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let rootfs = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let out = reexec(&test_name(module_path!(), "child_process_part"))
        .env(
            CHILD_ENV,
            format!("{}\n{}", state.path().display(), rootfs.path().display()),
        )
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let id = stdout
        .split_once("ID=")
        .map(|(_, rest)| rest[..64].to_owned())
        .unwrap_or_else(|| panic!("{stdout}"));

    // The process that started it is gone; this one finds, reads, stops and removes it.
    let store = Containers::open(state.path()).unwrap();
    let running = store.list(false).unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(
        (running[0].id.as_str(), running[0].name.as_str()),
        (id.as_str(), "from-child")
    );
    wait_for_log(&store, &id[..12], "hello from the child").await;
    assert_eq!(
        store.stop("from-child", Some(PATIENCE * 4)).await.unwrap(),
        143
    );
    assert!(read_log(&store, &id).await.contains("terminated"));
    let info = store.inspect(&id).unwrap();
    assert_eq!((info.status, info.exit_code), (Status::Exited, Some(143)));
    store.remove(&id, false).await.unwrap();
    assert!(store.list(true).unwrap().is_empty());
}
