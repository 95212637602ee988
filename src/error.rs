//! The facade's one error type, and [`Report`]: an error with its whole `source()` chain.

use std::fmt;
use std::path::PathBuf;

/// What the facade's verbs return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The cause of an error, boxed (the builder's, the registry source's).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything an [`Engine`](crate::Engine) verb can fail with.
///
/// The largest parts' errors (a build's, a snapshot's, an archive's) are boxed, so a
/// `Result<T, Error>` stays under clippy's `result_large_err` threshold in callers' code.
///
/// A part's error is kept whole (`transparent`: its message and its `source()` chain are the
/// part's own), so matching on it reaches the part's typed variants — for instance
/// [`StoreError::NotFound`](boxwright_layer_store::StoreError::NotFound) for an unknown image
/// or [`StoreError::Ambiguous`](boxwright_layer_store::StoreError::Ambiguous) for a prefix that
/// names several. Each message states only itself; print an error with [`Report`] (or
/// [`Error::report`]) to show its causes too, as `bw` and the examples do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The layer store failed: an unknown or ambiguous image, a bad name, a corrupt blob, I/O.
    #[error(transparent)]
    Store(#[from] boxwright_layer_store::StoreError),
    /// The container runtime failed: an unknown or ambiguous container, a start that failed,
    /// a port in use, a missing bind-mount source.
    #[cfg(feature = "run")]
    #[error(transparent)]
    Runtime(#[from] boxwright_runtime::Error),
    /// A build failed (its step, line and cause are in the builder's error). Boxed, so that
    /// `Error` stays small enough for clippy's `result_large_err` in callers' code.
    #[cfg(feature = "build")]
    #[error(transparent)]
    Build(Box<boxwright_builder::BuildError>),
    /// The registry client failed: network, authentication, a digest mismatch.
    #[cfg(feature = "registry")]
    #[error(transparent)]
    Registry(#[from] boxwright_registry_client::Error),
    /// A pull failed (the cause is the registry client's error or the store's).
    #[error("pulling {reference} failed")]
    Pull {
        /// The name as given.
        reference: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The image is not in the store and this engine cannot pull (feature `registry` off).
    #[error(
        "no such image: {reference} (and this engine does not pull: feature `registry` is off)"
    )]
    NoSuchImage {
        /// The name as given.
        reference: String,
    },
    /// An argument the verb cannot use (a malformed `-p`, `-v`, `-e`, `--change`…).
    #[error("invalid {what}: {value:?}{}", if reason.is_empty() { String::new() } else { format!(" ({reason})") })]
    Invalid {
        /// What kind of argument (`port mapping`, `volume`, `--change`…).
        what: &'static str,
        /// The argument as given.
        value: String,
        /// Why it is refused (may be empty).
        reason: String,
    },
    /// The image is used by containers, and the removal was not forced.
    #[error("image {image} is used by container{} {}", if containers.len() == 1 { "" } else { "s" }, containers.join(", "))]
    ImageInUse {
        /// The image as given.
        image: String,
        /// The containers that use it (short IDs or names).
        containers: Vec<String>,
    },
    /// File system work of the facade itself failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done (`creating`, `reading`…).
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A task on tokio's blocking pool panicked or was cancelled.
    #[error("a blocking task of the engine failed")]
    Task(#[source] tokio::task::JoinError),
    /// An image's layers could not be unpacked as snapshots (the lower dirs of a container).
    #[error(transparent)]
    Snapshot(Box<boxwright_layer_store::SnapshotError>),
    /// A container's changes could not be written as a layer (`docker commit`).
    #[error("writing the layer of container {container} failed")]
    Layer {
        /// The container as given.
        container: String,
        /// Why.
        #[source]
        source: boxwright_layer_store::CreateError,
    },
    /// `save` or `load` failed: an archive that cannot be read or written, a blob that is not
    /// what the archive says.
    #[error(transparent)]
    Archive(Box<boxwright_layer_store::ArchiveError>),
    /// `import` failed: the directory or tar could not be read.
    #[error(transparent)]
    Import(#[from] boxwright_layer_store::ImportError),
    /// A push failed (the cause is the registry client's error).
    #[error("pushing {reference} failed")]
    Push {
        /// The name as given.
        reference: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A login failed: the registry refused the credential or could not be reached.
    #[error("logging in to {registry} failed")]
    Login {
        /// The registry as Docker keys it (`localhost:5000`).
        registry: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A host file starts like an ELF file but its headers do not parse.
    #[error("reading the ELF headers of {path} failed")]
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: object::read::Error,
    },
    /// A shared library a host program needs is in none of the loader's directories.
    #[error("{library}, needed by {needed_by}, is in none of {}", searched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "))]
    LibraryNotFound {
        /// The library's name as the program asks for it (`libc.so.6`).
        library: String,
        /// The program or library that needs it.
        needed_by: PathBuf,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
    },
    /// A test container ([`Harness::start`](crate::Harness::start)) did not become ready: its
    /// command ended first, or the timeout passed (see [`NotReady`]). The harness removed it.
    #[cfg(feature = "run")]
    #[error(transparent)]
    NotReady(Box<NotReady>),
}

/// Why a test container was not ready ([`Error::NotReady`]): what was waited for, how it
/// ended, and the last lines of the container's output, which the message ends with.
#[cfg(feature = "run")]
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub struct NotReady {
    /// The container's name.
    pub container: String,
    /// Its image, as named.
    pub image: String,
    /// What was waited for (`GET / on 127.0.0.1:41234 (port 80) to answer 2xx`).
    pub waited_for: String,
    /// The harness's timeout.
    pub timeout: std::time::Duration,
    /// Whether its command ended before it was ready (else the timeout passed).
    pub exited: bool,
    /// The command's exit code, when it ended and the code is known.
    pub exit_code: Option<i32>,
    /// Why the last check failed (`connecting to 127.0.0.1:41234: Connection refused`).
    pub last_attempt: Option<String>,
    /// The last lines of its output (stdout and stderr).
    pub output: String,
}

#[cfg(feature = "run")]
impl NotReady {
    /// The message: how it ended, what was waited for, the last attempt, the output.
    fn message(&self) -> String {
        let NotReady {
            container,
            image,
            waited_for,
            timeout,
            ..
        } = self;
        let mut text = match (self.exited, self.exit_code) {
            (true, Some(code)) => format!(
                "container {container} ({image}) exited with code {code} before it was ready: waited for {waited_for}"
            ),
            (true, None) => format!(
                "container {container} ({image}) exited before it was ready: waited for {waited_for}"
            ),
            (false, _) => format!(
                "container {container} ({image}) was not ready within {timeout:?}: waited for {waited_for}"
            ),
        };
        if let Some(last) = &self.last_attempt {
            text.push_str(&format!(" (last attempt: {last})"));
        }
        if self.output.trim().is_empty() {
            text.push_str("; it wrote nothing");
        } else {
            text.push_str("; its last output:\n");
            text.push_str(self.output.trim_end());
        }
        text
    }
}

#[cfg(feature = "build")]
impl From<boxwright_builder::BuildError> for Error {
    fn from(err: boxwright_builder::BuildError) -> Self {
        Error::Build(Box::new(err))
    }
}

impl From<boxwright_layer_store::SnapshotError> for Error {
    fn from(err: boxwright_layer_store::SnapshotError) -> Self {
        Error::Snapshot(Box::new(err))
    }
}

impl From<boxwright_layer_store::ArchiveError> for Error {
    fn from(err: boxwright_layer_store::ArchiveError) -> Self {
        Error::Archive(Box::new(err))
    }
}

impl Error {
    /// An [`Error::Io`].
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Invalid`].
    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// This error with its causes, for printing: see [`Report`].
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

/// An error and every `source()` below it, joined by `: ` — what a user needs to see:
/// `pulling localhost:5000/app failed: error sending request for url (…): client error
/// (Connect): tcp connect error: Connection refused (os error 111)`.
///
/// Works for any error, not only [`Error`]: `bw` and the examples print every failure this way.
///
/// ```
/// let err = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// let outer = boxwright::Error::Pull { reference: "app".into(), source: Box::new(err) };
/// assert_eq!(outer.report().to_string(), "pulling app failed: no such file");
/// ```
#[derive(Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut last = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(err) = cause {
            let text = err.to_string();
            // A wrapper that repeats its cause's text (some libraries do) is shown once.
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cause = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    /// Callers return `Result<T, Error>` from their own functions: clippy's `result_large_err`
    /// (128 bytes by default) must not fire on them.
    #[test]
    fn the_error_stays_small() {
        assert!(std::mem::size_of::<super::Error>() < 128);
    }
}
