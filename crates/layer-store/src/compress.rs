//! Layer compression: zstd (the default), gzip, or none; detection by magic number.

use std::io::{self, BufRead, Read, Write};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`).
    Gzip,
    /// zstd (`application/vnd.oci.image.layer.v1.tar+zstd`), the default.
    #[default]
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// Guesses the compression from the first bytes of a stream (at least 4 for zstd).
    pub fn detect(prefix: &[u8]) -> Compression {
        if prefix.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else if prefix.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for a tar stream with this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// The compression a layer media type (OCI or Docker schema 2) names, if it names a layer.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }
}

/// Wraps `reader` in the decompressor its first bytes call for (gzip, zstd or none).
///
/// Concatenated gzip members are all read, as `gzip -d` does.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    // fill_buf may return fewer than 4 bytes on a slow reader; ask until we have enough or EOF.
    let mut prefix = Vec::with_capacity(4);
    let kind = loop {
        let buf = reader.fill_buf()?;
        if buf.len() >= 4 || buf.is_empty() {
            break Compression::detect(buf);
        }
        // Rare: a short buffered read. Peek by copying, then chain the copy back in front.
        prefix.extend_from_slice(buf);
        let n = buf.len();
        reader.consume(n);
        if prefix.len() >= 4 {
            break Compression::detect(&prefix);
        }
    };
    let reader: Box<dyn BufRead + 'a> = if prefix.is_empty() {
        Box::new(reader)
    } else {
        Box::new(io::Cursor::new(prefix).chain(reader))
    };
    Ok(match kind {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}

/// A streaming compressor; call [`Compressor::finish`] to end the stream and get `W` back.
pub struct Compressor<W: Write> {
    inner: CompressorInner<W>,
}

enum CompressorInner<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> std::fmt::Debug for Compressor<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            CompressorInner::None(_) => "none",
            CompressorInner::Gzip(_) => "gzip",
            CompressorInner::Zstd(_) => "zstd",
        };
        f.debug_struct("Compressor")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Compressor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressOptions {
    /// Which compression.
    pub compression: Compression,
    /// Level: zstd 1–19 (default 3), gzip 0–9 (default 6, as `gzip`). `None` picks the default.
    pub level: Option<i32>,
    /// zstd worker threads (0 = one per CPU). zstd's multi-threaded output does not depend on
    /// the number of workers, so layers stay byte-for-byte reproducible across machines.
    pub threads: u32,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            compression: Compression::Zstd,
            level: None,
            threads: 0,
        }
    }
}

/// The multi-threaded zstd job size for `level` (1–19): twice the level's window.
///
/// zstd's default is four windows (8 MiB at level 3). Every worker holds an input section and
/// a worst-case output buffer of that size, and a few more wait in its pools, so on
/// incompressible data the default peaks near twice the memory of the `zstd` command line
/// tool, for no gain in speed; half the job size halves that. Compression is a little worse
/// (jobs start from a shorter history), about 0.5% at level 3 on mixed data. The job size is
/// fixed per level, never derived from the number of workers, so output stays independent
/// of it.
fn zstd_job_size(level: i32) -> u32 {
    // windowLog per level for inputs of unknown size (zstd's lib/compress/clevels.h).
    const WINDOW_LOG: [u32; 19] = [
        19, 20, 21, 21, 21, 21, 21, 21, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23,
    ];
    let index = usize::try_from(level.clamp(1, 19) - 1).unwrap_or(0);
    let window_log = WINDOW_LOG.get(index).copied().unwrap_or(21);
    1 << (window_log + 1)
}

impl<W: Write> Compressor<W> {
    /// Starts a compressed stream into `out`.
    pub fn new(out: W, options: CompressOptions) -> io::Result<Self> {
        let inner = match options.compression {
            Compression::None => CompressorInner::None(out),
            Compression::Gzip => {
                let level = options.level.unwrap_or(6).clamp(0, 9) as u32;
                // A fixed header (no mtime, no name) keeps the output reproducible.
                let enc = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(level));
                CompressorInner::Gzip(enc)
            }
            Compression::Zstd => {
                let level = options.level.unwrap_or(3).clamp(1, 19);
                let mut enc = zstd::stream::write::Encoder::new(out, level)?;
                let threads = if options.threads == 0 {
                    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
                } else {
                    options.threads
                };
                // Always multi-threaded (even with one worker): its frames are the same for any
                // number of workers, unlike the single-threaded mode's.
                enc.multithread(threads.max(1))?;
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(zstd_job_size(level)))?;
                enc.include_checksum(false)?;
                CompressorInner::Zstd(enc)
            }
        };
        Ok(Compressor { inner })
    }

    /// Ends the stream and returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        match self.inner {
            CompressorInner::None(w) => Ok(w),
            CompressorInner::Gzip(enc) => enc.finish(),
            CompressorInner::Zstd(enc) => enc.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            CompressorInner::None(w) => w.write(buf),
            CompressorInner::Gzip(w) => w.write(buf),
            CompressorInner::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            CompressorInner::None(w) => w.flush(),
            CompressorInner::Gzip(w) => w.flush(),
            CompressorInner::Zstd(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_kind() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut c = Compressor::new(
                Vec::new(),
                CompressOptions {
                    compression,
                    level: None,
                    threads: 2,
                },
            )
            .unwrap();
            c.write_all(&data).unwrap();
            let out = c.finish().unwrap();
            assert_eq!(Compression::detect(&out), compression);
            let mut back = Vec::new();
            decompress(io::BufReader::new(&out[..]))
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{compression:?}");
        }
    }

    #[test]
    fn zstd_output_does_not_depend_on_threads() {
        // Several jobs (level 1: 1 MiB jobs; level 3: 4 MiB), so workers really share the work.
        let data: Vec<u8> = (0..9_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        for (level, len) in [(1, 3_500_000), (3, data.len())] {
            let run = |threads| {
                let mut c = Compressor::new(
                    Vec::new(),
                    CompressOptions {
                        compression: Compression::Zstd,
                        level: Some(level),
                        threads,
                    },
                )
                .unwrap();
                c.write_all(&data[..len]).unwrap();
                c.finish().unwrap()
            };
            let one = run(1);
            assert_eq!(one, run(2), "level {level}");
            assert_eq!(one, run(4), "level {level}");
        }
    }

    #[test]
    fn zstd_job_sizes() {
        assert_eq!(zstd_job_size(1), 1 << 20);
        assert_eq!(zstd_job_size(3), 4 << 20);
        assert_eq!(zstd_job_size(19), 16 << 20);
        assert_eq!(zstd_job_size(-5), 1 << 20);
        assert_eq!(zstd_job_size(40), 16 << 20);
    }

    #[test]
    fn short_input_is_plain() {
        let mut back = Vec::new();
        decompress(&b"ab"[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, b"ab");
    }
}
