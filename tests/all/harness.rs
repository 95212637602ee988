//! The test harness: each readiness kind (HTTP, port, log line, command), removal on drop and
//! by `remove`, a readiness that never comes (a timeout, a command that ends first) leaving
//! nothing, and a test process killed with `SIGKILL` leaving nothing.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use boxwright::runtime::Error as RuntimeError;
use boxwright::{Engine, Error, RunOptions, WaitFor};

use crate::support::{engine, http_get, import_busybox, wait_until};

/// The image name a user would write; the tests make it from the host's busybox.
const BUSYBOX: &str = "busybox:1.36";

/// A busybox httpd serving `index.html` ("hello") on port 80, after `delay` seconds.
fn httpd(delay: &str) -> Vec<String> {
    let script = format!("sleep {delay}; echo hello > index.html && exec httpd -f -p 80");
    ["sh", "-c", &script].map(String::from).to_vec()
}

/// An engine on a fresh root holding [`BUSYBOX`].
fn engine_with_image() -> (tempfile::TempDir, Engine) {
    let (root, engine) = engine();
    import_busybox(&engine, BUSYBOX);
    (root, engine)
}

/// The start time of the process `pid` (field 22 of `/proc/PID/stat`), `None` once it is
/// gone: a recycled PID has another start time.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19)?.parse().ok()
}

/// One `GET /` on `addr`, not retried: the whole reply.
async fn get_once(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    reply
}

/// Whether the container `id` is gone from the engine's store.
fn gone(engine: &Engine, id: &str) -> bool {
    matches!(
        engine.containers().inspect(id),
        Err(RuntimeError::NoSuchContainer { .. })
    )
}

#[tokio::test]
async fn http_readiness_gives_a_connectable_address() {
    let (_root, engine) = engine_with_image();
    let web = engine
        .harness(BUSYBOX)
        .cmd(httpd("0.2"))
        .expose(80)
        .wait_for(WaitFor::http(80, "/"))
        .start()
        .await
        .unwrap();
    let addr = web.addr(80).unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(addr.port(), web.ports()[0].host.port());
    let page = http_get(addr, "/").await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.ends_with("hello\n"), "{page}");
    // A port that is not published has no address.
    let err = web.addr(81).unwrap_err();
    assert!(err.to_string().contains("81"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn port_readiness_waits_for_the_listener_not_the_proxy() {
    let (_root, engine) = engine_with_image();
    // Published: the host port is bound from the start, the container listens later.
    let web = engine
        .harness(BUSYBOX)
        .cmd(httpd("0.3"))
        .expose(80)
        .wait_for(WaitFor::port(80))
        .start()
        .await
        .unwrap();
    // Ready means the server answers the first request (no retry here).
    let page = get_once(web.addr(80).unwrap()).await;
    assert!(page.ends_with("hello\n"), "{page}");
    // Not published: only the container's own listener.
    let inner = engine
        .harness(BUSYBOX)
        .cmd(httpd("0.3"))
        .wait_for(WaitFor::port(80))
        .start()
        .await
        .unwrap();
    let out = inner
        .exec(["wget", "-q", "-O", "-", "http://127.0.0.1:80/"])
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"hello\n");
}

#[tokio::test]
async fn log_readiness_sees_a_line_written_after_the_start() {
    let (_root, engine) = engine_with_image();
    let script = "echo starting; sleep 0.3; echo 'server is ready' >&2; exec sleep 600";
    let db = engine
        .harness(BUSYBOX)
        .cmd(["sh", "-c", script])
        .wait_for(WaitFor::log("is ready"))
        .start()
        .await
        .unwrap();
    let logs = db.logs().await.unwrap();
    assert!(logs.contains("starting\n"), "{logs}");
    assert!(logs.contains("server is ready\n"), "{logs}");
}

#[tokio::test]
async fn exec_readiness_runs_the_command_until_it_succeeds() {
    let (_root, engine) = engine_with_image();
    let script = "sleep 0.3; echo done > /tmp/ready; exec sleep 600";
    let app = engine
        .harness(BUSYBOX)
        .cmd(["sh", "-c", script])
        .wait_for(WaitFor::exec(["test", "-f", "/tmp/ready"]))
        .start()
        .await
        .unwrap();
    let out = app.exec(["cat", "/tmp/ready"]).await.unwrap();
    assert_eq!(out.stdout, b"done\n");
}

#[tokio::test]
async fn several_conditions_are_waited_for_in_order() {
    let (_root, engine) = engine_with_image();
    let script =
        "echo booting; sleep 0.2; echo hello > index.html; echo serving; exec httpd -f -p 80";
    let web = engine
        .harness(BUSYBOX)
        .cmd(["sh", "-c", script])
        .expose(80)
        .wait_for(WaitFor::log("serving"))
        .wait_for(WaitFor::exec(["test", "-f", "/index.html"]))
        .wait_for(WaitFor::http(80, "/index.html"))
        .start()
        .await
        .unwrap();
    let page = http_get(web.addr(80).unwrap(), "/").await;
    assert!(page.ends_with("hello\n"), "{page}");
}

#[tokio::test]
async fn dropping_the_container_removes_it() {
    let (root, engine) = engine_with_image();
    let web = engine
        .harness(BUSYBOX)
        .cmd(httpd("0"))
        .expose(80)
        .wait_for(WaitFor::http(80, "/"))
        .start()
        .await
        .unwrap();
    let id = web.id().to_owned();
    let info = engine.containers().inspect(&id).unwrap();
    assert_eq!(info.owner, Some(std::process::id()), "tied to the test");
    let pid = info.pid.unwrap();
    let started = start_time(pid);
    assert!(started.is_some());
    drop(web);
    // Drop waited for the removal: nothing is left, at once.
    assert!(gone(&engine, &id));
    assert!(engine.containers().list(true).unwrap().is_empty());
    assert_ne!(
        start_time(pid),
        started,
        "the container's init outlived Drop"
    );
    assert!(crate::support::entries(&root.path().join("trash")).is_empty());
    assert!(crate::support::entries(&root.path().join("names")).is_empty());
}

#[tokio::test]
async fn remove_removes_it_without_blocking() {
    let (_root, engine) = engine_with_image();
    let app = engine
        .harness(BUSYBOX)
        .cmd(["sleep", "600"])
        .start()
        .await
        .unwrap();
    let id = app.id().to_owned();
    let pid = engine.containers().inspect(&id).unwrap().pid.unwrap();
    let started = start_time(pid);
    app.remove().await.unwrap();
    assert!(gone(&engine, &id));
    assert_ne!(start_time(pid), started);
    assert!(engine.containers().list(true).unwrap().is_empty());
}

#[tokio::test]
async fn a_readiness_that_never_comes_times_out_and_leaves_nothing() {
    let (_root, engine) = engine_with_image();
    // Nothing ever listens on port 80.
    let err = engine
        .harness(BUSYBOX)
        .cmd(["sh", "-c", "echo waiting for nothing; exec sleep 600"])
        .expose(80)
        .wait_for(WaitFor::http(80, "/"))
        .timeout(Duration::from_millis(700))
        .start()
        .await
        .unwrap_err();
    let text = err.to_string();
    match err {
        Error::NotReady(e) => {
            assert!(!e.exited);
            assert_eq!(e.timeout, Duration::from_millis(700));
            assert!(e.last_attempt.is_some());
            assert_eq!(e.output, "waiting for nothing\n");
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("was not ready within 700ms"), "{text}");
    assert!(text.contains("GET / on 127.0.0.1:"), "{text}");
    assert!(text.contains("waiting for nothing"), "{text}");
    assert!(engine.containers().list(true).unwrap().is_empty());

    // A server on the container's loopback only: the published port never reaches it.
    let err = engine
        .harness(BUSYBOX)
        .cmd([
            "sh",
            "-c",
            "echo hi > index.html && exec httpd -f -p 127.0.0.1:80",
        ])
        .expose(80)
        .wait_for(WaitFor::port(80))
        .timeout(Duration::from_millis(500))
        .start()
        .await
        .unwrap_err();
    match &err {
        Error::NotReady(e) => {
            assert!(!e.exited, "{err}");
            let last = e.last_attempt.as_deref().unwrap_or_default();
            assert!(last.contains("loopback only"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert!(engine.containers().list(true).unwrap().is_empty());

    // A log line that never comes, the same.
    let err = engine
        .harness(BUSYBOX)
        .cmd(["sleep", "600"])
        .wait_for(WaitFor::log("ready"))
        .timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::NotReady(e) if !e.exited), "{err:?}");
    assert!(engine.containers().list(true).unwrap().is_empty());
}

#[tokio::test]
async fn a_command_that_ends_before_it_is_ready_fails_at_once() {
    let (_root, engine) = engine_with_image();
    for wait in [
        WaitFor::http(80, "/"),
        WaitFor::port(80),
        WaitFor::log("never"),
        WaitFor::exec(["false"]),
    ] {
        let err = engine
            .harness(BUSYBOX)
            .cmd(["sh", "-c", "echo cannot bind >&2; exit 3"])
            .expose(80)
            .wait_for(wait.clone())
            // Far more than it takes: the exit is noticed, not the timeout.
            .timeout(Duration::from_secs(600))
            .start()
            .await
            .unwrap_err();
        match &err {
            Error::NotReady(e) => {
                assert!(e.exited, "{wait:?}: {err}");
                assert_eq!(e.exit_code, Some(3), "{wait:?}");
                assert_eq!(e.output, "cannot bind\n", "{wait:?}");
            }
            other => panic!("{wait:?}: {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("exited with code 3 before it was ready"),
            "{text}"
        );
        assert!(engine.containers().list(true).unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_http_wait_on_a_port_not_published_is_refused_before_anything_runs() {
    let (_root, engine) = engine_with_image();
    let err = engine
        .harness(BUSYBOX)
        .cmd(httpd("0"))
        .wait_for(WaitFor::http(80, "/"))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains(".expose(80)"), "{err}");
    assert!(engine.containers().list(true).unwrap().is_empty());
    // Nor does an unknown image leave anything.
    let err = engine.harness("nosuch:1").start().await.unwrap_err();
    assert!(err.report().to_string().contains("nosuch"), "{err}");
    assert!(engine.containers().list(true).unwrap().is_empty());
    // `options` keeps the tie and the published ports given there.
    let web = engine
        .harness(BUSYBOX)
        .options(
            RunOptions::new()
                .cmd(httpd("0"))
                .publish("127.0.0.1::80".parse().unwrap()),
        )
        .wait_for(WaitFor::http(80, "/"))
        .start()
        .await
        .unwrap();
    let info = engine.containers().inspect(web.id()).unwrap();
    assert_eq!(info.owner, Some(std::process::id()));
}

/// Set, in the child process of `a_killed_test_process_leaves_nothing`, to the engine's root.
const CHILD_ENV: &str = "BOXWRIGHT_HARNESS_CHILD";

/// Run only as the child of `a_killed_test_process_leaves_nothing`: a test as a user writes
/// it, that starts a container and then hangs (until its CI job's timeout kills it).
#[tokio::test]
async fn killed_child_part() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let engine = Engine::open(root).unwrap();
    let web = engine
        .harness(BUSYBOX)
        .cmd(httpd("0"))
        .expose(80)
        .wait_for(WaitFor::http(80, "/"))
        .start()
        .await
        .unwrap();
    println!("READY={}", web.id());
    tokio::time::sleep(Duration::from_secs(600)).await;
    panic!("the parent should have killed this process");
}

/// The child process, killed if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_killed_test_process_leaves_nothing() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let (root, engine) = engine_with_image();
    // This test binary again, running only `killed_child_part`.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("{module}::killed_child_part"),
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, root.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let id = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("READY=").map(|(_, id)| id.to_owned()))
    })
    .await
    .unwrap()
    .expect("the child prints the container's ID once it is ready");
    let info = engine.containers().inspect(&id).unwrap();
    assert_eq!(info.owner, Some(child.0.id()));
    let pid = info.pid.unwrap();
    let started = start_time(pid);
    let addr = info.ports[0].connect_addr();
    assert!(http_get(addr, "/").await.ends_with("hello\n"));

    // A CI timeout: SIGKILL, no Drop runs in the child.
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    wait_until("the killed test's container to go", async || {
        gone(&engine, &id)
    })
    .await;
    wait_until("its init to end", async || start_time(pid) != started).await;
    assert!(engine.containers().list(true).unwrap().is_empty());
    assert!(!Path::new(&info.dir).exists());
    // Its port is free again.
    wait_until("its host port to be released", async || {
        std::net::TcpListener::bind(addr).is_ok()
    })
    .await;
}
