//! Manifests and indexes as bytes kept exactly as received, with what they point to, and the
//! choice of a platform's manifest from an index.

use oci_spec::image::{Descriptor, Digest, MediaType, Platform};

use crate::platform;
use crate::{Error, Result};

/// The largest manifest the client accepts: 4 MiB, as the distribution spec allows.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` header for manifest requests: all four kinds.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index: its bytes exactly as the registry or layout holds them (so its digest
/// stays the same when copied), its media type and digest, and what it points to.
#[derive(Debug, Clone)]
pub struct Manifest {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
    parsed: Parsed,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Parsed {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default, rename = "artifactType")]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: Option<std::collections::HashMap<String, String>>,
}

impl Manifest {
    /// Parses verified bytes; `content_type` is the media type the server or descriptor gave,
    /// used when the JSON has no `mediaType`.
    pub(crate) fn new(
        bytes: Vec<u8>,
        content_type: Option<&str>,
        digest: Digest,
        what: &str,
    ) -> Result<Manifest> {
        let parsed: Parsed =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidManifest {
                what: what.to_string(),
                reason: format!("not a manifest: {e}"),
            })?;
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
            .filter(|c| is_manifest_type(c));
        let media_type = match (&parsed.media_type, content_type) {
            (Some(m), _) => m.clone(),
            (None, Some(c)) => c,
            (None, None) if parsed.manifests.is_some() => OCI_INDEX.to_string(),
            (None, None) if parsed.config.is_some() => OCI_MANIFEST.to_string(),
            (None, None) => {
                return Err(Error::InvalidManifest {
                    what: what.to_string(),
                    reason: "neither an index nor an image manifest".into(),
                })
            }
        };
        if !is_manifest_type(&media_type) {
            return Err(Error::InvalidManifest {
                what: what.to_string(),
                reason: format!("unsupported media type {media_type:?}"),
            });
        }
        let m = Manifest {
            bytes,
            media_type,
            digest,
            parsed,
        };
        if m.is_index() && m.parsed.manifests.is_none() {
            return Err(Error::InvalidManifest {
                what: what.to_string(),
                reason: "an index without manifests".into(),
            });
        }
        if !m.is_index() && m.parsed.config.is_none() {
            return Err(Error::InvalidManifest {
                what: what.to_string(),
                reason: "an image manifest without config".into(),
            });
        }
        Ok(m)
    }

    /// Verifies `bytes` against `descriptor` and parses them.
    pub(crate) fn from_descriptor(bytes: Vec<u8>, descriptor: &Descriptor) -> Result<Manifest> {
        let what = descriptor.digest().to_string();
        crate::blob::verify_bytes(&what, &bytes, descriptor.digest())?;
        let media = descriptor.media_type().to_string();
        Manifest::new(bytes, Some(&media), descriptor.digest().clone(), &what)
    }

    /// The bytes, exactly as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The media type (one of the four manifest kinds).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The sha256 digest of the bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// A descriptor of this manifest (media type, size, digest).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.bytes.len() as u64,
            self.digest.clone(),
        )
    }

    /// Whether this is an index or a manifest list.
    pub fn is_index(&self) -> bool {
        matches!(self.media_type.as_str(), OCI_INDEX | DOCKER_MANIFEST_LIST)
    }

    /// The manifests an index lists (empty for an image manifest).
    pub fn manifests(&self) -> &[Descriptor] {
        self.parsed.manifests.as_deref().unwrap_or(&[])
    }

    /// The manifest this one refers to (OCI 1.1 `subject`): a signature, SBOM or other
    /// artifact names the image it is about.
    pub fn subject(&self) -> Option<&Descriptor> {
        self.parsed.subject.as_ref()
    }

    /// The artifact type, as the referrers API reports it: `artifactType`, else an image
    /// manifest's config media type.
    pub fn artifact_type(&self) -> Option<String> {
        self.parsed.artifact_type.clone().or_else(|| {
            self.parsed
                .config
                .as_ref()
                .filter(|_| !self.is_index())
                .map(|c| c.media_type().to_string())
        })
    }

    /// This manifest as an entry of a referrers index: its descriptor with `artifactType`
    /// and its annotations.
    pub fn referrer_descriptor(&self) -> Descriptor {
        let mut d = self.descriptor();
        let artifact = self.artifact_type();
        d.set_artifact_type(artifact.map(|a| MediaType::from(a.as_str())));
        d.set_annotations(self.parsed.annotations.clone());
        d
    }

    /// An image manifest's config and layers, config first (empty for an index).
    pub fn blobs(&self) -> Vec<Descriptor> {
        let mut out: Vec<Descriptor> = self.parsed.config.iter().cloned().collect();
        out.extend(self.parsed.layers.iter().flatten().cloned());
        out
    }

    /// Chooses the manifest for platform `want` from an index ([`platform::choose`]);
    /// `reference` names the index in the error when none matches.
    pub fn select(&self, want: &Platform, reference: &str) -> Result<&Descriptor> {
        platform::choose(want, self.manifests()).ok_or_else(|| Error::NoMatchingPlatform {
            platform: platform::name(want),
            reference: reference.to_string(),
            available: self
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref())
                .map(platform::name)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

fn is_manifest_type(t: &str) -> bool {
    matches!(
        t,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

/// Whether a descriptor's media type says it points to a manifest or an index.
pub(crate) fn is_manifest_descriptor(d: &Descriptor) -> bool {
    is_manifest_type(d.media_type().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Manifest {
        let d = |arch: &str, variant: Option<&str>, n: char| {
            let v = variant.map_or(String::new(), |v| format!(r#","variant":"{v}""#));
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","size":10,"digest":"sha256:{}","platform":{{"os":"linux","architecture":"{arch}"{v}}}}}"#,
                n.to_string().repeat(64)
            )
        };
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{},{}]}}"#,
            d("amd64", None, 'a'),
            d("arm", Some("v7"), 'b'),
            d("arm64", Some("v8"), 'c')
        );
        let digest = crate::blob::sha256(json.as_bytes());
        Manifest::new(json.into_bytes(), None, digest, "test").unwrap()
    }

    #[test]
    fn selects_platforms() {
        let i = index();
        assert!(i.is_index());
        let pick = |p: &str| {
            i.select(&platform::parse(p).unwrap(), "x")
                .map(|d| d.digest().to_string()[7..8].to_string())
        };
        assert_eq!(pick("linux/amd64").unwrap(), "a");
        assert_eq!(pick("linux/arm/v7").unwrap(), "b");
        assert_eq!(pick("linux/arm64").unwrap(), "c");
        let e = pick("linux/s390x").unwrap_err().to_string();
        assert!(e.contains("linux/arm/v7"), "{e}");
        assert!(platform::parse("linux").is_err());
    }

    #[test]
    fn refuses_non_manifests() {
        let d = crate::blob::sha256(b"{}");
        assert!(Manifest::new(b"{}".to_vec(), None, d.clone(), "x").is_err());
        assert!(Manifest::new(b"[".to_vec(), None, d, "x").is_err());
    }
}
