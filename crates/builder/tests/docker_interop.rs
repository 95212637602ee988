//! Docker's BuildKit as the reference: the same Dockerfiles built by boxwright and by a
//! private Debian `dockerd` (20.10, BuildKit) from the same busybox base, then the final
//! images compared: flattened file trees (type, mode, owner, link target, content), the config
//! and the history. Any difference fails the test, except the legitimate ones named on
//! [`boxwright_builds_what_docker_buildkit_builds`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "docker_interop/cases.rs"]
mod cases;
#[path = "docker_interop/dockerd.rs"]
mod dockerd;
#[path = "docker_interop/tree.rs"]
mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use boxwright_builder::{BuildRequest, Builder, DockerfileSource, LocalOnly, RuntimeExecutor};
use boxwright_layer_store::{import, CreateOptions, ImportOptions, ImportSource, Store};
use serde_json::{json, Value};

use cases::{Case, CASES};
use dockerd::Dockerd;
use tree::Tree;

/// The config fields compared.
const CONFIG_KEYS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// The base image both builders start `FROM`.
const BASE: &str = "busybox:test";
const BASE_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `cmd`, panicking with its output when it fails; returns its stdout.
pub(crate) fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sets `path`'s permission bits.
pub(crate) fn chmod(path: &Path, mode: u32) {
    let perms = std::os::unix::fs::PermissionsExt::from_mode(mode);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A busybox root (applets as links, root and nobody, a sticky `/tmp`, `/root`) as a tar.
fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("bb");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = run_ok(Command::new("/bin/busybox").arg("--list"));
    for applet in list.lines().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    chmod(&root.join("tmp"), 0o1777);
    std::fs::create_dir_all(root.join("root")).unwrap();
    chmod(&root.join("root"), 0o700);
    let tar = dir.join("busybox.tar");
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    std::fs::remove_dir_all(root).unwrap();
    tar
}

/// Our side: a store holding the base imported from the same tar, and a builder over it.
struct Ours {
    builder: Builder,
    out: PathBuf,
}

impl Ours {
    fn new(dir: &Path, base_tar: &Path) -> Ours {
        let store = Store::open(dir.join("store")).unwrap();
        let options = ImportOptions {
            name: Some(BASE.into()),
            config: json!({ "Env": [BASE_ENV], "Cmd": ["sh"] }),
            create: CreateOptions::from_env(),
            ..ImportOptions::default()
        };
        let mut tar = std::fs::File::open(base_tar).unwrap();
        import(&store, ImportSource::Tarball(&mut tar), &options).unwrap();
        let executor = Arc::new(RuntimeExecutor::default());
        let builder = Builder::new(store, executor, Arc::new(LocalOnly));
        Ours {
            builder,
            out: dir.join("ours"),
        }
    }

    /// Builds `case`, tagged with its name; returns the tree and the config.
    async fn build(&self, case: &Case, ctx: &Path) -> (Tree, Value) {
        let text = DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: case.ours.into(),
        };
        let mut request = BuildRequest::new(text, ctx);
        request.tags = vec![case.name.into()];
        request.build_args = case
            .args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let result = self.builder.build(request, None).await;
        let result = result.unwrap_or_else(|e| panic!("{}: boxwright: {e}", case.name));
        let store = self.builder.store();
        let image = store.resolve(result.image_id.as_ref()).unwrap();
        let root = self.out.join(case.name);
        std::fs::create_dir_all(&root).unwrap();
        store.unpack(&image, &root).unwrap();
        let tree = tree::of_dir(&root);
        std::fs::remove_dir_all(&root).unwrap();
        (tree, store.config(&result.image_id).unwrap().json)
    }
}

/// Docker's side of `case`, tagged with its name.
fn docker_build(engine: &Dockerd, case: &Case, ctx: &Path) -> (Tree, Value) {
    let file = engine.scratch("files").join(case.name);
    std::fs::write(&file, case.docker).unwrap();
    let mut cmd = engine.docker();
    cmd.args(["build", "-q", "--network=none", "-t", case.name, "-f"])
        .arg(&file);
    for (k, v) in case.args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    run_ok(cmd.arg(ctx));
    tree::of_docker_image(|| engine.docker(), case.name, &engine.scratch(case.name))
}

/// Every difference between two trees, one line each.
fn tree_diff(ours: &Tree, docker: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, d) in docker {
        match ours.get(path) {
            None => out.push(format!("/{path}: only in docker: {d:?}")),
            Some(o) if o != d => out.push(format!("/{path}: ours {o:?}\n    docker {d:?}")),
            Some(_) => {}
        }
    }
    for (path, o) in ours {
        if !docker.contains_key(path) {
            out.push(format!("/{path}: only in ours: {o:?}"));
        }
    }
    out
}

/// A config field, with `null` as absent.
fn field<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    config["config"].get(key).filter(|v| !v.is_null())
}

/// The history as (created_by, empty_layer) pairs.
fn history(config: &Value) -> Vec<(String, bool)> {
    config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let by = h["created_by"].as_str().unwrap_or_default().to_string();
            (by, h["empty_layer"].as_bool().unwrap_or(false))
        })
        .collect()
}

/// Every difference between two configs (the fields compared, the layer count, and the
/// history when `with_history`).
fn config_diff(ours: &Value, docker: &Value, with_history: bool) -> Vec<String> {
    let mut out = Vec::new();
    for key in CONFIG_KEYS {
        let (o, d) = (field(ours, key), field(docker, key));
        if o != d {
            out.push(format!("config {key}: ours {o:?}\n    docker {d:?}"));
        }
    }
    let layers = |c: &Value| c["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    if layers(ours) != layers(docker) {
        out.push(format!(
            "layer count: ours {} docker {}",
            layers(ours),
            layers(docker)
        ));
    }
    if with_history {
        let (o, d) = (history(ours), history(docker));
        if o.len() != d.len() {
            out.push(format!(
                "history count: ours {} docker {}",
                o.len(),
                d.len()
            ));
        }
        for (i, (o, d)) in o.iter().zip(&d).enumerate() {
            // The base's own entry: each tool's import names itself (see the test's doc).
            let same = if i == 0 { o.1 == d.1 } else { o == d };
            if !same {
                out.push(format!("history[{i}]: ours {o:?}\n    docker {d:?}"));
            }
        }
    }
    out
}

/// Builds every case with both and compares. Legitimate differences, not compared:
/// - file mtimes: BuildKit keeps the context's mtimes and stamps RUN's changes with the time
///   they were made; boxwright normalizes them for reproducible digests;
/// - `created` in the config and the history, the history's `comment` and `author`: times and
///   tool names; and the `created_by` of the base's one history entry, which each tool's
///   import writes (`docker import` leaves it empty, boxwright's says `boxwright import`);
/// - config fields outside [`CONFIG_KEYS`] (`Hostname`, `AttachStdin`, … are Docker API
///   defaults the engine writes, `Image` a local ID, `ArgsEscaped` a Windows hint);
/// - heredocs: Docker 20.10's built-in frontend predates them (`# syntax=` would pull a newer
///   frontend from a registry), so the heredoc case is compared with the same steps written
///   without heredocs, on file trees and config, not on history text.
#[tokio::test(flavor = "multi_thread")]
async fn boxwright_builds_what_docker_buildkit_builds() {
    let engine = Dockerd::start();
    let dir = tempfile::tempdir().unwrap();
    let base = busybox_tar(dir.path());
    let ctx = cases::context(dir.path());
    let mut import = engine.docker();
    import.args([
        "import",
        "-c",
        &format!("ENV {BASE_ENV}"),
        "-c",
        r#"CMD ["sh"]"#,
    ]);
    run_ok(import.arg(&base).arg(BASE));
    let ours = Ours::new(dir.path(), &base);

    let mut report = BTreeMap::new();
    for case in CASES {
        let (our_tree, our_config) = ours.build(case, &ctx).await;
        let (docker_tree, docker_config) = docker_build(&engine, case, &ctx);
        let mut diffs = tree_diff(&our_tree, &docker_tree);
        diffs.extend(config_diff(&our_config, &docker_config, case.history));
        if !diffs.is_empty() {
            report.insert(case.name, diffs);
        }
    }
    let text: String = report
        .iter()
        .map(|(case, diffs)| format!("{case}:\n  {}\n", diffs.join("\n  ")))
        .collect();
    assert!(report.is_empty(), "boxwright and docker differ:\n{text}");
}
