//! Interoperation with skopeo, both ways, through a real registry.

use crate::common::*;
use boxwright_registry_client::{pull, push, reference, Client, OciDir, PullOptions, PushOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_we_pull_we_push_skopeo_copies() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (dir, src) = layout().await;
    let root = make_image(
        dir.path(),
        "amd64",
        &[&random_bytes(1 << 20, 9), &text_bytes(300_000)],
    );
    src.set_ref("v1", &root).await.unwrap();

    // skopeo -> registry -> us.
    let dest = format!("docker://{}/from-skopeo:v1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--preserve-digests",
        &format!("oci:{}:v1", path_str(dir.path())),
        &dest,
    ]);
    let r = reference::parse(&format!("{}/from-skopeo:v1", reg.host())).unwrap();
    let (got_dir, got) = layout().await;
    let pulled = pull(&client, &r, &got, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.root.digest(), root.digest());
    assert_eq!(blob_files(got_dir.path()), blob_files(dir.path()));

    // us -> registry -> skopeo.
    let r2 = reference::parse(&format!("{}/from-us:v2", reg.host())).unwrap();
    push(&client, &src, &root, &r2, &PushOptions::default())
        .await
        .unwrap();
    let inspect = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/from-us:v2", reg.host()),
    ]);
    assert_eq!(
        boxwright_registry_client::blob::sha256(inspect.as_bytes()),
        *root.digest()
    );
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--preserve-digests",
        &format!("docker://{}/from-us:v2", reg.host()),
        &format!("oci:{}:v2", path_str(out.path())),
    ]);
    let copied = OciDir::open(out.path()).await.unwrap();
    assert_eq!(
        copied.resolve(Some("v2")).await.unwrap().digest(),
        root.digest()
    );
    assert_eq!(blob_files(out.path()), blob_files(dir.path()));
}
