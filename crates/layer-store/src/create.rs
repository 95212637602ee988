//! Deterministic layer creation: a directory, an overlayfs upper directory or the difference of
//! two directories, streamed into an OCI layer blob in one pass. The archive's exact form is
//! in [`create_layer`]'s documentation.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;

use crate::compress::{CompressOptions, Compressor};
use crate::digest::Sha256Writer;

/// What a layer is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSource<'a> {
    /// Every entry below a directory (the directory itself has no entry).
    Directory(&'a Path),
    /// The upper directory of an overlayfs mount: its whiteouts (character devices 0:0) become
    /// `.wh.NAME` entries and its opaque directories (`trusted.overlay.opaque` or
    /// `user.overlay.opaque` set to `y`) get a `.wh..wh..opq` entry. overlayfs' own `*.overlay.*`
    /// attributes are never written. Upper directories that use `redirect_dir` or `metacopy` do not
    /// hold their whole change and are refused ([`CreateError::UnsupportedOverlay`]).
    OverlayUpper(&'a Path),
    /// What changed from `lower` to `upper`: added and changed entries of `upper` and whiteouts for
    /// paths of `lower` that `upper` lacks (a deleted directory gets one whiteout).
    ///
    /// Entries are compared by type, permission bits, owner, extended attributes, device number and
    /// symlink target; non-directories also by size and mtime (to the nanosecond). As Docker's
    /// `ChangesDirs` does, a regular file whose metadata is all the same is trusted to be unchanged
    /// without reading its contents. A directory is written when its own metadata changed or
    /// anything below it did (so that appliers restore its owner and mode).
    Diff {
        /// The tree the layer applies on top of.
        lower: &'a Path,
        /// The tree the layer turns `lower` into.
        upper: &'a Path,
    },
}

/// Settings for [`create_layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// How the tar stream is compressed (zstd by default).
    pub compress: CompressOptions,
    /// When set, mtimes later than this (seconds since the epoch) are written as this.
    pub source_date_epoch: Option<i64>,
    /// Whether extended attributes are recorded (default true).
    pub xattrs: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            compress: CompressOptions::default(),
            source_date_epoch: None,
            xattrs: true,
        }
    }
}

impl CreateOptions {
    /// The defaults, with `source_date_epoch` taken from the `SOURCE_DATE_EPOCH` environment
    /// variable (an integer number of seconds; anything else is ignored with a warning).
    pub fn from_env() -> Self {
        let source_date_epoch = std::env::var_os("SOURCE_DATE_EPOCH").and_then(|v| parse_epoch(&v));
        CreateOptions {
            source_date_epoch,
            ..CreateOptions::default()
        }
    }
}

/// What [`create_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLayer {
    /// sha256 of the (compressed) blob: the layer's content address.
    pub digest: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    /// sha256 of the uncompressed tar stream (the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream in bytes.
    pub uncompressed_size: u64,
    /// The OCI media type of the blob.
    pub media_type: String,
}

/// Why a layer could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// Reading the source tree failed.
    #[error("reading {} failed", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A source root is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// A file changed (size or inode) between the walk and the copy of its contents.
    #[error("{} changed while the layer was being written", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// An overlayfs upper directory uses a feature whose changes are not all in the upper
    /// directory (`redirect_dir` or `metacopy`).
    #[error(
        "{}: overlayfs attribute {xattr} is not supported (mount with redirect_dir=off,metacopy=off)",
        path.display()
    )]
    UnsupportedOverlay {
        /// The path carrying the attribute.
        path: PathBuf,
        /// The attribute's name.
        xattr: String,
    },
    /// Writing the blob failed.
    #[error("writing the layer failed")]
    Write(#[source] io::Error),
}

/// Writes the layer for `source` to `out` and returns `out` and the layer's digests and sizes.
///
/// # The archive
///
/// The same tree always gives the same bytes, wherever it lies on disk:
///
/// * entries are sorted by name, directory by directory (a directory's entry comes right before
///   its children, as `tar --sort=name` and Docker do); names are relative, with no leading `./`,
///   and directories end in `/`; the root itself has no entry;
/// * headers are ustar, with a PAX extended header (records in a fixed order) where a path or link
///   target is longer than 100 bytes, a size, owner or time does not fit, or the entry has
///   extended attributes (`SCHILY.xattr.NAME`, sorted by name);
/// * uid, gid, permission bits (with setuid, setgid and sticky) and the mtime in whole seconds
///   are kept; user and group names are left empty so the host's `/etc/passwd` does not matter;
///   access and change times are not recorded; with `SOURCE_DATE_EPOCH` set, mtimes later than it
///   are clamped to it;
/// * hard links are kept: the second and later paths of an inode become link entries naming the
///   first path in entry order; symlinks are stored verbatim and never followed; fifos and device
///   nodes are kept, sockets skipped; `security.selinux` labels are host state and overlayfs'
///   own `trusted.overlay.*` / `user.overlay.*` attributes are filesystem state: neither is
///   written;
/// * the stream ends with the standard two zero blocks, and the compressors are reproducible (gzip
///   with a zero mtime and no name; zstd in its multi-threaded mode, whose frames do not depend on
///   the number of workers).
///
/// Whiteouts are written as empty regular files (`.wh.NAME`, mode 0600), and an opaque directory
/// gets a `.wh..wh..opq` entry right after the directory's own entry, as Docker writes them.
///
/// The tar stream, its sha256 (the diffID), the compressor and the blob's sha256 are chained
/// writers, so creation is one streaming pass whose memory does not depend on file sizes: file
/// contents are copied through one reused 1 MiB buffer, and entries are written as the walk
/// meets them. What is held is one directory's listing per level of depth, the first path of
/// each inode with several links, and, for [`LayerSource::Diff`], the changes below a directory
/// until the walk knows whether the directory's own entry is written.
///
/// Paths below the source roots are examined with `lstat` and never followed; regular files are
/// opened with `O_NOFOLLOW` and checked to still be the inode that was walked. The source trees
/// are expected not to be modified while the layer is written: a file that changes size or is
/// replaced meanwhile is reported as [`CreateError::Changed`].
///
/// Entries are written as the source is walked, so on error `out` may hold part of a blob:
/// discard it.
pub fn create_layer<W: Write>(
    source: LayerSource<'_>,
    out: W,
    options: &CreateOptions,
) -> Result<(W, CreatedLayer), CreateError> {
    let (blob, tar) = write_layer(source, Sha256Writer::new(out), options)?;
    let (out, digest, size) = blob.finish();
    Ok((
        out,
        CreatedLayer {
            digest,
            size,
            diff_id: tar.diff_id,
            uncompressed_size: tar.size,
            media_type: options.compress.compression.layer_media_type().to_owned(),
        },
    ))
}

/// The uncompressed side of a layer [`write_layer`] wrote.
pub(crate) struct TarDigest {
    /// sha256 of the uncompressed tar stream.
    pub(crate) diff_id: Digest,
    /// Its size in bytes.
    pub(crate) size: u64,
}

/// [`create_layer`] without hashing the compressed blob: for a writer that hashes what it is
/// given anyway (a store's blob writer, whose commit reports the digest), so the compressed
/// stream is hashed once.
pub(crate) fn write_layer<W: Write>(
    source: LayerSource<'_>,
    out: W,
    options: &CreateOptions,
) -> Result<(W, TarDigest), CreateError> {
    let mut scanner = Scanner {
        xattrs: options.xattrs,
        overlay: matches!(source, LayerSource::OverlayUpper(_)),
    };
    let compressor = Compressor::new(out, options.compress).map_err(CreateError::Write)?;
    let tar = Sha256Writer::new(compressor);
    let writer = TarWriter {
        out: BufWriter::with_capacity(WRITE_BUFFER, tar),
        buf: vec![0; READ_BUFFER],
        headers: Vec::with_capacity(4 * BLOCK),
        epoch: options.source_date_epoch,
    };
    let archive = match source {
        LayerSource::Directory(dir) | LayerSource::OverlayUpper(dir) => {
            check_root(dir)?;
            let mut archive = Archive::new(writer, dir);
            scanner.walk(dir, &mut Vec::new(), &mut archive)?;
            archive
        }
        LayerSource::Diff { lower, upper } => {
            check_root(lower)?;
            check_root(upper)?;
            let mut archive = Archive::new(writer, upper);
            scanner.diff(lower, upper, &mut Vec::new(), &mut archive)?;
            archive
        }
    };
    tracing::debug!(entries = archive.entries, "layer written");
    let mut writer = archive.writer;
    writer.finish_archive()?;
    let tar = writer
        .out
        .into_inner()
        .map_err(|e| CreateError::Write(e.into_error()))?;
    let (compressor, diff_id, size) = tar.finish();
    let out = compressor.finish().map_err(CreateError::Write)?;
    Ok((out, TarDigest { diff_id, size }))
}

/// `SOURCE_DATE_EPOCH` as seconds, or `None` (with a warning) when it is not an integer.
fn parse_epoch(value: &OsStr) -> Option<i64> {
    let parsed = value.to_str().and_then(|s| s.trim().parse::<i64>().ok());
    if parsed.is_none() {
        tracing::warn!(?value, "ignoring SOURCE_DATE_EPOCH: not an integer");
    }
    parsed
}

const READ_BUFFER: usize = 1 << 20;
const WRITE_BUFFER: usize = 256 << 10;
const BLOCK: usize = 512;
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

fn check_root(path: &Path) -> Result<(), CreateError> {
    let meta = fs::metadata(path).map_err(|source| io_error(path, source))?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(CreateError::NotADirectory {
            path: path.to_owned(),
        })
    }
}

fn io_error(path: &Path, source: io::Error) -> CreateError {
    CreateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Extended attributes as `(name, value)` pairs.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// One archive entry, as walked (contents are read when it is written).
#[derive(Debug)]
struct Entry {
    /// Relative path as written, without the trailing `/` of directories.
    path: Vec<u8>,
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Xattrs,
    /// `(dev, ino)` of a non-directory with more than one link.
    link_key: Option<(u64, u64)>,
}

#[derive(Debug)]
enum Kind {
    Dir,
    File {
        size: u64,
        dev: u64,
        ino: u64,
    },
    Symlink(Vec<u8>),
    Char(u64),
    Block(u64),
    Fifo,
    HardLink(Vec<u8>),
    /// An empty regular file that is not on disk: a whiteout or opaque marker.
    Marker,
}

/// Where walked entries go: straight into the archive, or a buffer (a diff holds a
/// directory's changes until it knows whether the directory itself is written).
trait Emit {
    fn emit(&mut self, entry: Entry) -> Result<(), CreateError>;
}

impl Emit for Vec<Entry> {
    fn emit(&mut self, entry: Entry) -> Result<(), CreateError> {
        self.push(entry);
        Ok(())
    }
}

/// The archive being written, and the first path of each multiply-linked inode written so far.
struct Archive<'a, W: Write> {
    writer: TarWriter<W>,
    /// Where the archive's paths are read from.
    root: &'a Path,
    links: HashMap<(u64, u64), Vec<u8>>,
    entries: u64,
}

impl<'a, W: Write> Archive<'a, W> {
    fn new(writer: TarWriter<W>, root: &'a Path) -> Self {
        Archive {
            writer,
            root,
            links: HashMap::new(),
            entries: 0,
        }
    }
}

impl<W: Write> Emit for Archive<'_, W> {
    /// Writes `entry`, as a hard link to the first path of its inode if that was written.
    fn emit(&mut self, mut entry: Entry) -> Result<(), CreateError> {
        if let Some(key) = entry.link_key {
            match self.links.entry(key) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    entry.kind = Kind::HardLink(first.get().clone());
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(entry.path.clone());
                }
            }
        }
        self.entries += 1;
        self.writer.entry(self.root, &entry)
    }
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
    path.extend_from_slice(prefix);
    if !prefix.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

fn whiteout_name(name: &[u8]) -> Vec<u8> {
    let mut out = WHITEOUT_PREFIX.to_vec();
    out.extend_from_slice(name);
    out
}

/// Sorted names of a directory's children.
fn list_dir(path: &Path) -> Result<Vec<Vec<u8>>, CreateError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| io_error(path, e))? {
        let entry = entry.map_err(|e| io_error(path, e))?;
        names.push(entry.file_name().as_bytes().to_vec());
    }
    names.sort_unstable();
    Ok(names)
}

fn lstat(path: &Path) -> Result<Metadata, CreateError> {
    fs::symlink_metadata(path).map_err(|e| io_error(path, e))
}

/// A child of a directory being walked: its name on disk, its name in the archive, its metadata.
struct Child {
    disk: Vec<u8>,
    name: Vec<u8>,
    meta: Metadata,
}

struct Scanner {
    xattrs: bool,
    overlay: bool,
}

/// What an overlayfs upper directory's private attributes say about an entry.
#[derive(Default)]
struct OverlayState {
    opaque: bool,
}

impl Scanner {
    /// Extended attributes to record for `path` (sorted), plus the overlay state in overlay mode.
    fn read_xattrs(&self, path: &Path) -> Result<(Xattrs, OverlayState), CreateError> {
        let mut state = OverlayState::default();
        if !self.xattrs && !self.overlay {
            return Ok((Vec::new(), state));
        }
        let all = read_all_xattrs(path).map_err(|e| io_error(path, e))?;
        let mut kept = Vec::with_capacity(all.len());
        for (name, value) in all {
            let private = name
                .strip_prefix(b"trusted.overlay.")
                .or_else(|| name.strip_prefix(b"user.overlay."));
            if let Some(key) = private {
                // overlayfs' own state is never written (appliers refuse it); in an upper
                // directory it says what the entry means.
                if self.overlay {
                    match key {
                        b"opaque" => state.opaque |= value == b"y",
                        b"redirect" | b"metacopy" => {
                            return Err(CreateError::UnsupportedOverlay {
                                path: path.to_owned(),
                                xattr: String::from_utf8_lossy(&name).into_owned(),
                            })
                        }
                        _ => {}
                    }
                }
                continue;
            }
            if self.xattrs && name != b"security.selinux" {
                kept.push((name, value));
            }
        }
        kept.sort();
        Ok((kept, state))
    }

    /// The entry for `abs` (archive path `path`), or `None` for a socket. In overlay mode a
    /// whiteout device becomes its `.wh.` marker (the caller has already renamed it).
    fn entry(
        &self,
        abs: &Path,
        path: Vec<u8>,
        meta: &Metadata,
    ) -> Result<Option<(Entry, OverlayState)>, CreateError> {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File {
                size: meta.size(),
                dev: meta.dev(),
                ino: meta.ino(),
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(abs).map_err(|e| io_error(abs, e))?;
            Kind::Symlink(target.into_os_string().into_encoded_bytes())
        } else if ft.is_char_device() {
            if self.overlay && meta.rdev() == 0 {
                Kind::Marker
            } else {
                Kind::Char(meta.rdev())
            }
        } else if ft.is_block_device() {
            Kind::Block(meta.rdev())
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            tracing::debug!(path = %abs.display(), "skipping socket");
            return Ok(None);
        };
        let (xattrs, state) = match kind {
            Kind::Marker => (Vec::new(), OverlayState::default()),
            _ => self.read_xattrs(abs)?,
        };
        let link_key = match kind {
            Kind::Dir | Kind::Marker => None,
            _ => (meta.nlink() > 1).then(|| (meta.dev(), meta.ino())),
        };
        let mode = match kind {
            Kind::Marker => 0o600,
            _ => meta.mode() & 0o7777,
        };
        let entry = Entry {
            path,
            kind,
            mode,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            xattrs,
            link_key,
        };
        Ok(Some((entry, state)))
    }

    /// The children of directory `abs`, sorted by their names in the archive.
    fn children(&self, abs: &Path) -> Result<Vec<Child>, CreateError> {
        let names = list_dir(abs)?;
        let mut children = Vec::with_capacity(names.len());
        for disk in names {
            let meta = lstat(&abs.join(OsStr::from_bytes(&disk)))?;
            let whiteout = self.overlay && meta.file_type().is_char_device() && meta.rdev() == 0;
            let name = if whiteout {
                whiteout_name(&disk)
            } else {
                disk.clone()
            };
            children.push(Child { disk, name, meta });
        }
        if self.overlay {
            children.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(children)
    }

    /// Appends the entries below directory `abs`, whose archive path is `prefix`.
    fn walk(
        &mut self,
        abs: &Path,
        prefix: &mut Vec<u8>,
        out: &mut dyn Emit,
    ) -> Result<(), CreateError> {
        for child in self.children(abs)? {
            let child_abs = abs.join(OsStr::from_bytes(&child.disk));
            let path = join(prefix, &child.name);
            let Some((entry, state)) = self.entry(&child_abs, path, &child.meta)? else {
                continue;
            };
            if matches!(entry.kind, Kind::Dir) {
                let opaque = state
                    .opaque
                    .then(|| marker(&entry, OPAQUE_MARKER, entry.mode & 0o777));
                out.emit(entry)?;
                if let Some(opaque) = opaque {
                    out.emit(opaque)?;
                }
                let saved = prefix.len();
                if !prefix.is_empty() {
                    prefix.push(b'/');
                }
                prefix.extend_from_slice(&child.name);
                self.walk(&child_abs, prefix, out)?;
                prefix.truncate(saved);
            } else {
                out.emit(entry)?;
            }
        }
        Ok(())
    }

    /// Appends the changes from directory `lower` to directory `upper`, whose archive path is
    /// `prefix`.
    fn diff(
        &mut self,
        lower: &Path,
        upper: &Path,
        prefix: &mut Vec<u8>,
        out: &mut dyn Emit,
    ) -> Result<(), CreateError> {
        let uppers = list_dir(upper)?;
        let lowers = list_dir(lower)?;
        // Merge the two sorted lists by archive name: a deleted `x` is written as `.wh.x`.
        let mut names: Vec<(Vec<u8>, Vec<u8>, Side)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < uppers.len() || j < lowers.len() {
            let order = match (uppers.get(i), lowers.get(j)) {
                (Some(u), Some(l)) => u.cmp(l),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    names.push((uppers[i].clone(), uppers[i].clone(), Side::Upper));
                    i += 1;
                }
                std::cmp::Ordering::Equal => {
                    names.push((uppers[i].clone(), uppers[i].clone(), Side::Both));
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Greater => {
                    names.push((whiteout_name(&lowers[j]), lowers[j].clone(), Side::Lower));
                    j += 1;
                }
            }
        }
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        for (name, disk, side) in names {
            let path = join(prefix, &name);
            let up = upper.join(OsStr::from_bytes(&disk));
            if side == Side::Lower {
                out.emit(Entry {
                    path,
                    kind: Kind::Marker,
                    mode: 0o600,
                    uid: 0,
                    gid: 0,
                    mtime: 0,
                    xattrs: Vec::new(),
                    link_key: None,
                })?;
                continue;
            }
            let up_meta = lstat(&up)?;
            let Some((entry, _)) = self.entry(&up, path, &up_meta)? else {
                continue;
            };
            let is_dir = matches!(entry.kind, Kind::Dir);
            let low = lower.join(OsStr::from_bytes(&disk));
            let low_meta = match side {
                Side::Both => Some(lstat(&low)?),
                _ => None,
            };
            let saved = prefix.len();
            let mut descend = |scanner: &mut Self, out: &mut dyn Emit, both: bool| {
                if !prefix.is_empty() {
                    prefix.push(b'/');
                }
                prefix.extend_from_slice(&name);
                let result = if both {
                    scanner.diff(&low, &up, prefix, out)
                } else {
                    scanner.walk(&up, prefix, out)
                };
                prefix.truncate(saved);
                result
            };
            match low_meta {
                Some(low_meta) if is_dir && low_meta.is_dir() => {
                    let mut below = Vec::new();
                    descend(self, &mut below, true)?;
                    let changed = !same_meta(&low_meta, &up_meta)
                        || self.read_xattrs(&low)?.0 != entry.xattrs;
                    if changed || !below.is_empty() {
                        out.emit(entry)?;
                        for entry in below {
                            out.emit(entry)?;
                        }
                    }
                }
                Some(low_meta) if !is_dir && !low_meta.is_dir() => {
                    let changed = !same_meta(&low_meta, &up_meta)
                        || low_meta.size() != up_meta.size()
                        || low_meta.mtime() != up_meta.mtime()
                        || low_meta.mtime_nsec() != up_meta.mtime_nsec()
                        || (up_meta.file_type().is_symlink()
                            && fs::read_link(&low).map_err(|e| io_error(&low, e))?
                                != fs::read_link(&up).map_err(|e| io_error(&up, e))?)
                        || self.read_xattrs(&low)?.0 != entry.xattrs;
                    if changed {
                        out.emit(entry)?;
                    }
                }
                _ => {
                    // Added, or the type changed between a directory and something else: the
                    // whole upper entry (an applier replaces what is there).
                    out.emit(entry)?;
                    if is_dir {
                        descend(self, out, false)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Upper,
    Lower,
    Both,
}

/// Type, permission bits, owner and device number agree.
fn same_meta(a: &Metadata, b: &Metadata) -> bool {
    a.mode() == b.mode() && a.uid() == b.uid() && a.gid() == b.gid() && a.rdev() == b.rdev()
}

fn marker(parent: &Entry, name: &[u8], mode: u32) -> Entry {
    Entry {
        path: join(&parent.path, name),
        kind: Kind::Marker,
        mode,
        uid: parent.uid,
        gid: parent.gid,
        mtime: parent.mtime,
        xattrs: Vec::new(),
        link_key: None,
    }
}

/// All extended attributes of `path` (not following a symlink), unsorted.
fn read_all_xattrs(path: &Path) -> io::Result<Xattrs> {
    let unsupported = |e: rustix::io::Errno| e == rustix::io::Errno::NOTSUP;
    let mut names = Vec::new();
    loop {
        let len = match rustix::fs::llistxattr_query(path) {
            Ok(0) => return Ok(Vec::new()),
            Ok(len) => len,
            Err(e) if unsupported(e) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        names.resize(len, 0);
        match rustix::fs::llistxattr(path, &mut names[..]) {
            Ok(n) => {
                names.truncate(n);
                break;
            }
            // The list grew since the query: ask again.
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name_os = OsStr::from_bytes(name);
        let mut value = Vec::new();
        loop {
            let len = match rustix::fs::lgetxattr_query(path, name_os) {
                Ok(len) => len,
                // Removed since it was listed.
                Err(rustix::io::Errno::NODATA) => break,
                Err(e) => return Err(e.into()),
            };
            value.resize(len, 0);
            match rustix::fs::lgetxattr(path, name_os, &mut value[..]) {
                Ok(n) => {
                    value.truncate(n);
                    out.push((name.to_vec(), std::mem::take(&mut value)));
                    break;
                }
                Err(rustix::io::Errno::RANGE) => continue,
                Err(rustix::io::Errno::NODATA) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

/// Writes ustar/PAX entries.
struct TarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    headers: Vec<u8>,
    epoch: Option<i64>,
}

const TYPE_FILE: u8 = b'0';
const TYPE_HARD_LINK: u8 = b'1';
const TYPE_SYMLINK: u8 = b'2';
const TYPE_CHAR: u8 = b'3';
const TYPE_BLOCK: u8 = b'4';
const TYPE_DIR: u8 = b'5';
const TYPE_FIFO: u8 = b'6';
const TYPE_PAX: u8 = b'x';

impl<W: Write> TarWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), CreateError> {
        self.out.write_all(bytes).map_err(CreateError::Write)
    }

    fn entry(&mut self, root: &Path, entry: &Entry) -> Result<(), CreateError> {
        self.headers.clear();
        headers(entry, self.epoch, &mut self.headers);
        self.out
            .write_all(&self.headers)
            .map_err(CreateError::Write)?;
        if let Kind::File { size, dev, ino } = entry.kind {
            self.contents(root, entry, size, dev, ino)?;
        }
        Ok(())
    }

    /// Copies a regular file's contents (exactly `size` bytes) and pads them to a block.
    fn contents(
        &mut self,
        root: &Path,
        entry: &Entry,
        size: u64,
        dev: u64,
        ino: u64,
    ) -> Result<(), CreateError> {
        let path = root.join(OsStr::from_bytes(&entry.path));
        let changed = || CreateError::Changed { path: path.clone() };
        let fd = rustix::fs::open(
            &path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| io_error(&path, e.into()))?;
        let mut file = File::from(fd);
        let meta = file.metadata().map_err(|e| io_error(&path, e))?;
        if meta.dev() != dev || meta.ino() != ino || meta.size() != size {
            return Err(changed());
        }
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).map_or(self.buf.len(), |l| l.min(self.buf.len()));
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => return Err(changed()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&path, e)),
            };
            self.out
                .write_all(&self.buf[..n])
                .map_err(CreateError::Write)?;
            left -= n as u64;
        }
        self.pad(size)
    }

    fn pad(&mut self, len: u64) -> Result<(), CreateError> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.write(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    fn finish_archive(&mut self) -> Result<(), CreateError> {
        self.write(&[0u8; 2 * BLOCK])?;
        self.out.flush().map_err(CreateError::Write)
    }
}

/// Appends the header block of `entry`, preceded by a PAX extended header if it needs one.
fn headers(entry: &Entry, epoch: Option<i64>, out: &mut Vec<u8>) {
    let mut name = entry.path.clone();
    if matches!(entry.kind, Kind::Dir) {
        name.push(b'/');
    }
    let (typeflag, size, link, rdev): (u8, u64, &[u8], u64) = match &entry.kind {
        Kind::Dir => (TYPE_DIR, 0, b"", 0),
        Kind::File { size, .. } => (TYPE_FILE, *size, b"", 0),
        Kind::Marker => (TYPE_FILE, 0, b"", 0),
        Kind::Symlink(target) => (TYPE_SYMLINK, 0, target, 0),
        Kind::HardLink(target) => (TYPE_HARD_LINK, 0, target, 0),
        Kind::Char(rdev) => (TYPE_CHAR, 0, b"", *rdev),
        Kind::Block(rdev) => (TYPE_BLOCK, 0, b"", *rdev),
        Kind::Fifo => (TYPE_FIFO, 0, b"", 0),
    };
    let mtime = match epoch {
        Some(epoch) => entry.mtime.min(epoch),
        None => entry.mtime,
    };

    let mut pax = Vec::new();
    if name.len() > 100 {
        pax_record(&mut pax, b"path", &name);
    }
    if link.len() > 100 {
        pax_record(&mut pax, b"linkpath", link);
    }
    if size > OCTAL_11_MAX {
        pax_record(&mut pax, b"size", size.to_string().as_bytes());
    }
    if u64::from(entry.uid) > OCTAL_7_MAX {
        pax_record(&mut pax, b"uid", entry.uid.to_string().as_bytes());
    }
    if u64::from(entry.gid) > OCTAL_7_MAX {
        pax_record(&mut pax, b"gid", entry.gid.to_string().as_bytes());
    }
    let mtime_fits = u64::try_from(mtime).is_ok_and(|t| t <= OCTAL_11_MAX);
    if !mtime_fits {
        pax_record(&mut pax, b"mtime", mtime.to_string().as_bytes());
    }
    for (key, value) in &entry.xattrs {
        let mut full = b"SCHILY.xattr.".to_vec();
        full.extend_from_slice(key);
        pax_record(&mut pax, &full, value);
    }

    let mut header = [0u8; BLOCK];
    if !pax.is_empty() {
        let mut pax_header = [0u8; BLOCK];
        put_str(&mut pax_header[0..100], b"././@PaxHeader");
        put_octal(&mut pax_header[100..108], 0o644);
        put_octal(&mut pax_header[108..116], 0);
        put_octal(&mut pax_header[116..124], 0);
        put_octal(&mut pax_header[124..136], pax.len() as u64);
        put_octal(&mut pax_header[136..148], 0);
        pax_header[156] = TYPE_PAX;
        finish_header(&mut pax_header);
        out.extend_from_slice(&pax_header);
        out.extend_from_slice(&pax);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }

    put_str(&mut header[0..100], &name);
    put_octal(&mut header[100..108], u64::from(entry.mode));
    put_octal(&mut header[108..116], u64::from(entry.uid).min(OCTAL_7_MAX));
    put_octal(&mut header[116..124], u64::from(entry.gid).min(OCTAL_7_MAX));
    put_octal(
        &mut header[124..136],
        if size > OCTAL_11_MAX { 0 } else { size },
    );
    put_octal(
        &mut header[136..148],
        if mtime_fits { mtime as u64 } else { 0 },
    );
    header[156] = typeflag;
    put_str(&mut header[157..257], link);
    // Linux device numbers have at most 12 (major) and 20 (minor) bits: 7 octal digits hold
    // both.
    let (major, minor) = match typeflag {
        TYPE_CHAR | TYPE_BLOCK => (rustix::fs::major(rdev), rustix::fs::minor(rdev)),
        _ => (0, 0),
    };
    put_octal(&mut header[329..337], u64::from(major).min(OCTAL_7_MAX));
    put_octal(&mut header[337..345], u64::from(minor).min(OCTAL_7_MAX));
    finish_header(&mut header);
    out.extend_from_slice(&header);
}

const OCTAL_7_MAX: u64 = 0o7777777;
const OCTAL_11_MAX: u64 = 0o77777777777;

/// Copies `value` into a NUL-padded field (truncated if too long; a PAX record has the rest).
fn put_str(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Writes `value` as zero-padded octal followed by a NUL (the value must fit).
fn put_octal(field: &mut [u8], mut value: u64) {
    let digits = field.len() - 1;
    field[digits] = 0;
    for i in (0..digits).rev() {
        field[i] = b'0' + (value & 7) as u8;
        value >>= 3;
    }
}

/// Fills in the magic, version and checksum of a ustar header.
fn finish_header(header: &mut [u8; BLOCK]) {
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].fill(b' ');
    let sum: u64 = header.iter().map(|&b| u64::from(b)).sum();
    put_octal(&mut header[148..155], sum);
    header[155] = b' ';
}

/// Appends a PAX record `LEN KEY=VALUE\n`, where LEN counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        for value_len in [0usize, 1, 5, 6, 7, 90, 95, 96, 97, 994, 995, 996, 9990] {
            let mut out = Vec::new();
            let value = vec![b'a'; value_len];
            pax_record(&mut out, b"path", &value);
            let text = String::from_utf8(out.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), out.len(), "{value_len}");
        }
    }

    #[test]
    fn source_date_epoch_parses_integers_only() {
        assert_eq!(parse_epoch(OsStr::new("1700000000")), Some(1_700_000_000));
        assert_eq!(parse_epoch(OsStr::new(" -5\n")), Some(-5));
        assert_eq!(parse_epoch(OsStr::new("yesterday")), None);
        assert_eq!(parse_epoch(OsStr::new("")), None);
    }

    fn entry(kind: Kind, mtime: i64) -> Entry {
        Entry {
            path: b"f".to_vec(),
            kind,
            mode: 0o644,
            uid: 1,
            gid: 2,
            mtime,
            xattrs: Vec::new(),
            link_key: None,
        }
    }

    /// Reads `(size, mtime, device major, PAX records)` of the first entry back with `tar`.
    fn read_back(bytes: &[u8]) -> (u64, u64, u32, Vec<(String, String)>) {
        let mut archive = tar::Archive::new(bytes);
        let mut entries = archive.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        let header = e.header().clone();
        let pax = e
            .pax_extensions()
            .unwrap()
            .map(|exts| {
                exts.map(|x| {
                    let x = x.unwrap();
                    (x.key().unwrap().to_owned(), x.value().unwrap().to_owned())
                })
                .collect()
            })
            .unwrap_or_default();
        let major = header.device_major().unwrap().unwrap_or(0);
        (e.size(), header.mtime().unwrap(), major, pax)
    }

    #[test]
    fn huge_sizes_and_negative_times_use_pax() {
        let huge = 9 << 30;
        let mut out = Vec::new();
        headers(
            &entry(
                Kind::File {
                    size: huge,
                    dev: 0,
                    ino: 0,
                },
                -5,
            ),
            None,
            &mut out,
        );
        assert_eq!(out.len(), 3 * BLOCK);
        let (size, mtime, _, pax) = read_back(&out);
        assert_eq!(size, huge);
        assert_eq!(mtime, 0);
        assert!(pax.contains(&("size".into(), huge.to_string())));
        assert!(pax.contains(&("mtime".into(), "-5".into())));
        // Clamping applies to the PAX mtime too; a time that fits needs no PAX header.
        out.clear();
        headers(&entry(Kind::Marker, 99_999_999_999), Some(7), &mut out);
        assert_eq!(out.len(), BLOCK);
        assert_eq!(read_back(&out).1, 7);
    }

    #[test]
    fn largest_linux_device_numbers_fit() {
        let mut out = Vec::new();
        let rdev = rustix::fs::makedev(4095, 1_048_575);
        headers(&entry(Kind::Block(rdev), 0), None, &mut out);
        assert_eq!(read_back(&out).2, 4095);
    }

    #[test]
    fn octal_fields() {
        let mut field = [0u8; 8];
        put_octal(&mut field, 0o755);
        assert_eq!(&field, b"0000755\0");
    }
}
