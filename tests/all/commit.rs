//! `docker commit` through the facade: the lab (change a file, commit, run the new image, the
//! change is there), history, `--change`, an empty commit, and the materialized-root path.

use boxwright::runtime::{AttachOptions, OverlayMode, Stream};
use boxwright::{CommitOptions, Engine, RunOptions};
use serde_json::Value;

use crate::support::engine_with_busybox;

/// Runs `image` attached with `opts`; its stdout and exit code.
async fn output(engine: &Engine, image: &str, opts: RunOptions) -> (String, i32) {
    let mut attached = engine
        .run_attached(image, opts.auto_remove(true), AttachOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = attached.next_chunk().await.unwrap() {
        if chunk.stream == Stream::Stdout {
            out.extend_from_slice(&chunk.data);
        }
    }
    let code = attached.wait().await.unwrap();
    (String::from_utf8_lossy(&out).into_owned(), code)
}

/// The image config document of `image`.
async fn config(engine: &Engine, image: &str) -> Value {
    let image = engine.image(image).await.unwrap();
    engine.store().config(&image.id).unwrap().json
}

/// The lab, over overlayfs (the upper dir) or over a materialized copy (a diff).
async fn lab(overlay: OverlayMode) {
    let (_root, engine) = engine_with_busybox();
    let script = "echo changed > /etc/motd; rm /etc/group; mkdir -p /srv/new";
    let id = engine
        .run(
            "busybox",
            RunOptions::new()
                .overlay(overlay)
                .env("LAB=1")
                .cmd(["sh", "-c", script]),
        )
        .await
        .unwrap();
    assert_eq!(engine.wait(&id).await.unwrap(), 0);
    let before = engine.image("busybox").await.unwrap();
    let new_id = engine
        .commit(
            &id[..10],
            CommitOptions::new()
                .reference("lab:1")
                .message("the lab")
                .author("tester <t@example.invalid>")
                .change(r#"CMD ["cat", "/etc/motd"]"#)
                .change("ENV STAGE=committed"),
        )
        .await
        .unwrap();
    let image = engine.image("lab:1").await.unwrap();
    assert_eq!(image.id.to_string(), new_id);
    assert_eq!(image.layers().len(), before.layers().len() + 1);

    // The change is there, the deleted file is gone, the new CMD runs.
    let (out, code) = output(&engine, "lab:1", RunOptions::new()).await;
    assert_eq!((out.as_str(), code), ("changed\n", 0));
    let (out, _) = output(
        &engine,
        "lab:1",
        RunOptions::new().cmd([
            "sh",
            "-c",
            "test -e /etc/group && echo group; test -d /srv/new && echo dir; echo $LAB $STAGE",
        ]),
    )
    .await;
    assert_eq!(out, "dir\n1 committed\n");

    // History: the commit's entry, as Docker writes it.
    let doc = config(&engine, "lab:1").await;
    let last = doc["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["comment"], "the lab");
    assert_eq!(last["author"], "tester <t@example.invalid>");
    assert_eq!(last["created_by"], format!("sh -c {script}"));
    assert!(last.get("empty_layer").is_none());
    assert_eq!(doc["author"], "tester <t@example.invalid>");
    assert_eq!(
        doc["config"]["Cmd"],
        serde_json::json!(["cat", "/etc/motd"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_commit_lab_over_overlayfs() {
    lab(OverlayMode::Auto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_commit_lab_over_a_materialized_root() {
    lab(OverlayMode::Never).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_without_changes_adds_no_layer() {
    let (_root, engine) = engine_with_busybox();
    let id = engine.create("busybox", RunOptions::new()).await.unwrap();
    let before = engine.image("busybox").await.unwrap();
    let new_id = engine.commit(&id, CommitOptions::new()).await.unwrap();
    let image = engine.image(&new_id).await.unwrap();
    assert_eq!(image.layers().len(), before.layers().len());
    let doc = engine.store().config(&image.id).unwrap().json;
    let last = doc["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["empty_layer"], true);
    assert_eq!(last["created_by"], "sh");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_change_is_refused_and_makes_no_image() {
    let (_root, engine) = engine_with_busybox();
    let id = engine.create("busybox", RunOptions::new()).await.unwrap();
    let before = engine.store().images(None).unwrap().len();
    let err = engine
        .commit(&id, CommitOptions::new().change("RUN rm -rf /"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("RUN is not a valid change command"),
        "{err}"
    );
    assert_eq!(engine.store().images(None).unwrap().len(), before);
}
