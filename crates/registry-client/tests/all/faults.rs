//! Faults injected by a proxy between the client and a real registry, and the bearer-token
//! flow (the proxy demands tokens it issues itself).

use std::sync::Arc;
use std::time::Duration;

use crate::common::proxy::{Fault, Proxy};
use crate::common::*;
use boxwright_registry_client::oci_spec::distribution::Reference;
use boxwright_registry_client::oci_spec::image::Descriptor;
use boxwright_registry_client::{
    pull, push, reference, BlobSink, Client, Error, OciDir, PullOptions, PushOptions,
    StaticCredentials,
};

fn fast_client() -> Client {
    Client::builder()
        .backoff(Duration::from_millis(5))
        .build()
        .unwrap()
}

/// A registry holding a two-layer image at `app:v1`, and a proxy in front of it.
async fn setup() -> (
    Registry,
    Proxy,
    tempfile::TempDir,
    OciDir,
    Descriptor,
    Vec<u8>,
) {
    let reg = Registry::start();
    let (dir, src) = layout().await;
    let big = random_bytes(1 << 20, 11);
    let root = make_image(dir.path(), "amd64", &[&big, &text_bytes(20_000)]);
    let direct = reference::parse(&format!("{}/app:v1", reg.host())).unwrap();
    push(
        &fast_client(),
        &src,
        &root,
        &direct,
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let proxy = Proxy::start(reg.port).await;
    (reg, proxy, dir, src, root, big)
}

fn via(proxy: &Proxy, repo_tag: &str) -> Reference {
    reference::parse(&format!("127.0.0.1:{}/{repo_tag}", proxy.port)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_mid_blob_resumes_with_range() {
    let (_reg, proxy, dir, _src, root, big) = setup().await;
    let big_digest = boxwright_registry_client::blob::sha256(&big);
    let path: &'static str = Box::leak(format!("/blobs/{big_digest}").into_boxed_str());
    proxy.add("GET", path, Fault::Truncate(300_000));
    let (out_dir, out) = layout().await;
    let pulled = pull(
        &fast_client(),
        &via(&proxy, "app:v1"),
        &out,
        &PullOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
    let gets = proxy.seen(path);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[1].contains("[bytes="), "{gets:?}");
    assert_eq!(blob_files(out_dir.path()), blob_files(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_429_are_retried() {
    let (_reg, proxy, _dir, src, root, _big) = setup().await;
    proxy.add(
        "GET",
        "/manifests/v1",
        Fault::Status("500 Internal Server Error", ""),
    );
    proxy.add(
        "GET",
        "/manifests/v1",
        Fault::Status("503 Service Unavailable", ""),
    );
    proxy.add(
        "GET",
        "/blobs/sha256:",
        Fault::Status("429 Too Many Requests", "Retry-After: 1\r\n"),
    );
    proxy.add(
        "GET",
        "/blobs/sha256:",
        Fault::Status("502 Bad Gateway", ""),
    );
    let (_o, out) = layout().await;
    let pulled = pull(
        &fast_client(),
        &via(&proxy, "app:v1"),
        &out,
        &PullOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
    assert_eq!(proxy.seen("GET /v2/app/manifests/v1").len(), 3);

    proxy.add(
        "POST",
        "/blobs/uploads/",
        Fault::Status("500 Internal Server Error", ""),
    );
    proxy.add(
        "PUT",
        "/blobs/uploads/",
        Fault::Status("503 Service Unavailable", ""),
    );
    proxy.add(
        "PUT",
        "/manifests/",
        Fault::Status("429 Too Many Requests", "Retry-After: 0\r\n"),
    );
    let pushed = push(
        &fast_client(),
        &src,
        &root,
        &via(&proxy, "other:v1"),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(pushed.blobs_moved, 3);
    assert_eq!(proxy.seen("PUT /v2/other/manifests/v1").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_errors_fail_with_nothing_kept() {
    let (_reg, proxy, _dir, _src, root, big) = setup().await;
    let big_digest = boxwright_registry_client::blob::sha256(&big);
    let path: &'static str = Box::leak(format!("/blobs/{big_digest}").into_boxed_str());
    for _ in 0..3 {
        proxy.add("GET", path, Fault::Status("500 Internal Server Error", ""));
    }
    let client = Client::builder()
        .retries(2)
        .backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    let (out_dir, out) = layout().await;
    let err = pull(
        &client,
        &via(&proxy, "app:v1"),
        &out,
        &PullOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Status { status: 500, .. }), "{err}");
    assert!(err.is_retryable());
    assert!(!out.has(&big_digest).await.unwrap());
    assert!(!out.has(root.digest()).await.unwrap());
    assert!(blob_files(out_dir.path())
        .iter()
        .all(|f| !f.starts_with('.')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_from_the_challenge() {
    let (_reg, proxy, _dir, src, root, _big) = setup().await;
    proxy.state.lock().unwrap().bearer = true;
    let host = format!("127.0.0.1:{}", proxy.port);

    let anonymous = fast_client();
    let (_o, out) = layout().await;
    let err = pull(
        &anonymous,
        &via(&proxy, "app:v1"),
        &out,
        &PullOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");

    let client = Client::builder()
        .credentials(Arc::new(
            StaticCredentials::new().with(&host, "alice", "s3cret"),
        ))
        .build()
        .unwrap();
    let pulled = pull(
        &client,
        &via(&proxy, "app:v1"),
        &out,
        &PullOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
    // One token for the pull scope, cached for every request after the first.
    let scopes = proxy.state.lock().unwrap().token_scopes.clone();
    assert_eq!(scopes.len(), 2, "{scopes:?}"); // the anonymous try, then alice
    assert!(scopes[1].contains("repository:app:pull"), "{scopes:?}");

    // A push asks for pull,push, and a mount adds the source repository's pull.
    let opts = PushOptions {
        mount_from: Some("app".into()),
        ..PushOptions::default()
    };
    let pushed = push(&client, &src, &root, &via(&proxy, "copy:v1"), &opts)
        .await
        .unwrap();
    assert_eq!(pushed.blobs_mounted, 3);
    let scopes = proxy.state.lock().unwrap().token_scopes.clone();
    assert!(
        scopes
            .iter()
            .any(|s| s.contains("repository:copy:pull,push") && s.contains("repository:app:pull")),
        "{scopes:?}"
    );

    // Tokens revoked: the next request gets a 401 and the client renews.
    proxy.revoke_tokens();
    let before = proxy.state.lock().unwrap().token_scopes.len();
    assert!(client
        .head_manifest(&via(&proxy, "copy:v1"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(proxy.state.lock().unwrap().token_scopes.len(), before + 1);
}
