//! Shared by the applier's tests: a raw tar writer (for headers the `tar` crate refuses to
//! write) and compression helpers.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;

use boxwright_layer_store::{CompressOptions, Compression, Compressor};

/// One tar header, written byte by byte (ustar format).
#[derive(Debug, Clone)]
pub struct Hdr {
    pub name: Vec<u8>,
    pub kind: u8,
    pub size: u64,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
    pub major: u32,
    pub minor: u32,
}

impl Hdr {
    pub fn new(name: impl AsRef<[u8]>, kind: u8) -> Hdr {
        Hdr {
            name: name.as_ref().to_vec(),
            kind,
            size: 0,
            link: Vec::new(),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            major: 0,
            minor: 0,
        }
    }

    pub fn block(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        let name = &self.name[..self.name.len().min(100)];
        b[..name.len()].copy_from_slice(name);
        octal(&mut b[100..108], u64::from(self.mode));
        octal(&mut b[108..116], u64::from(self.uid));
        octal(&mut b[116..124], u64::from(self.gid));
        octal(&mut b[124..136], self.size);
        octal(&mut b[136..148], self.mtime);
        b[156] = self.kind;
        let link = &self.link[..self.link.len().min(100)];
        b[157..157 + link.len()].copy_from_slice(link);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        octal(&mut b[329..337], u64::from(self.major));
        octal(&mut b[337..345], u64::from(self.minor));
        set_checksum(&mut b);
        b
    }
}

/// Writes `value` as zero-padded octal with a trailing NUL (panics if it does not fit).
pub fn octal(field: &mut [u8], value: u64) {
    let text = format!("{:0width$o}", value, width = field.len() - 1);
    assert_eq!(text.len(), field.len() - 1, "{value} does not fit");
    field[..text.len()].copy_from_slice(text.as_bytes());
    field[text.len()] = 0;
}

pub fn set_checksum(b: &mut [u8; 512]) {
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|x| u32::from(*x)).sum();
    let text = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(text.as_bytes());
}

/// One PAX record, `LEN KEY=VALUE\n`.
pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    while len.to_string().len() + 1 + body != len {
        len += 1;
    }
    let mut r = format!("{len} ").into_bytes();
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// A tar stream built header by header.
#[derive(Debug, Default)]
pub struct RawTar {
    pub bytes: Vec<u8>,
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// A header block followed by `data` and zero padding to a block boundary.
    pub fn push(&mut self, block: [u8; 512], data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(&block);
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0, pad));
        self
    }

    pub fn entry(&mut self, hdr: &Hdr, data: &[u8]) -> &mut Self {
        let mut hdr = hdr.clone();
        hdr.size = data.len() as u64;
        self.push(hdr.block(), data)
    }

    pub fn file(&mut self, name: impl AsRef<[u8]>, data: &[u8]) -> &mut Self {
        self.entry(&Hdr::new(name, b'0'), data)
    }

    pub fn dir(&mut self, name: impl AsRef<[u8]>) -> &mut Self {
        let mut h = Hdr::new(name, b'5');
        h.mode = 0o755;
        self.entry(&h, b"")
    }

    pub fn symlink(&mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> &mut Self {
        let mut h = Hdr::new(name, b'2');
        h.link = target.as_ref().to_vec();
        h.mode = 0o777;
        self.entry(&h, b"")
    }

    pub fn hardlink(&mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> &mut Self {
        let mut h = Hdr::new(name, b'1');
        h.link = target.as_ref().to_vec();
        self.entry(&h, b"")
    }

    /// A PAX extended header with these records, for the next entry.
    pub fn pax(&mut self, records: &[(&[u8], &[u8])]) -> &mut Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.entry(&Hdr::new("PaxHeaders/x", b'x'), &data)
    }

    /// The stream with its two end-of-archive blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.extend_from_slice(&[0; 1024]);
        out
    }
}

pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    let mut c = Compressor::new(
        Vec::new(),
        CompressOptions {
            compression,
            level: None,
            threads: 1,
        },
    )
    .unwrap();
    c.write_all(data).unwrap();
    c.finish().unwrap()
}
