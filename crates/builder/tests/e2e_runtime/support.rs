//! Helpers of the end-to-end builds: a busybox base image imported into a fresh store, a
//! counting executor over the real runtime, a build that collects its events, processes found
//! by their environment, and podman run in a private mount namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use boxwright_builder::{
    BuildError, BuildEvent, BuildRequest, BuildResult, Builder, DockerfileSource, Executor,
    ExecutorError, LocalOnly, MissReason, OutputSink, RunStep, RuntimeExecutor, StepExit,
};
use boxwright_layer_store::{import, CreateOptions, ImportOptions, ImportSource, Store};

/// The base image every Dockerfile here starts `FROM`.
pub(crate) const BASE: &str = "busybox:test";

/// Makes a busybox root in `root`: `/bin/busybox` and its applets, `/etc/passwd` and
/// `/etc/group` with root and nobody, `/tmp` (1777) and `/root`.
fn busybox_root(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let sticky = std::os::unix::fs::PermissionsExt::from_mode(0o1777);
    std::fs::set_permissions(&tmp, sticky).unwrap();
    std::fs::create_dir_all(root.join("root")).unwrap();
}

/// An [`Executor`] that counts the steps it is given and hands them to [`RuntimeExecutor`].
#[derive(Default)]
pub(crate) struct Counting {
    inner: RuntimeExecutor,
    runs: AtomicUsize,
}

impl Counting {
    /// How many steps were run so far.
    pub(crate) fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Executor for Counting {
    async fn run(&self, step: RunStep, output: OutputSink) -> Result<StepExit, ExecutorError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.run(step, output).await
    }
}

/// A fresh store root holding [`BASE`], a builder over it with the real runtime, and a
/// context directory.
pub(crate) struct Env {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) ctx: PathBuf,
    pub(crate) executor: Arc<Counting>,
    pub(crate) builder: Builder,
}

impl Env {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        // Lowercase, relative to `tmp`: podman's `oci:` names its image after this path.
        let root = tmp.path().join("store");
        let ctx = tmp.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        let base = tmp.path().join("base");
        busybox_root(&base);
        let store = Store::open(&root).unwrap();
        let options = ImportOptions {
            name: Some(BASE.into()),
            config: serde_json::json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            }),
            // The same base in every root, so that builds in two roots can be compared.
            create: CreateOptions {
                source_date_epoch: Some(1_600_000_000),
                ..CreateOptions::from_env()
            },
            ..ImportOptions::default()
        };
        import(&store, ImportSource::Directory(&base), &options).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
        let executor = Arc::new(Counting::default());
        let builder = Builder::new(store, executor.clone(), Arc::new(LocalOnly));
        Env {
            tmp,
            root,
            ctx,
            executor,
            builder,
        }
    }

    /// Writes `files` (path, content) into the context.
    pub(crate) fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let p = self.ctx.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
        }
    }

    /// A request for `dockerfile` (text) over the context.
    pub(crate) fn request(&self, dockerfile: &str) -> BuildRequest {
        BuildRequest::new(
            DockerfileSource::Text {
                name: "Dockerfile".into(),
                text: dockerfile.into(),
            },
            &self.ctx,
        )
    }

    /// Builds `request`; returns the result and the events.
    pub(crate) async fn build(
        &self,
        request: BuildRequest,
    ) -> (Result<BuildResult, BuildError>, Vec<BuildEvent>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let result = self.builder.build(request, Some(tx)).await;
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        (result, events)
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        self.builder.store()
    }

    /// Unpacks the built image into a new directory `name` under the temp dir.
    pub(crate) fn unpack(&self, result: &BuildResult, name: &str) -> PathBuf {
        let store = self.store();
        let image = store.resolve(result.image_id.as_ref()).unwrap();
        let out = self.tmp.path().join(name);
        std::fs::create_dir(&out).unwrap();
        store.unpack(&image, &out).unwrap();
        out
    }

    /// The image config's JSON.
    pub(crate) fn config(&self, result: &BuildResult) -> serde_json::Value {
        self.store().config(&result.image_id).unwrap().json
    }
}

/// The indexes of the steps that came from the cache.
pub(crate) fn cached(events: &[BuildEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepCached { index, .. } => Some(*index),
            _ => None,
        })
        .collect()
}

/// The steps that missed, with their reasons.
pub(crate) fn misses(events: &[BuildEvent]) -> Vec<(usize, MissReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepCacheMiss { index, reason } => Some((*index, reason.clone())),
            _ => None,
        })
        .collect()
}

/// The `RUN` output lines, with their step's index.
pub(crate) fn output(events: &[BuildEvent]) -> Vec<(usize, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::RunOutput { index, line, .. } => Some((*index, line.clone())),
            _ => None,
        })
        .collect()
}

/// Host PIDs of the processes whose environment holds `var` (`KEY=value`).
pub(crate) fn processes_with(var: &str) -> Vec<i32> {
    let needle = var.as_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle))
        })
        .collect()
}

/// `tool` run in a private mount namespace with a tmpfs over each of `hide` (podman writes
/// under `/var/lib`, `/var/tmp` and `/run` whatever its options say), so a test writes nothing
/// outside its temp dir.
fn isolated(tool: &Path, hide: &[&str]) -> Command {
    let mounts: String = hide
        .iter()
        .map(|dir| format!("mount -t tmpfs -o mode=0755 tmpfs {dir} && "))
        .collect();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(r#"{mounts}exec "$@""#))
        .arg("sh")
        .arg(tool);
    cmd
}

/// Where `name` is on `PATH`.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A podman command whose storage lives under `dir` (vfs, no events, cgroupfs).
pub(crate) fn podman(podman: &Path, dir: &Path) -> Command {
    let (root, runroot, tmp) = (dir.join("root"), dir.join("run"), dir.join("tmp"));
    for d in [&root, &runroot, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut cmd = isolated(podman, &["/var/lib", "/var/tmp", "/run"]);
    cmd.arg("--root")
        .arg(root)
        .arg("--runroot")
        .arg(runroot)
        .arg("--tmpdir")
        .arg(tmp)
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]);
    cmd
}

/// Runs `cmd`, panicking with its stderr when it fails; returns its stdout.
pub(crate) fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
