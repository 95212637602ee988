//! Shared fixtures: an engine on a temp root, busybox images (a few applets, or every applet
//! with /etc files), a child image made as a build step would make it, a container made through
//! the runtime, a real registry on 127.0.0.1, bounded polls and an HTTP GET on 127.0.0.1.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use boxwright::store::{
    import, BlobStore as _, CreateOptions, Digest, Image, ImportOptions as StoreImportOptions,
    ImportSource, LayerSource,
};
use boxwright::{Engine, ImportFrom, ImportOptions};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::json;

pub const BUSYBOX: &str = "/bin/busybox";
pub const REGISTRY: &str = "/usr/bin/docker-registry";

/// A `$DOCKER_CONFIG` of the test process's own, set once before any engine opens, so no test
/// reads or writes the real `~/.docker/config.json`.
static DOCKER_CONFIG: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = tempfile::Builder::new()
        .prefix("bw-docker-config")
        .tempdir()
        .unwrap()
        .keep();
    std::env::set_var("DOCKER_CONFIG", &dir);
    dir
});

/// The test process's `$DOCKER_CONFIG` directory.
pub fn docker_config() -> &'static Path {
    &DOCKER_CONFIG
}

/// An engine on a fresh temp root (kept while the `TempDir` lives).
pub fn engine() -> (tempfile::TempDir, Engine) {
    LazyLock::force(&DOCKER_CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    (dir, engine)
}

/// A busybox root file system: `/bin/busybox` and its applets `sh`, `echo`, `cat`, `true`.
pub fn busybox_rootfs() -> tempfile::TempDir {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: apt-get install busybox-static"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::copy(BUSYBOX, dir.path().join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "true", "ls"] {
        std::os::unix::fs::symlink("busybox", dir.path().join("bin").join(applet)).unwrap();
    }
    dir
}

/// Imports busybox as `name` with `Cmd ["sh"]`; returns its image ID.
pub async fn busybox(engine: &Engine, name: &str) -> Digest {
    let rootfs = busybox_rootfs();
    engine
        .import(
            ImportFrom::Dir(rootfs.path().to_path_buf()),
            Some(name),
            ImportOptions::default().config(serde_json::json!({"Cmd": ["sh"]})),
        )
        .await
        .unwrap()
}

/// Makes `name` from `base` as a build would: an `ENV` step (no layer) and a `RUN` step whose
/// layer adds `files` (path, contents). Returns the new image ID.
pub fn child_image(engine: &Engine, base: &str, name: &str, files: &[(&str, &str)]) -> Digest {
    let store = engine.store();
    let base = store.resolve(base).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let w = store.blobs().writer().unwrap();
    let (w, layer) = boxwright::store::create_layer(
        LayerSource::Directory(dir.path()),
        w,
        &CreateOptions::default(),
    )
    .unwrap();
    let info = w.commit(Some(&layer.digest), Some(layer.size)).unwrap();
    let mut config = store.config(base.config().digest()).unwrap().json;
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(layer.diff_id.to_string()));
    let history = config["history"].as_array_mut().unwrap();
    history.push(serde_json::json!({
        "created": "2026-01-02T03:04:05Z",
        "created_by": "ENV GREETING=hi",
        "comment": "buildkit.dockerfile.v0",
        "empty_layer": true,
    }));
    history.push(serde_json::json!({
        "created": "2026-01-02T03:04:06Z",
        "created_by": "RUN /bin/sh -c echo hi > /hello # buildkit",
        "comment": "buildkit.dockerfile.v0",
    }));
    config["created"] = serde_json::json!("2026-01-02T03:04:06Z");
    let config = store.put_config_json(&config).unwrap();
    let mut layers = base.layers().to_vec();
    layers.push(Descriptor::new(
        MediaType::from(layer.media_type.as_str()),
        info.size,
        info.digest,
    ));
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.clone())
        .layers(layers)
        .build()
        .unwrap();
    let target = store.put_manifest(&manifest).unwrap();
    store.tag(&target, name).unwrap();
    config.digest().clone()
}

/// Creates (does not start) a container of the image `what` through the runtime, recording
/// the image's ID as the facade does. Returns its ID; its upper and work dirs live in `scratch`.
#[cfg(feature = "run")]
pub fn create_container(engine: &Engine, what: &str, scratch: &Path) -> String {
    use boxwright::runtime::{Container, CreateOptions, RootFs};
    let image = engine.store().resolve(what).unwrap();
    let lower = engine
        .store()
        .snapshots(&image)
        .unwrap()
        .into_iter()
        .map(|s| s.dir)
        .collect();
    let (upper, work) = (scratch.join("upper"), scratch.join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let container = Container::builder(RootFs::Overlay { lower, upper, work })
        .cmd(["true"])
        .annotation(boxwright::ANNOTATION_IMAGE_ID, image.id.to_string())
        .annotation(boxwright::ANNOTATION_IMAGE_NAME, what)
        .build()
        .unwrap();
    engine
        .containers()
        .create(&container, &CreateOptions::default())
        .unwrap()
}

/// Runs `cmd` in a container of the image `what` (its layers' snapshots under overlayfs,
/// through the runtime) and returns its standard output.
#[cfg(feature = "run")]
pub async fn run_image(engine: &Engine, what: &str, cmd: &[&str]) -> String {
    use boxwright::runtime::{Container, RootFs};
    let image = engine.image(what).await.unwrap();
    let lower = engine
        .store()
        .snapshots(&image)
        .unwrap()
        .into_iter()
        .map(|s| s.dir)
        .collect();
    let scratch = tempfile::tempdir().unwrap();
    let (upper, work) = (scratch.path().join("upper"), scratch.path().join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let out = Container::builder(RootFs::Overlay { lower, upper, work })
        .cmd(cmd.iter().copied())
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A running Distribution registry on 127.0.0.1, its storage in a temp dir; killed and waited
/// for on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// An anonymous registry.
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// A registry with htpasswd basic auth for `user`/`password` when given.
    pub fn start_with(user: Option<(&str, &str)>) -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "{REGISTRY} is missing: apt-get install docker-registry"
        );
        let dir = tempfile::tempdir().unwrap();
        let auth = match user {
            Some((u, p)) => {
                let hash = bcrypt::hash_with_result(p, 4)
                    .unwrap()
                    .format_for_version(bcrypt::Version::TwoY);
                std::fs::write(dir.path().join("htpasswd"), format!("{u}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: boxwright-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        for _ in 0..10 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let err = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(REGISTRY)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .unwrap();
            if wait_ready(&mut child, port) {
                return Registry { child, port, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the registry did not start on any port");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `GET /v2/` to answer (any status) while the child lives.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req =
                format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).is_ok() {
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1") {
                    // Another test's listener could hold this port: the child must still live.
                    return matches!(child.try_wait(), Ok(None));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A second engine on its own fresh root (for save/load and pull into an empty store).
pub fn engine_fresh() -> (tempfile::TempDir, Engine) {
    engine()
}

/// Generous, only so that a broken test fails instead of hanging: never a timing assertion.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// An engine on a fresh root holding `busybox:latest` (see [`import_busybox`]).
pub(crate) fn engine_with_busybox() -> (tempfile::TempDir, Engine) {
    let (root, engine) = engine();
    import_busybox(&engine, "busybox");
    (root, engine)
}

/// Imports a busybox image named `name`: `/bin/busybox` with one symlink per applet,
/// `/etc/passwd` and `/etc/group` (root, nobody), `/tmp`, `/root`; config `PATH` and
/// `Cmd ["sh"]`, and its name as a label.
pub(crate) fn import_busybox(engine: &Engine, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    fill_busybox(dir.path());
    let opts = StoreImportOptions {
        name: Some(name.to_owned()),
        // The name as a label makes each import its own image: two imports of the same tree
        // in the same second would otherwise be one image ID (tests of `ancestor=` tell them
        // apart).
        config: json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "Labels": {"org.boxwright.test.import": name},
        }),
        ..StoreImportOptions::default()
    };
    import(engine.store(), ImportSource::Directory(dir.path()), &opts).unwrap();
}

/// Fills `root` with the busybox tree.
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
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
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

/// The reply to `GET path` on `addr`, retried until something answers.
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
                let _ = conn
                    .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
                    .await;
                let mut reply = Vec::new();
                let _ = conn.read_to_end(&mut reply).await;
                if !reply.is_empty() {
                    return String::from_utf8_lossy(&reply).into_owned();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a page through the published port")
}

/// What is in `dir` (names, sorted), for "nothing left behind" checks.
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// The busybox applets the tests' images link.
pub const BUSYBOX_APPLETS: [&str; 14] = [
    "sh", "cat", "echo", "ls", "tr", "wc", "true", "false", "sleep", "env", "mkdir", "rm", "touch",
    "grep",
];

/// Imports a busybox root file system (Debian's `/bin/busybox`, applets as links, `/etc`
/// with root) as the image `name`.
pub fn busybox_image(engine: &Engine, name: &str) -> Image {
    let dir = tempfile::tempdir().expect("a staging directory");
    let root = dir.path();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("/bin/busybox (busybox-static)");
    for applet in BUSYBOX_APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let options = StoreImportOptions {
        name: Some(name.to_owned()),
        config: serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]}),
        ..StoreImportOptions::default()
    };
    import(engine.store(), ImportSource::Directory(root), &options).expect("importing busybox")
}

/// Writes `files` (path, contents) under `dir`, making parents.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
