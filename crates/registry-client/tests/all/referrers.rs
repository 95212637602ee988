//! OCI 1.1 referrers against a real Distribution 2.8 registry, which has no referrers API:
//! pushing a manifest with a `subject` keeps the referrers tag (`sha256-HEX`) up to date, and
//! listing falls back to it after the API's 404.

use crate::common::*;
use boxwright_registry_client::oci_spec::image::{Descriptor, MediaType};
use boxwright_registry_client::{push, reference, Client, OciDir, PushOptions};

/// An artifact manifest of `artifact_type` about `subject`, with one blob, in the layout.
fn make_artifact(
    dir: &std::path::Path,
    subject: &Descriptor,
    artifact_type: &str,
    body: &[u8],
) -> Descriptor {
    let empty = put_blob(
        dir,
        MediaType::Other("application/vnd.oci.empty.v1+json".into()),
        b"{}",
    );
    let blob = put_blob(dir, MediaType::Other("application/json".into()), body);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": empty,
        "layers": [blob],
        "subject": subject,
        "annotations": {"org.example.note": artifact_type},
    });
    put_blob(
        dir,
        MediaType::ImageManifest,
        &serde_json::to_vec(&manifest).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_through_the_tag_schema() {
    let reg = Registry::start();
    let client = Client::new().unwrap();
    let (dir, oci) = layout().await;
    let image = make_image(dir.path(), "amd64", &[b"layer one".as_slice()]);
    let r = reference::parse(&format!("{}/team/app:v1", reg.host())).unwrap();
    push(&client, &oci, &image, &r, &PushOptions::default())
        .await
        .unwrap();
    assert!(client
        .referrers(&r, image.digest(), None)
        .await
        .unwrap()
        .is_empty());

    let sbom = make_artifact(
        dir.path(),
        &image,
        "application/vnd.example.sbom+json",
        b"{\"sbom\":1}",
    );
    let sig = make_artifact(
        dir.path(),
        &image,
        "application/vnd.example.sig",
        b"{\"sig\":1}",
    );
    let oci = OciDir::open(dir.path()).await.unwrap();
    for (tag, d) in [("sbom", &sbom), ("sig", &sig)] {
        let target = reference::with_tag(&r, tag);
        push(&client, &oci, d, &target, &PushOptions::default())
            .await
            .unwrap();
    }
    // Pushing one again does not list it twice.
    push(
        &client,
        &oci,
        &sig,
        &reference::with_tag(&r, "sig"),
        &PushOptions::default(),
    )
    .await
    .unwrap();

    let all = client.referrers(&r, image.digest(), None).await.unwrap();
    let mut digests: Vec<_> = all.iter().map(|d| d.digest().to_string()).collect();
    digests.sort();
    let mut want = vec![sbom.digest().to_string(), sig.digest().to_string()];
    want.sort();
    assert_eq!(digests, want);
    let only = client
        .referrers(&r, image.digest(), Some("application/vnd.example.sig"))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest(), sig.digest());
    assert_eq!(
        only[0]
            .artifact_type()
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("application/vnd.example.sig")
    );
    assert_eq!(
        only[0].annotations().as_ref().unwrap()["org.example.note"],
        "application/vnd.example.sig"
    );
    assert!(client
        .referrers(&r, image.digest(), Some("application/none"))
        .await
        .unwrap()
        .is_empty());

    // The fallback tag is there, and the registry really has no referrers API (so the
    // list above came through the tag).
    let tag = format!("sha256-{}", image.digest().digest());
    assert!(client.tags(&r, None).await.unwrap().contains(&tag));
    let tagged = client
        .get_manifest(&reference::with_tag(&r, &tag))
        .await
        .unwrap();
    assert!(tagged.is_index());
    assert_eq!(
        reg.requests(&format!("GET /v2/team/app/referrers/{}", image.digest())),
        4
    );
    assert!(reg.requests("\" 404 ") >= 4);
    // The image itself has no subject; the artifacts name it.
    let fetched = client
        .get_manifest(&reference::with_digest(&r, sig.digest().as_ref()))
        .await
        .unwrap();
    assert_eq!(fetched.subject().unwrap().digest(), image.digest());
    assert_eq!(
        fetched.artifact_type().as_deref(),
        Some("application/vnd.example.sig")
    );
}
