//! Reading what the verbs show of an image: its config blob, its dates, its sizes, its names
//! split as Docker prints them.

use boxwright_layer_store::{name, ImageConfig, Store};
use oci_spec::image::ImageManifest;

use crate::error::Result;

/// The config blob of the image whose manifest is `manifest`.
pub(crate) fn config(store: &Store, manifest: &ImageManifest) -> Result<ImageConfig> {
    Ok(store.config(manifest.config().digest())?)
}

/// The image's size as the registry and the store hold it: its layer blobs and its config
/// (Docker's containerd image store reports this "content size").
pub(crate) fn content_size(manifest: &ImageManifest) -> u64 {
    manifest.config().size() + manifest.layers().iter().map(|l| l.size()).sum::<u64>()
}

/// A string field of a JSON document, if present.
pub(crate) fn text(json: &serde_json::Value, pointer: &str) -> Option<String> {
    json.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Docker's short form of a full normalized name (`docker.io/library/busybox:latest` ->
/// `busybox:latest`).
pub(crate) fn familiar(full: &str) -> String {
    name::familiar_str(full).to_owned()
}

/// `busybox:latest` -> (`busybox`, `latest`); a name without a tag has the tag `<none>`.
pub(crate) fn split_tag(familiar: &str) -> (String, String) {
    let slash = familiar.rfind('/').map_or(0, |i| i + 1);
    match familiar[slash..].rfind(':') {
        Some(i) => (
            familiar[..slash + i].to_owned(),
            familiar[slash + i + 1..].to_owned(),
        ),
        None => (familiar.to_owned(), NONE.to_owned()),
    }
}

/// What Docker prints for a missing repository, tag or ID.
pub(crate) const NONE: &str = "<none>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_tag_keeps_the_registry_port() {
        assert_eq!(
            split_tag("localhost:5000/app:v1"),
            ("localhost:5000/app".into(), "v1".into())
        );
        assert_eq!(
            split_tag("localhost:5000/app"),
            ("localhost:5000/app".into(), "<none>".into())
        );
        assert_eq!(
            split_tag("busybox:latest"),
            ("busybox".into(), "latest".into())
        );
    }
}
