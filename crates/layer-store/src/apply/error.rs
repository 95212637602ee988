//! What applying a layer can fail with: the refusals of hostile or unsupported entries and
//! the errors of reading the stream or writing the target. Shared by the tar reader and the
//! applier, below both.

use std::io;
use std::path::PathBuf;

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The path has more `..` components than directories to climb out of.
    #[error("its path climbs above the root with `..`")]
    ClimbsAboveRoot,
    /// A hard link's target climbs above the root with `..`.
    #[error("hard link target {target:?} climbs above the root with `..`")]
    LinkClimbsAboveRoot {
        /// The link target as written.
        target: String,
    },
    /// The path is empty.
    #[error("its path is empty")]
    EmptyName,
    /// The path or link target contains a NUL byte.
    #[error("its path or link target contains a NUL byte")]
    NulInName,
    /// A character or block device while [`ApplyOptions::devices`](super::ApplyOptions::devices) is off.
    #[error("{kind} device {major}:{minor} (device nodes are not enabled)")]
    Device {
        /// `"character"` or `"block"`.
        kind: &'static str,
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A hard link to a directory.
    #[error("hard link to directory {target:?}")]
    LinkToDirectory {
        /// The link target as written.
        target: String,
    },
    /// A hard link to something not in the target.
    #[error("hard link target {target:?} does not exist in the target")]
    LinkTargetMissing {
        /// The link target as written.
        target: String,
    },
    /// File contents exceed [`ApplyOptions::max_total_size`](super::ApplyOptions::max_total_size).
    #[error("file contents would exceed the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A PAX header or GNU long name/link larger than [`MAX_EXTENSION_HEADER`](super::MAX_EXTENSION_HEADER).
    #[error("{kind} header of {size} bytes exceeds the {limit}-byte limit")]
    ExtensionTooLarge {
        /// Which extension header.
        kind: &'static str,
        /// Its claimed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry type this applier does not handle.
    #[error("unsupported entry type {0:?}")]
    UnsupportedType(char),
    /// A GNU sparse file (old GNU or PAX form).
    #[error("sparse files are not supported")]
    Sparse,
    /// A non-directory entry naming the root itself.
    #[error("a non-directory entry cannot replace the root")]
    ReplacesRoot,
    /// An overlayfs xattr (`trusted.overlay.*`, `user.overlay.*`) in the archive.
    #[error("xattr {name:?} could forge overlayfs metadata")]
    OverlayXattr {
        /// The xattr name.
        name: String,
    },
    /// A whiteout naming nothing (`.wh.`), `.` or `..`.
    #[error("whiteout names no entry")]
    InvalidWhiteout,
    /// A numeric field out of range.
    #[error("{field} {value} is out of range")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
    },
}

/// Errors from [`apply_layer`](super::apply_layer) and [`apply_layer_path`](super::apply_layer_path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// An entry this applier will not apply.
    #[error("refused layer entry {entry:?}: {reason}")]
    Refused {
        /// The entry's path as written in the archive.
        entry: String,
        /// Why.
        reason: Refusal,
    },
    /// A filesystem operation for an entry failed.
    #[error("layer entry {entry:?}: {op} failed")]
    Io {
        /// The entry's path as written in the archive.
        entry: String,
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The stream is not a valid tar archive.
    #[error("malformed layer archive at byte {offset}: {reason}")]
    Malformed {
        /// Offset in the uncompressed stream.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The stream ended inside an entry or before the end-of-archive marker.
    #[error("layer archive is truncated at byte {offset}{}", entry.as_ref().map(|e| format!(" (in entry {e:?})")).unwrap_or_default())]
    Truncated {
        /// Offset in the uncompressed stream.
        offset: u64,
        /// The entry being read, if any.
        entry: Option<String>,
    },
    /// Reading or decompressing the layer stream failed.
    #[error("reading the layer stream failed at byte {offset}")]
    Read {
        /// Offset in the uncompressed stream.
        offset: u64,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Opening the layer file or the target directory failed ([`apply_layer_path`](super::apply_layer_path)).
    #[error("opening {path} failed")]
    Open {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// An entry path as text, for messages.
pub(super) fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
