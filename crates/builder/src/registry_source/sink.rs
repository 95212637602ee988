//! The layer store's blobs as the registry client's [`BlobSink`]: the store's sync
//! [`BlobWrite`] driven from the client's async writer through a bounded channel to a blocking
//! task, so no tokio worker ever waits on the disk.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_trait::async_trait;
use boxwright_layer_store::{BlobError, BlobInfo, BlobStore as _, BlobWrite, Digest, Store};
use boxwright_registry_client::{BlobSink, BlobWriter, Verified};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::PollSender;

/// Chunks queued between the async writer and the blocking task: with [`MAX_CHUNK`], the
/// memory one blob in flight may hold.
const QUEUE: usize = 8;

/// The largest chunk queued at once (a larger write is accepted in part).
const MAX_CHUNK: usize = 256 << 10;

/// The blobs of a layer [`Store`] as a [`BlobSink`] for the registry client's
/// [`pull`](boxwright_registry_client::pull) and [`copy`](boxwright_registry_client::copy).
///
/// Each blob streams into the store's staging area (hashed again by the store) and becomes
/// visible only when the client commits it with its [`Verified`] proof, whose digest and size
/// the store checks once more; a writer dropped or aborted leaves nothing. The disk work runs
/// on tokio's blocking pool, fed through a bounded queue (at most 2 MiB per blob in flight).
///
/// It takes no lease: hold a [`Store::lease`] from before the first blob until the image is
/// tagged, as [`RegistrySource`](crate::RegistrySource) does, so a concurrent
/// [`Store::gc`] cannot collect blobs that are not yet reachable.
#[derive(Debug, Clone)]
pub struct StoreSink {
    store: Store,
}

impl StoreSink {
    /// A sink writing into `store`'s blobs.
    pub fn new(store: Store) -> Self {
        StoreSink { store }
    }

    /// The store written into.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Runs `f` on the blocking pool; a task that panicked or was cancelled becomes an error.
async fn blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

/// A store error as an I/O error, keeping its kind when it is one and its cause chain.
fn to_io(e: BlobError) -> io::Error {
    let kind = match &e {
        BlobError::Io { source, .. } => source.kind(),
        BlobError::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

#[async_trait]
impl BlobSink for StoreSink {
    async fn has(&self, digest: &Digest) -> io::Result<bool> {
        let blobs = self.store.blobs().clone();
        let digest = digest.clone();
        blocking(move || blobs.has(&digest).map_err(to_io)).await
    }

    async fn create(&self, digest: &Digest, size: u64) -> io::Result<Box<dyn BlobWriter>> {
        let blobs = self.store.blobs().clone();
        let writer = blocking(move || blobs.writer().map_err(to_io)).await?;
        Ok(Box::new(StoreWriter::start(writer, digest.clone(), size)))
    }
}

/// What the blocking task ends with: the committed blob, or `None` when told to discard.
type TaskResult = io::Result<Option<BlobInfo>>;

/// One blob on its way into the store: the async side of the queue.
struct StoreWriter {
    /// The blob this writer was created for.
    digest: Digest,
    /// Chunks to the blocking task; `None` once closed.
    chunks: Option<PollSender<Vec<u8>>>,
    /// Tells the blocking task to commit (with the verified digest and size); dropping it
    /// without sending discards.
    commit: Option<oneshot::Sender<(Digest, u64)>>,
    /// The blocking task; `None` once its result was taken.
    task: Option<JoinHandle<TaskResult>>,
}

impl StoreWriter {
    fn start(writer: Box<dyn BlobWrite>, digest: Digest, size: u64) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (commit_tx, commit_rx) = oneshot::channel();
        let task = tokio::task::spawn_blocking(move || drain(writer, rx, commit_rx));
        tracing::trace!(%digest, size, "blob writer started");
        StoreWriter {
            digest,
            chunks: Some(PollSender::new(tx)),
            commit: Some(commit_tx),
            task: Some(task),
        }
    }

    /// The blocking task stopped taking chunks: its error, once it has ended.
    fn poll_failure(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err(io::Error::other("blob writer already failed")));
        };
        let ended = ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(Err(match ended {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => io::Error::other("blob writer stopped early"),
            Err(join) => io::Error::other(join),
        }))
    }

    /// Closes the queue, tells the task whether to commit, and waits for it.
    async fn finish(mut self, verified: Option<(Digest, u64)>) -> TaskResult {
        self.chunks = None;
        if let (Some(commit), Some(v)) = (self.commit.take(), verified) {
            // A task that already ended (with an error) is awaited below.
            let _ = commit.send(v);
        }
        // Without a commit message, the task discards: `self.commit` drops with `self`.
        self.commit = None;
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Err(io::Error::other("blob writer already failed")),
        }
    }
}

/// The blocking side: writes chunks until the queue closes, then commits or discards.
fn drain(
    mut writer: Box<dyn BlobWrite>,
    mut chunks: mpsc::Receiver<Vec<u8>>,
    commit: oneshot::Receiver<(Digest, u64)>,
) -> TaskResult {
    while let Some(chunk) = chunks.blocking_recv() {
        writer.write_all(&chunk)?;
    }
    match commit.blocking_recv() {
        Ok((digest, size)) => writer
            .commit(Some(&digest), Some(size))
            .map(Some)
            .map_err(to_io),
        // Dropped or aborted: dropping the store's writer discards what it staged.
        Err(_) => Ok(None),
    }
}

impl AsyncWrite for StoreWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(tx) = this.chunks.as_mut() else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "blob writer already closed",
            )));
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match ready!(tx.poll_reserve(cx)) {
            Ok(()) => {
                let n = buf.len().min(MAX_CHUNK);
                match tx.send_item(buf[..n].to_vec()) {
                    Ok(()) => Poll::Ready(Ok(n)),
                    Err(_) => this.poll_failure(cx),
                }
            }
            Err(_) => this.poll_failure(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued chunks reach the disk in order; durability comes with the commit's fsync.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl BlobWriter for StoreWriter {
    async fn commit(self: Box<Self>, verified: Verified) -> io::Result<()> {
        if verified.digest() != &self.digest {
            let msg = format!(
                "verified {} but the writer was created for {}",
                verified.digest(),
                self.digest
            );
            let _ = (*self).finish(None).await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        let want = (verified.digest().clone(), verified.size());
        match (*self).finish(Some(want)).await? {
            Some(info) => {
                tracing::debug!(digest = %info.digest, size = info.size, "blob stored");
                Ok(())
            }
            None => Err(io::Error::other("blob writer discarded before its commit")),
        }
    }

    async fn abort(self: Box<Self>) -> io::Result<()> {
        // Waits for the staging file to be removed.
        (*self).finish(None).await.map(|_| ())
    }
}
