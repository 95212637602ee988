#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! The store against the real peer tools: oci-image-tool validates our layout, skopeo and umoci
//! read it and write into it, podman pulls from it, and runc and crun run a busybox image made
//! by us. A test whose tool is missing is skipped with a printed reason, except under CI.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    busybox_config, busybox_rootfs, diff_id, gzip, is_root, layer_from_dir, put_image, run,
    run_any, tool, BUSYBOX,
};
use boxwright_layer_store::decompress;
use boxwright_layer_store::sha256;
use boxwright_layer_store::{BlobStore, GcOptions, Store};
use oci_spec::image::Descriptor;
use tempfile::TempDir;

const BUSYBOX_REF: &str = "docker.io/library/busybox:latest";
/// The size limit for reading a whole blob in these tests (`read_all(_, u64::MAX)` overflows).
const BLOB_LIMIT: u64 = 1 << 30;

/// A store in a fresh tempdir holding a busybox image (one gzip layer) made by us, tagged
/// `busybox` (`docker.io/library/busybox:latest`) and `localhost:5000/team/bb:v1`.
struct Fixture {
    dir: TempDir,
    store: Store,
    image: Descriptor,
}

impl Fixture {
    fn new(cmd: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        busybox_rootfs(&rootfs);
        let store = Store::open(dir.path().join("store")).unwrap();
        let layer = gzip(&layer_from_dir(&rootfs));
        let image = put_image(&store, &[layer], &busybox_config(cmd));
        assert_eq!(store.tag(&image, "busybox").unwrap(), BUSYBOX_REF);
        store.tag(&image, "localhost:5000/team/bb:v1").unwrap();
        Fixture { dir, store, image }
    }

    fn layout(&self) -> &Path {
        self.store.layout_dir()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `oci:` transport reference to `ref_name` in the layout `dir`.
fn oci(dir: &Path, ref_name: &str) -> String {
    format!("oci:{}:{ref_name}", dir.display())
}

/// `tool` run, as root, in a private mount namespace with a tmpfs over each of `hide`: skopeo
/// and podman write their blob-info cache to `/var/lib/containers/cache`, stage copies in
/// `/var/tmp`, and podman's runc keeps its state in `/run/runc`, with no option to move them
/// all, and a test must not write outside its tempdirs.
fn isolated(tool: &Path, hide: &[&str]) -> Command {
    if !is_root() {
        return Command::new(tool);
    }
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

fn skopeo(skopeo: &Path) -> Command {
    isolated(skopeo, &["/var/lib", "/var/tmp"])
}

fn assert_fsck_clean(store: &Store) {
    let problems = store.fsck().unwrap();
    assert!(problems.is_empty(), "fsck: {problems:#?}");
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks that every layer's uncompressed digest is the config's diffID at its place.
fn assert_diff_ids(store: &Store, what: &str) {
    let image = store.resolve(what).unwrap();
    let config = store.config(image.config().digest()).unwrap();
    let diff_ids = config.diff_ids().unwrap();
    assert_eq!(diff_ids.len(), image.layers().len());
    for (layer, want) in image.layers().iter().zip(&diff_ids) {
        let bytes = store.blobs().read_all(layer.digest(), BLOB_LIMIT).unwrap();
        assert_eq!(&diff_id(&bytes), want, "layer {}", layer.digest());
    }
}

#[test]
fn oci_image_tool_validates_our_layout() {
    let Some(oit) = tool("oci-image-tool") else {
        return;
    };
    let fx = Fixture::new(&["sh"]);
    // A second image with an uncompressed layer on top of the gzip one.
    let extra = fx.path("extra");
    fs::create_dir_all(extra.join("etc")).unwrap();
    fs::write(extra.join("etc/motd"), "hello\n").unwrap();
    let base = fx.store.resolve("busybox").unwrap();
    let base_layer = fx
        .store
        .blobs()
        .read_all(base.layers()[0].digest(), BLOB_LIMIT)
        .unwrap();
    let two = put_image(
        &fx.store,
        &[base_layer, layer_from_dir(&extra)],
        &busybox_config(&["cat", "/etc/motd"]),
    );
    fx.store.tag(&two, "two:layers").unwrap();

    // Without --ref it validates every entry of index.json: manifests, configs and layers
    // (media types, digests, sizes, JSON schemas). `--ref name=X` is unusable in rc1: its filter
    // deletes from the slice it walks, so with three entries every name is "not unique" and an
    // unknown name validates whatever entry is left.
    let validate = |args: &[&str], path: &Path| {
        let mut cmd = Command::new(&oit);
        cmd.arg("validate").args(args).arg(path);
        cmd
    };
    let out = run(&mut validate(&["--type", "image"], fx.layout()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Validation succeeded"), "{text}");
    // Each manifest and config blob on its own, against its schema.
    for name in ["busybox", "two:layers"] {
        let image = fx.store.resolve(name).unwrap();
        let blob = |d: &oci_spec::image::Digest| fx.store.blobs().path(d).unwrap();
        run(&mut validate(
            &["--type", "manifest"],
            &blob(&image.manifest_digest),
        ));
        run(&mut validate(&["--type", "config"], &blob(&image.id)));
    }

    // Control: the tool does find a corrupt layer in a copy of the layout.
    let bad = fx.path("bad");
    run(Command::new("cp").arg("-a").arg(fx.layout()).arg(&bad));
    let layer = last_layer_path(&bad, &fx.store, "two:layers");
    let mut bytes = fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::remove_file(&layer).unwrap();
    fs::write(&layer, bytes).unwrap();
    let out = run_any(&mut validate(&["--type", "image"], &bad));
    assert!(!out.status.success(), "a corrupt layer passed validation");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("digest mismatch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The path in `layout` of the last layer of the image `name` of `store`.
fn last_layer_path(layout: &Path, store: &Store, name: &str) -> PathBuf {
    let image = store.resolve(name).unwrap();
    let digest = image.layers().last().unwrap().digest();
    layout.join("blobs/sha256").join(digest.digest())
}

#[test]
fn skopeo_inspects_and_round_trips_our_images() {
    let Some(sk) = tool("skopeo") else {
        return;
    };
    let fx = Fixture::new(&["sh"]);
    let ours = fx.store.resolve("busybox").unwrap();

    // skopeo splits `oci:PATH:REF` at the first ':' after `oci:`, so full names with ':' and
    // '/' address our ref.name annotations as they are.
    for name in [BUSYBOX_REF, "localhost:5000/team/bb:v1"] {
        let out = run(skopeo(&sk).args(["inspect", &oci(fx.layout(), name)]));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["Digest"], ours.manifest_digest.to_string(), "{name}");
        assert_eq!(json["Layers"][0], ours.layers()[0].digest().to_string());
        let out = run(skopeo(&sk).args(["inspect", "--raw", "--config", &oci(fx.layout(), name)]));
        assert_eq!(
            sha256(&out.stdout),
            *ours.config().digest(),
            "skopeo inspect --raw --config must return our config byte for byte"
        );
    }

    // Out to a layout skopeo makes, then back into a fresh store.
    let other = fx.path("other");
    run(skopeo(&sk).args([
        "copy",
        &oci(fx.layout(), BUSYBOX_REF),
        &oci(&other, "latest"),
    ]));
    let store2 = Store::open(fx.path("ours2")).unwrap();
    run(skopeo(&sk).args([
        "copy",
        &oci(&other, "latest"),
        &oci(store2.layout_dir(), "docker.io/library/copied:1"),
    ]));
    let copied = store2.resolve("copied:1").unwrap();
    assert_eq!(copied.names, ["docker.io/library/copied:1"]);
    assert_eq!(copied.manifest_digest, ours.manifest_digest);
    assert_eq!(copied.id, ours.id);
    assert_eq!(
        store2.config(&copied.id).unwrap().bytes,
        fx.store.config(&ours.id).unwrap().bytes
    );
    for (a, b) in copied.layers().iter().zip(ours.layers()) {
        assert_eq!(a, b);
        assert_eq!(
            store2.blobs().read_all(a.digest(), BLOB_LIMIT).unwrap(),
            fx.store.blobs().read_all(b.digest(), BLOB_LIMIT).unwrap()
        );
    }
    assert_fsck_clean(&store2);
    // skopeo's writing did not break what our later writes need: tagging and gc still work.
    store2.tag(&copied.target, "again").unwrap();
    let gc = store2
        .gc(&GcOptions {
            grace: std::time::Duration::ZERO,
            prune_dangling: false,
        })
        .unwrap();
    assert!(gc.blobs_removed.is_empty(), "{gc:?}");
    assert_fsck_clean(&store2);

    // Into a store that already holds images: skopeo keeps our entries and their annotations.
    run(skopeo(&sk).args([
        "copy",
        &oci(&other, "latest"),
        &oci(fx.layout(), "docker.io/library/copied:2"),
    ]));
    let names: Vec<_> = fx
        .store
        .entries()
        .unwrap()
        .into_iter()
        .filter_map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        [
            BUSYBOX_REF,
            "localhost:5000/team/bb:v1",
            "docker.io/library/copied:2"
        ]
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.layout().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        BUSYBOX_REF
    );
    assert_eq!(fx.store.resolve("copied:2").unwrap().id, ours.id);
    assert_fsck_clean(&fx.store);
}

#[test]
fn skopeo_v2s2_and_zstd_copies_open_in_our_store() {
    let Some(sk) = tool("skopeo") else {
        return;
    };
    let fx = Fixture::new(&["sh"]);
    let ours = fx.store.resolve("busybox").unwrap();
    let store2 = Store::open(fx.path("ours2")).unwrap();
    let src = oci(fx.layout(), BUSYBOX_REF);

    // Docker schema 2 manifest in an OCI layout.
    run(skopeo(&sk).args([
        "copy",
        "--format",
        "v2s2",
        &src,
        &oci(store2.layout_dir(), "docker.io/library/v2:1"),
    ]));
    let v2 = store2.resolve("v2:1").unwrap();
    assert_eq!(
        v2.target.media_type().to_string(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(v2.id, ours.id, "the config is carried byte for byte");
    assert_eq!(v2.layers()[0].digest(), ours.layers()[0].digest());
    assert_eq!(
        v2.layers()[0].media_type().to_string(),
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );

    assert_diff_ids(&store2, "v2:1");
    assert_fsck_clean(&store2);

    // Recompressed with zstd: new layer digest, same diffID, same config. (Into another store:
    // skopeo 1.9 reuses a layer the destination already has, whatever its compression, and
    // ignores --dest-compress-format for it.)
    let store3 = Store::open(fx.path("ours3")).unwrap();
    run(skopeo(&sk).args([
        "copy",
        "--dest-compress-format",
        "zstd",
        &src,
        &oci(store3.layout_dir(), "docker.io/library/zs:1"),
    ]));
    let zs = store3.resolve("zs:1").unwrap();
    assert_eq!(zs.id, ours.id);
    assert_ne!(zs.layers()[0].digest(), ours.layers()[0].digest());
    assert_eq!(
        zs.layers()[0].media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_diff_ids(&store3, "zs:1");
    assert_fsck_clean(&store3);
}

/// skopeo, like umoci, writes the ref name it is given as is; a bare `latest` (what
/// `oci:DIR:latest` and umoci's default write) is not a normalized name.
///
/// `resolve("latest")` finds it: Docker's normalized name (`docker.io/library/latest:latest`)
/// is tried first, then the ref.name exactly as written. It is also reachable by digest and ID,
/// and kept by gc.
#[test]
fn bare_oci_ref_names_written_by_skopeo() {
    let Some(sk) = tool("skopeo") else {
        return;
    };
    let fx = Fixture::new(&["sh"]);
    let ours = fx.store.resolve("busybox").unwrap();
    let store2 = Store::open(fx.path("ours2")).unwrap();
    run(skopeo(&sk).args([
        "copy",
        &oci(fx.layout(), BUSYBOX_REF),
        &oci(store2.layout_dir(), "latest"),
    ]));
    let entries = store2.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name.as_deref(), Some("latest"));
    assert_eq!(store2.resolve("latest").unwrap().id, ours.id);
    let by_digest = store2.resolve(ours.manifest_digest.as_ref()).unwrap();
    assert_eq!(by_digest.names, ["latest"]);
    assert_eq!(store2.resolve(ours.short_id()).unwrap().id, ours.id);
    let gc = store2
        .gc(&GcOptions {
            grace: std::time::Duration::ZERO,
            prune_dangling: true,
        })
        .unwrap();
    assert!(gc.blobs_removed.is_empty(), "{gc:?}");
    assert_fsck_clean(&store2);
}

#[test]
fn umoci_unpacks_our_image() {
    let Some(umoci) = tool("umoci") else {
        return;
    };
    let fx = Fixture::new(&["sh"]);
    // umoci splits `--image PATH:TAG` at the first ':'; full names with ':' and '/' are valid
    // tags to it.
    for (name, bundle) in [
        (BUSYBOX_REF, "bundle"),
        ("localhost:5000/team/bb:v1", "bundle2"),
    ] {
        let bundle = fx.path(bundle);
        run(Command::new(&umoci)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{name}", fx.layout().display()))
            .arg(&bundle));
        let rootfs = bundle.join("rootfs");
        assert_eq!(
            fs::read(rootfs.join("bin/busybox")).unwrap(),
            fs::read(BUSYBOX).unwrap()
        );
        assert_eq!(
            fs::read_link(rootfs.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        use std::os::unix::fs::PermissionsExt;
        let tmp = fs::metadata(rootfs.join("tmp")).unwrap();
        assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
        let config: serde_json::Value =
            serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["process"]["args"], serde_json::json!(["sh"]));
    }
}

#[test]
fn umoci_built_image_opens_in_our_store() {
    let Some(umoci) = tool("umoci") else {
        return;
    };
    let fx = Fixture::new(&["sh"]);
    let layout = fx.layout().display().to_string();
    let image = format!("{layout}:latest");
    let rootfs = fx.path("rootfs");
    // umoci writes into our existing layout, beside our tags.
    run(Command::new(&umoci).args(["new", "--image", &image]));
    run(Command::new(&umoci)
        .args(["insert", "--image", &image])
        .arg(&rootfs)
        .arg("/"));
    run(Command::new(&umoci).args([
        "config",
        "--image",
        &image,
        "--config.cmd",
        "/bin/busybox",
        "--config.cmd",
        "echo",
    ]));
    let entries = fx.store.entries().unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some(BUSYBOX_REF),
            Some("localhost:5000/team/bb:v1"),
            Some("latest")
        ]
    );
    let umoci_image = &entries[2].descriptor;
    assert_ne!(umoci_image.digest(), fx.image.digest());
    // umoci's bare `latest` is found by name.
    assert_eq!(
        fx.store.resolve("latest").unwrap().target.digest(),
        umoci_image.digest()
    );
    let resolved = fx.store.resolve(umoci_image.digest().as_ref()).unwrap();
    let config = fx.store.config(&resolved.id).unwrap();
    assert_eq!(
        config.json["config"]["Cmd"],
        serde_json::json!(["/bin/busybox", "echo"])
    );
    assert_diff_ids(&fx.store, umoci_image.digest().as_ref());
    // umoci's layer holds busybox byte for byte.
    let layer = fx
        .store
        .blobs()
        .read_all(resolved.layers()[0].digest(), BLOB_LIMIT)
        .unwrap();
    let mut plain = Vec::new();
    decompress(&layer[..])
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let mut archive = tar::Archive::new(&plain[..]);
    let mut found = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        if path.strip_prefix("./").unwrap_or(&path) == Path::new("bin/busybox") {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            assert_eq!(data, fs::read(BUSYBOX).unwrap());
            found = true;
        }
    }
    assert!(found, "bin/busybox is not in umoci's layer");
    assert_fsck_clean(&fx.store);
    // umoci leaves the manifests and configs of its intermediate steps; gc takes them and
    // nothing an image uses.
    let before: Vec<_> = fx.store.blobs().list().unwrap();
    let gc = fx
        .store
        .gc(&GcOptions {
            grace: std::time::Duration::ZERO,
            prune_dangling: false,
        })
        .unwrap();
    assert!(!gc.blobs_removed.is_empty(), "umoci left no garbage?");
    assert_eq!(
        fx.store.blobs().list().unwrap().len(),
        before.len() - gc.blobs_removed.len()
    );
    assert_fsck_clean(&fx.store);
    fx.store.resolve(umoci_image.digest().as_ref()).unwrap();
    fx.store.resolve("busybox").unwrap();
}

/// Unpacks the image `name` of `fx` with umoci into `bundle`, with `process.terminal` off so
/// the runtimes use our pipes.
fn unpack_for_runtime(umoci: &Path, fx: &Fixture, name: &str, bundle: &Path) {
    run(Command::new(umoci)
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{name}", fx.layout().display()))
        .arg(bundle));
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = serde_json::Value::Bool(false);
    fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
}

/// Whether the runtime tests can run: they need root (CI runs as root, so there a non-root run
/// fails).
fn root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the runtime tests as root"
    );
    eprintln!("SKIPPED: running containers needs root");
    false
}

/// Unpacks our busybox image with umoci and runs it under the OCI runtime `name` (`runc` or
/// `crun`), started by `launch(runtime)`: it must print "hi". The container is deleted
/// whatever happened.
fn our_busybox_image_runs_under(name: &str, launch: impl FnOnce(&Path) -> Command) {
    let (true, Some(umoci), Some(runtime)) = (root_or_skip(), tool("umoci"), tool(name)) else {
        return;
    };
    let fx = Fixture::new(&["/bin/busybox", "echo", "hi"]);
    let bundle = fx.path("bundle");
    unpack_for_runtime(&umoci, &fx, BUSYBOX_REF, &bundle);
    let state = fx.path(&format!("{name}-state"));
    let id = format!("boxwright-interop-{}", std::process::id());
    let out = run_any(
        launch(&runtime)
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null()),
    );
    let _ = Command::new(&runtime)
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .output();
    assert!(
        out.status.success(),
        "{name} run: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "hi\n");
}

#[test]
fn our_busybox_image_runs_under_runc() {
    our_busybox_image_runs_under("runc", |runc| Command::new(runc));
}

#[test]
fn our_busybox_image_runs_under_crun() {
    // crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported"): hide the
    // cgroup2 mount at /sys/fs/cgroup/unified in a private mount namespace (absent on a pure v1
    // or v2 host, where the umount fails harmlessly).
    our_busybox_image_runs_under("crun", |crun| {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@""#)
            .arg("sh")
            .arg(crun);
        cmd
    });
}

#[test]
fn podman_pulls_and_runs_our_image() {
    let (true, Some(podman)) = (root_or_skip(), tool("podman")) else {
        return;
    };
    let fx = Fixture::new(&["/bin/busybox", "echo", "hi"]);
    let ours = fx.store.resolve("busybox").unwrap();
    let (root, runroot, tmp) = (fx.path("p-root"), fx.path("p-run"), fx.path("p-tmp"));
    for d in [&root, &runroot, &tmp] {
        fs::create_dir_all(d).unwrap();
    }
    let podman_cmd = || {
        let mut cmd = isolated(&podman, &["/var/lib", "/var/tmp", "/run"]);
        cmd.arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .arg("--tmpdir")
            .arg(&tmp)
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "none",
                "--cgroup-manager",
                "cgroupfs",
            ]);
        cmd
    };
    // podman names an image pulled from `oci:DIR:REF` `localhost/DIR:latest`, whatever REF
    // is, and fails when DIR has capitals ("repository name must be lowercase"), as tempdir
    // names have: give it a relative, lowercase DIR.
    run(podman_cmd().current_dir(fx.dir.path()).args([
        "pull",
        &oci(Path::new("store/oci"), "localhost:5000/team/bb:v1"),
    ]));
    let images = || {
        let out =
            run(podman_cmd().args(["images", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]));
        stdout(&out)
    };
    assert_eq!(
        images(),
        format!("{} [localhost/store/oci:latest]\n", ours.id)
    );
    // skopeo into podman's storage keeps the name.
    if let Some(sk) = tool("skopeo") {
        let storage = format!(
            "containers-storage:[vfs@{}+{}]{BUSYBOX_REF}",
            root.display(),
            runroot.display()
        );
        run(skopeo(&sk).args(["copy", &oci(fx.layout(), BUSYBOX_REF), &storage]));
        let text = images();
        let want = format!("{} [{BUSYBOX_REF} localhost/store/oci:latest]", ours.id);
        assert!(text.lines().any(|l| l == want), "{text}");
    }
    let out = run(podman_cmd().args([
        "run",
        "--rm",
        "--network=none",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
        ours.id.digest(),
    ]));
    assert_eq!(stdout(&out), "hi\n");
    let _ = podman_cmd().args(["rmi", "--all", "--force"]).output();
}
