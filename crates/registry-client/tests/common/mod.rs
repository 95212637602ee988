//! A real Distribution registry (Debian's `docker-registry`) for the tests, started on
//! 127.0.0.1 with its storage in a temp dir and stopped on drop; images made in the test;
//! a byte-flipping TCP proxy.

#![allow(dead_code, unreachable_pub)]

pub mod proxy;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boxwright_registry_client::oci_spec::image::{Descriptor, MediaType};
use boxwright_registry_client::{blob::sha256, OciDir};

pub const REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry; killed and waited for on drop.
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
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
            let err = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(REGISTRY)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log)
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

    /// The requests the registry logged so far whose line contains `needle` (e.g. `"HEAD `).
    pub fn requests(&self, needle: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains(needle)).count()
    }

    /// All requests logged so far.
    pub fn request_count(&self) -> usize {
        self.requests("HTTP/1.1\"")
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
                    // Our own listener in another test could have this port: make sure the
                    // child still lives.
                    return matches!(child.try_wait(), Ok(None));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `n` bytes that do not compress (xorshift), from `seed`.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// `n` bytes of text that compress well.
pub fn text_bytes(n: usize) -> Vec<u8> {
    let line = b"the quick brown fox jumps over the lazy registry 0123456789\n";
    line.iter().copied().cycle().take(n).collect()
}

/// Writes a blob straight into the layout's `blobs/sha256/` and returns its descriptor.
pub fn put_blob(dir: &Path, media_type: MediaType, bytes: &[u8]) -> Descriptor {
    let d = sha256(bytes);
    let path = dir.join("blobs/sha256").join(d.digest());
    std::fs::write(path, bytes).unwrap();
    Descriptor::new(media_type, bytes.len() as u64, d)
}

/// An image manifest (OCI) with a config for `arch` and `layers`, written into the layout.
pub fn make_image(dir: &Path, arch: &str, layers: &[&[u8]]) -> Descriptor {
    let layer_descs: Vec<Descriptor> = layers
        .iter()
        .map(|l| put_blob(dir, MediaType::ImageLayer, l))
        .collect();
    let diff_ids: Vec<String> = layer_descs.iter().map(|d| d.digest().to_string()).collect();
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {"Cmd": ["/bin/sh"]}
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
        "layers": layer_descs,
    });
    put_blob(
        dir,
        MediaType::ImageManifest,
        &serde_json::to_vec(&manifest).unwrap(),
    )
}

/// An index of `manifests` with their platforms, written into the layout.
pub fn make_index(dir: &Path, manifests: &[(Descriptor, &str)]) -> Descriptor {
    let entries: Vec<serde_json::Value> = manifests
        .iter()
        .map(|(d, arch)| {
            let mut v = serde_json::to_value(d).unwrap();
            v["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
            v
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    put_blob(
        dir,
        MediaType::ImageIndex,
        &serde_json::to_vec(&index).unwrap(),
    )
}

/// A fresh OCI layout in a temp dir.
pub async fn layout() -> (tempfile::TempDir, OciDir) {
    let dir = tempfile::tempdir().unwrap();
    let oci = OciDir::create(dir.path()).await.unwrap();
    (dir, oci)
}

/// The names of the files in the layout's `blobs/sha256/`.
pub fn blob_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// A TCP proxy on 127.0.0.1 in front of `target` that replaces the first `from` with `to`
/// (same length) in every server-to-client stream. It runs until the test's runtime ends.
pub async fn flipping_proxy(target: u16, from: &'static [u8], to: &'static [u8]) -> u16 {
    assert_eq!(from.len(), to.len());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut sw).await;
                });
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let keep = from.len() - 1;
                let mut pending: Vec<u8> = Vec::new();
                let mut buf = vec![0u8; 64 << 10];
                let mut flipped = false;
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    if !flipped {
                        if let Some(i) = pending.windows(from.len()).position(|w| w == from) {
                            pending[i..i + to.len()].copy_from_slice(to);
                            flipped = true;
                        }
                    }
                    // Hold back only a tail that could start the marker.
                    let hold = if flipped {
                        0
                    } else {
                        (1..=keep.min(pending.len()))
                            .rev()
                            .find(|&k| pending[pending.len() - k..] == from[..k])
                            .unwrap_or(0)
                    };
                    let send = pending.len() - hold;
                    if cw.write_all(&pending[..send]).await.is_err() {
                        break;
                    }
                    pending.drain(..send);
                }
                let _ = cw.write_all(&pending).await;
                let _ = cw.shutdown().await;
                up.abort();
            });
        }
    });
    port
}

/// Runs skopeo with `args`, asserting success, and returns its standard output.
pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("/usr/bin/skopeo")
        .args(args)
        .output()
        .expect("skopeo is missing: apt-get install skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

pub fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
