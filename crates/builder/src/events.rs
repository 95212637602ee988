//! The typed progress events of a build, for a caller to render (the library prints nothing).

use std::fmt;
use std::time::Duration;

use boxwright_dockerfile_parser::Span;
use boxwright_layer_store::Digest;

use crate::executor::OutputStream;

/// Why a step missed the cache, compared with the last build of the same Dockerfile and target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissReason {
    /// There is no record of an earlier build of this Dockerfile and target.
    NoEarlierBuild,
    /// The earlier build had no step here (the Dockerfile grew).
    NewStep,
    /// The cache was turned off for this step's stage (`--no-cache`).
    NoCache,
    /// The files the step copies changed: the first few paths, and how many changed.
    FilesChanged {
        /// Up to five changed paths (context-relative), sorted.
        paths: Vec<String>,
        /// How many paths changed in all.
        count: usize,
    },
    /// A build argument the step reads has another value.
    BuildArgChanged {
        /// The argument's name.
        name: String,
    },
    /// `FROM` names an image whose manifest digest changed.
    BaseImageChanged {
        /// The digest the earlier build used.
        old: String,
        /// The digest now.
        new: String,
    },
    /// The instruction's text (after expansion) is not the same.
    InstructionChanged {
        /// The earlier text.
        old: String,
    },
    /// The step's inputs are the same, but a step before it missed: the first step of the
    /// chain that missed (in this stage or a stage this one is built `FROM`), and why.
    EarlierStepChanged {
        /// That step's index among the steps of the build, from 0 (as in
        /// [`BuildEvent::StepStarted`]; the message counts from 1).
        index: usize,
        /// Its instruction after expansion.
        text: String,
        /// Why it missed (never itself `EarlierStepChanged`).
        reason: Box<MissReason>,
    },
    /// The inputs are the same as last time, but the cache record (or its layer) is gone.
    RecordGone,
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissReason::NoEarlierBuild => f.write_str("no earlier build"),
            MissReason::NewStep => f.write_str("a new step (the earlier build had none here)"),
            MissReason::NoCache => f.write_str("the cache is off (--no-cache)"),
            MissReason::FilesChanged { paths, count } => {
                write!(f, "files changed: {}", paths.join(", "))?;
                if *count > paths.len() {
                    write!(f, " and {} more", count - paths.len())?;
                }
                Ok(())
            }
            MissReason::BuildArgChanged { name } => write!(f, "build arg {name} changed"),
            MissReason::BaseImageChanged { old, new } => {
                write!(f, "the base image changed ({old} -> {new})")
            }
            MissReason::InstructionChanged { old } => {
                write!(f, "the instruction changed (was: {old})")
            }
            MissReason::EarlierStepChanged {
                index,
                text,
                reason,
            } => write!(f, "step {} ({text}) changed: {reason}", index + 1),
            MissReason::RecordGone => {
                f.write_str("the inputs are unchanged but the cache record or its layer is gone")
            }
        }
    }
}

/// A progress event of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildEvent {
    /// A stage starts.
    StageStarted {
        /// Its index in the Dockerfile.
        stage: usize,
        /// Its name (`AS name`), if it has one.
        name: Option<String>,
    },
    /// A step starts.
    StepStarted {
        /// Its stage.
        stage: usize,
        /// Its index among the steps of the build, from 0, given as steps start (the steps of
        /// stages building at once interleave).
        index: usize,
        /// Where the instruction is.
        span: Span,
        /// The instruction after expansion.
        text: String,
    },
    /// A step came from the cache.
    StepCached {
        /// The step's index.
        index: usize,
        /// Its cache key (blake3, hex).
        key: String,
    },
    /// A step missed the cache and runs.
    StepCacheMiss {
        /// The step's index.
        index: usize,
        /// Why it missed.
        reason: MissReason,
    },
    /// A line of a `RUN` step's output (without its line break).
    RunOutput {
        /// The step's index.
        index: usize,
        /// Which stream.
        stream: OutputStream,
        /// The line.
        line: String,
    },
    /// A step finished.
    StepDone {
        /// The step's index.
        index: usize,
        /// How long it took.
        duration: Duration,
        /// The size of the layer blob it made, if any.
        layer_size: Option<u64>,
    },
    /// Advice about the Dockerfile (such as the order of steps for the cache).
    Warning {
        /// Where.
        span: Span,
        /// What.
        message: String,
    },
    /// The image is in the store.
    ImageWritten {
        /// The image ID (the config's digest).
        image_id: Digest,
        /// The manifest's digest.
        manifest_digest: Digest,
        /// The names it was tagged with (normalized).
        tags: Vec<String>,
    },
}
