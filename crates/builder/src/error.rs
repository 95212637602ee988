//! The crate's error type: what failed, with the path or pattern; the cause in `source()`.

use std::io;
use std::path::PathBuf;

use boxwright_dockerfile_parser::dockerignore::IgnoreError;

/// An error reading the build context or its stat cache.
///
/// Each variant names the path (or the COPY source pattern) that failed; the
/// underlying cause, when there is one, is in [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The context directory could not be inspected, or is not a directory.
    #[error("cannot open the build context {path}")]
    Open {
        /// The context directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The ignore file exists but could not be read.
    #[error("cannot read the ignore file {path}")]
    ReadIgnore {
        /// The ignore file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The ignore file holds a pattern Docker rejects.
    #[error("invalid ignore file {path}")]
    Ignore {
        /// The ignore file.
        path: PathBuf,
        /// The pattern and line.
        #[source]
        source: IgnoreError,
    },
    /// A COPY/ADD source pattern is not a valid Go `filepath.Match` pattern.
    #[error(
        "invalid source pattern {pattern:?}: syntax error in a `[...]` class or a trailing `\\`"
    )]
    BadPattern {
        /// The pattern as given.
        pattern: String,
    },
    /// A COPY/ADD source without wildcards names nothing in the context
    /// (missing, or excluded by the ignore file).
    #[error("source {pattern:?} not found in the build context")]
    SourceNotFound {
        /// The pattern as given.
        pattern: String,
    },
    /// A file, directory or link in the context could not be read.
    #[error("cannot read {path} in the build context")]
    Read {
        /// The path in the context (joined to the context directory).
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The stat cache could not be written.
    #[error("cannot save the stat cache to {path}")]
    SaveCache {
        /// The cache file (or its temporary sibling).
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
