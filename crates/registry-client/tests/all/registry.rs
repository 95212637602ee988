//! Pull and push against a real Distribution registry started by the test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::common::*;
use boxwright_registry_client::{
    platform, pull, push, reference, BlobSink, Client, Error, OciDir, ProgressKind, PullOptions,
    PushOptions, StaticCredentials, UploadMode,
};

fn reference(
    reg: &Registry,
    repo_tag: &str,
) -> boxwright_registry_client::oci_spec::distribution::Reference {
    reference::parse(&format!("{}/{repo_tag}", reg.host())).unwrap()
}

/// A two-layer image (incompressible + compressible, a few MiB) in a fresh layout.
async fn two_layer_image() -> (
    tempfile::TempDir,
    OciDir,
    boxwright_registry_client::oci_spec::image::Descriptor,
) {
    let (dir, oci) = layout().await;
    let a = random_bytes(3 << 20, 7);
    let b = text_bytes(2 << 20);
    let root = make_image(dir.path(), "amd64", &[&a, &b]);
    oci.set_ref("v1", &root).await.unwrap();
    (dir, oci, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trip() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    client.ping(&reg.host()).await.unwrap();
    let (src_dir, src, root) = two_layer_image().await;
    let r = reference(&reg, "team/app:v1");

    let events = Arc::new(AtomicU64::new(0));
    let starts = Arc::new(AtomicU64::new(0));
    let (seen, started) = (events.clone(), starts.clone());
    let opts = PushOptions {
        progress: Some(Arc::new(move |e| match e.kind {
            ProgressKind::Done => {
                seen.fetch_add(1, Ordering::Relaxed);
            }
            ProgressKind::Started => {
                assert_eq!(e.bytes, 0);
                started.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        })),
        ..PushOptions::default()
    };
    let pushed = push(&client, &src, &root, &r, &opts).await.unwrap();
    assert_eq!((pushed.blobs_moved, pushed.blobs_skipped), (3, 0));
    assert_eq!(events.load(Ordering::Relaxed), 3);
    assert_eq!(starts.load(Ordering::Relaxed), 3);
    // Pushed again: every blob is skipped, none is started.
    push(&client, &src, &root, &r, &opts).await.unwrap();
    assert_eq!(starts.load(Ordering::Relaxed), 3);

    let (dst_dir, dst) = layout().await;
    let pulled = pull(&client, &r, &dst, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
    assert_eq!(pulled.blobs_moved, 3);
    dst.set_ref("v1", &pulled.root).await.unwrap();
    // Every blob, manifest included, byte for byte; no temporary files left.
    assert_eq!(blob_files(dst_dir.path()), blob_files(src_dir.path()));
    for name in blob_files(src_dir.path()) {
        assert_eq!(
            std::fs::read(src_dir.path().join("blobs/sha256").join(&name)).unwrap(),
            std::fs::read(dst_dir.path().join("blobs/sha256").join(&name)).unwrap()
        );
    }
    // A second pull fetches nothing. It runs on a spawned task, so its future must be `Send`.
    let again = tokio::spawn({
        let (client, r) = (client.clone(), r.clone());
        async move { pull(&client, &r, &dst, &PullOptions::default()).await }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((again.blobs_moved, again.blobs_skipped), (0, 3));

    let head = client.head_manifest(&r).await.unwrap().unwrap();
    assert_eq!(head.digest(), root.digest());
    let missing = reference(&reg, "team/app:nope");
    assert!(client.head_manifest(&missing).await.unwrap().is_none());
    assert!(client
        .get_manifest(&missing)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_platform_index_whole_or_one() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (dir, src) = layout().await;
    let shared = text_bytes(100_000);
    let amd = make_image(dir.path(), "amd64", &[&shared, &random_bytes(200_000, 1)]);
    let arm = make_image(dir.path(), "arm64", &[&shared, &random_bytes(200_000, 2)]);
    let index = make_index(
        dir.path(),
        &[(amd.clone(), "amd64"), (arm.clone(), "arm64")],
    );
    let r = reference(&reg, "multi:latest");
    // Push and pull run on spawned tasks, so their futures must be `Send`.
    let pushed = tokio::spawn({
        let (client, r, index) = (client.clone(), r.clone(), index.clone());
        async move { push(&client, &src, &index, &r, &PushOptions::default()).await }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pushed.blobs_moved, 5); // 2 configs, 1 shared layer, 2 own layers
    assert_eq!(pushed.manifests, 3);

    let (all_dir, all) = layout().await;
    let pulled = tokio::spawn({
        let (client, r) = (client.clone(), r.clone());
        async move { pull(&client, &r, &all, &PullOptions::default()).await }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pulled.root.digest(), index.digest());
    assert_eq!(blob_files(all_dir.path()), blob_files(dir.path()));

    let (one_dir, one) = layout().await;
    let opts = PullOptions {
        platform: Some(platform::parse("linux/arm64").unwrap()),
        ..PullOptions::default()
    };
    let pulled = pull(&client, &r, &one, &opts).await.unwrap();
    assert_eq!(pulled.root.digest(), arm.digest());
    assert_eq!(blob_files(one_dir.path()).len(), 4); // manifest, config, 2 layers
    let opts = PullOptions {
        platform: Some(platform::parse("linux/s390x").unwrap()),
        ..PullOptions::default()
    };
    let err = pull(&client, &r, &one, &opts).await.unwrap_err();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repush_skips_existing_blobs_and_mounts_across_repos() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (_dir, src, root) = two_layer_image().await;
    let r = reference(&reg, "first/app:v1");
    push(&client, &src, &root, &r, &PushOptions::default())
        .await
        .unwrap();

    let before_put = reg.requests("\"PUT /v2/first/app/blobs");
    let before = reg.request_count();
    let again = push(&client, &src, &root, &r, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!((again.blobs_moved, again.blobs_skipped), (0, 3));
    // Three blob HEADs and the manifest PUT; no upload.
    assert_eq!(reg.requests("\"PUT /v2/first/app/blobs"), before_put);
    assert_eq!(reg.request_count() - before, 4);

    let other = reference(&reg, "second/app:v1");
    let opts = PushOptions {
        mount_from: Some("first/app".into()),
        ..PushOptions::default()
    };
    let mounted = push(&client, &src, &root, &other, &opts).await.unwrap();
    assert_eq!((mounted.blobs_mounted, mounted.blobs_moved), (3, 0));
    assert_eq!(reg.requests("mount=sha256"), 3);
    assert_eq!(reg.requests("\"PUT /v2/second/app/blobs"), 0);
    let (_d, dst) = layout().await;
    let pulled = pull(&client, &other, &dst, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.blobs_moved, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (_dir, src, root) = two_layer_image().await;
    let r = reference(&reg, "chunked:v1");
    let opts = PushOptions {
        upload: UploadMode::Chunked {
            chunk_size: 1 << 20,
        },
        ..PushOptions::default()
    };
    push(&client, &src, &root, &r, &opts).await.unwrap();
    // 3 MiB + 2 MiB in 1 MiB chunks, and one chunk for the small config.
    assert_eq!(reg.requests("\"PATCH /v2/chunked/blobs/uploads/"), 6);
    let (_d, dst) = layout().await;
    let pulled = pull(&client, &r, &dst, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_pagination_and_delete() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (dir, src) = layout().await;
    let root = make_image(dir.path(), "amd64", &[b"tiny layer"]);
    for tag in ["a", "b", "c", "d", "e"] {
        push(
            &client,
            &src,
            &root,
            &reference(&reg, &format!("paged:{tag}")),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    }
    let r = reference(&reg, "paged:a");
    let mut tags = client.tags(&r, Some(2)).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);
    // Distribution 2.8 ignores `n` for tags but pages its catalog with `Link`.
    for repo in ["paged2", "paged3", "paged4", "paged5"] {
        push(
            &client,
            &src,
            &root,
            &reference(&reg, &format!("{repo}:x")),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    }
    let before = reg.requests("/v2/_catalog");
    let repos = client.catalog(&reg.host(), Some(2)).await.unwrap();
    assert_eq!(repos, ["paged", "paged2", "paged3", "paged4", "paged5"]);
    assert_eq!(reg.requests("/v2/_catalog") - before, 3);

    let by_digest = reference::with_digest(&r, root.digest().as_ref());
    client.delete_manifest(&by_digest).await.unwrap();
    assert!(client.head_manifest(&by_digest).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_basic_auth() {
    let reg = Registry::start_with(Some(("alice", "s3cret")));
    let (_dir, src, root) = two_layer_image().await;
    let r = reference(&reg, "private/app:v1");

    let anonymous = Client::new().unwrap();
    let err = anonymous.ping(&reg.host()).await.unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err}"
    );
    let wrong = Client::builder()
        .credentials(Arc::new(StaticCredentials::new().with(
            &reg.host(),
            "alice",
            "nope",
        )))
        .build()
        .unwrap();
    let err = push(&wrong, &src, &root, &r, &PushOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");

    let client = Client::builder()
        .credentials(Arc::new(StaticCredentials::new().with(
            &reg.host(),
            "alice",
            "s3cret",
        )))
        .build()
        .unwrap();
    client.ping(&reg.host()).await.unwrap();
    push(&client, &src, &root, &r, &PushOptions::default())
        .await
        .unwrap();
    let (_d, dst) = layout().await;
    let pulled = pull(&client, &r, &dst, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_is_refused_and_nothing_kept() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (dir, src) = layout().await;
    let mut layer = random_bytes(1 << 20, 3);
    layer[500_000..500_016].copy_from_slice(b"FLIP-THIS-MARKER");
    let good = text_bytes(50_000);
    let root = make_image(dir.path(), "amd64", &[&good, &layer]);
    let direct = reference(&reg, "flip:v1");
    push(&client, &src, &root, &direct, &PushOptions::default())
        .await
        .unwrap();

    let proxy = flipping_proxy(reg.port, b"FLIP-THIS-MARKER", b"FLIP-THIS-MARKEX").await;
    let r = reference::parse(&format!("127.0.0.1:{proxy}/flip:v1")).unwrap();
    let (dst_dir, dst) = layout().await;
    let err = pull(
        &client,
        &r,
        &dst,
        &PullOptions {
            concurrency: 1,
            ..PullOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.is_verification(), "{err}");
    let msg = err.to_string();
    let layer_digest = boxwright_registry_client::blob::sha256(&layer);
    assert!(msg.contains(&layer_digest.to_string()), "{msg}");
    assert!(!dst.has(&layer_digest).await.unwrap());
    // No manifest was written (it would point to a missing blob), nothing partial is left.
    let files = blob_files(dst_dir.path());
    assert!(files.iter().all(|f| !f.starts_with('.')), "{files:?}");
    assert!(!dst.has(root.digest()).await.unwrap());
}
