//! A streaming tar reader whose memory use does not depend on the archive.
//!
//! The `tar` crate reads PAX extension headers and GNU long names into memory whole, bounded
//! only by the sizes the archive claims, so a hostile layer of a few kilobytes (compressed)
//! could make it allocate gigabytes. This reader checks every extension header's size against
//! [`MAX_EXTENSION_HEADER`] before reading it, and streams file contents in fixed chunks.
//!
//! It follows Go's `archive/tar` (which Docker and containerd use) where tar readers disagree:
//! entry types `1`–`6` (links, devices, directories, fifos) carry no data whatever their size
//! field says; a PAX `size` record overrides the header's; a GNU long name overrides a PAX
//! `path`; type `\0` with a name ending in `/` is a directory; PAX global headers are read and
//! ignored.
//!
//! File contents are handed out as slices of the underlying [`BufRead`]'s buffer, without
//! copying.

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use super::error::{lossy, ApplyError, Refusal};

const BLOCK: usize = 512;

/// The largest PAX extended header or GNU long name/link accepted (Go's limit, 1 MiB).
pub const MAX_EXTENSION_HEADER: u64 = 1 << 20;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Regular,
    HardLink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
}

/// A modification time: seconds since the epoch (may be negative) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Time {
    pub(super) secs: i64,
    pub(super) nanos: u32,
}

/// One archive member, with its extension headers merged in.
#[derive(Debug)]
pub(super) struct Entry {
    /// The path as written in the archive (not normalized).
    pub(super) path: Vec<u8>,
    /// Symlink target or hard link target, as written.
    pub(super) link: Vec<u8>,
    pub(super) kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`& 0o7777`).
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: Time,
    /// Bytes of contents that follow (0 for every kind but `Regular`).
    pub(super) size: u64,
    pub(super) dev_major: u32,
    pub(super) dev_minor: u32,
    /// Extended attributes from `SCHILY.xattr.*` records (name without the prefix).
    pub(super) xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// PAX records that matter to an entry.
#[derive(Debug, Default)]
struct Pax {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<Time>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Reads a tar stream entry by entry.
pub(super) struct TarStream<R> {
    inner: R,
    /// Bytes consumed from `inner` so far.
    pos: u64,
    /// Contents bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's contents.
    padding: u64,
    /// The current entry's path, for truncation errors.
    current: String,
    /// Bytes of `inner`'s buffer handed out by [`TarStream::data_chunk`] (and counted in `pos`)
    /// but not yet consumed from it.
    unconsumed: usize,
}

impl<R: BufRead> TarStream<R> {
    pub(super) fn new(inner: R) -> Self {
        TarStream {
            inner,
            pos: 0,
            remaining: 0,
            padding: 0,
            current: String::new(),
            unconsumed: 0,
        }
    }

    /// The wrapped reader (positioned after the end-of-archive blocks once `next_entry` has
    /// returned `None`).
    pub(super) fn into_inner(mut self) -> R {
        self.settle();
        self.inner
    }

    /// Bytes of the stream read so far.
    pub(super) fn position(&self) -> u64 {
        self.pos
    }

    /// Consumes what the last [`TarStream::data_chunk`] handed out.
    fn settle(&mut self) {
        let n = std::mem::take(&mut self.unconsumed);
        if n > 0 {
            self.inner.consume(n);
        }
    }

    fn read_error(&self, source: io::Error) -> ApplyError {
        ApplyError::Read {
            offset: self.pos,
            source,
        }
    }

    fn truncated(&self, entry: Option<&str>) -> ApplyError {
        ApplyError::Truncated {
            offset: self.pos,
            entry: entry.map(str::to_owned),
        }
    }

    /// Reads up to `buf.len()` bytes; fewer only at end of stream.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, ApplyError> {
        self.settle();
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ApplyError::Read {
                        offset: self.pos,
                        source,
                    })
                }
            }
        }
        Ok(got)
    }

    /// Reads one 512-byte block: `Ok(false)` at a clean end of stream, an error on a partial one.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, ApplyError> {
        match self.fill(block)? {
            0 => Ok(false),
            BLOCK => Ok(true),
            _ => Err(self.truncated(None)),
        }
    }

    /// Reads and discards `n` bytes of the stream.
    fn skip(&mut self, mut n: u64) -> Result<(), ApplyError> {
        self.settle();
        while n > 0 {
            let available = match self.inner.fill_buf() {
                Ok(data) => data.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.read_error(source)),
            };
            if available == 0 {
                let entry = self.current.clone();
                return Err(self.truncated(Some(&entry)));
            }
            let take = n.min(available as u64) as usize;
            self.inner.consume(take);
            self.pos += take as u64;
            n -= take as u64;
        }
        Ok(())
    }

    /// Skips whatever is left of the current entry, contents and padding.
    fn skip_rest(&mut self) -> Result<(), ApplyError> {
        let n = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.skip(n)
    }

    /// The next chunk of the current entry's contents, or `None` when all was read.
    pub(super) fn data_chunk(&mut self) -> Result<Option<&[u8]>, ApplyError> {
        self.settle();
        if self.remaining == 0 {
            let padding = std::mem::take(&mut self.padding);
            self.skip(padding)?;
            return Ok(None);
        }
        // Retry interrupted reads first: the buffer is then filled, and the `fill_buf` below
        // returns it without reading.
        while let Err(e) = self.inner.fill_buf() {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(self.read_error(e));
            }
        }
        // Only fields other than `inner` are used while `data` borrows it.
        let data = self.inner.fill_buf().map_err(|source| ApplyError::Read {
            offset: self.pos,
            source,
        })?;
        if data.is_empty() {
            return Err(ApplyError::Truncated {
                offset: self.pos,
                entry: Some(self.current.clone()),
            });
        }
        let got = self.remaining.min(data.len() as u64) as usize;
        self.remaining -= got as u64;
        self.pos += got as u64;
        self.unconsumed = got;
        Ok(Some(&data[..got]))
    }

    /// Reads an extension header's contents (already checked against the limit) and padding.
    fn read_extension(&mut self, size: u64, name: &str) -> Result<Vec<u8>, ApplyError> {
        let len = usize::try_from(size).map_err(|_| self.truncated(Some(name)))?;
        let mut data = vec![0; len];
        if self.fill(&mut data)? < len {
            return Err(self.truncated(Some(name)));
        }
        self.current = name.to_owned();
        self.skip(padding_of(size))?;
        Ok(data)
    }

    /// The next entry, or `None` after the end-of-archive marker.
    ///
    /// Any contents of the previous entry not read through [`TarStream::data_chunk`] are skipped.
    pub(super) fn next_entry(&mut self) -> Result<Option<Entry>, ApplyError> {
        self.skip_rest()?;
        let mut extensions = Extensions::default();
        loop {
            let offset = self.pos;
            let mut block = [0u8; BLOCK];
            if !self.read_block(&mut block)? {
                return Err(if extensions.pending() {
                    malformed(offset, "extension header not followed by an entry")
                } else {
                    self.truncated(None)
                });
            }
            if block.iter().all(|b| *b == 0) {
                if extensions.pending() {
                    return Err(malformed(
                        offset,
                        "extension header not followed by an entry",
                    ));
                }
                self.end_of_archive(offset)?;
                return Ok(None);
            }
            check_checksum(&block, offset)?;
            let typeflag = block[156];
            if matches!(typeflag, b'x' | b'g' | b'L' | b'K') {
                self.read_extension_header(&block, offset, &mut extensions)?;
                continue;
            }
            let entry = entry_of(&block, offset, extensions)?;
            self.remaining = entry.size;
            self.padding = padding_of(entry.size);
            self.current = lossy(&entry.path);
            return Ok(Some(entry));
        }
    }

    /// After a first zero block at `offset`: a second zero block, or the end of the stream,
    /// must follow.
    fn end_of_archive(&mut self, offset: u64) -> Result<(), ApplyError> {
        let mut second = [0u8; BLOCK];
        if self.read_block(&mut second)? && second.iter().any(|b| *b != 0) {
            return Err(malformed(
                offset + BLOCK as u64,
                "a header follows a single end-of-archive block",
            ));
        }
        Ok(())
    }

    /// Reads the extension header (PAX `x` or `g`, GNU `L` or `K`) whose header block is
    /// `block`, refusing it over [`MAX_EXTENSION_HEADER`], into `extensions`.
    fn read_extension_header(
        &mut self,
        block: &[u8; BLOCK],
        offset: u64,
        extensions: &mut Extensions,
    ) -> Result<(), ApplyError> {
        let typeflag = block[156];
        let own_name = lossy(&header_path(block));
        let size = number_u64(&block[124..136], offset, "size")?;
        if size > MAX_EXTENSION_HEADER {
            return Err(ApplyError::Refused {
                entry: own_name,
                reason: Refusal::ExtensionTooLarge {
                    kind: extension_kind(typeflag),
                    size,
                    limit: MAX_EXTENSION_HEADER,
                },
            });
        }
        let data = self.read_extension(size, &own_name)?;
        let twice = || {
            malformed(
                offset,
                &format!("two {} headers for one entry", extension_kind(typeflag)),
            )
        };
        match typeflag {
            b'x' => {
                if extensions.pax.is_some() {
                    return Err(twice());
                }
                extensions.pax = Some(parse_pax(&data, offset, &own_name)?);
            }
            b'g' => {
                // Global headers are validated and ignored, as Docker and containerd do.
                parse_pax(&data, offset, &own_name)?;
            }
            b'L' => {
                if extensions.long_name.is_some() {
                    return Err(twice());
                }
                extensions.long_name = Some(until_nul(&data).to_vec());
            }
            _ => {
                if extensions.long_link.is_some() {
                    return Err(twice());
                }
                extensions.long_link = Some(until_nul(&data).to_vec());
            }
        }
        Ok(())
    }
}

/// The extension headers read before an entry's own header, which they apply to.
#[derive(Debug, Default)]
struct Extensions {
    pax: Option<Pax>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Extensions {
    /// Whether any was read (an entry must then follow).
    fn pending(&self) -> bool {
        self.pax.is_some() || self.long_name.is_some() || self.long_link.is_some()
    }
}

/// The entry whose header block (at `offset`) is `block`, with `extensions` merged in: a GNU
/// long name or link overrides a PAX one, which overrides the header's fields.
fn entry_of(block: &[u8; BLOCK], offset: u64, extensions: Extensions) -> Result<Entry, ApplyError> {
    let typeflag = block[156];
    let pax = extensions.pax.unwrap_or_default();
    let path = extensions
        .long_name
        .or(pax.path)
        .unwrap_or_else(|| header_path(block));
    let entry_name = lossy(&path);
    let refuse = |reason| ApplyError::Refused {
        entry: entry_name.clone(),
        reason,
    };
    let out_of_range = |field: &'static str, value: &dyn std::fmt::Display| {
        refuse(Refusal::OutOfRange {
            field,
            value: value.to_string(),
        })
    };
    let kind = match typeflag {
        b'0' | b'7' => Kind::Regular,
        0 if path.ends_with(b"/") => Kind::Dir,
        0 => Kind::Regular,
        b'1' => Kind::HardLink,
        b'2' => Kind::Symlink,
        b'3' => Kind::Char,
        b'4' => Kind::Block,
        b'5' => Kind::Dir,
        b'6' => Kind::Fifo,
        b'S' => return Err(refuse(Refusal::Sparse)),
        other => return Err(refuse(Refusal::UnsupportedType(char::from(other)))),
    };
    let link = extensions
        .long_link
        .or(pax.link)
        .unwrap_or_else(|| until_nul(&block[157..257]).to_vec());
    let size = match kind {
        Kind::Regular => match pax.size {
            Some(size) => size,
            None => number_u64(&block[124..136], offset, "size")?,
        },
        _ => 0,
    };
    let id = |pax_value: Option<u64>, field: &[u8], what: &'static str| {
        let value = match pax_value {
            Some(v) => v,
            None => number_u64(field, offset, what)?,
        };
        u32::try_from(value).map_err(|_| out_of_range(what, &value))
    };
    let uid = id(pax.uid, &block[108..116], "uid")?;
    let gid = id(pax.gid, &block[116..124], "gid")?;
    let mtime = match pax.mtime {
        Some(t) => t,
        None => {
            let secs = number(&block[136..148], offset, "mtime")?;
            Time {
                secs: i64::try_from(secs).map_err(|_| out_of_range("mtime", &secs))?,
                nanos: 0,
            }
        }
    };
    let mode = number(&block[100..108], offset, "mode")?;
    let mode = u32::try_from(mode & 0o7777).unwrap_or(0);
    let (dev_major, dev_minor) = if matches!(kind, Kind::Char | Kind::Block) {
        let major = number_u64(&block[329..337], offset, "devmajor")?;
        let minor = number_u64(&block[337..345], offset, "devminor")?;
        let to32 = |v: u64, field| u32::try_from(v).map_err(|_| out_of_range(field, &v));
        (to32(major, "devmajor")?, to32(minor, "devminor")?)
    } else {
        (0, 0)
    };
    Ok(Entry {
        path,
        link,
        kind,
        mode,
        uid,
        gid,
        mtime,
        size,
        dev_major,
        dev_minor,
        xattrs: pax.xattrs,
    })
}

fn malformed(offset: u64, reason: &str) -> ApplyError {
    ApplyError::Malformed {
        offset,
        reason: reason.to_owned(),
    }
}

fn extension_kind(typeflag: u8) -> &'static str {
    match typeflag {
        b'x' => "PAX extended",
        b'g' => "PAX global",
        b'L' => "GNU long name",
        _ => "GNU long link",
    }
}

fn padding_of(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// The bytes of a NUL-terminated field, up to the first NUL.
fn until_nul(field: &[u8]) -> &[u8] {
    match field.iter().position(|b| *b == 0) {
        Some(end) => &field[..end],
        None => field,
    }
}

/// The path in a header block: ustar `prefix/name`, or just `name` for GNU and v7 headers.
fn header_path(block: &[u8; BLOCK]) -> Vec<u8> {
    let name = until_nul(&block[0..100]);
    let magic = &block[257..263];
    if magic != b"ustar\0" {
        // GNU ("ustar  \0") keeps atime/ctime where ustar has the prefix; v7 has neither.
        return name.to_vec();
    }
    // star puts a shorter prefix before its own atime/ctime, marked by "tar\0" at the end.
    let prefix = if &block[508..512] == b"tar\0" {
        until_nul(&block[345..476])
    } else {
        until_nul(&block[345..500])
    };
    if prefix.is_empty() {
        name.to_vec()
    } else {
        let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
        path.extend_from_slice(prefix);
        path.push(b'/');
        path.extend_from_slice(name);
        path
    }
}

fn check_checksum(block: &[u8; BLOCK], offset: u64) -> Result<(), ApplyError> {
    let field = &block[148..156];
    let stored = number(field, offset, "checksum")?;
    // The checksum field counts as eight spaces. 512 bytes cannot overflow an i32 sum.
    let (mut unsigned, mut signed) = (8 * i32::from(b' '), 8 * i32::from(b' '));
    for (i, b) in block.iter().enumerate() {
        if !(148..156).contains(&i) {
            unsigned += i32::from(*b);
            signed += i32::from(*b as i8);
        }
    }
    if stored == i128::from(unsigned) || stored == i128::from(signed) {
        Ok(())
    } else {
        Err(malformed(offset, "header checksum mismatch"))
    }
}

/// A numeric header field: octal text (space or NUL padded) or GNU base-256 (high bit set).
fn number(field: &[u8], offset: u64, what: &str) -> Result<i128, ApplyError> {
    if let Some(first) = field.first().copied().filter(|b| b & 0x80 != 0) {
        // Base-256, two's complement: 0x80 marks a positive number, 0xff a negative one.
        // Negative values are read inverted (-a-1 == !a).
        let inv = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut value: u128 = 0;
        for (i, b) in field.iter().enumerate() {
            let mut b = b ^ inv;
            if i == 0 {
                b &= 0x7f;
            }
            if value >> 112 != 0 {
                return Err(malformed(offset, &format!("{what} field overflows")));
            }
            value = value << 8 | u128::from(b);
        }
        let value = i128::try_from(value)
            .map_err(|_| malformed(offset, &format!("{what} field overflows")))?;
        let value = if inv == 0xff { !value } else { value };
        return Ok(value);
    }
    let trimmed = {
        let is_pad = |b: &u8| *b == b' ' || *b == 0;
        let start = field.iter().position(|b| !is_pad(b)).unwrap_or(field.len());
        let end = field
            .iter()
            .rposition(|b| !is_pad(b))
            .map_or(start, |e| e + 1);
        &field[start..end]
    };
    let mut value: i128 = 0;
    for b in trimmed {
        if !(b'0'..=b'7').contains(b) {
            return Err(malformed(
                offset,
                &format!("{what} field is not an octal number"),
            ));
        }
        value = value * 8 + i128::from(b - b'0');
    }
    Ok(value)
}

fn number_u64(field: &[u8], offset: u64, what: &str) -> Result<u64, ApplyError> {
    let value = number(field, offset, what)?;
    u64::try_from(value).map_err(|_| malformed(offset, &format!("{what} {value} is out of range")))
}

/// Parses PAX records (`LEN KEY=VALUE\n`), keeping the ones an entry needs.
fn parse_pax(data: &[u8], offset: u64, name: &str) -> Result<Pax, ApplyError> {
    let bad = |why: &str| malformed(offset, &format!("PAX header {name:?}: {why}"));
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        // Trailing NUL padding after the last record is tolerated.
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let space = rest
            .iter()
            .take(20)
            .position(|b| *b == b' ')
            .ok_or_else(|| bad("record length missing"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("record length is not a number"))?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad("record length does not match the record"));
        }
        let record = &rest[space + 1..len - 1];
        rest = &rest[len..];
        let eq = record
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| bad("record without '='"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let decimal = |what: &str| -> Result<Option<u64>, ApplyError> {
            if value.is_empty() {
                return Ok(None);
            }
            std::str::from_utf8(value)
                .ok()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(|| bad(&format!("{what} is not a decimal number in range")))
        };
        // An empty value means "use the header's field" (POSIX).
        let text = || (!value.is_empty()).then(|| value.to_vec());
        match key {
            b"path" => pax.path = text(),
            b"linkpath" => pax.link = text(),
            b"size" => pax.size = decimal("size")?,
            b"uid" => pax.uid = decimal("uid")?,
            b"gid" => pax.gid = decimal("gid")?,
            b"mtime" => {
                pax.mtime = if value.is_empty() {
                    None
                } else {
                    Some(parse_pax_time(value).ok_or_else(|| bad("mtime is not a time"))?)
                }
            }
            _ if key.starts_with(b"GNU.sparse.") => {
                return Err(ApplyError::Refused {
                    entry: name.to_owned(),
                    reason: Refusal::Sparse,
                })
            }
            _ => {
                if let Some(xattr) = key.strip_prefix(b"SCHILY.xattr.") {
                    if xattr.is_empty() || xattr.contains(&0) {
                        return Err(bad("invalid xattr name"));
                    }
                    pax.xattrs.insert(xattr.to_vec(), value.to_vec());
                }
                // Other keys (atime, ctime, uname, gname, comment, ...) do not matter here.
            }
        }
    }
    Ok(pax)
}

/// `[-]SECONDS[.FRACTION]`.
fn parse_pax_time(value: &[u8]) -> Option<Time> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(if negative && nanos > 0 {
        Time {
            secs: -secs - 1,
            nanos: 1_000_000_000 - nanos,
        }
    } else if negative {
        Time {
            secs: -secs,
            nanos: 0,
        }
    } else {
        Time { secs, nanos }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(b"0000644\0", 0, "m").unwrap(), 0o644);
        assert_eq!(number(b"  644 \0\0", 0, "m").unwrap(), 0o644);
        assert_eq!(number(b"\0\0\0\0\0\0\0\0", 0, "m").unwrap(), 0);
        assert!(number(b"0009\0", 0, "m").is_err());
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[11] = 5;
        b256[10] = 1;
        assert_eq!(number(&b256, 0, "s").unwrap(), 261);
        let neg = [0xffu8; 8];
        assert_eq!(number(&neg, 0, "s").unwrap(), -1);
        let mut neg2 = [0xffu8; 8];
        neg2[7] = 0xfe;
        assert_eq!(number(&neg2, 0, "s").unwrap(), -2);
        let mut huge = [0xffu8; 12];
        huge[0] = 0x80;
        assert!(number_u64(&huge, 0, "size").is_err());
    }

    #[test]
    fn pax_records() {
        let record = |kv: &str| {
            let mut len = kv.len() + 3;
            if len.to_string().len() + kv.len() + 2 != len {
                len += 1;
            }
            format!("{len} {kv}\n")
        };
        let data = [
            record("path=a/b/c"),
            record("size=42"),
            record("SCHILY.xattr.user.k=v=w"),
        ]
        .concat();
        let pax = parse_pax(data.as_bytes(), 0, "x").unwrap();
        assert_eq!(pax.path.as_deref(), Some(&b"a/b/c"[..]));
        assert_eq!(pax.size, Some(42));
        assert_eq!(
            pax.xattrs.get(&b"user.k"[..]).map(Vec::as_slice),
            Some(&b"v=w"[..])
        );
        assert!(parse_pax(b"99 path=a\n", 0, "x").is_err());
        assert!(parse_pax(b"9 path=a\n", 0, "x").is_ok());
        assert!(parse_pax(record("size=999999999999999999999").as_bytes(), 0, "x").is_err());
        assert!(parse_pax(record("GNU.sparse.major=1").as_bytes(), 0, "x").is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some(Time {
                secs: 1_700_000_000,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            parse_pax_time(b"-1.25"),
            Some(Time {
                secs: -2,
                nanos: 750_000_000
            })
        );
        assert_eq!(parse_pax_time(b"x"), None);
    }
}
