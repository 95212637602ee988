//! Packs the `hello` binary Cargo built for this test into a `FROM scratch` image with the
//! Dockerfile `build.rs` wrote, then runs the image and checks what it prints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use boxwright::build::{BuildRequest, DockerfileSource};
use boxwright::{Engine, HostImage};

/// The Dockerfile `build.rs` wrote from `Cargo.toml`.
const DOCKERFILE: &str = include_str!(concat!(env!("OUT_DIR"), "/Dockerfile"));

/// Packs `exe` as `/usr/local/bin/hello` into the image `tag`: its files (the program, its
/// ELF interpreter and libraries, a minimal `/etc`) staged as the build context's `rootfs/`,
/// then `docker build` of the generated Dockerfile.
async fn pack(
    engine: &Engine,
    exe: &Path,
    tag: &str,
) -> boxwright::Result<boxwright::build::BuildResult> {
    let context = tempfile::tempdir_in(engine.root()).unwrap();
    let rootfs = context.path().join("rootfs");
    let spec = HostImage::new(Vec::<PathBuf>::new()).file(exe, "/usr/local/bin/hello");
    let extra = tokio::task::spawn_blocking(move || spec.stage(&rootfs))
        .await
        .unwrap()?;
    assert!(
        extra.is_empty(),
        "libraries outside the loader's directories: {extra:?}"
    );
    let mut request = BuildRequest::new(
        DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: DOCKERFILE.into(),
        },
        context.path(),
    );
    request.tags = vec![tag.into()];
    // Fixed times: the same binary gives the same image ID.
    request.source_date_epoch = Some(0);
    engine.build(request, None).await
}

/// Runs `image` with `args` after its entrypoint (its config applied), returns its stdout.
async fn run(engine: &Engine, image: &str, args: &[&str]) -> String {
    use boxwright::runtime::{Container, Network, RootFs};

    let image = engine.image(image).await.unwrap();
    let store = engine.store().clone();
    let (lower, config) = tokio::task::spawn_blocking(move || {
        let lower: Vec<PathBuf> = store
            .snapshots(&image)
            .unwrap()
            .into_iter()
            .map(|s| s.dir)
            .collect();
        let config = store.config(image.config().digest()).unwrap();
        (lower, config.json["config"].clone())
    })
    .await
    .unwrap();
    let rw = tempfile::tempdir_in(engine.root()).unwrap();
    let (upper, work) = (rw.path().join("upper"), rw.path().join("work"));
    std::fs::create_dir(&upper).unwrap();
    std::fs::create_dir(&work).unwrap();
    let mut cmd: Vec<String> = config["Entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    cmd.extend(args.iter().map(|s| s.to_string()));
    let out = Container::builder(RootFs::Overlay { lower, upper, work })
        .cmd(cmd)
        .hostname("hello-box")
        .network(Network::None)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_built_binary_runs_from_a_scratch_image() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::open(root.path()).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_hello"));
    let tag = concat!("hello:", env!("CARGO_PKG_VERSION"));
    let built = pack(&engine, exe, tag)
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()));

    // The labels build.rs wrote are in the image's config.
    let image = engine.image(tag).await.unwrap();
    assert_eq!(image.id, built.image_id);
    let config = engine.store().config(image.config().digest()).unwrap();
    let labels = &config.json["config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        labels["org.opencontainers.image.title"],
        env!("CARGO_PKG_NAME")
    );

    let out = run(&engine, tag, &["rustaceans"]).await;
    let want = format!(
        "hello, rustaceans, from {} {} (PID 1, host hello-box)\n",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(out, want);

    // Packing the same binary again gives the same image.
    let again = pack(&engine, exe, tag).await.unwrap();
    assert_eq!(again.image_id, built.image_id);
}
