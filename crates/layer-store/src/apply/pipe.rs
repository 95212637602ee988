//! Read-ahead: decompressing and hashing the layer stream on a second thread.
//!
//! [`produce`] runs on a scoped thread. It decompresses the layer into a small, fixed set of
//! recycled buffers ([`BUFFERS`] × [`BUFFER_SIZE`]), hashes each one (the diffID) and hands it
//! over a channel to the [`Pipe`] the applying thread reads the tar stream from; the applier
//! sends each buffer back once it has used it. So decompression and hashing overlap with
//! writing files, and memory stays bounded whatever the layer.
//!
//! Stopping: the producer ends at the end of the stream (dropping its sender, which the pipe
//! reads as end of stream), after sending a read error, or as soon as the pipe is dropped (the
//! applier stopped early on an error or refusal): both of its blocking points, waiting for a
//! free buffer and sending a full one, fail once the pipe's ends are gone. It never waits on
//! anything else but the layer reader itself, so it finishes promptly and the scope joins it.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use sha2::{Digest as _, Sha256};

use crate::compress;
use crate::digest::digest_of;
use crate::Digest;

/// Size of each read-ahead buffer.
pub(super) const BUFFER_SIZE: usize = 512 * 1024;
/// How many read-ahead buffers exist at most (one being filled, the rest queued or being read).
pub(super) const BUFFERS: usize = 4;

/// A filled buffer: `buf[..len]` is stream data.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

/// The producer's ends of the two channels, and the consumer's.
pub(super) fn channels() -> (Producer, Pipe) {
    let (full_tx, full_rx) = mpsc::sync_channel(BUFFERS);
    let (free_tx, free_rx) = mpsc::channel();
    (
        Producer {
            full: full_tx,
            free: free_rx,
        },
        Pipe {
            full: full_rx,
            free: free_tx,
            current: None,
            pos: 0,
        },
    )
}

/// The producing side: where full buffers go and empty ones come back from.
pub(super) struct Producer {
    full: SyncSender<io::Result<Chunk>>,
    free: Receiver<Vec<u8>>,
}

/// Decompresses `layer` into buffers sent to the [`Pipe`], hashing everything, to the end of
/// the stream. Returns the sha256 and length of the whole decompressed stream, or `None` if it
/// stopped early (a read error, sent to the pipe, or the pipe was dropped).
pub(super) fn produce<R: BufRead>(layer: R, producer: Producer) -> Option<(Digest, u64)> {
    let Producer { full, free } = producer;
    let mut reader = match compress::decompress(layer) {
        Ok(reader) => reader,
        Err(err) => {
            // If the pipe is gone nobody needs the error.
            let _ = full.send(Err(err));
            return None;
        }
    };
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut allocated = 0;
    loop {
        let mut buf = match free.try_recv() {
            Ok(buf) => buf,
            Err(_) if allocated < BUFFERS => {
                allocated += 1;
                vec![0; BUFFER_SIZE]
            }
            // Blocks until the pipe hands a buffer back; fails once the pipe is dropped.
            Err(_) => free.recv().ok()?,
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
        if len > 0 {
            hasher.update(&buf[..len]);
            total += len as u64;
            full.send(Ok(Chunk { buf, len })).ok()?;
        }
        if let Some(err) = failed {
            let _ = full.send(Err(err));
            return None;
        }
        if end {
            return Some((digest_of(hasher), total));
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
        let (producer, mut pipe) = channels();
        let (got, hashed) = std::thread::scope(|s| {
            let handle = s.spawn(|| produce(&data[..], producer));
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
        // An endless stream: the producer must notice the pipe is gone.
        let endless = io::BufReader::new(io::repeat(7));
        let (producer, mut pipe) = channels();
        let result = std::thread::scope(|s| {
            let handle = s.spawn(|| produce(endless, producer));
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
        let (producer, mut pipe) = channels();
        let (got, err, result) = std::thread::scope(|s| {
            let handle = s.spawn(|| produce(io::BufReader::new(Failing(1000)), producer));
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
