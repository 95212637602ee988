//! Containers through the facade: run with the image's config, a published port and a named
//! volume, the lifecycle verbs, `--rm`, cp, exec, ps filters, IDs by prefix, and bad input that
//! leaves nothing behind.

use std::net::SocketAddr;

use boxwright::runtime::{AttachOptions, Stream};
use boxwright::{Engine, RunOptions};

use crate::support::{engine_with_busybox, entries, http_get};

/// All of a container's logged output so far, as text.
async fn logs(engine: &Engine, id: &str) -> String {
    let mut logs = engine
        .logs(id, &boxwright::runtime::LogOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = logs.next_chunk().await.unwrap() {
        out.extend_from_slice(&chunk.data);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_detached_publishes_a_port_over_a_named_volume() {
    let (_root, engine) = engine_with_busybox();
    let opts = RunOptions::new()
        .name("web")
        .publish("127.0.0.1:0:80".parse().unwrap())
        .volume("site:/www".parse().unwrap())
        .cmd([
            "sh",
            "-c",
            "echo hello from the volume > /www/index.html; echo ready; exec httpd -f -p 80 -h /www",
        ]);
    let id = engine.run("busybox", opts).await.unwrap();
    let info = engine.container_inspect("web").await.unwrap();
    assert_eq!(info.info.id, id);
    let port = info.info.ports[0].host.port();
    let page = http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/index.html").await;
    assert!(page.contains("hello from the volume"), "{page}");
    assert!(logs(&engine, &id).await.contains("ready"));
    // The file is in the named volume, which outlives the container.
    engine.stop(&id[..12], None).await.unwrap();
    engine.rm("web", Default::default()).await.unwrap();
    let vol = engine.volume_inspect("site").await.unwrap();
    let data = std::fs::read_to_string(vol.mountpoint.join("index.html")).unwrap();
    assert_eq!(data, "hello from the volume\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_config_and_the_overrides() {
    let (_root, engine) = engine_with_busybox();
    // The image's Cmd is `sh`; a command replaces it; -e adds; -w and -u apply.
    let opts = RunOptions::new()
        .env("GREETING=hi")
        .workdir("/srv/app")
        .user("nobody")
        .cmd(["sh", "-c", "echo $GREETING $(pwd) $(id -u) $PATH"]);
    let mut attached = engine
        .run_attached("busybox", opts, AttachOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = attached.next_chunk().await.unwrap() {
        if chunk.stream == Stream::Stdout {
            out.extend_from_slice(&chunk.data);
        }
    }
    assert_eq!(attached.wait().await.unwrap(), 0);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "hi /srv/app 65534 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    // --entrypoint replaces the image's and clears its Cmd.
    let id = engine
        .run("busybox", RunOptions::new().entrypoint(["echo"]))
        .await
        .unwrap();
    assert_eq!(engine.wait(&id).await.unwrap(), 0);
    assert_eq!(logs(&engine, &id).await, "\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_image_leaves_nothing() {
    let (root, engine) = engine_with_busybox();
    let before = entries(&root.path().join("containers"));
    // A name the store lacks is pulled: from a registry on 127.0.0.1 that is not there.
    let err = engine
        .create("127.0.0.1:1/nosuchimage:1.0", RunOptions::new())
        .await
        .unwrap_err();
    let text = err.report().to_string();
    assert!(text.contains("nosuchimage"), "{text}");
    assert_eq!(entries(&root.path().join("containers")), before);
}
