//! `docker logs [-f]`: a detached container's log as an async byte stream.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWriteExt, DuplexStream, ReadBuf};

use crate::error::Error;
use crate::store::Containers;

/// How often a followed log is polled for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// A container's log (its stdout and stderr, interleaved in the order they were written), as
/// an [`AsyncRead`]. Following, it ends once the container has exited and all of its output is
/// read. Dropping it stops the background reader.
#[derive(Debug)]
pub struct Logs {
    inner: DuplexStream,
}

impl AsyncRead for Logs {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl Containers {
    /// The container's log from its beginning (`docker logs`); with `follow`, kept open for
    /// what the command writes next until it exits (`docker logs -f`). Must be called within
    /// a tokio runtime: a task copies the file into the stream.
    pub fn logs(&self, query: &str, follow: bool) -> Result<Logs, Error> {
        let (_, dir) = self.dir_of(query)?;
        let path = dir.join("container.log");
        let file = fs::File::open(&path).map_err(|e| Error::io("opening", &path, e))?;
        let (reader, writer) = tokio::io::duplex(64 << 10);
        tokio::spawn(copy_log(file, dir, follow, writer));
        Ok(Logs { inner: reader })
    }

    /// The output of the container's current run — or of its last one, once exited — from
    /// that run's start, followed until the command exits: what `docker run -d` followed by an
    /// attach that missed nothing would show, and what [`Containers::logs`] gives without the
    /// output of earlier runs (the log keeps every run's). Output only: stdin is not attached
    /// (detached containers read `/dev/null`). Must be called within a tokio runtime.
    pub fn attach_output(&self, query: &str) -> Result<Logs, Error> {
        use std::io::{Seek, SeekFrom};
        let (dir, offset) = self.last_run_log(query)?;
        let path = dir.join("container.log");
        let mut file = fs::File::open(&path).map_err(|e| Error::io("opening", &path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("seeking in", &path, e))?;
        let (reader, writer) = tokio::io::duplex(64 << 10);
        tokio::spawn(copy_log(file, dir, true, writer));
        Ok(Logs { inner: reader })
    }
}

async fn copy_log(mut file: fs::File, dir: PathBuf, follow: bool, mut out: DuplexStream) {
    let mut buf = vec![0u8; 32 << 10];
    // After the container is seen stopped, read to the end once more, then stop.
    let mut last_pass = !follow;
    loop {
        // A regular file: reads do not block for long.
        match file.read(&mut buf) {
            Ok(0) => {
                if last_pass {
                    break;
                }
                if !Containers::dir_running(&dir) {
                    last_pass = true;
                    continue;
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            }
            Ok(n) => {
                if out.write_all(&buf[..n]).await.is_err() {
                    // The reader is gone.
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "reading a container log");
                break;
            }
        }
    }
    let _ = out.shutdown().await;
}
