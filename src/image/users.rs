//! Which containers use an image: those whose spec records its ID in
//! [`ANNOTATION_IMAGE_ID`](crate::ANNOTATION_IMAGE_ID) (every container the facade creates).

use boxwright_layer_store::Digest;

use crate::engine::Engine;
use crate::error::Result;

/// The containers (names, as Docker names them in its refusals) made from the image `id`,
/// running or not. Blocks: call it on the blocking pool.
#[cfg(feature = "run")]
pub(crate) fn users(engine: &Engine, id: &Digest) -> Result<Vec<String>> {
    let want = id.digest();
    let mut found = Vec::new();
    for c in engine.containers().list(true)? {
        let recorded = c
            .spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(crate::ANNOTATION_IMAGE_ID));
        if let Some(recorded) = recorded {
            if recorded.strip_prefix("sha256:").unwrap_or(recorded) == want {
                found.push(c.name.clone());
            }
        }
    }
    Ok(found)
}

/// Without the runtime there are no containers: no image has users.
#[cfg(not(feature = "run"))]
pub(crate) fn users(_engine: &Engine, _id: &Digest) -> Result<Vec<String>> {
    Ok(Vec::new())
}
