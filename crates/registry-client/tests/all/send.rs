//! Every public future of the crate is `Send`, so it can be awaited inside `tokio::spawn` or an
//! `async_trait` method. Checked at compile time: this module does not build if one is not.

use boxwright_registry_client::oci_spec::distribution::Reference;
use boxwright_registry_client::oci_spec::image::{Descriptor, Digest};
use boxwright_registry_client::{
    copy, login, logout, pull, push, BlobSink, BlobSource, BytesProgress, Client, Credential,
    DockerConfig, OciDir, PullOptions, PushOptions, UploadMode,
};

fn assert_send<T: Send>(_: T) {}

/// Builds (never awaits) the future of every public async fn and method; type-checking it is
/// the test.
#[allow(clippy::too_many_arguments)]
fn futures_are_send(
    client: &Client,
    reference: &Reference,
    descriptor: &Descriptor,
    digest: &Digest,
    sink: &dyn BlobSink,
    source: &dyn BlobSource,
    layout: &OciDir,
    config: &mut DockerConfig,
    credential: &Credential,
    progress: BytesProgress,
) {
    let (pull_opts, push_opts) = (PullOptions::default(), PushOptions::default());
    assert_send(pull(client, reference, sink, &pull_opts));
    assert_send(push(client, source, descriptor, reference, &push_opts));
    assert_send(copy(source, descriptor, sink, &pull_opts));

    assert_send(client.ping("localhost:5000"));
    assert_send(client.check_credential("localhost:5000", credential));
    assert_send(client.get_manifest(reference));
    assert_send(client.head_manifest(reference));
    assert_send(client.put_manifest(reference, "application/json", b"{}"));
    assert_send(client.delete_manifest(reference));
    assert_send(client.referrers(reference, digest, None));
    assert_send(client.tags(reference, None));
    assert_send(client.catalog("localhost:5000", None));
    assert_send(client.head_blob(reference, digest));
    assert_send(client.fetch_blob(reference, descriptor, sink, &|_| {}));
    assert_send(client.mount_blob(reference, digest, "other/repo"));
    assert_send(client.push_blob(
        reference,
        descriptor,
        source,
        UploadMode::Monolithic,
        None,
        progress,
    ));

    assert_send(OciDir::create(std::path::Path::new("/nonexistent")));
    assert_send(OciDir::open(std::path::Path::new("/nonexistent")));
    assert_send(layout.manifests());
    assert_send(layout.resolve(None));
    assert_send(layout.set_ref("v1", descriptor));
    assert_send(layout.read_manifest(descriptor));

    assert_send(login(client, config, "localhost:5000", credential));
    assert_send(logout(config, "localhost:5000"));
    assert_send(config.store("localhost:5000", credential));
    assert_send(config.erase("localhost:5000"));
}

#[test]
fn public_futures_are_send() {
    // The check is done by the compiler; naming the function keeps it from being dead code.
    let _ = futures_are_send;
}
