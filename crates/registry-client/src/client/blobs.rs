//! Blob downloads: `HEAD` to ask whether a repository has a blob, and a streamed, verified
//! `GET` into a [`BlobSink`] that resumes with `Range` where a connection broke.

use futures_util::StreamExt as _;
use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, Digest};
use reqwest::header;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt as _;

use super::response::{expect, header_str};
use super::tokens::Scope;
use super::Client;
use crate::blob::{BlobSink, BlobWriter, Verified, Verifier};
use crate::{Error, Result};

impl Client {
    /// Asks whether the repository has the blob (`HEAD`): its size if so.
    pub async fn head_blob(&self, reference: &Reference, digest: &Digest) -> Result<Option<u64>> {
        self.head_blob_scoped(reference, digest, &Scope::pull(reference.repository()))
            .await
    }

    /// [`Client::head_blob`] with the token scope of the operation asking (a push asks with
    /// its push scope, so one token serves the whole push).
    pub(super) async fn head_blob_scoped(
        &self,
        reference: &Reference,
        digest: &Digest,
        scope: &Scope,
    ) -> Result<Option<u64>> {
        let url = self.repo_url(reference, &format!("blobs/{digest}"))?;
        let resp = self
            .request(reference, scope, Method::HEAD, url, &mut |b| {
                Box::pin(async move { Ok(b) })
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = expect(resp, Method::HEAD, &[StatusCode::OK]).await?;
        Ok(Some(resp.content_length().unwrap_or(0)))
    }

    /// Downloads the blob `descriptor` names into `sink`, verifying its size and digest while
    /// it streams, resuming with `Range` if the connection breaks. The blob is committed to
    /// the sink only once verified; on any error nothing is committed. `progress` is called
    /// with the bytes received so far.
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        sink: &dyn BlobSink,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<()> {
        let digest = descriptor.digest();
        let blob_err = |source| Error::Blob {
            digest: digest.to_string(),
            source,
        };
        let mut writer = sink
            .create(digest, descriptor.size())
            .await
            .map_err(blob_err)?;
        match self
            .fetch_into(reference, descriptor, &mut writer, progress)
            .await
        {
            Ok(verified) => {
                writer.shutdown().await.map_err(blob_err)?;
                writer.commit(verified).await.map_err(blob_err)
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%digest, %abort, "discarding a failed download");
                }
                Err(e)
            }
        }
    }

    /// Streams the blob into `writer` through a verifier, resuming with `Range` after a
    /// break; the proof that the bytes match the descriptor.
    async fn fetch_into(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        writer: &mut Box<dyn BlobWriter>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Verified> {
        let digest = descriptor.digest();
        let size = descriptor.size();
        let url = self.repo_url(reference, &format!("blobs/{digest}"))?;
        let scope = Scope::pull(reference.repository());
        let mut verifier = Verifier::new();
        let mut resumes = 0u32;
        loop {
            let offset = verifier.size();
            let resp = self
                .request(reference, &scope, Method::GET, url.clone(), &mut |b| {
                    Box::pin(async move {
                        Ok(if offset > 0 {
                            b.header(header::RANGE, format!("bytes={offset}-"))
                        } else {
                            b
                        })
                    })
                })
                .await?;
            let resp = expect(
                resp,
                Method::GET,
                &[StatusCode::OK, StatusCode::PARTIAL_CONTENT],
            )
            .await?;
            // A server that ignores Range sends the whole blob again: skip what we have.
            let mut skip = if resp.status() == StatusCode::PARTIAL_CONTENT {
                let start =
                    header_str(resp.headers(), header::CONTENT_RANGE).and_then(|r| range_start(&r));
                if start != Some(offset) {
                    return Err(Error::Protocol {
                        url: url.to_string(),
                        reason: format!(
                            "asked for bytes from {offset}, got range starting {start:?}"
                        ),
                    });
                }
                0
            } else {
                offset
            };
            let mut stream = resp.bytes_stream();
            let mut broken = None;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                };
                let mut chunk = chunk;
                if skip > 0 {
                    let n = skip.min(chunk.len() as u64) as usize;
                    chunk = chunk.slice(n..);
                    skip -= n as u64;
                }
                if chunk.is_empty() {
                    continue;
                }
                if verifier.size() + chunk.len() as u64 > size {
                    return Err(Error::SizeMismatch {
                        digest: digest.to_string(),
                        expected: size,
                        actual: verifier.size() + chunk.len() as u64,
                    });
                }
                writer
                    .write_all(&chunk)
                    .await
                    .map_err(|source| Error::Blob {
                        digest: digest.to_string(),
                        source,
                    })?;
                verifier.update(&chunk);
                progress(verifier.size());
            }
            match broken {
                None if verifier.size() < size && resumes < self.inner.retries => {
                    // The body ended early (a connection closed cleanly mid-blob): resume.
                    tracing::debug!(%digest, got = verifier.size(), size, "blob body ended early, resuming");
                }
                None => break,
                Some(source) => {
                    let err = Error::Http {
                        method: "GET".into(),
                        url: url.to_string(),
                        source,
                    };
                    if resumes >= self.inner.retries {
                        return Err(err);
                    }
                    tracing::debug!(%digest, %err, got = verifier.size(), "blob download broke, resuming");
                }
            }
            tokio::time::sleep(self.backoff(resumes)).await;
            resumes += 1;
        }
        verifier.finish(url.as_str(), digest, Some(size))
    }
}

/// `bytes 100-199/200` -> 100.
fn range_start(content_range: &str) -> Option<u64> {
    let r = content_range.trim().strip_prefix("bytes")?.trim_start();
    r.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
    }
}
