//! `RegistrySource` (feature `registry`) against a real Distribution registry
//! (`/usr/bin/docker-registry`) started on 127.0.0.1 per test and stopped on drop: images
//! made with umoci or by hand, pushed with the registry client, pulled into empty stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boxwright_builder::registry_client::oci_spec::image::{Descriptor, MediaType};
use boxwright_builder::registry_client::{
    blob::sha256, copy, push, reference, Client, OciDir, ProgressKind, PullOptions, PushOptions,
};
use boxwright_builder::{ImageSource, RegistrySource, SourceError, StoreSink};
use boxwright_layer_store::{platform, BlobStore as _, GcOptions, Platform, Store, StoreError};

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry with its storage in a temp dir; killed and waited for on drop.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "{REGISTRY} is missing: apt-get install docker-registry"
        );
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..10 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n",
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

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file where the registry keeps a blob.
    fn blob_file(&self, digest: &str) -> std::path::PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `GET /v2/` to answer while the child lives.
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
                    return matches!(child.try_wait(), Ok(None));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OCI layout holding `/bin/busybox` (Debian's busybox-static) under the tag `v1`, made
/// with umoci as `.ci/run` does.
async fn busybox_layout(dir: &Path) -> (OciDir, Descriptor) {
    let layout = dir.join("src");
    let l = layout.to_str().unwrap();
    run("umoci", &["init", "--layout", l]);
    run("umoci", &["new", "--image", &format!("{l}:v1")]);
    run(
        "umoci",
        &[
            "insert",
            "--image",
            &format!("{l}:v1"),
            "/bin/busybox",
            "/bin/busybox",
        ],
    );
    let oci = OciDir::open(&layout).await.unwrap();
    let root = oci.resolve(Some("v1")).await.unwrap();
    (oci, root)
}

/// Pushes `root` from `layout` to `name`.
async fn push_to(client: &Client, layout: &OciDir, root: &Descriptor, name: &str) {
    let dst = reference::parse(name).unwrap();
    push(client, layout, root, &dst, &PushOptions::default())
        .await
        .unwrap();
}

/// The layer and config digests of a manifest in `layout`.
async fn layer_and_config(layout: &OciDir, root: &Descriptor) -> (String, String) {
    let m = layout.read_manifest(root).await.unwrap();
    let blobs = m.blobs();
    let config = blobs
        .iter()
        .find(|d| d.media_type() == &MediaType::ImageConfig)
        .unwrap();
    let layer = blobs
        .iter()
        .find(|d| d.media_type() != &MediaType::ImageConfig)
        .unwrap();
    (layer.digest().to_string(), config.digest().to_string())
}

fn host() -> Platform {
    platform::host()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_busybox_into_an_empty_store_then_skips_every_blob() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let client = Client::new().unwrap();
    let (layout, root) = busybox_layout(tmp.path()).await;
    let name = format!("{}/test/busybox:v1", reg.host());
    push_to(&client, &layout, &root, &name).await;
    let (layer, config) = layer_and_config(&layout, &root).await;

    let store = Store::open(tmp.path().join("root")).unwrap();
    assert!(store.resolve_for(&name, &host()).is_err());
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let source = RegistrySource::with_client(client.clone()).with_progress(tx);
    let pulled = source.pull_image(&store, &name, &host()).await.unwrap();
    assert_eq!(pulled.name, name);
    assert_eq!(pulled.transferred.blobs_moved, 2);
    assert_eq!(pulled.transferred.root.digest(), root.digest());

    // The store resolves the name; its layer is the blob pushed, byte for byte.
    let image = store.resolve_for(&name, &host()).unwrap();
    assert_eq!(image.manifest_digest.to_string(), root.digest().to_string());
    assert_eq!(image.layers().len(), 1);
    assert_eq!(image.layers()[0].digest().to_string(), layer);
    assert_eq!(image.id.to_string(), config);
    let layer_digest = image.layers()[0].digest().clone();
    let mut stored = Vec::new();
    store
        .blobs()
        .open(&layer_digest, true)
        .unwrap()
        .read_to_end(&mut stored)
        .unwrap();
    let pushed = std::fs::read(layout.blob_path(&layer_digest).unwrap()).unwrap();
    assert_eq!(stored, pushed);
    let cfg = store.config(image.config().digest()).unwrap();
    assert_eq!(cfg.diff_ids().unwrap().len(), 1);
    assert!(store.fsck().unwrap().is_empty());

    let mut kinds = Vec::new();
    while let Ok(p) = events.try_recv() {
        assert_eq!(p.reference, name);
        kinds.push(p.event.kind);
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == ProgressKind::Done).count(),
        2
    );

    // A second pull moves no blob; through the trait, as the builder calls it.
    let started = Instant::now();
    let again = source.pull_image(&store, &name, &host()).await.unwrap();
    assert_eq!(
        (
            again.transferred.blobs_moved,
            again.transferred.blobs_skipped
        ),
        (0, 2)
    );
    assert_eq!(again.transferred.bytes_moved, 0);
    let dyn_source: &dyn ImageSource = &source;
    dyn_source.pull(&store, &name, &host()).await.unwrap();
    eprintln!("two warm pulls took {:?}", started.elapsed());
    let mut kinds = Vec::new();
    while let Ok(p) = events.try_recv() {
        kinds.push(p.event.kind);
    }
    assert!(
        kinds.iter().all(|k| *k == ProgressKind::Skipped),
        "{kinds:?}"
    );
    assert_eq!(kinds.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_sink_takes_a_copy_from_an_oci_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, root) = busybox_layout(tmp.path()).await;
    let (layer, _) = layer_and_config(&layout, &root).await;
    let store = Store::open(tmp.path().join("root")).unwrap();
    let sink = StoreSink::new(store.clone());
    let done = copy(&layout, &root, &sink, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((done.blobs_moved, done.manifests), (2, 1));
    store.tag(&done.root, "copied:v1").unwrap();
    let image = store.resolve("copied:v1").unwrap();
    assert_eq!(image.layers()[0].digest().to_string(), layer);
    assert!(store.fsck().unwrap().is_empty());
    let again = copy(&layout, &root, &sink, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((again.blobs_moved, again.blobs_skipped), (0, 2));
}

/// On a current-thread runtime too (the pull runs on the blocking pool, driven by the handle).
#[tokio::test]
async fn an_unknown_name_is_not_found() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let source = RegistrySource::with_client(Client::new().unwrap());
    let name = format!("{}/nobody/here:v1", reg.host());
    let err = source.pull(&store, &name, &host()).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::NotFound { reference, local_only: false } if *reference == name),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_keeps_its_cause() {
    let port = free_port(); // bound then released: nothing listens there
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let client = Client::builder().retries(0).build().unwrap();
    let source = RegistrySource::with_client(client);
    let name = format!("127.0.0.1:{port}/x/y:v1");
    let err = source.pull(&store, &name, &host()).await.unwrap_err();
    assert!(matches!(err, SourceError::Pull { .. }), "{err:?}");
    let text = chain(&err).to_lowercase();
    assert!(
        text.contains("connection refused") || text.contains("os error 111"),
        "{text}"
    );
    assert!(err.source().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_blob_in_the_registry_tags_nothing() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let client = Client::new().unwrap();
    let (layout, root) = busybox_layout(tmp.path()).await;
    let name = format!("{}/test/busybox:v1", reg.host());
    push_to(&client, &layout, &root, &name).await;
    let (layer, _) = layer_and_config(&layout, &root).await;

    // Same length, other bytes: the registry serves it, the digest check refuses it.
    let file = reg.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let store = Store::open(tmp.path().join("root")).unwrap();
    let source = RegistrySource::with_client(client);
    let err = source.pull(&store, &name, &host()).await.unwrap_err();
    assert!(matches!(err, SourceError::Pull { .. }), "{err:?}");
    assert!(chain(&err).contains("digest mismatch"), "{}", chain(&err));
    assert!(matches!(
        store.resolve_for(&name, &host()),
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.entries().unwrap().is_empty());
    assert!(!store.blobs().has(&layer.parse().unwrap()).unwrap());
    // Downloads still in flight when the corrupt blob failed the pull were dropped with it;
    // their writers discard what they staged on the blocking pool, just after `pull` returns.
    // So the staging area empties within a bounded wait (a generous bound, not a timing).
    let tmp_dir = store.root().join("tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&tmp_dir).unwrap().count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "something staged is left: {:?}",
            std::fs::read_dir(&tmp_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Writes `bytes` into the layout's blobs and returns its descriptor.
fn put_blob(dir: &Path, media_type: MediaType, bytes: &[u8]) -> Descriptor {
    let d = sha256(bytes);
    std::fs::write(dir.join("blobs/sha256").join(d.digest()), bytes).unwrap();
    Descriptor::new(media_type, bytes.len() as u64, d)
}

/// An image for `arch` with one (not a real tar; the pull does not read it) layer.
fn put_image(dir: &Path, arch: &str) -> (Descriptor, String) {
    let layer = put_blob(
        dir,
        MediaType::ImageLayer,
        format!("layer {arch}").as_bytes(),
    );
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest().to_string()]},
    });
    let config = put_blob(
        dir,
        MediaType::ImageConfig,
        &serde_json::to_vec(&config).unwrap(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let m = put_blob(
        dir,
        MediaType::ImageManifest,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    (m, layer.digest().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_is_resolved_to_the_platform_by_tag_and_by_digest() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let client = Client::new().unwrap();
    let layout = OciDir::create(&tmp.path().join("src")).await.unwrap();
    let dir = layout.path().to_path_buf();
    let (amd, amd_layer) = put_image(&dir, "amd64");
    let (arm, arm_layer) = put_image(&dir, "arm64");
    let entry = |d: &Descriptor, arch: &str| {
        let mut v = serde_json::to_value(d).unwrap();
        v["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        v
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    });
    let index = put_blob(
        &dir,
        MediaType::ImageIndex,
        &serde_json::to_vec(&index).unwrap(),
    );
    let name = format!("{}/multi/app:v1", reg.host());
    push_to(&client, &layout, &index, &name).await;
    let source = RegistrySource::with_client(client);

    let arm64 = platform::parse("linux/arm64").unwrap();
    let store = Store::open(tmp.path().join("a")).unwrap();
    source.pull(&store, &name, &arm64).await.unwrap();
    let image = store.resolve_for(&name, &arm64).unwrap();
    assert_eq!(image.manifest_digest, *arm.digest());
    assert_eq!(image.layers()[0].digest().to_string(), arm_layer);
    assert!(!store.blobs().has(&amd_layer.parse().unwrap()).unwrap());

    // By the index's digest: the name resolves through the index.
    let amd64 = platform::parse("linux/amd64").unwrap();
    let by_digest = format!("{}/multi/app@{}", reg.host(), index.digest());
    let store = Store::open(tmp.path().join("b")).unwrap();
    let pulled = source.pull_image(&store, &by_digest, &amd64).await.unwrap();
    assert_eq!(pulled.name, by_digest);
    let image = store.resolve_for(&by_digest, &amd64).unwrap();
    assert_eq!(image.manifest_digest, *amd.digest());
    assert_eq!(image.layers()[0].digest().to_string(), amd_layer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gc_during_the_pull_waits_for_the_tag() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let client = Client::new().unwrap();
    let (layout, root) = busybox_layout(tmp.path()).await;
    let name = format!("{}/test/busybox:v1", reg.host());
    push_to(&client, &layout, &root, &name).await;

    let store = Store::open(tmp.path().join("root")).unwrap();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let source = RegistrySource::with_client(client)
        .with_progress(tx)
        .with_concurrency(1);
    // A gc with no grace starts as soon as the first blob is committed, before the tag.
    let gc_store = store.clone();
    let gc = tokio::spawn(async move {
        while let Some(p) = events.recv().await {
            if p.event.kind == ProgressKind::Done {
                break;
            }
        }
        tokio::task::spawn_blocking(move || {
            gc_store.gc(&GcOptions {
                grace: Duration::ZERO,
                prune_dangling: false,
            })
        })
        .await
        .unwrap()
        .unwrap()
    });
    source.pull(&store, &name, &host()).await.unwrap();
    let report = gc.await.unwrap();
    assert!(report.blobs_removed.is_empty(), "{report:?}");
    let image = store.resolve_for(&name, &host()).unwrap();
    for d in image.layers() {
        assert!(store.blobs().has(d.digest()).unwrap());
    }
    assert!(store.blobs().has(image.config().digest()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_pull_leaves_nothing_half_made() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let client = Client::new().unwrap();
    let (layout, root) = busybox_layout(tmp.path()).await;
    let name = format!("{}/test/busybox:v1", reg.host());
    push_to(&client, &layout, &root, &name).await;
    let (layer, _) = layer_and_config(&layout, &root).await;

    let store = Store::open(tmp.path().join("root")).unwrap();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let source = RegistrySource::with_client(client).with_progress(tx);
    // Dropped as soon as the layer starts to move.
    let platform = host();
    tokio::select! {
        r = source.pull(&store, &name, &platform) => panic!("the pull ended first: {r:?}"),
        _ = async {
            while let Some(p) = events.recv().await {
                if p.event.digest.to_string() == layer && p.event.kind == ProgressKind::Started {
                    break;
                }
            }
        } => {}
    }
    let staging = store.root().join("tmp");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&staging).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "staging files stayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.entries().unwrap().is_empty());
    assert!(!store.blobs().has(&layer.parse().unwrap()).unwrap());
    // And a pull afterwards completes.
    source.pull(&store, &name, &host()).await.unwrap();
    assert!(store.resolve_for(&name, &host()).is_ok());
}
