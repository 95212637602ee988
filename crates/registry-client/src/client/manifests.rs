//! Manifests and indexes by tag or digest: get (verified, at most 4 MiB), head, put, delete;
//! and the OCI 1.1 referrers of a manifest, through the referrers API or the referrers tag
//! schema (`sha256-HEX`), which [`Client::put_manifest`] keeps up to date.

use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, Digest, MediaType};
use reqwest::header;
use reqwest::{Method, StatusCode};

use super::response::{expect, header_str, parse_digest, read_limited};
use super::tokens::Scope;
use super::Client;
use crate::blob::{sha256, verify_bytes};
use crate::manifest::{Manifest, MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, OCI_INDEX, OCI_MANIFEST};
use crate::reference::{manifest_ref, with_tag};
use crate::{Error, Result};

impl Client {
    /// Fetches the manifest or index `reference` names, verifying its digest (against the
    /// reference's digest, else the registry's `Docker-Content-Digest`) and refusing it over
    /// 4 MiB.
    pub async fn get_manifest(&self, reference: &Reference) -> Result<Manifest> {
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let resp = self
            .request(
                reference,
                &Scope::pull(reference.repository()),
                Method::GET,
                url.clone(),
                &mut |b| Box::pin(async move { Ok(b.header(header::ACCEPT, MANIFEST_ACCEPT)) }),
            )
            .await?;
        let resp = expect(resp, Method::GET, &[StatusCode::OK]).await?;
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_SIZE) {
            return Err(Error::ManifestTooLarge {
                what: url.to_string(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let content_type = header_str(resp.headers(), header::CONTENT_TYPE);
        let header_digest = header_str(resp.headers(), "docker-content-digest");
        let bytes = read_limited(resp, MAX_MANIFEST_SIZE, url.as_str()).await?;
        let expected = match reference.digest().or(header_digest.as_deref()) {
            Some(d) => Some(parse_digest(d, url.as_str())?),
            None => None,
        };
        let digest = match expected {
            Some(d) => verify_bytes(url.as_str(), &bytes, &d)?.digest().clone(),
            None => sha256(&bytes),
        };
        Manifest::new(bytes, content_type.as_deref(), digest, url.as_str())
    }

    /// Asks whether the manifest `reference` names exists (`HEAD`): its descriptor if so.
    pub async fn head_manifest(&self, reference: &Reference) -> Result<Option<Descriptor>> {
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let resp = self
            .request(
                reference,
                &Scope::pull(reference.repository()),
                Method::HEAD,
                url.clone(),
                &mut |b| Box::pin(async move { Ok(b.header(header::ACCEPT, MANIFEST_ACCEPT)) }),
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = expect(resp, Method::HEAD, &[StatusCode::OK]).await?;
        let h = resp.headers();
        let size = resp.content_length().unwrap_or(0);
        let digest = match header_str(h, "docker-content-digest")
            .or_else(|| reference.digest().map(str::to_string))
        {
            Some(d) => parse_digest(&d, url.as_str())?,
            None => {
                return Err(Error::Protocol {
                    url: url.to_string(),
                    reason: "HEAD of a manifest without Docker-Content-Digest".into(),
                })
            }
        };
        let media_type =
            header_str(h, header::CONTENT_TYPE).unwrap_or_else(|| OCI_MANIFEST.to_string());
        Ok(Some(Descriptor::new(
            MediaType::from(media_type.as_str()),
            size,
            digest,
        )))
    }

    /// Stores a manifest under `reference`'s tag (or digest) and returns its digest. For a
    /// manifest with a `subject`, on a registry that does not answer `OCI-Subject` (no
    /// referrers API), the subject's referrers tag (`sha256-HEX`) index gets this manifest
    /// added, as the OCI 1.1 distribution spec asks of clients.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge {
                what: reference.to_string(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let digest = sha256(bytes);
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        let media_type = media_type.to_string();
        let resp = self
            .request(
                reference,
                &Scope::push(reference.repository()),
                Method::PUT,
                url,
                &mut |b| {
                    let body = body.clone();
                    let media_type = media_type.clone();
                    Box::pin(
                        async move { Ok(b.header(header::CONTENT_TYPE, media_type).body(body)) },
                    )
                },
            )
            .await?;
        let resp = expect(
            resp,
            Method::PUT,
            &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED],
        )
        .await?;
        // A manifest with a subject: a registry with the referrers API says so with
        // OCI-Subject; for one without, the referrers tag schema is kept up to date here.
        if !resp.headers().contains_key("oci-subject") {
            if let Ok(m) = Manifest::new(bytes.to_vec(), Some(&media_type), digest.clone(), "-") {
                if let Some(subject) = m.subject() {
                    self.add_to_referrers_tag(reference, subject.digest(), &m)
                        .await?;
                }
            }
        }
        Ok(digest)
    }

    /// Deletes the manifest `reference` names by digest (registries refuse deleting by tag).
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<()> {
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let resp = self
            .request(
                reference,
                &Scope(vec![format!(
                    "repository:{}:delete",
                    reference.repository()
                )]),
                Method::DELETE,
                url,
                &mut |b| Box::pin(async move { Ok(b) }),
            )
            .await?;
        expect(
            resp,
            Method::DELETE,
            &[StatusCode::ACCEPTED, StatusCode::OK],
        )
        .await
        .map(drop)
    }

    /// The manifests that refer to `subject` (OCI 1.1 referrers) in `reference`'s
    /// repository, as descriptors with their `artifactType` and annotations; only those of
    /// `artifact_type` if given. Asks `GET /v2/NAME/referrers/DIGEST`; a registry without
    /// that API (404, as Distribution 2.8) is read through the referrers tag schema: the
    /// index tagged `sha256-HEX`. No referrers is an empty list.
    pub async fn referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let mut url = self.repo_url(reference, &format!("referrers/{subject}"))?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let resp = self
            .request(
                reference,
                &Scope::pull(reference.repository()),
                Method::GET,
                url.clone(),
                &mut |b| Box::pin(async move { Ok(b.header(header::ACCEPT, OCI_INDEX)) }),
            )
            .await?;
        let (listed, filtered) = if resp.status() == StatusCode::NOT_FOUND {
            drop(resp);
            match self.referrers_tag_index(reference, subject).await? {
                Some(index) => (index.manifests().to_vec(), false),
                None => (Vec::new(), false),
            }
        } else {
            let resp = expect(resp, Method::GET, &[StatusCode::OK]).await?;
            let filtered = header_str(resp.headers(), "oci-filters-applied")
                .is_some_and(|f| f.split(',').any(|x| x.trim() == "artifactType"));
            let bytes = read_limited(resp, MAX_MANIFEST_SIZE, url.as_str()).await?;
            let index =
                Manifest::new(bytes.clone(), Some(OCI_INDEX), sha256(&bytes), url.as_str())?;
            (index.manifests().to_vec(), filtered)
        };
        Ok(match artifact_type {
            Some(t) if !filtered => listed
                .into_iter()
                .filter(|d| {
                    d.artifact_type()
                        .as_ref()
                        .is_some_and(|a| a.to_string() == t)
                })
                .collect(),
            _ => listed,
        })
    }

    /// The index under `subject`'s referrers tag, if there is one.
    async fn referrers_tag_index(
        &self,
        reference: &Reference,
        subject: &Digest,
    ) -> Result<Option<Manifest>> {
        let tagged = with_tag(reference, &referrers_tag(subject));
        match self.get_manifest(&tagged).await {
            Ok(m) if m.is_index() => Ok(Some(m)),
            Ok(m) => Err(Error::InvalidManifest {
                what: tagged.to_string(),
                reason: format!("the referrers tag holds a {}, not an index", m.media_type()),
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `referrer` to the index under `subject`'s referrers tag (made if missing).
    async fn add_to_referrers_tag(
        &self,
        reference: &Reference,
        subject: &Digest,
        referrer: &Manifest,
    ) -> Result<()> {
        let entry = referrer.referrer_descriptor();
        let mut manifests: Vec<Descriptor> =
            match self.referrers_tag_index(reference, subject).await? {
                Some(index) => index.manifests().to_vec(),
                None => Vec::new(),
            };
        if manifests.iter().any(|d| d.digest() == entry.digest()) {
            return Ok(());
        }
        manifests.push(entry);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).map_err(|e| Error::InvalidManifest {
            what: format!("referrers of {subject}"),
            reason: e.to_string(),
        })?;
        let tagged = with_tag(reference, &referrers_tag(subject));
        Box::pin(self.put_manifest(&tagged, OCI_INDEX, &bytes)).await?;
        Ok(())
    }
}

/// The tag of the referrers tag schema: `sha256:HEX` -> `sha256-HEX` (at most 128 characters).
fn referrers_tag(subject: &Digest) -> String {
    let s = subject.to_string().replacen(':', "-", 1);
    s.chars().take(128).collect()
}
