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
    let extra = tokio::task::spawn_blocking(move || {
        spec.stage(&rootfs).map_err(|e| e.report().to_string())
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("staging: {e}"));
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

/// `docker run --rm -h hello-box --network none IMAGE ARGS…`: its stdout (the exit code
/// checked).
async fn run(engine: &Engine, image: &str, args: &[&str]) -> String {
    use boxwright::runtime::{AttachOptions, Network, Stream};
    use boxwright::RunOptions;

    let options = RunOptions::new()
        .cmd(args.iter().copied())
        .hostname("hello-box")
        .network(Network::None)
        .auto_remove(true);
    let mut attached = engine
        .run_attached(image, options, AttachOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = attached.next_chunk().await.unwrap() {
        match chunk.stream {
            Stream::Stdout => out.extend_from_slice(&chunk.data),
            Stream::Stderr => err.extend_from_slice(&chunk.data),
        }
    }
    let code = attached.wait().await.unwrap();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
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
