//! Read-ahead: decompressing and hashing the layer stream on two more threads.
//!
//! [`read_ahead`] starts two scoped threads, a three-stage pipeline with the applying thread:
//! one decompresses the layer into a small, fixed set of recycled buffers ([`BUFFERS`] ×
//! [`BUFFER_SIZE`]), the next hashes each buffer (the diffID) and passes it on to the [`Pipe`]
//! the applying thread reads the tar stream from; the applier sends each buffer back to the
//! first once it has used it. So decompression, hashing and writing files overlap, and memory
//! stays bounded whatever the layer.
//!
//! Stopping: the stages end at the end of the stream (each dropping its sender, which the next
//! reads as the end), after passing a read error on, or as soon as the stage after them is
//! gone: when the applier stops early (an error or a refusal) it drops the pipe, so the
//! hasher's next send fails and it returns, dropping its receiver, so the decompressor's next
//! send fails; waiting for a free buffer fails too once the pipe is dropped. No stage waits on
//! anything else but the layer reader itself, so they finish promptly and the scope joins them.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest as _, Sha256};

use crate::compress;
use crate::digest::digest_of;
use crate::Digest;

/// Size of each read-ahead buffer.
pub(super) const BUFFER_SIZE: usize = 512 * 1024;
/// How many read-ahead buffers exist at most (one per stage, the rest queued between them).
pub(super) const BUFFERS: usize = 6;

/// A filled buffer: `buf[..len]` is stream data.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

/// The sha256 and length of the whole decompressed stream, once it was all read.
pub(super) type Hashed = Option<(Digest, u64)>;

/// Starts decompressing and hashing `layer` on two threads of `scope`. Returns the pipe to
/// read the decompressed stream from, and the handle whose result is the stream's digest and
/// length (`None` if the stream was not read to its end: a read error, passed on through the
/// pipe, or the pipe was dropped).
pub(super) fn read_ahead<'scope, R: BufRead + Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    layer: R,
) -> (Pipe, ScopedJoinHandle<'scope, Hashed>) {
    let (raw_tx, raw_rx) = mpsc::sync_channel(BUFFERS);
    let (full_tx, full_rx) = mpsc::sync_channel(BUFFERS);
    let (free_tx, free_rx) = mpsc::channel();
    let decompressor = scope.spawn(move || decompress(layer, &raw_tx, &free_rx));
    let hasher = scope.spawn(move || {
        // Returns (dropping `raw_rx`) before waiting for the decompressor, which then stops.
        let hashed = hash(raw_rx, &full_tx);
        drop(full_tx);
        match decompressor.join() {
            Ok(true) => hashed,
            // It stopped early (having passed any error on) or panicked.
            _ => None,
        }
    });
    let pipe = Pipe {
        full: full_rx,
        free: free_tx,
        current: None,
        pos: 0,
    };
    (pipe, hasher)
}

/// Decompresses `layer` into buffers sent to `raw`, to the end of the stream. Returns whether
/// it got there (rather than stopping at a read error, which it sends on, or because the next
/// stage is gone).
fn decompress<R: BufRead>(
    layer: R,
    raw: &SyncSender<io::Result<Chunk>>,
    free: &Receiver<Vec<u8>>,
) -> bool {
    let mut reader = match compress::decompress(layer) {
        Ok(reader) => reader,
        Err(err) => {
            // If the next stage is gone nobody needs the error.
            let _ = raw.send(Err(err));
            return false;
        }
    };
    let mut allocated = 0;
    loop {
        let mut buf = match free.try_recv() {
            Ok(buf) => buf,
            Err(_) if allocated < BUFFERS => {
                allocated += 1;
                vec![0; BUFFER_SIZE]
            }
            // Blocks until the pipe hands a buffer back; fails once the pipe is dropped.
            Err(_) => match free.recv() {
                Ok(buf) => buf,
                Err(mpsc::RecvError) => return false,
            },
        };
        let mut len = 0;
        let mut failed = None;
        while len < buf.len() {
            match reader.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let end = len < buf.len();
        if len > 0 && raw.send(Ok(Chunk { buf, len })).is_err() {
            return false;
        }
        if let Some(err) = failed {
            let _ = raw.send(Err(err));
            return false;
        }
        if end {
            return true;
        }
    }
}

/// Hashes the buffers from `raw` and passes them (and any error) on to `full`. Returns the
/// digest and length of everything, or `None` after an error or if the pipe is gone.
fn hash(raw: Receiver<io::Result<Chunk>>, full: &SyncSender<io::Result<Chunk>>) -> Hashed {
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    loop {
        match raw.recv() {
            Ok(Ok(chunk)) => {
                hasher.update(&chunk.buf[..chunk.len]);
                total += chunk.len as u64;
                full.send(Ok(chunk)).ok()?;
            }
            Ok(Err(err)) => {
                let _ = full.send(Err(err));
                return None;
            }
            // The decompressor is done; whether it reached the end is checked by the caller.
            Err(mpsc::RecvError) => return Some((digest_of(hasher), total)),
        }
    }
}

/// The consuming side: the decompressed stream, read from the buffers the producer fills.
pub(super) struct Pipe {
    full: Receiver<io::Result<Chunk>>,
    free: Sender<Vec<u8>>,
    current: Option<Chunk>,
    /// Bytes of `current` already consumed.
    pos: usize,
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let data = self.fill_buf()?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pipe {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.current.as_ref().is_some_and(|c| self.pos >= c.len) {
            if let Some(done) = self.current.take() {
                // The producer may have finished; then the buffer is simply dropped.
                let _ = self.free.send(done.buf);
            }
        }
        if self.current.is_none() {
            match self.full.recv() {
                Ok(Ok(chunk)) => {
                    self.current = Some(chunk);
                    self.pos = 0;
                }
                Ok(Err(err)) => return Err(err),
                // The producer is done (or stopped after an error it already sent): the end.
                Err(mpsc::RecvError) => return Ok(&[]),
            }
        }
        Ok(match &self.current {
            Some(chunk) => &chunk.buf[self.pos..chunk.len],
            None => &[],
        })
    }

    fn consume(&mut self, amount: usize) {
        if let Some(chunk) = &self.current {
            self.pos = (self.pos + amount).min(chunk.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_the_stream_and_its_digest() {
        let data: Vec<u8> = (0..3 * BUFFER_SIZE as u32 + 1234)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let (got, hashed) = std::thread::scope(|s| {
            let (mut pipe, handle) = read_ahead(s, &data[..]);
            let mut got = Vec::new();
            // Mixed small reads and whole-buffer reads.
            let mut small = [0u8; 1000];
            let n = pipe.read(&mut small).unwrap();
            got.extend_from_slice(&small[..n]);
            pipe.read_to_end(&mut got).unwrap();
            drop(pipe);
            (got, handle.join().unwrap())
        });
        assert_eq!(got, data);
        assert_eq!(
            hashed,
            Some((crate::digest::sha256(&data), data.len() as u64))
        );
    }

    #[test]
    fn stops_when_the_pipe_is_dropped() {
        // An endless stream: the stages must notice the pipe is gone.
        let endless = io::BufReader::new(io::repeat(7));
        let result = std::thread::scope(|s| {
            let (mut pipe, handle) = read_ahead(s, endless);
            let mut first = [0u8; 10];
            pipe.read_exact(&mut first).unwrap();
            assert_eq!(first, [7; 10]);
            drop(pipe);
            handle.join().unwrap()
        });
        assert_eq!(result, None);
    }

    #[test]
    fn passes_read_errors_on_after_the_data_before_them() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("boom"));
                }
                let n = buf.len().min(self.0).min(100);
                buf[..n].fill(b'x');
                self.0 -= n;
                Ok(n)
            }
        }
        let (got, err, result) = std::thread::scope(|s| {
            let (mut pipe, handle) = read_ahead(s, io::BufReader::new(Failing(1000)));
            let mut got = Vec::new();
            let err = pipe.read_to_end(&mut got).unwrap_err();
            drop(pipe);
            (got, err, handle.join().unwrap())
        });
        assert_eq!(got, vec![b'x'; 1000]);
        assert_eq!(err.to_string(), "boom");
        assert_eq!(result, None);
    }
}
