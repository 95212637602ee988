//! Attaching to detached containers (`docker run -di`/`-dit` then `docker attach`,
//! `docker run -i` without `-d`): input, output, terminals, several clients, detaching, and a
//! client that does not read.

use std::time::Duration;

use boxwright_runtime::{
    AttachOptions, Attached, Container, Containers, CreateOptions, Error, LogOptions, Status,
    Stream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{busybox_rootfs, fixture, read_until, sh, text, wait_for_log, PATIENCE};

fn interactive(tty: bool) -> CreateOptions {
    CreateOptions {
        interactive: true,
        tty,
        ..CreateOptions::default()
    }
}

async fn wait_attached(a: Attached) -> i32 {
    tokio::time::timeout(PATIENCE, a.wait())
        .await
        .expect("the container ends")
        .unwrap()
}

async fn attach(store: &Containers, id: &str, opts: AttachOptions) -> Attached {
    tokio::time::timeout(PATIENCE, store.attach(id, &opts))
        .await
        .expect("attached")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_di_then_attach_drives_a_shell_and_sees_its_exit_code() {
    let rootfs = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    // A state root deep enough that the socket's path does not fit `sun_path` (108 bytes).
    let store = Containers::open(state.path().join("x".repeat(80))).unwrap();
    let c = Container::builder(rootfs.path())
        .cmd(["sh"])
        .build()
        .unwrap();
    let id = store.run(&c, &interactive(false)).await.unwrap();
    let info = store.inspect(&id).unwrap();
    assert!(info.interactive && !info.tty && !info.stdin_once);
    let socket = info.dir.join("attach.sock");
    assert!(socket.as_os_str().len() > 108);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The shell waits on its stdin, which the monitor keeps open: still running.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.inspect(&id).unwrap().status, Status::Running);

    let mut a = attach(&store, &id, AttachOptions::default()).await;
    assert!(!a.tty());
    let mut stdin = a.stdin.take().expect("stdin: the container is interactive");
    stdin
        .write_all(b"echo hi; echo oops >&2; exit 3\n")
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(c) = tokio::time::timeout(PATIENCE, a.next_chunk())
        .await
        .unwrap()
        .unwrap()
    {
        assert_eq!(c.time, None, "live output has no log time");
        match c.stream {
            Stream::Stdout => out.push_str(&text(&c.data)),
            Stream::Stderr => err.push_str(&text(&c.data)),
        }
    }
    assert_eq!((out.as_str(), err.as_str()), ("hi\n", "oops\n"));
    assert_eq!(a.exit_code(), Some(3));
    assert_eq!(wait_attached(a).await, 3);
    let info = store.inspect(&id).unwrap();
    assert_eq!((info.status, info.exit_code), (Status::Exited, Some(3)));
    // The monitor removed the socket; attaching to the exited container is refused as in
    // Docker, unless its last run's log is asked for.
    assert!(!info.dir.join("attach.sock").exists());
    assert!(matches!(
        store.attach(&id, &AttachOptions::default()).await,
        Err(Error::NotRunning { .. })
    ));
    let replay = AttachOptions {
        logs: true,
        ..AttachOptions::default()
    };
    let mut a = store.attach(&id, &replay).await.unwrap();
    let mut all = String::new();
    a.read_to_string(&mut all).await.unwrap();
    assert_eq!(all, "hi\noops\n");
    assert_eq!(a.exit_code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_dit_then_attach_gets_a_terminal_that_resizes() {
    let (rootfs, _state, store) = fixture();
    let c = Container::builder(rootfs.path())
        .cmd(["sh"])
        .build()
        .unwrap();
    let id = store.run(&c, &interactive(true)).await.unwrap();
    assert!(store.inspect(&id).unwrap().tty);

    let mut a = attach(&store, &id, AttachOptions::default()).await;
    assert!(a.tty());
    a.resize(33, 101).await.unwrap();
    let mut stdin = a.stdin.take().unwrap();
    // Markers computed by the shell, so the terminal's echo of the input never matches them.
    stdin
        .write_all(b"tty; stty size; [ -t 0 ] && echo term$((6*7))\n")
        .await
        .unwrap();
    let mut seen = String::new();
    // Each next line is typed once the shell reads again (its prompt is out).
    read_until(&mut a, &mut seen, "term42\r\n/ # ").await;
    assert!(seen.contains("/dev/pts/0\r\n"), "{seen:?}");
    assert!(seen.contains("33 101\r\n"), "{seen:?}");
    // A resize reaches the terminal, and its SIGWINCH the foreground process group: here a
    // subshell that traps it, prints the size it sees and ends.
    stdin
        .write_all(
            b"( trap 'stty size; echo winch$((6*7)); exit' WINCH; echo ready$((6*7)); \
              while :; do sleep 0.05; done )\n",
        )
        .await
        .unwrap();
    read_until(&mut a, &mut seen, "ready42\r\n").await;
    a.resize(40, 120).await.unwrap();
    read_until(&mut a, &mut seen, "40 120\r\nwinch42\r\n/ # ").await;
    stdin
        .write_all(b"stty size; echo end$((6*7)); exit 4\n")
        .await
        .unwrap();
    read_until(&mut a, &mut seen, "end42\r\n").await;
    assert_eq!(seen.matches("40 120\r\n").count(), 2, "{seen:?}");
    assert_eq!(wait_attached(a).await, 4);
    // The terminal's output is logged as stdout.
    let mut logs = store.logs(&id, false).unwrap();
    let mut log = String::new();
    logs.read_to_string(&mut log).await.unwrap();
    assert!(
        log.contains("33 101\r\n") && log.contains("40 120\r\n"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_the_output_and_closing_stdin_only_detaches() {
    let (rootfs, _state, store) = fixture();
    let c = Container::builder(rootfs.path())
        .cmd(["cat"])
        .build()
        .unwrap();
    let id = store.run(&c, &interactive(false)).await.unwrap();

    let mut writer = attach(&store, &id, AttachOptions::default()).await;
    let watch = AttachOptions {
        stdin: false,
        ..AttachOptions::default()
    };
    let mut watcher = attach(&store, &id, watch).await;
    assert!(watcher.stdin.is_none());
    let mut stdin = writer.stdin.take().unwrap();
    stdin.write_all(b"ping\n").await.unwrap();
    let (mut w, mut v) = (String::new(), String::new());
    read_until(&mut writer, &mut w, "ping\n").await;
    read_until(&mut watcher, &mut v, "ping\n").await;

    // Without StdinOnce, the end of a client's input ends its attachment, not the container's
    // stdin (`docker attach` to a `docker run -di` container).
    stdin.shutdown().await.unwrap();
    let rest = tokio::time::timeout(PATIENCE, writer.next_chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_none(), "{rest:?}");
    assert_eq!(writer.exit_code(), None);
    assert_eq!(store.inspect(&id).unwrap().status, Status::Running);

    // cat still reads: a new client's input reaches the watcher.
    let mut again = attach(&store, &id, AttachOptions::default()).await;
    again
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"pong\n")
        .await
        .unwrap();
    read_until(&mut watcher, &mut v, "pong\n").await;
    assert_eq!(v, "ping\npong\n");
    drop(again);

    store.kill(&id, libc::SIGKILL).unwrap();
    assert_eq!(wait_attached(watcher).await, 137);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_going_away_leaves_it_running_and_another_attaches() {
    let (rootfs, _state, store) = fixture();
    let c = Container::builder(rootfs.path())
        .cmd(["sh"])
        .build()
        .unwrap();
    let id = store.run(&c, &interactive(true)).await.unwrap();

    let mut first = attach(&store, &id, AttachOptions::default()).await;
    let mut seen = String::new();
    first
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"echo one$((6*7))\n")
        .await
        .unwrap();
    read_until(&mut first, &mut seen, "one42\r\n").await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.inspect(&id).unwrap().status, Status::Running);

    let mut second = attach(&store, &id, AttachOptions::default()).await;
    let mut seen = String::new();
    second
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"echo two$((6*7)); exit 5\n")
        .await
        .unwrap();
    read_until(&mut second, &mut seen, "two42\r\n").await;
    assert_eq!(wait_attached(second).await, 5);
}

/// `docker run -i` without `-d`: attached from the start (nothing missed), and the command's
/// stdin closes when the client's input ends (StdinOnce).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_attached_with_stdin_once_passes_eof_on() {
    let (rootfs, _state, store) = fixture();
    let c = sh(rootfs.path(), "echo started; cat; echo eof-seen; exit 6")
        .build()
        .unwrap();
    let mut a = store
        .run_attached(&c, &interactive(false), &AttachOptions::default())
        .await
        .unwrap();
    assert!(a.stdin_once());
    assert!(store.inspect(a.id()).unwrap().stdin_once);
    let mut stdin = a.stdin.take().unwrap();
    stdin.write_all(b"abc\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(PATIENCE, a.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "started\nabc\neof-seen\n");
    assert_eq!(wait_attached(a).await, 6);
}

/// Much more input than a pipe holds gets through, in order, while output flows back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_input_goes_through() {
    let (rootfs, _state, store) = fixture();
    let c = sh(rootfs.path(), "tee /tmp/in | wc -c; md5sum < /tmp/in")
        .build()
        .unwrap();
    let mut a = store
        .run_attached(&c, &interactive(false), &AttachOptions::default())
        .await
        .unwrap();
    let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut stdin = a.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        stdin.write_all(&input).await.unwrap();
        stdin.shutdown().await.unwrap();
    });
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, a.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    let out = text(&out);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1000000"), "{out:?}");
    // The same bytes, in order (md5sum of the expected bytes, computed by the host's busybox).
    let expected: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum = std::process::Command::new("/bin/busybox")
        .arg("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut p| {
            use std::io::Write;
            p.stdin.take().unwrap().write_all(&expected)?;
            p.wait_with_output()
        })
        .unwrap();
    let sum = text(&sum.stdout);
    assert_eq!(
        lines.next().map(|l| l.split_whitespace().next()),
        Some(sum.split_whitespace().next()),
        "{out:?}"
    );
    assert_eq!(wait_attached(a).await, 0);
}

/// A client that never reads is dropped; the container's output is not held up by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_stall_the_container() {
    let (rootfs, _state, store) = fixture();
    let shared = tempfile::tempdir().unwrap();
    const SIZE: usize = 8_000_000;
    let c = sh(
        rootfs.path(),
        &format!(
            "while [ ! -e /shared/go ]; do sleep 0.02; done; \
             head -c {SIZE} /dev/zero | tr '\\0' x; echo; echo done"
        ),
    )
    .mount_bind(shared.path(), "/shared", false)
    .build()
    .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    let mut stalled = attach(&store, &id, AttachOptions::default()).await;
    std::fs::write(shared.path().join("go"), "").unwrap();
    // The container ends although this client has read nothing.
    let code = tokio::time::timeout(PATIENCE, store.wait(&id))
        .await
        .expect("the container is not held up by a client that does not read")
        .unwrap();
    assert_eq!(code, 0);
    // The client gets what was queued for it, then learns it was dropped.
    let mut got = 0;
    let err = loop {
        match stalled.next_chunk().await {
            Ok(Some(c)) => got += c.data.len(),
            Ok(None) => panic!("the stalled client was not told it was dropped"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Attach { .. }), "{err:?}");
    assert!(got < SIZE, "{got}");
    // The log has everything.
    let mut logs = store.logs_with(&id, &LogOptions::default()).unwrap();
    let mut total = 0;
    let mut last = Vec::new();
    while let Some(c) = logs.next_chunk().await.unwrap() {
        total += c.data.len();
        last = c.data;
    }
    assert_eq!(total, SIZE + "\ndone\n".len());
    assert_eq!(last, b"done\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_with_logs_replays_the_run_then_follows() {
    let (rootfs, _state, store) = fixture();
    let shared = tempfile::tempdir().unwrap();
    let c = sh(
        rootfs.path(),
        "echo before; echo before-err >&2; \
         while [ ! -e /shared/go ]; do sleep 0.02; done; echo after",
    )
    .mount_bind(shared.path(), "/shared", false)
    .build()
    .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    // Wait until the first lines are logged.
    wait_for_log(&store, &id, "before-err").await;
    let opts = AttachOptions {
        stdin: false,
        stderr: false,
        logs: true,
        ..AttachOptions::default()
    };
    let mut a = attach(&store, &id, opts).await;
    std::fs::write(shared.path().join("go"), "").unwrap();
    let mut out = String::new();
    tokio::time::timeout(PATIENCE, a.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "before\nafter\n");
    assert_eq!(a.exit_code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_clients_than_allowed_are_refused() {
    let (rootfs, _state, store) = fixture();
    let c = Container::builder(rootfs.path())
        .cmd(["sleep", "100"])
        .build()
        .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..boxwright_runtime::MAX_CLIENTS {
        clients.push(attach(&store, &id, AttachOptions::default()).await);
    }
    let err = store
        .attach(&id, &AttachOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Attach { .. }) && err.to_string().contains("too many"),
        "{err}"
    );
    // One leaves: there is room again.
    clients.pop();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let extra = loop {
        match store.attach(&id, &AttachOptions::default()).await {
            Ok(a) => break a,
            Err(Error::Attach { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(extra.resize(1, 1).await.is_err(), "no terminal to resize");
    store.kill(&id, libc::SIGKILL).unwrap();
    for a in clients {
        assert_eq!(wait_attached(a).await, 137);
    }
    assert_eq!(wait_attached(extra).await, 137);
}

/// Docker's detach keys: ctrl-p ctrl-q (split across writes here) ends the attachment of a
/// terminal and leaves the container running; a broken sequence is input after all; custom
/// keys; and without a terminal the same bytes are plain input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_keys_leave_the_container_running() {
    use boxwright_runtime::DetachKeys;
    let (rootfs, _state, store) = fixture();
    let c = Container::builder(rootfs.path())
        .cmd(["sh"])
        .build()
        .unwrap();
    let id = store.run(&c, &interactive(true)).await.unwrap();

    let mut a = attach(&store, &id, AttachOptions::default()).await;
    let mut stdin = a.stdin.take().unwrap();
    let mut seen = String::new();
    // ctrl-p then a letter: not the sequence, so both reach the program reading the terminal.
    // (Sent once the shell runs the line: it then no longer edits input, the tty buffers it.)
    stdin
        .write_all(b"echo go$((6*7)); head -c 3 | od -An -tx1; echo one$((6*7))\n")
        .await
        .unwrap();
    read_until(&mut a, &mut seen, "go42\r\n").await;
    stdin.write_all(b"\x10").await.unwrap();
    stdin.write_all(b"y\n").await.unwrap();
    read_until(&mut a, &mut seen, "one42\r\n").await;
    assert!(seen.contains("10 79 0a"), "{seen:?}");
    stdin.write_all(b"\x10").await.unwrap();
    stdin.write_all(b"\x11echo never\n").await.unwrap();
    let end = tokio::time::timeout(PATIENCE, async {
        while a.next_chunk().await.unwrap().is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the attachment ends");
    assert!(a.detached());
    assert!(matches!(a.wait().await, Err(Error::Detached { .. })));
    assert!(store.inspect(&id).unwrap().is_running());

    // Attached again, with keys of its own; what followed the keys never ran.
    let opts = AttachOptions {
        detach_keys: Some(DetachKeys::parse("ctrl-a,d").unwrap()),
        ..AttachOptions::default()
    };
    let mut a = attach(&store, &id, opts).await;
    let mut stdin = a.stdin.take().unwrap();
    let mut seen = String::new();
    stdin
        .write_all(b"echo two$((6*7)); history | grep -c 'echo nev[e]r'\n")
        .await
        .unwrap();
    read_until(&mut a, &mut seen, "two42\r\n0\r\n").await;
    stdin.write_all(b"\x01d").await.unwrap();
    assert!(matches!(
        tokio::time::timeout(PATIENCE, a.wait()).await.unwrap(),
        Err(Error::Detached { .. })
    ));
    assert!(store.inspect(&id).unwrap().is_running());

    // No detach keys: the attachment ends only with the container.
    let opts = AttachOptions {
        detach_keys: None,
        ..AttachOptions::default()
    };
    let mut a = attach(&store, &id, opts).await;
    let mut stdin = a.stdin.take().unwrap();
    let mut seen = String::new();
    stdin
        .write_all(b"stty -ixon; echo go$((6*7)); head -c 3 | od -An -tx1; exit 6\n")
        .await
        .unwrap();
    read_until(&mut a, &mut seen, "go42\r\n").await;
    stdin.write_all(b"\x10\x11\n").await.unwrap();
    read_until(&mut a, &mut seen, "10 11 0a").await;
    assert!(!a.detached());
    assert_eq!(wait_attached(a).await, 6);

    // Without a terminal the keys are plain input.
    let c = sh(rootfs.path(), "head -c 2 | od -An -tx1")
        .build()
        .unwrap();
    let id = store.run(&c, &interactive(false)).await.unwrap();
    let mut a = attach(&store, &id, AttachOptions::default()).await;
    let mut stdin = a.stdin.take().unwrap();
    stdin.write_all(b"\x10\x11").await.unwrap();
    let mut seen = String::new();
    read_until(&mut a, &mut seen, "10 11").await;
    assert_eq!(wait_attached(a).await, 0);
}
