//! `docker build` and `docker builder prune`: [`Engine::build`] runs the builder over the
//! engine's store, with the runtime for `RUN` steps and the registry for missing `FROM`
//! images; [`BuildProgress`] renders its events as lines.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::engine::Engine;
use crate::error::Result;

pub use boxwright_builder::{describe_miss, BuildProgress};
pub use boxwright_builder::{
    BuildError, BuildEvent, BuildRequest, BuildResult, Builder, CacheGcReport, DockerfileSource,
    MissReason, NoCache, OutputStream, PruneOptions, PruneReport, StepNetwork, StepResult,
};
pub use boxwright_layer_store::GcOptions;

impl Engine {
    /// The builder over this engine's store: `RUN` steps run by boxwright's runtime (feature
    /// `run`; without it a `RUN` step is an error that says so) and `FROM` images the store
    /// lacks pulled from their registry (feature `registry`; without it they are an error).
    pub fn builder(&self) -> Builder {
        #[cfg(feature = "run")]
        let executor: Arc<dyn boxwright_builder::Executor> =
            Arc::new(boxwright_builder::RuntimeExecutor::new());
        #[cfg(not(feature = "run"))]
        let executor: Arc<dyn boxwright_builder::Executor> = Arc::new(boxwright_builder::RefuseRun);
        #[cfg(feature = "registry")]
        let source: Arc<dyn boxwright_builder::ImageSource> = Arc::new(self.registry().clone());
        #[cfg(not(feature = "registry"))]
        let source: Arc<dyn boxwright_builder::ImageSource> =
            Arc::new(boxwright_builder::LocalOnly);
        Builder::new(self.store().clone(), executor, source)
    }

    /// `docker build`: builds `request` into the store and tags it with `request.tags`,
    /// sending progress to `events` when given (render them with [`BuildProgress`]).
    ///
    /// As Docker (BuildKit): each step is taken from the cache when its inputs are those of
    /// an earlier build, and a miss is explained ([`MissReason`]); a `FROM` image the store
    /// lacks is pulled (feature `registry`); `RUN` steps have no network unless
    /// `request.network` says otherwise. Differences: see the builder's limitations
    /// ([`boxwright_builder`]).
    ///
    /// ```no_run
    /// use boxwright::build::{BuildProgress, BuildRequest, DockerfileSource};
    ///
    /// # async fn f(engine: boxwright::Engine) -> boxwright::Result<()> {
    /// let mut request = BuildRequest::new(DockerfileSource::Path("app/Dockerfile".into()), "app");
    /// request.tags = vec!["app:1".into()];
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let render = tokio::spawn(async move {
    ///     let mut progress = BuildProgress::new();
    ///     while let Some(event) = rx.recv().await {
    ///         for line in progress.lines(&event) {
    ///             tracing::info!("{line}"); // a program would show it to its user
    ///         }
    ///     }
    /// });
    /// let built = engine.build(request, Some(tx)).await?;
    /// let _ = render.await;
    /// tracing::info!(image = %built.image_id, "built");
    /// # Ok(()) }
    /// ```
    pub async fn build(
        &self,
        request: BuildRequest,
        events: Option<UnboundedSender<BuildEvent>>,
    ) -> Result<BuildResult> {
        Ok(self.builder().build(request, events).await?)
    }

    /// `docker builder prune`: drops build cache records (those whose layers are gone, then
    /// by `options`' age and size limits); their layers stay until a gc
    /// ([`Engine::build_cache_gc`]). Waits for running builds on this root to end.
    pub async fn build_cache_prune(&self, options: PruneOptions) -> Result<PruneReport> {
        self.blocking(move |e| Ok(e.builder().prune_cache(&options)?))
            .await
    }

    /// `docker builder prune` then the store's gc, under one lock: the build cache's records
    /// (pruned by `prune`) keep their layers; what nothing holds is removed.
    pub async fn build_cache_gc(
        &self,
        prune: PruneOptions,
        gc: GcOptions,
    ) -> Result<CacheGcReport> {
        self.blocking(move |e| Ok(e.builder().gc(&prune, &gc)?))
            .await
    }
}
