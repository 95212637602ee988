//! Fixtures shared by the runtime's tests: busybox root file systems, a store beside them,
//! bounded waits and reads, the re-execution of this binary (as nobody) for one test, and
//! small probes of the host (slirp4netns, an HTTP page through a published port).

use std::net::SocketAddr;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use boxwright_runtime::{Container, ContainerBuilder, Containers, Output, RootFs};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Generous (the VM of `tests/vm/cgroup2.sh` may emulate its CPU), only so that a broken test
/// fails instead of hanging: never a timing assertion.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// The uid and gid of `nobody`, whom the rootless tests run as.
pub(crate) const NOBODY: u32 = 65534;

/// A busybox root file system built from the host's busybox-static: `/bin/busybox`, one
/// symlink per applet, `/etc/passwd` and `/etc/group` (root, nobody), `/tmp`.
pub(crate) fn busybox_rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fill_busybox(dir.path());
    dir
}

/// Fills `root` with the busybox tree (world-readable, so a rootless run can use it).
pub(crate) fn fill_busybox(root: &Path) {
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            symlink("/bin/busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// A busybox root, a state directory and a store in it (keep the first two alive).
pub(crate) fn fixture() -> (tempfile::TempDir, tempfile::TempDir, Containers) {
    let rootfs = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path()).unwrap();
    (rootfs, state, store)
}

/// Makes the directories `names` in `parent` (an overlay's lower, upper and work dirs, say):
/// their paths, in order.
pub(crate) fn subdirs<const N: usize>(parent: &Path, names: [&str; N]) -> [PathBuf; N] {
    names.map(|name| {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).unwrap();
        dir
    })
}

/// Gives `path` and everything below it to `id` (uid and gid), links themselves included.
pub(crate) fn chown_tree(path: &Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), id);
        }
    }
}

/// Text of a byte buffer, for assertions.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A container running `sh -c SCRIPT`.
pub(crate) fn sh(root: impl Into<RootFs>, script: &str) -> ContainerBuilder {
    Container::builder(root).cmd(["sh", "-c", script])
}

/// Builds and runs `b` to its end: its output.
pub(crate) async fn run(b: ContainerBuilder) -> Output {
    output(&b.build().unwrap()).await
}

/// Runs `c` to its end: its output.
pub(crate) async fn output(c: &Container) -> Output {
    tokio::time::timeout(PATIENCE, c.output())
        .await
        .expect("the container ends")
        .unwrap()
}

/// Waits for a stored container to exit: its exit code.
pub(crate) async fn wait(store: &Containers, id: &str) -> i32 {
    tokio::time::timeout(PATIENCE, store.wait(id))
        .await
        .expect("the container ends")
        .unwrap()
}

/// A stored container's whole log, as text.
pub(crate) async fn read_log(store: &Containers, id: &str) -> String {
    let mut logs = store.logs(id, false).unwrap();
    let mut out = Vec::new();
    logs.read_to_end(&mut out).await.unwrap();
    text(&out)
}

/// Polls a stored container's log until it contains `needle`.
pub(crate) async fn wait_for_log(store: &Containers, id: &str, needle: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let log = read_log(store, id).await;
        if log.contains(needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {needle:?} in the log: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `done` until it holds; panics, saying it waited for `what`, once [`PATIENCE`] is
/// spent.
pub(crate) async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads from `r` into `seen` until `needle` shows up; the stream must not end first.
pub(crate) async fn read_until(r: &mut (impl AsyncRead + Unpin), seen: &mut String, needle: &str) {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !seen.contains(needle) {
        let n = tokio::time::timeout_at(deadline, r.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {needle:?}; got {seen:?}"))
            .unwrap();
        assert!(n > 0, "the output ended before {needle:?}: {seen:?}");
        seen.push_str(&text(&buf[..n]));
    }
}

/// Whether `slirp4netns` is in `$PATH`, where the runtime looks for it.
pub(crate) fn slirp4netns_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("slirp4netns").is_file()))
}

/// Fetches `path` from the HTTP server at `addr`, retrying while the server does not answer
/// yet (slirp4netns accepts, then closes the connection at once, until the server listens).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
                let _ = conn
                    .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
                    .await;
                let mut reply = Vec::new();
                let _ = conn.read_to_end(&mut reply).await;
                if !reply.is_empty() {
                    return text(&reply);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a page through the published port")
}

/// The name libtest gives the test `name` of the module `module` (its `module_path!()`): the
/// path below the crate's root.
pub(crate) fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, below)) => format!("{below}::{name}"),
        None => name.to_owned(),
    }
}

/// This test binary, to run the one test `test` (see [`test_name`]) in a process of its own,
/// its output not captured.
pub(crate) fn reexec(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    cmd
}

/// Like [`reexec`], as nobody: `None` (the test is skipped) unless we are root, who can become
/// nobody. Whatever the child uses, such as a root file system, must be nobody's (see
/// [`chown_tree`]).
pub(crate) fn reexec_as_nobody(test: &str) -> Option<Command> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("{test}: needs root to become nobody; skipped");
        return None;
    }
    let mut cmd = reexec(test);
    cmd.uid(NOBODY).gid(NOBODY);
    Some(cmd)
}

/// Whether a rootless run's error says that the kernel refuses unprivileged user namespaces.
pub(crate) fn userns_refused(err: &str) -> bool {
    err.contains("user namespace") || err.contains("clone3 failed")
}

/// Taken by the tests that check no temporary overlay mount (`boxwright-mnt-*`, the host's
/// mount table) is left behind, for as long as they make and check theirs: another test's,
/// still in use, is no leak of theirs.
pub(crate) static TEMP_MOUNTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
