//! What a build is asked for ([`BuildRequest`]) and what it gives back ([`BuildResult`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use boxwright_layer_store::{Digest, Platform};

use crate::executor::StepNetwork;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// A file on disk (its path also names the build in the miss explanations).
    Path(PathBuf),
    /// Text given directly, with the name it is known by (for the miss explanations).
    Text {
        /// A name for the Dockerfile (e.g. `Dockerfile`).
        name: String,
        /// The Dockerfile's text.
        text: String,
    },
}

/// Which stages ignore the cache (`--no-cache`, `--no-cache-filter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    /// The cache is used everywhere (the default).
    #[default]
    None,
    /// No step of any stage is taken from the cache.
    All,
    /// No step of these stages (names, lower-case, or indexes as text) is taken from the cache.
    Stages(Vec<String>),
}

impl NoCache {
    /// Whether the stage `name` (or index `index`) ignores the cache.
    pub(crate) fn applies(&self, name: Option<&str>, index: usize) -> bool {
        match self {
            NoCache::None => false,
            NoCache::All => true,
            NoCache::Stages(list) => list
                .iter()
                .any(|s| Some(s.to_ascii_lowercase().as_str()) == name || *s == index.to_string()),
        }
    }
}

/// One build: a Dockerfile, a context, and the options `docker build` takes.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The Dockerfile.
    pub dockerfile: DockerfileSource,
    /// The build context directory.
    pub context: PathBuf,
    /// Names to tag the image with (`-t`).
    pub tags: Vec<String>,
    /// `--build-arg NAME=value`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (the last one when `None`).
    pub target: Option<String>,
    /// The platform of the image and of `FROM` images (the host's when `None`).
    pub platform: Option<Platform>,
    /// `--no-cache`.
    pub no_cache: NoCache,
    /// `SOURCE_DATE_EPOCH`: the image's and the history's `created` time, and the clamp of
    /// layer mtimes, so that the same inputs give the same digest.
    pub source_date_epoch: Option<i64>,
    /// `--label`: labels added to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--secret id=ID,src=PATH`: the files `RUN --mount=type=secret,id=ID` sees.
    pub secrets: BTreeMap<String, PathBuf>,
    /// The network of `RUN` steps without `--network` (or with `--network=default`).
    pub network: StepNetwork,
}

impl BuildRequest {
    /// A request with the defaults: no tags, no build args, the last stage, the host's
    /// platform, the cache used, `created` = now, no network for `RUN` steps.
    pub fn new(dockerfile: DockerfileSource, context: impl Into<PathBuf>) -> Self {
        BuildRequest {
            dockerfile,
            context: context.into(),
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            target: None,
            platform: None,
            no_cache: NoCache::None,
            source_date_epoch: None,
            labels: BTreeMap::new(),
            secrets: BTreeMap::new(),
            network: StepNetwork::None,
        }
    }
}

/// What one step of the build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The stage's index in the Dockerfile.
    pub stage: usize,
    /// The instruction's line in the Dockerfile.
    pub line: usize,
    /// Whether the step came from the cache.
    pub cached: bool,
    /// How long it took.
    pub duration: Duration,
    /// The layer it made, if it made one (config-only steps make none).
    pub layer: Option<Digest>,
}

/// A finished build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The image ID: the config's digest.
    pub image_id: Digest,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// Every step of the stages that were built, in the order they ran.
    pub steps: Vec<StepResult>,
}
