//! `--init`: our init as PID 1 reaps zombies, forwards signals and passes the command's exit
//! status through; the command is PID 2 and cannot read the init's memory.

use std::path::Path;

use boxwright_runtime::{Container, CreateOptions, Error};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{busybox_rootfs, fixture, sh, text, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_init_is_pid_1_and_the_command_pid_2() {
    let root = busybox_rootfs();
    let out = sh(
        root.path(),
        "echo $$; cat /proc/1/comm; grep PPid /proc/$$/status; tr '\\0' . < /proc/1/cmdline",
    )
    .init(true)
    .build()
    .unwrap()
    .output()
    .await
    .unwrap();
    // Nothing of the caller's command line shows.
    assert_eq!(text(&out.stdout), "2\ninit\nPPid:\t1\ninit.", "{out:?}");
    assert!(out.status.success());

    let out = sh(root.path(), "echo $$")
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_pass_through_and_setup_errors_stay_typed() {
    let root = busybox_rootfs();
    for code in [0, 7, 255] {
        let out = sh(root.path(), &format!("exit {code}"))
            .init(true)
            .build()
            .unwrap()
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), code);
    }
    let err = Container::builder(root.path())
        .cmd(["no-such-command"])
        .init(true)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ExecutableNotFound { ref name } if name == "no-such-command"),
        "{err}"
    );
}

/// Orphans that end while their new parent is PID 1: without an init the command (here `cat`,
/// which never waits) leaves them zombies; our init reaps them.
async fn orphan_state(root: &Path, init: bool) -> String {
    // Two orphans (their subshells exit at once), killed once the shell has become `cat`; a
    // watcher then waits until each is gone (reaped) or a zombie, as `WANT` says, for at most
    // ten seconds, and reports what it saw through a FIFO that `cat` prints.
    let script = r#"
cd /dev/shm && mkfifo out
(sleep 100 & echo $! > p1)
(sleep 100 & echo $! > p2)
(
  while [ "$(cat /proc/$$/comm)" != cat ]; do sleep 0.01; done
  kill $(cat p1) $(cat p2)
  for p in $(cat p1) $(cat p2); do
    i=0
    while [ $i -lt 1000 ]; do
      s=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' /proc/$p/status 2>/dev/null)
      if [ "$WANT" = gone ] && [ -z "$s" ]; then break; fi
      if [ "$WANT" = zombie ] && [ "$s" = Z ]; then break; fi
      i=$((i+1)); sleep 0.01
    done
    echo "${s:-gone}"
  done > out
) &
exec cat out
"#;
    let out = sh(root, script)
        .env("WANT", if init { "gone" } else { "zombie" })
        .init(init)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_init_reaps_zombies() {
    let root = busybox_rootfs();
    assert_eq!(orphan_state(root.path(), false).await, "Z\nZ\n");
    assert_eq!(orphan_state(root.path(), true).await, "gone\ngone\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_are_forwarded_to_the_command() {
    let root = busybox_rootfs();
    // A trap in the command sees the SIGTERM sent to the container.
    let mut child = sh(
        root.path(),
        "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
    )
    .init(true)
    .build()
    .unwrap()
    .spawn()
    .await
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "ready");
    child.kill(libc::SIGTERM).unwrap();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "got TERM");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 3);

    // A command without a handler dies of it (as PID 1 it would ignore it): 128 + 15.
    let mut child = Container::builder(root.path())
        .cmd(["sleep", "100"])
        .init(true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    child.kill(libc::SIGTERM).unwrap();
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 143);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_cannot_read_the_inits_memory() {
    let root = busybox_rootfs();
    for user in ["root", "nobody"] {
        let out = sh(
            root.path(),
            "cat /proc/1/mem 2>&1 >/dev/null | head -n1; \
             cat /proc/self/mem 2>&1 >/dev/null | head -n1; \
             cat /proc/1/environ 2>&1 >/dev/null | head -n1; \
             echo overwrite 2>&1 >> /proc/1/exe | head -n1; \
             cat /proc/1/exe 2>&1 >/dev/null | head -n1; \
             readlink /proc/1/exe || echo no-link",
        )
        .user(user)
        .init(true)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
        let s = text(&out.stdout);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 6, "{s}");
        assert!(lines[0].contains("Permission denied"), "{user}: {s}");
        // Its own memory opens (reading offset 0 fails otherwise).
        assert!(!lines[1].contains("Permission denied"), "{user}: {s}");
        assert!(lines[2].contains("Permission denied"), "{user}: {s}");
        // The init runs the caller's (host) binary: the CVE-2019-5736 class would write it
        // through /proc/1/exe. Neither writing, reading nor resolving the link is allowed.
        assert!(lines[3].contains("Permission denied"), "{user}: {s}");
        assert!(lines[4].contains("Permission denied"), "{user}: {s}");
        assert_eq!(lines[5], "no-link", "{user}: {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_containers_honour_init() {
    let (root, _state, store) = fixture();
    let c = Container::builder(root.path())
        .cmd(["sleep", "100"])
        .build()
        .unwrap();
    let id = store
        .run(
            &c,
            &CreateOptions {
                init: true,
                ..CreateOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(store.inspect(&id).unwrap().init);
    // SIGTERM reaches `sleep` through the init; without it `sleep` as PID 1 would ignore it
    // and only the SIGKILL after the timeout would end it (137).
    let code = store.stop(&id, Some(PATIENCE)).await.unwrap();
    assert_eq!(code, 143);
    store.remove(&id, false).await.unwrap();
}

/// A seccomp profile that denies `rt_sigtimedwait` leaves the init reaping without forwarding
/// (it neither spins nor fails): the exit code still comes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_that_cannot_take_signals_still_reaps() {
    let root = busybox_rootfs();
    let mut profile = boxwright_runtime::seccomp_docker_default();
    let mut rules = profile.syscalls().clone().unwrap();
    let mut found = false;
    for r in &mut rules {
        let names: Vec<String> = r
            .names()
            .iter()
            .filter(|n| n.as_str() != "rt_sigtimedwait")
            .cloned()
            .collect();
        found |= names.len() != r.names().len();
        r.set_names(names);
    }
    assert!(found, "the default profile allows rt_sigtimedwait");
    profile.set_syscalls(Some(rules));
    let out = sh(root.path(), "(true &); sleep 0.1; exit 4")
        .seccomp(Some(profile))
        .init(true)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), 4, "{out:?}");
}
