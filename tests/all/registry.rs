//! The registry verbs against a real Distribution registry on 127.0.0.1: push from one root
//! and pull into an empty one (then run), progress events, login with htpasswd basic auth,
//! and a refused connection's report.

use boxwright::registry::{ProgressEvent, ProgressKind};
use boxwright::Error;

use crate::support::*;

/// Drains `rx` (the sender is gone once the verb returned).
fn drain<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> Vec<T> {
    let mut out = Vec::new();
    while let Ok(x) = rx.try_recv() {
        out.push(x);
    }
    out
}

fn done_bytes(events: &[ProgressEvent]) -> u64 {
    events
        .iter()
        .filter(|e| e.kind == ProgressKind::Done)
        .map(|e| e.total)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_into_an_empty_root_and_run() {
    let reg = Registry::start();
    let (_dir, engine) = engine();
    busybox(&engine, "busybox").await;
    let id = child_image(
        &engine,
        "busybox",
        "app",
        &[("hello", "hi from the registry\n")],
    );
    let name = format!("{}/team/app:v1", reg.host());
    engine.tag("app", &name).await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pushed = engine.push(&name, Some(tx)).await.unwrap();
    assert_eq!(pushed.reference, name);
    assert_eq!(
        pushed.transferred.blobs_moved, 3,
        "two layers and the config"
    );
    let events: Vec<ProgressEvent> = drain(&mut rx).into_iter().map(|p| p.event).collect();
    assert!(events
        .iter()
        .any(|e| e.kind == ProgressKind::Advanced && e.bytes > 0));
    assert_eq!(done_bytes(&events), pushed.transferred.bytes_moved);
    let image = engine.image(&name).await.unwrap();
    assert_eq!(pushed.digest, image.manifest_digest);

    // Again: the registry has every blob.
    let again = engine.push(&name, None).await.unwrap();
    assert_eq!(again.transferred.blobs_moved, 0);
    assert_eq!(again.transferred.blobs_skipped, 3);

    let (_dir2, fresh) = engine_fresh();
    assert!(fresh.images(None).await.unwrap().is_empty());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pulled = fresh.pull(&name, Some(tx)).await.unwrap();
    assert_eq!(pulled.name, name);
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.digest, image.manifest_digest);
    assert!(!pulled.up_to_date());
    let events: Vec<_> = drain(&mut rx);
    assert!(events.iter().all(|p| p.reference == name));
    let events: Vec<ProgressEvent> = events.into_iter().map(|p| p.event).collect();
    for layer in image.layers() {
        assert!(
            events.iter().any(|e| &e.digest == layer.digest()
                && e.kind == ProgressKind::Done
                && e.bytes == layer.size()),
            "a done event for {}",
            layer.digest()
        );
    }
    assert_eq!(fresh.image(&name).await.unwrap().id, id);
    assert_eq!(fresh.history(&name).await.unwrap().len(), 3);
    #[cfg(feature = "run")]
    assert_eq!(
        run_image(&fresh, &name, &["cat", "/hello"]).await,
        "hi from the registry\n"
    );
    // Pulling again moves no blob.
    assert!(fresh.pull(&name, None).await.unwrap().up_to_date());
    // An unknown tag is an error naming it.
    let err = fresh
        .pull(&format!("{}/team/app:nope", reg.host()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Pull { .. }), "{err}");
    assert!(
        err.report().to_string().contains("team/app:nope"),
        "{}",
        err.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_basic_auth_stores_in_docker_config_then_push_works() {
    let reg = Registry::start_with(Some(("alice", "s3cret")));
    let host = reg.host();
    let (_dir, mut engine) = engine();
    busybox(&engine, "busybox").await;
    let name = format!("{host}/secure/busybox:1");
    engine.tag("busybox", &name).await.unwrap();

    // Anonymous: refused.
    let err = engine.push(&name, None).await.unwrap_err();
    assert!(
        err.report().to_string().contains("unauthorized"),
        "{}",
        err.report()
    );
    // A wrong password: refused, nothing stored.
    let err = engine.login(&host, "alice", "wrong").await.unwrap_err();
    assert!(matches!(err, Error::Login { .. }), "{err}");
    assert!(
        err.report().to_string().contains("unauthorized"),
        "{}",
        err.report()
    );
    let config_path = docker_config().join("config.json");
    let stored = |host: &str| -> Option<String> {
        let text = std::fs::read_to_string(&config_path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["auths"][host]["auth"].as_str().map(str::to_owned)
    };
    assert_eq!(stored(&host), None);

    engine
        .login(&format!("http://{host}/"), "alice", "s3cret")
        .await
        .unwrap();
    // base64("alice:s3cret"), under the host as Docker keys it.
    assert_eq!(stored(&host).as_deref(), Some("YWxpY2U6czNjcmV0"));
    engine.push(&name, None).await.unwrap();
    // Another engine opened now reads the credential from config.json and pulls.
    let (_dir2, fresh) = engine_fresh();
    assert_eq!(
        fresh.pull(&name, None).await.unwrap().id,
        engine.image("busybox").await.unwrap().id
    );

    assert!(engine.logout(&host).await.unwrap());
    assert_eq!(stored(&host), None);
    assert!(!engine.logout(&host).await.unwrap());
    let err = engine.push(&name, None).await.unwrap_err();
    assert!(
        err.report().to_string().contains("unauthorized"),
        "{}",
        err.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_shows_its_root_cause() {
    let (_dir, engine) = engine();
    // Nothing listens on a port that was free a moment ago.
    let port = free_port();
    let err = engine
        .pull(&format!("127.0.0.1:{port}/app:1"), None)
        .await
        .unwrap_err();
    let report = err.report().to_string();
    assert!(
        report.starts_with(&format!("pulling 127.0.0.1:{port}/app:1 failed")),
        "{report}"
    );
    assert!(
        report.to_lowercase().contains("connection refused"),
        "{report}"
    );
    // Push too.
    busybox(&engine, "busybox").await;
    let name = format!("127.0.0.1:{port}/app:1");
    engine.tag("busybox", &name).await.unwrap();
    let err = engine.push(&name, None).await.unwrap_err();
    assert!(
        err.report()
            .to_string()
            .to_lowercase()
            .contains("connection refused"),
        "{}",
        err.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_sends_the_index_the_store_holds() {
    use oci_spec::image::{Descriptor, ImageIndexBuilder, MediaType};
    let reg = Registry::start();
    let (_dir, engine) = engine();
    let id = busybox(&engine, "busybox").await;
    let image = engine.image("busybox").await.unwrap();
    let mut entry = Descriptor::new(
        MediaType::ImageManifest,
        image.target.size(),
        image.manifest_digest.clone(),
    );
    entry.set_platform(Some(engine.platform().clone()));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![entry])
        .build()
        .unwrap();
    let store = engine.store();
    let target = store.put_index(&index).unwrap();
    let name = format!("{}/multi/busybox:1", reg.host());
    store.tag(&target, &name).unwrap();

    let pushed = engine.push(&name, None).await.unwrap();
    assert_eq!(
        pushed.digest,
        *target.digest(),
        "the index is the root pushed"
    );
    assert_eq!(
        pushed.transferred.manifests, 2,
        "the manifest, then the index"
    );

    // A fresh root pulls it through the index, for its platform.
    let (_dir2, fresh) = engine_fresh();
    let pulled = fresh.pull(&name, None).await.unwrap();
    assert_eq!(pulled.id, id);
    assert_eq!(
        fresh.image(&name).await.unwrap().manifest_digest,
        image.manifest_digest
    );
}
