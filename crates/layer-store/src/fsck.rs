//! Checking the store: [`Store::fsck`] verifies every blob against its digest, every
//! reference of `index.json` and of the images, and every snapshot. It sits above the store
//! and the snapshots, since it checks both.

use std::collections::BTreeSet;
use std::io;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::blob::BlobStore;
use crate::snapshot::fsck_snapshots;
use crate::store::{blob_kind, Kind, Store, StoreError, MAX_JSON_BLOB};

/// One problem [`Store::fsck`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckProblem {
    /// The blob, entry or file concerned.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

impl Store {
    /// Verifies the store: every blob hashes to its name, every entry of `index.json` and every
    /// blob an image references exists and parses. Returns the problems found (empty when clean).
    pub fn fsck(&self) -> Result<Vec<FsckProblem>, StoreError> {
        let mut problems = Vec::new();
        let mut push =
            |subject: String, problem: String| problems.push(FsckProblem { subject, problem });
        for marker in ["oci-layout", "index.json"] {
            if !self.layout_dir().join(marker).is_file() {
                push(marker.into(), "missing".into());
            }
        }
        for digest in self.blobs().list()? {
            let mut reader = self.blobs().open(&digest, true)?;
            if let Err(e) = io::copy(&mut reader, &mut io::sink()) {
                push(
                    digest.to_string(),
                    format!("content does not match its digest: {}", with_causes(&e)),
                );
            }
        }
        let entries = match self.entries() {
            Ok(e) => e,
            Err(e) => {
                push("index.json".into(), with_causes(&e));
                return Ok(problems);
            }
        };
        let mut stack: Vec<(String, Descriptor)> = entries
            .into_iter()
            .map(|e| (e.name.unwrap_or_else(|| "<untagged>".into()), e.descriptor))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some((from, d)) = stack.pop() {
            if !seen.insert(d.digest().to_string()) {
                continue;
            }
            match self.blobs().stat(d.digest()) {
                Ok(Some(size)) if size == d.size() => {}
                Ok(Some(size)) => push(
                    d.digest().to_string(),
                    format!(
                        "referenced by {from} with size {}, but is {size} bytes",
                        d.size()
                    ),
                ),
                Ok(None) => {
                    push(
                        d.digest().to_string(),
                        format!("referenced by {from} but missing"),
                    );
                    continue;
                }
                Err(e) => {
                    push(d.digest().to_string(), with_causes(&e));
                    continue;
                }
            }
            if !matches!(blob_kind(d.media_type(), b""), Kind::Manifest | Kind::Index) {
                continue;
            }
            let bytes = match self.blobs().read_all(d.digest(), MAX_JSON_BLOB) {
                Ok(b) => b,
                Err(e) => {
                    push(d.digest().to_string(), with_causes(&e));
                    continue;
                }
            };
            match blob_kind(d.media_type(), &bytes) {
                Kind::Index => match serde_json::from_slice::<ImageIndex>(&bytes) {
                    Ok(index) => stack.extend(
                        index
                            .manifests()
                            .iter()
                            .map(|m| (d.digest().to_string(), m.clone())),
                    ),
                    Err(e) => push(d.digest().to_string(), format!("unreadable index: {e}")),
                },
                Kind::Manifest => match serde_json::from_slice::<ImageManifest>(&bytes) {
                    Ok(m) => {
                        stack.push((d.digest().to_string(), m.config().clone()));
                        stack.extend(
                            m.layers()
                                .iter()
                                .map(|l| (d.digest().to_string(), l.clone())),
                        );
                    }
                    Err(e) => push(d.digest().to_string(), format!("unreadable manifest: {e}")),
                },
                Kind::Other(_) => {}
            }
        }
        fsck_snapshots(self, &mut |s, p| {
            problems.push(FsckProblem {
                subject: s,
                problem: p,
            })
        })?;
        Ok(problems)
    }
}

/// An error's message followed by those of its causes, for a problem's text.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
