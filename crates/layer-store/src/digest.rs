//! sha256 content addresses: hashing readers and writers, and checked digest parsing.
//!
//! OCI content addresses are sha256 (see the design's "Digests"). The hasher comes from `sha2`,
//! which detects SHA-NI at run time, so hashing runs at about 2 GB/s where the CPU has it.

use std::io::{self, Read, Write};

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};

/// Renders a finished sha256 state as an OCI [`Digest`] (`sha256:<64 hex>`).
pub(crate) fn digest_of(hasher: Sha256) -> Digest {
    let sum = hasher.finalize();
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in sum.iter() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    // A sha256 hex string always parses as a sha256 digest.
    Digest::try_from(text).unwrap_or_else(|_| unreachable!("64 lowercase hex digits"))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The sha256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    digest_of(hasher)
}

/// The 64 lowercase hex digits of a sha256 digest, or `None` for any other algorithm or form.
///
/// Blob paths are built from this, so a digest that is not exactly 64 lowercase hex digits never
/// becomes part of a path.
pub fn sha256_hex(digest: &Digest) -> Option<&str> {
    let hex = digest.digest();
    let ok = *digest.algorithm() == DigestAlgorithm::Sha256
        && hex.len() == 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

/// A writer that hashes (sha256) and counts every byte it passes on to `inner`.
#[derive(Debug)]
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Sha256Writer {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped writer, mutably (bytes written through it directly are not hashed).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Ends hashing: the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, digest_of(self.hasher), self.len)
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes (sha256) and counts every byte read through it.
#[derive(Debug)]
pub struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> Sha256Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Sha256Reader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been read yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ends hashing: the inner reader, the digest of what was read, and its length.
    pub fn finish(self) -> (R, Digest, u64) {
        (self.inner, digest_of(self.hasher), self.len)
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (out, d, n) = w.finish();
        assert_eq!((out.as_slice(), n), (&b"abc"[..], 3));
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut r = Sha256Reader::new(&b"abc"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish().1, d);
    }

    #[test]
    fn hex_is_checked() {
        let d = sha256(b"x");
        assert!(sha256_hex(&d).is_some());
        let upper: Digest = format!("sha256:{}", "A".repeat(64))
            .parse()
            .unwrap_or_else(|_| d.clone());
        if upper != d {
            assert!(sha256_hex(&upper).is_none());
        }
        let other: Digest = format!("sha512:{}", "a".repeat(128)).parse().unwrap();
        assert!(sha256_hex(&other).is_none());
    }
}
