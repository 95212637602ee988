//! `copy` between two OCI layouts: verified, skipping what the destination has.

use crate::common::*;
use boxwright_registry_client::{copy, Error, PullOptions};

#[tokio::test]
async fn copies_between_layouts_and_refuses_corrupt_blobs() {
    let (src_dir, src) = layout().await;
    let a = random_bytes(3 << 20, 5);
    let root = make_image(src_dir.path(), "amd64", &[&a, &text_bytes(5000)]);
    let (dst_dir, dst) = layout().await;
    let done = copy(&src, &root, &dst, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((done.blobs_moved, done.manifests), (3, 1));
    assert_eq!(done.root.digest(), root.digest());
    assert_eq!(blob_files(dst_dir.path()), blob_files(src_dir.path()));
    for name in blob_files(src_dir.path()) {
        let p = |d: &std::path::Path| d.join("blobs/sha256").join(&name);
        assert_eq!(
            std::fs::read(p(src_dir.path())).unwrap(),
            std::fs::read(p(dst_dir.path())).unwrap()
        );
    }
    let again = copy(&src, &root, &dst, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((again.blobs_moved, again.blobs_skipped), (0, 3));

    // A flipped byte in the source's layer: refused, naming both digests, nothing kept.
    let layer = make_image(src_dir.path(), "arm64", &[&random_bytes(1 << 20, 9)]);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            src_dir
                .path()
                .join("blobs/sha256")
                .join(layer.digest().digest()),
        )
        .unwrap(),
    )
    .unwrap();
    let layer_digest = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let path = src_dir.path().join("blobs/sha256").join(&layer_digest[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (bad_dir, bad) = layout().await;
    let err = copy(&src, &layer, &bad, &PullOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&layer_digest), "{err}");
    assert!(!blob_files(bad_dir.path()).contains(&layer_digest[7..].to_string()));
    assert!(blob_files(bad_dir.path())
        .iter()
        .all(|f| !f.starts_with('.')));
}
