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

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_commits_keep_every_tag() {
    let (_root, engine) = engine_with_busybox();
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = engine
            .run(
                "busybox",
                RunOptions::new().cmd(["sh", "-c", &format!("echo {i} > /n")]),
            )
            .await
            .unwrap();
        assert_eq!(engine.wait(&id).await.unwrap(), 0);
        ids.push(id);
    }
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (engine, id) = (engine.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            engine
                .commit(&id, CommitOptions::new().reference(format!("many:{i}")))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for i in 0..6 {
        let (out, code) = output(
            &engine,
            &format!("many:{i}"),
            RunOptions::new().cmd(["cat", "/n"]),
        )
        .await;
        assert_eq!((out, code), (format!("{i}\n"), 0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_stop_signal_is_what_stop_sends() {
    let (_root, engine) = engine_with_busybox();
    let id = engine.create("busybox", RunOptions::new()).await.unwrap();
    engine
        .commit(
            &id,
            CommitOptions::new()
                .reference("usr1")
                .change("STOPSIGNAL SIGUSR1"),
        )
        .await
        .unwrap();
    let script = "trap 'exit 5' USR1; echo up; while :; do sleep 0.1; done";
    let id = engine
        .run("usr1", RunOptions::new().cmd(["sh", "-c", script]))
        .await
        .unwrap();
    let details = engine.container_inspect(&id).await.unwrap();
    assert_eq!(details.info.stop_signal, 10);
    assert_eq!(details.config.stop_signal.as_deref(), Some("SIGUSR1"));
    crate::support::wait_until("the trap to be set", async || {
        let mut logs = engine
            .logs(&id, &boxwright::runtime::LogOptions::default())
            .await
            .unwrap();
        logs.next_chunk().await.unwrap().is_some()
    })
    .await;
    assert_eq!(engine.stop(&id, None).await.unwrap(), 5);
    // --stop-signal overrides the image's.
    let id = engine
        .run(
            "usr1",
            RunOptions::new().stop_signal("TERM").cmd(["sleep", "600"]),
        )
        .await
        .unwrap();
    assert_eq!(
        engine
            .container_inspect(&id)
            .await
            .unwrap()
            .info
            .stop_signal,
        15
    );
    engine.kill(&id, "9").await.unwrap();
}
