//! Blob uploads: [`Client::push_blob`] asks first (`HEAD`), mounts from another repository
//! when it can, else uploads monolithically (one `PUT`) or in chunks (`PATCH`es, falling
//! back to monolithic when refused).

use std::sync::Arc;

use futures_util::StreamExt as _;
use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, Digest};
use reqwest::header;
use reqwest::{Method, StatusCode, Url};
use tokio::io::AsyncReadExt as _;

use super::response::{expect, location};
use super::tokens::Scope;
use super::Client;
use crate::blob::BlobSource;
use crate::{Error, Result};

/// How blobs are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UploadMode {
    /// One `PUT` with the whole blob streamed as its body (after the `POST` that opens the
    /// upload). The fastest, and what every registry accepts.
    #[default]
    Monolithic,
    /// `PATCH` requests of at most `chunk_size` bytes each, then a `PUT` that closes the
    /// upload. For registries that limit a request's size. A registry that refuses chunks gets
    /// a monolithic upload instead.
    Chunked {
        /// The largest chunk, in bytes.
        chunk_size: u64,
    },
}

impl UploadMode {
    /// Chunked with the default chunk size, 8 MiB.
    pub const fn chunked() -> Self {
        UploadMode::Chunked {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A callback told how many bytes of a blob have moved so far; an upload calls it with 0
/// when its session opens.
pub type BytesProgress = Arc<dyn Fn(u64) + Send + Sync>;

/// The default chunk size of [`UploadMode::chunked`]: 8 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 << 20;

/// What [`Client::push_blob`] did with a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobPushed {
    /// The registry already had it in the repository.
    Existed,
    /// Mounted from another repository of the same registry, without sending its bytes.
    Mounted,
    /// Uploaded.
    Uploaded,
}

impl Client {
    /// Tries to mount `digest` from repository `from` (same registry) into `reference`'s
    /// repository. `Ok(true)` if mounted; `Ok(false)` if the registry did not (then upload).
    pub async fn mount_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        from: &str,
    ) -> Result<bool> {
        Ok(matches!(
            self.start_upload(reference, Some((digest, from))).await?,
            Upload::Mounted
        ))
    }

    /// Opens an upload session (`POST`), or mounts the blob if `mount` names a repository
    /// the registry can mount it from.
    async fn start_upload(
        &self,
        reference: &Reference,
        mount: Option<(&Digest, &str)>,
    ) -> Result<Upload> {
        let mut url = self.repo_url(reference, "blobs/uploads/")?;
        let mut scope = Scope::push(reference.repository());
        if let Some((digest, from)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", digest.as_ref())
                .append_pair("from", from);
            scope.0.push(format!("repository:{from}:pull"));
        }
        let resp = self
            .request(reference, &scope, Method::POST, url.clone(), &mut |b| {
                Box::pin(async move { Ok(b.header(header::CONTENT_LENGTH, "0")) })
            })
            .await?;
        let status = resp.status();
        if mount.is_some() && status == StatusCode::CREATED {
            return Ok(Upload::Mounted);
        }
        let resp = expect(resp, Method::POST, &[StatusCode::ACCEPTED]).await?;
        Ok(Upload::Session(location(&resp, &url)?))
    }

    /// Uploads the blob `descriptor` names from `source` unless the repository has it:
    /// `HEAD` first, then a mount from `mount_from` (a repository of the same registry) if
    /// given, then an upload as `mode` says.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &dyn BlobSource,
        mode: UploadMode,
        mount_from: Option<&str>,
        progress: BytesProgress,
    ) -> Result<BlobPushed> {
        let digest = descriptor.digest();
        let scope = Scope::push(reference.repository());
        if self
            .head_blob_scoped(reference, digest, &scope)
            .await?
            .is_some()
        {
            return Ok(BlobPushed::Existed);
        }
        let mount = mount_from
            .filter(|from| *from != reference.repository())
            .map(|from| (digest, from));
        let session = match self.start_upload(reference, mount).await? {
            Upload::Mounted => return Ok(BlobPushed::Mounted),
            Upload::Session(url) => url,
        };
        progress(0);
        let session = match mode {
            UploadMode::Chunked { chunk_size } => {
                match self
                    .upload_chunks(
                        reference,
                        descriptor,
                        source,
                        session,
                        chunk_size.max(1),
                        &progress,
                    )
                    .await?
                {
                    Chunked::Done(url) => {
                        self.finish_upload(reference, digest, url, None).await?;
                        return Ok(BlobPushed::Uploaded);
                    }
                    Chunked::Refused => match self.start_upload(reference, None).await? {
                        Upload::Session(url) => url,
                        Upload::Mounted => return Ok(BlobPushed::Mounted),
                    },
                }
            }
            UploadMode::Monolithic => session,
        };
        self.finish_upload(
            reference,
            digest,
            session,
            Some((descriptor.size(), source, &progress)),
        )
        .await?;
        Ok(BlobPushed::Uploaded)
    }

    /// Sends the blob in `PATCH`es of `chunk_size`; [`Chunked::Refused`] if the registry
    /// refuses the first.
    async fn upload_chunks(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &dyn BlobSource,
        mut session: Url,
        chunk_size: u64,
        progress: &BytesProgress,
    ) -> Result<Chunked> {
        let digest = descriptor.digest();
        let blob_err = |source| Error::Blob {
            digest: digest.to_string(),
            source,
        };
        let opened = source.open(digest).await.map_err(blob_err)?;
        check_source_size(descriptor, opened.size)?;
        let mut reader = opened.reader;
        let scope = Scope::push(reference.repository());
        let mut offset = 0u64;
        let mut buf = Vec::new();
        while offset < descriptor.size() {
            let want = chunk_size.min(descriptor.size() - offset);
            buf.clear();
            (&mut reader)
                .take(want)
                .read_to_end(&mut buf)
                .await
                .map_err(blob_err)?;
            if buf.len() as u64 != want {
                return Err(Error::SizeMismatch {
                    digest: digest.to_string(),
                    expected: descriptor.size(),
                    actual: offset + buf.len() as u64,
                });
            }
            let body = bytes::Bytes::from(std::mem::take(&mut buf));
            let end = offset + want - 1;
            let resp = self
                .request(
                    reference,
                    &scope,
                    Method::PATCH,
                    session.clone(),
                    &mut |b| {
                        let body = body.clone();
                        Box::pin(async move {
                            Ok(b.header(header::CONTENT_TYPE, "application/octet-stream")
                                .header(header::CONTENT_RANGE, format!("{offset}-{end}"))
                                .header(header::CONTENT_LENGTH, want)
                                .body(body))
                        })
                    },
                )
                .await?;
            let status = resp.status();
            if offset == 0
                && matches!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED
                        | StatusCode::NOT_IMPLEMENTED
                        | StatusCode::RANGE_NOT_SATISFIABLE
                        | StatusCode::PAYLOAD_TOO_LARGE
                        | StatusCode::BAD_REQUEST
                )
            {
                tracing::debug!(%digest, %status, "chunked upload refused, uploading whole");
                return Ok(Chunked::Refused);
            }
            // ECR and others answer 201 where 202 is expected.
            let resp = expect(
                resp,
                Method::PATCH,
                &[
                    StatusCode::ACCEPTED,
                    StatusCode::CREATED,
                    StatusCode::NO_CONTENT,
                ],
            )
            .await?;
            if resp.headers().contains_key(header::LOCATION) {
                session = location(&resp, &session)?;
            }
            offset += want;
            progress(offset);
        }
        Ok(Chunked::Done(session))
    }

    /// Closes the session with `PUT ?digest=`, sending the blob's bytes if `body` is given.
    async fn finish_upload(
        &self,
        reference: &Reference,
        digest: &Digest,
        mut session: Url,
        body: Option<(u64, &dyn BlobSource, &BytesProgress)>,
    ) -> Result<()> {
        session
            .query_pairs_mut()
            .append_pair("digest", digest.as_ref());
        let scope = Scope::push(reference.repository());
        let resp = self
            .request(reference, &scope, Method::PUT, session, &mut |b| {
                Box::pin(async move {
                    match body {
                        None => Ok(b.header(header::CONTENT_LENGTH, "0")),
                        Some((size, source, progress)) => {
                            let opened =
                                source.open(digest).await.map_err(|source| Error::Blob {
                                    digest: digest.to_string(),
                                    source,
                                })?;
                            if opened.size != size {
                                return Err(Error::SizeMismatch {
                                    digest: digest.to_string(),
                                    expected: size,
                                    actual: opened.size,
                                });
                            }
                            Ok(b.header(header::CONTENT_TYPE, "application/octet-stream")
                                .header(header::CONTENT_LENGTH, size)
                                .body(reqwest::Body::wrap_stream(progress_stream(
                                    opened.reader,
                                    progress.clone(),
                                ))))
                        }
                    }
                })
            })
            .await?;
        expect(
            resp,
            Method::PUT,
            &[
                StatusCode::CREATED,
                StatusCode::NO_CONTENT,
                StatusCode::ACCEPTED,
            ],
        )
        .await
        .map(drop)
    }
}

/// The reader's bytes as a stream for a request body, telling `progress` as they go.
fn progress_stream(
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    progress: BytesProgress,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    let mut done = 0u64;
    tokio_util::io::ReaderStream::with_capacity(reader, 256 << 10).map(move |r| {
        if let Ok(b) = &r {
            done += b.len() as u64;
            progress(done);
        }
        r
    })
}

/// What opening an upload gave.
enum Upload {
    Mounted,
    Session(Url),
}

/// How a chunked upload ended.
enum Chunked {
    Done(Url),
    Refused,
}

/// The source's blob is as long as its descriptor says.
fn check_source_size(descriptor: &Descriptor, size: u64) -> Result<()> {
    if size != descriptor.size() {
        return Err(Error::SizeMismatch {
            digest: descriptor.digest().to_string(),
            expected: descriptor.size(),
            actual: size,
        });
    }
    Ok(())
}
