//! Whole images: [`pull`] from a registry into a [`BlobSink`], [`push`] from a [`BlobSource`]
//! to a registry, blobs in parallel.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, Digest, Platform};
use tokio::io::AsyncReadExt as _;

use crate::blob::{verify_bytes, BlobSink, BlobSource};
use crate::client::{BlobPushed, Client, UploadMode};
use crate::manifest::{is_manifest_descriptor, Manifest, MAX_MANIFEST_SIZE};
use crate::reference::{manifest_ref, with_digest};
use crate::{Error, Result};

/// What happened to one blob, told to a [`ProgressFn`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressKind {
    /// The transfer of the blob started.
    Started,
    /// `bytes` of the blob have moved so far.
    Advanced,
    /// The destination already had the blob; nothing moved.
    Skipped,
    /// The registry mounted the blob from another repository.
    Mounted,
    /// The blob is complete (verified, committed or accepted).
    Done,
}

/// A progress event for one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    /// The blob.
    pub digest: Digest,
    /// What happened.
    pub kind: ProgressKind,
    /// Bytes moved so far.
    pub bytes: u64,
    /// The blob's size.
    pub total: u64,
}

/// A callback for progress events; called from several tasks at once.
pub type ProgressFn = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// The default number of blobs moved at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How [`pull`] works.
#[derive(Clone)]
pub struct PullOptions {
    /// `None`: the whole index and every platform, byte for byte. `Some`: only that
    /// platform's manifest (an index is resolved to it; [`crate::platform::parse`] reads
    /// `linux/arm64/v8`).
    pub platform: Option<Platform>,
    /// Blobs fetched at once (at least 1).
    pub concurrency: usize,
    /// Progress events, if wanted.
    pub progress: Option<ProgressFn>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platform", &self.platform)
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How [`push`] works.
#[derive(Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once (at least 1).
    pub concurrency: usize,
    /// Monolithic or chunked uploads.
    pub upload: UploadMode,
    /// A repository of the same registry to mount blobs from when the target lacks them.
    pub mount_from: Option<String>,
    /// Progress events, if wanted.
    pub progress: Option<ProgressFn>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            concurrency: DEFAULT_CONCURRENCY,
            upload: UploadMode::Monolithic,
            mount_from: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("concurrency", &self.concurrency)
            .field("upload", &self.upload)
            .field("mount_from", &self.mount_from)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What a [`pull`] or [`push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferred {
    /// The root manifest or index: what a tag should point to.
    pub root: Descriptor,
    /// Blobs (configs and layers) that moved.
    pub blobs_moved: usize,
    /// Blobs that the destination had already.
    pub blobs_skipped: usize,
    /// Blobs mounted from another repository (push only).
    pub blobs_mounted: usize,
    /// Bytes of blobs that moved.
    pub bytes_moved: u64,
    /// Manifests and indexes written.
    pub manifests: usize,
}

fn emit(
    progress: &Option<ProgressFn>,
    digest: &Digest,
    kind: ProgressKind,
    bytes: u64,
    total: u64,
) {
    if let Some(p) = progress {
        p(&ProgressEvent {
            digest: digest.clone(),
            kind,
            bytes,
            total,
        });
    }
}

/// The manifests of an image (root last, children before parents) and its blobs.
struct Graph {
    manifests: Vec<Manifest>,
    blobs: Vec<Descriptor>,
}

impl Graph {
    fn add_blobs(&mut self, seen: &mut HashSet<String>, m: &Manifest) {
        for b in m.blobs() {
            if seen.insert(b.digest().to_string()) {
                self.blobs.push(b);
            }
        }
    }
}

/// Pulls the image `reference` names into `sink`: the manifest or index (resolved to one
/// platform if asked), then every config and layer the sink lacks, `concurrency` at a time,
/// each verified before it is committed. Manifests are written last, children before the
/// index, so a manifest in the sink always has its blobs.
///
/// Returns the root descriptor; tagging it is up to the caller (e.g. [`crate::OciDir::set_ref`]).
pub async fn pull(
    client: &Client,
    reference: &Reference,
    sink: &dyn BlobSink,
    options: &PullOptions,
) -> Result<Transferred> {
    let mut root = client.get_manifest(reference).await?;
    if let (true, Some(platform)) = (root.is_index(), &options.platform) {
        let chosen = root.select(platform, &reference.to_string())?.clone();
        root = fetch_child(client, reference, &chosen).await?;
    }
    let mut graph = Graph {
        manifests: Vec::new(),
        blobs: Vec::new(),
    };
    let mut seen = HashSet::new();
    if root.is_index() {
        // Children of the index (and of nested indexes), fetched a few at a time.
        let mut level = vec![root.clone()];
        let mut depth = 0;
        while !level.is_empty() {
            depth += 1;
            if depth > 8 {
                return Err(Error::InvalidManifest {
                    what: reference.to_string(),
                    reason: "indexes nested more than 8 deep".into(),
                });
            }
            let children: Vec<Descriptor> = level
                .iter()
                .flat_map(|m| m.manifests().iter().cloned())
                .filter(|d| seen.insert(d.digest().to_string()))
                .collect();
            // The closures of these streams take owned descriptors: a closure taking a
            // `&Descriptor` and returning a future would make `pull`'s future not `Send`
            // (rustc: "implementation of `FnOnce` is not general enough").
            let fetched: Vec<Manifest> = futures_util::stream::iter(children)
                .map(|d| async move { fetch_child(client, reference, &d).await })
                .buffered(options.concurrency.max(1))
                .try_collect()
                .await?;
            let mut next = Vec::new();
            for m in fetched {
                if m.is_index() {
                    next.push(m.clone());
                } else {
                    graph.add_blobs(&mut seen, &m);
                }
                graph.manifests.push(m);
            }
            level = next;
        }
        // Deeper manifests first, so each is written after what it points to.
        graph.manifests.reverse();
    } else {
        graph.add_blobs(&mut seen, &root);
    }
    graph.manifests.push(root.clone());

    let root = root.descriptor();
    fill_sink(&graph, sink, root, options.concurrency, |d| async move {
        pull_blob(client, reference, sink, &d, &options.progress).await
    })
    .await
}

/// Moves every blob of `graph` into `sink` (`concurrency` at a time, each by `move_blob`, which
/// says whether it moved and how many bytes), then writes its manifests, children first.
/// `move_blob` takes its descriptor by value so that the caller's future stays `Send`.
async fn fill_sink<F, Fut>(
    graph: &Graph,
    sink: &dyn BlobSink,
    root: Descriptor,
    concurrency: usize,
    move_blob: F,
) -> Result<Transferred>
where
    F: FnMut(Descriptor) -> Fut,
    Fut: std::future::Future<Output = Result<(bool, u64)>>,
{
    let mut result = Transferred {
        root,
        blobs_moved: 0,
        blobs_skipped: 0,
        blobs_mounted: 0,
        bytes_moved: 0,
        manifests: 0,
    };
    let outcomes: Vec<(bool, u64)> = futures_util::stream::iter(graph.blobs.iter().cloned())
        .map(move_blob)
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    for (moved, bytes) in outcomes {
        if moved {
            result.blobs_moved += 1;
            result.bytes_moved += bytes;
        } else {
            result.blobs_skipped += 1;
        }
    }
    for m in &graph.manifests {
        write_manifest(sink, m).await?;
        result.manifests += 1;
    }
    Ok(result)
}

async fn fetch_child(client: &Client, reference: &Reference, d: &Descriptor) -> Result<Manifest> {
    if d.size() > MAX_MANIFEST_SIZE {
        return Err(Error::ManifestTooLarge {
            what: d.digest().to_string(),
            limit: MAX_MANIFEST_SIZE,
        });
    }
    let m = client
        .get_manifest(&with_digest(reference, d.digest().as_ref()))
        .await?;
    if m.bytes().len() as u64 != d.size() {
        return Err(Error::SizeMismatch {
            digest: d.digest().to_string(),
            expected: d.size(),
            actual: m.bytes().len() as u64,
        });
    }
    Ok(m)
}

async fn pull_blob(
    client: &Client,
    reference: &Reference,
    sink: &dyn BlobSink,
    d: &Descriptor,
    progress: &Option<ProgressFn>,
) -> Result<(bool, u64)> {
    let digest = d.digest();
    let has = sink.has(digest).await.map_err(|source| Error::Blob {
        digest: digest.to_string(),
        source,
    })?;
    if has {
        emit(progress, digest, ProgressKind::Skipped, 0, d.size());
        return Ok((false, 0));
    }
    emit(progress, digest, ProgressKind::Started, 0, d.size());
    let total = d.size();
    let tick = |n: u64| emit(progress, digest, ProgressKind::Advanced, n, total);
    client.fetch_blob(reference, d, sink, &tick).await?;
    emit(progress, digest, ProgressKind::Done, total, total);
    Ok((true, total))
}

async fn write_manifest(sink: &dyn BlobSink, m: &Manifest) -> Result<()> {
    let digest = m.digest();
    let blob_err = |source| Error::Blob {
        digest: digest.to_string(),
        source,
    };
    if sink.has(digest).await.map_err(blob_err)? {
        return Ok(());
    }
    let verified = verify_bytes(digest.as_ref(), m.bytes(), digest)?;
    let mut w = sink
        .create(digest, m.bytes().len() as u64)
        .await
        .map_err(blob_err)?;
    use tokio::io::AsyncWriteExt as _;
    let written = async {
        w.write_all(m.bytes()).await?;
        w.shutdown().await
    }
    .await;
    match written {
        Ok(()) => w.commit(verified).await.map_err(blob_err),
        Err(e) => {
            let _ = w.abort().await;
            Err(blob_err(e))
        }
    }
}

/// Reads a manifest from a source, verified against its descriptor.
async fn read_source_manifest(source: &dyn BlobSource, d: &Descriptor) -> Result<Manifest> {
    let digest = d.digest();
    let blob_err = |source| Error::Blob {
        digest: digest.to_string(),
        source,
    };
    if d.size() > MAX_MANIFEST_SIZE {
        return Err(Error::ManifestTooLarge {
            what: digest.to_string(),
            limit: MAX_MANIFEST_SIZE,
        });
    }
    let opened = source.open(digest).await.map_err(blob_err)?;
    let mut bytes = Vec::new();
    opened
        .reader
        .take(MAX_MANIFEST_SIZE + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(blob_err)?;
    Manifest::from_descriptor(bytes, d)
}

/// The root manifest `root` names in `source` and the image's graph: child manifests
/// (deepest first, root excluded) and blobs. `what` names the image in errors.
async fn source_graph(
    source: &dyn BlobSource,
    root: &Descriptor,
    what: &str,
) -> Result<(Manifest, Graph)> {
    let root_manifest = read_source_manifest(source, root).await?;
    let mut graph = Graph {
        manifests: Vec::new(),
        blobs: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut stack = vec![(root_manifest.clone(), 0usize)];
    while let Some((m, depth)) = stack.pop() {
        if m.is_index() {
            if depth > 8 {
                return Err(Error::InvalidManifest {
                    what: what.to_string(),
                    reason: "indexes nested more than 8 deep".into(),
                });
            }
            for d in m.manifests() {
                if !is_manifest_descriptor(d) || !seen.insert(d.digest().to_string()) {
                    continue;
                }
                let child = read_source_manifest(source, d).await?;
                stack.push((child, depth + 1));
            }
        } else {
            graph.add_blobs(&mut seen, &m);
        }
        if m.digest() != root_manifest.digest() {
            graph.manifests.push(m);
        }
    }
    graph.manifests.reverse();
    Ok((root_manifest, graph))
}

/// Copies the image `root` (a manifest or index held by `source`) into `sink` without a
/// registry, e.g. between two OCI layouts: every blob the sink lacks, `concurrency` at a time,
/// each verified while it streams and committed only if it matches its digest; then the
/// manifests, children before the root. Tagging the root is up to the caller.
pub async fn copy(
    source: &dyn BlobSource,
    root: &Descriptor,
    sink: &dyn BlobSink,
    options: &PullOptions,
) -> Result<Transferred> {
    let (root_manifest, mut graph) = source_graph(source, root, root.digest().as_ref()).await?;
    graph.manifests.push(root_manifest.clone());
    fill_sink(
        &graph,
        sink,
        root_manifest.descriptor(),
        options.concurrency,
        |d| async move { copy_blob(source, sink, &d, &options.progress).await },
    )
    .await
}

async fn copy_blob(
    source: &dyn BlobSource,
    sink: &dyn BlobSink,
    d: &Descriptor,
    progress: &Option<ProgressFn>,
) -> Result<(bool, u64)> {
    use tokio::io::AsyncWriteExt as _;
    let digest = d.digest();
    let total = d.size();
    let blob_err = |source| Error::Blob {
        digest: digest.to_string(),
        source,
    };
    if sink.has(digest).await.map_err(blob_err)? {
        emit(progress, digest, ProgressKind::Skipped, 0, total);
        return Ok((false, 0));
    }
    emit(progress, digest, ProgressKind::Started, 0, total);
    let opened = source.open(digest).await.map_err(blob_err)?;
    if opened.size != total {
        return Err(Error::SizeMismatch {
            digest: digest.to_string(),
            expected: total,
            actual: opened.size,
        });
    }
    let mut reader = opened.reader;
    let mut writer = sink.create(digest, total).await.map_err(blob_err)?;
    let copied = async {
        let mut verifier = crate::blob::Verifier::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).await.map_err(blob_err)?;
            if n == 0 {
                break;
            }
            if verifier.size() + n as u64 > total {
                return Err(Error::SizeMismatch {
                    digest: digest.to_string(),
                    expected: total,
                    actual: verifier.size() + n as u64,
                });
            }
            verifier.update(&buf[..n]);
            writer.write_all(&buf[..n]).await.map_err(blob_err)?;
            emit(
                progress,
                digest,
                ProgressKind::Advanced,
                verifier.size(),
                total,
            );
        }
        writer.shutdown().await.map_err(blob_err)?;
        verifier.finish(digest.as_ref(), digest, Some(total))
    }
    .await;
    match copied {
        Ok(verified) => writer.commit(verified).await.map_err(blob_err)?,
        Err(e) => {
            let _ = writer.abort().await;
            return Err(e);
        }
    }
    emit(progress, digest, ProgressKind::Done, total, total);
    Ok((true, total))
}

/// Pushes the image `root` (a manifest or index held by `source`) to `reference`: every
/// blob the repository lacks (`HEAD` first, a mount when `mount_from` is given, else an
/// upload), `concurrency` at a time; then child manifests by digest; then the root under
/// the reference's tag (or digest). Manifests keep their bytes, so their digests are kept.
pub async fn push(
    client: &Client,
    source: &dyn BlobSource,
    root: &Descriptor,
    reference: &Reference,
    options: &PushOptions,
) -> Result<Transferred> {
    let (root_manifest, graph) = source_graph(source, root, &reference.to_string()).await?;
    let mut result = Transferred {
        root: root_manifest.descriptor(),
        blobs_moved: 0,
        blobs_skipped: 0,
        blobs_mounted: 0,
        bytes_moved: 0,
        manifests: 0,
    };
    // Owned descriptors keep `push`'s future `Send` (see `pull`).
    let outcomes: Vec<(BlobPushed, u64)> = futures_util::stream::iter(graph.blobs.iter().cloned())
        .map(|d| async move { push_one(client, source, reference, &d, options).await })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    for (what, bytes) in outcomes {
        match what {
            BlobPushed::Existed => result.blobs_skipped += 1,
            BlobPushed::Mounted => result.blobs_mounted += 1,
            _ => {
                result.blobs_moved += 1;
                result.bytes_moved += bytes;
            }
        }
    }
    // Children by digest (deepest first), skipping those the registry has.
    for m in &graph.manifests {
        let r = with_digest(reference, m.digest().as_ref());
        if client.head_manifest(&r).await?.is_some() {
            continue;
        }
        client.put_manifest(&r, m.media_type(), m.bytes()).await?;
        result.manifests += 1;
    }
    let target = match reference.tag() {
        Some(_) => reference.clone(),
        None => with_digest(reference, root_manifest.digest().as_ref()),
    };
    if let Some(d) = reference.digest() {
        if d != root_manifest.digest().as_ref() {
            return Err(Error::DigestMismatch {
                what: format!("push to {reference} ({})", manifest_ref(reference)),
                expected: d.to_string(),
                actual: root_manifest.digest().to_string(),
            });
        }
    }
    client
        .put_manifest(&target, root_manifest.media_type(), root_manifest.bytes())
        .await?;
    result.manifests += 1;
    Ok(result)
}

async fn push_one(
    client: &Client,
    source: &dyn BlobSource,
    reference: &Reference,
    d: &Descriptor,
    options: &PushOptions,
) -> Result<(BlobPushed, u64)> {
    let digest = d.digest().clone();
    let total = d.size();
    let progress = options.progress.clone();
    let tick: crate::client::BytesProgress = {
        let progress = progress.clone();
        let digest = digest.clone();
        let started = std::sync::atomic::AtomicBool::new(false);
        Arc::new(move |n| {
            // The first call (with 0 when the upload session opens) marks the start.
            if !started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                emit(&progress, &digest, ProgressKind::Started, 0, total);
            }
            if n > 0 {
                emit(&progress, &digest, ProgressKind::Advanced, n, total);
            }
        })
    };
    let what = client
        .push_blob(
            reference,
            d,
            source,
            options.upload,
            options.mount_from.as_deref(),
            tick,
        )
        .await?;
    let kind = match what {
        BlobPushed::Existed => ProgressKind::Skipped,
        BlobPushed::Mounted => ProgressKind::Mounted,
        _ => ProgressKind::Done,
    };
    emit(&progress, &digest, kind, total, total);
    Ok((what, total))
}
