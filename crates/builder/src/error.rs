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

/// Why a build failed.
///
/// Variants that concern one instruction carry its line in the Dockerfile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The Dockerfile could not be read.
    #[error("cannot read the Dockerfile {path}")]
    ReadDockerfile {
        /// The Dockerfile.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The Dockerfile does not parse.
    #[error("the Dockerfile does not parse")]
    Parse(#[source] boxwright_dockerfile_parser::Error),
    /// The Dockerfile has no `FROM`, or something other than `ARG` before the first one.
    #[error("line {line}: {message}")]
    Structure {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `--target` names no stage.
    #[error("target stage {target:?} not found")]
    TargetNotFound {
        /// The target given.
        target: String,
    },
    /// A word could not be expanded (`${X:?msg}` and the like).
    #[error("line {line}: cannot expand {word:?}")]
    Expand {
        /// The line.
        line: usize,
        /// The word.
        word: String,
        /// The cause.
        #[source]
        source: boxwright_dockerfile_parser::expand::ExpandError,
    },
    /// An instruction or flag this builder does not implement.
    #[error("line {line}: {what} is not supported by this builder")]
    Unsupported {
        /// The line.
        line: usize,
        /// The instruction or flag.
        what: String,
    },
    /// An instruction's value is invalid after expansion (a mode, an owner, a mount).
    #[error("line {line}: {message}")]
    Invalid {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The build context could not be read.
    #[error("line {line}: reading the build context failed")]
    Context {
        /// The line of the COPY/ADD (0 when opening the context).
        line: usize,
        /// The cause.
        #[source]
        source: ContextError,
    },
    /// The `FROM` image is neither in the store nor available from the image source.
    #[error("line {line}: cannot get the base image {reference}")]
    BaseImage {
        /// The line.
        line: usize,
        /// The image reference.
        reference: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The layer store failed.
    #[error("the layer store failed while {doing}")]
    Store {
        /// What the builder was doing.
        doing: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file of the build's own state (staging, the cache) could not be read or written.
    #[error("cannot {doing} {path}")]
    Io {
        /// What was being done.
        doing: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The executor could not run a `RUN` step.
    #[error("line {line}: the RUN step could not run")]
    Executor {
        /// The line.
        line: usize,
        /// The cause.
        #[source]
        source: crate::executor::ExecutorError,
    },
    /// A `RUN` step exited non-zero.
    #[error("step {} (line {line}) failed with exit code {code}", .step + 1)]
    RunFailed {
        /// The step's index in the build, from 0 (its message counts from 1).
        step: usize,
        /// Its line in the Dockerfile.
        line: usize,
        /// The exit code.
        code: i32,
        /// The last lines of its output (stdout and stderr interleaved).
        last_lines: Vec<String>,
    },
}

impl BuildError {
    /// A store error with what was being done.
    pub(crate) fn store<E: std::error::Error + Send + Sync + 'static>(
        doing: impl Into<String>,
    ) -> impl FnOnce(E) -> BuildError {
        let doing = doing.into();
        move |source| BuildError::Store {
            doing,
            source: Box::new(source),
        }
    }

    /// An I/O error on a path.
    pub(crate) fn io(
        doing: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io {
            doing,
            path,
            source,
        }
    }
}
