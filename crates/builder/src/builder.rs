//! The [`Builder`]: a Dockerfile and a context become an image in the store, stage by stage,
//! step by step, each step taken from the cache or run, every miss explained.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use boxwright_dockerfile_parser::expand::Expander;
use boxwright_dockerfile_parser::{parse, Instruction, InstructionKind};
use boxwright_layer_store::{platform, Image, Platform, Store};
use tokio::sync::mpsc::UnboundedSender;

use crate::advice::cache_order;
use crate::blocking::blocking;
use crate::cache::{explain, BuildLog, Cache, CacheRecord, StepInputs};
use crate::context::Context;
use crate::copy::{inside, CopySrc};
use crate::copy_step::CopyJob;
use crate::error::BuildError;
use crate::events::{BuildEvent, MissReason};
use crate::executor::Executor;
use crate::executor::StepMount;
use crate::image::{created, ImageState, LayerDesc};
use crate::instr::ConfigChange;
use crate::request::{BuildRequest, BuildResult, DockerfileSource, StepResult};
use crate::run::{run, MountSources, StageBind};
use crate::source::ImageSource;
use crate::stages::{run_dag, stage_refs, Plan, Stage};
use crate::staging::Staging;
use crate::stat_cache::StatCache;
use crate::step::{prepare, Action, CopyAction, PrepareCx, Prepared};
use crate::vars::Args;
use crate::workdir::WorkdirJob;

/// Builds images from Dockerfiles into a layer store.
///
/// `RUN` steps go through the [`Executor`]; `FROM` images the store lacks come from the
/// [`ImageSource`]. Several builds may run at once on one store (in one process or several):
/// cache records are written atomically and a record whose layer is gone is a miss.
#[derive(Clone)]
pub struct Builder {
    store: Store,
    executor: Arc<dyn Executor>,
    source: Arc<dyn ImageSource>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("store", &self.store.root())
            .finish_non_exhaustive()
    }
}

/// What a finished stage left.
#[derive(Debug, Clone)]
struct StageOut {
    state: ImageState,
    key: String,
    /// The root cause when a step of the stage (or of a stage it is built `FROM`) missed: an
    /// [`MissReason::EarlierStepChanged`] naming the first step that missed.
    cause: Option<MissReason>,
}

impl Builder {
    /// A builder over `store`, running `RUN` steps with `executor` and getting missing `FROM`
    /// images from `source`.
    pub fn new(store: Store, executor: Arc<dyn Executor>, source: Arc<dyn ImageSource>) -> Self {
        Builder {
            store,
            executor,
            source,
        }
    }

    /// The store images are built into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Builds `request`, sending progress to `events` when given.
    ///
    /// Only the stages the target needs are built, each once the stages it depends on (`FROM`
    /// a stage, `--from`) have finished; independent stages build at once, in this task, so
    /// their events interleave (each step's index is given as it starts; the result's steps
    /// are in Dockerfile order). A failed stage stops the others. On success the image
    /// is in the store, tagged with every name of `request.tags`. On failure nothing is
    /// tagged, and the steps that finished stay cached. Dropping the future stops the build:
    /// the running `RUN` step is stopped (the executor's contract) and its staging removed.
    pub async fn build(
        &self,
        request: BuildRequest,
        events: Option<UnboundedSender<BuildEvent>>,
    ) -> Result<BuildResult, BuildError> {
        let _lease = self
            .store
            .lease()
            .map_err(BuildError::store("taking a lease"))?;
        let (name, text, df_path) = read_dockerfile(&request)?;
        let file = parse(&text).map_err(BuildError::Parse)?;
        let plan = Plan::new(&file, request.target.as_deref())?;
        let ctx = match &df_path {
            Some(p) => Context::open_for_dockerfile(&request.context, p),
            None => Context::open(&request.context),
        }
        .map_err(|source| BuildError::Context { line: 0, source })?;
        let cache = Cache::open(&self.store)?;
        let target_name = plan.stages.get(plan.target).and_then(|s| s.name.clone());
        let target_id = target_name.unwrap_or_else(|| plan.target.to_string());
        let platform = request.platform.clone().unwrap_or_else(platform::host);
        let stat_path = cache.dir().join("stat-cache");
        let mut run = BuildRun {
            builder: self,
            request: &request,
            events: events.as_ref(),
            stat: Arc::new(Mutex::new(StatCache::load(&stat_path))),
            prev: cache.last_build(&name, &target_id),
            cache,
            ctx,
            args: Args::new(request.build_args.clone(), automatic_args(&platform)),
            expander: Expander::new(file.directives.escape_char()),
            platform,
            created: created(request.source_date_epoch),
            shared: Mutex::new(Shared::default()),
        };
        run.globals(&plan)?;
        let global = run.args.global().clone();
        let expander = run.expander;
        let from_image = |s: &Stage<'_>| expand_from(expander, s.from, &global);
        let needed = plan.needed(&from_image);
        for &i in &needed {
            if let Some(stage) = plan.stages.get(i) {
                for (span, message) in cache_order(&stage.steps) {
                    run.emit(BuildEvent::Warning { span, message });
                }
            }
        }
        let deps = needed
            .iter()
            .map(|&i| (i, plan.deps(i, &from_image)))
            .collect();
        let (run_ref, plan_ref) = (&run, &plan);
        run_dag(&needed, &deps, |i| Box::pin(run_ref.stage(plan_ref, i))).await?;
        let (result, log) = run.finish(plan.target)?;
        run.cache.save_build(&name, &target_id, &log)?;
        let stat = run.stat.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = stat.save(&stat_path) {
            tracing::warn!(error = %e, "the stat cache was not saved");
        }
        Ok(result)
    }
}

/// The Dockerfile's name (for the build log), its text, and its path when on disk.
fn read_dockerfile(
    request: &BuildRequest,
) -> Result<(String, String, Option<PathBuf>), BuildError> {
    match &request.dockerfile {
        DockerfileSource::Path(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| BuildError::ReadDockerfile {
                path: p.clone(),
                source,
            })?;
            let name = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            Ok((name.to_string_lossy().into_owned(), text, Some(p.clone())))
        }
        DockerfileSource::Text { name, text } => {
            let ctx =
                std::fs::canonicalize(&request.context).unwrap_or_else(|_| request.context.clone());
            Ok((format!("{}#{name}", ctx.display()), text.clone(), None))
        }
    }
}

/// `TARGETPLATFORM` and friends.
fn automatic_args(p: &Platform) -> BTreeMap<String, String> {
    let os = p.os().to_string();
    let arch = p.architecture().to_string();
    let variant = p.variant().clone().unwrap_or_default();
    let full = platform::to_string(p);
    let mut m = BTreeMap::new();
    for prefix in ["TARGET", "BUILD"] {
        m.insert(format!("{prefix}PLATFORM"), full.clone());
        m.insert(format!("{prefix}OS"), os.clone());
        m.insert(format!("{prefix}ARCH"), arch.clone());
        m.insert(format!("{prefix}VARIANT"), variant.clone());
    }
    m
}

/// A stage's `FROM` image expanded with the global arguments (unexpandable text stays raw).
fn expand_from(
    expander: Expander,
    from: &Instruction,
    global: &BTreeMap<String, String>,
) -> String {
    let InstructionKind::From { image, .. } = &from.kind else {
        return String::new();
    };
    expander
        .expand_word(image, global)
        .map(|e| e.value)
        .unwrap_or_else(|_| image.clone())
}

/// The state of one build, shared by the stages building at once.
struct BuildRun<'a> {
    builder: &'a Builder,
    request: &'a BuildRequest,
    events: Option<&'a UnboundedSender<BuildEvent>>,
    ctx: Context,
    cache: Cache,
    stat: Arc<Mutex<StatCache>>,
    prev: Option<BuildLog>,
    /// The global arguments (each stage works on its own copy).
    args: Args,
    expander: Expander,
    platform: Platform,
    created: String,
    shared: Mutex<Shared>,
}

/// What the stages of a build share as they finish.
#[derive(Default)]
struct Shared {
    /// The finished stages.
    stages: BTreeMap<usize, StageOut>,
    /// The inputs of each finished stage's steps (FROM first), for the build log.
    logs: BTreeMap<usize, Vec<StepInputs>>,
    /// Each finished stage's step results.
    steps: BTreeMap<usize, Vec<StepResult>>,
    /// The next step's index among the steps of the build.
    next_index: usize,
}

/// One stage as it builds.
struct StageRun {
    /// The arguments in scope.
    args: Args,
    /// This stage's steps in the last build (FROM first).
    prev: Option<BuildLog>,
    /// This stage's steps' inputs so far (FROM first).
    log: Vec<StepInputs>,
    /// This stage's step results so far.
    steps: Vec<StepResult>,
    /// The reason to give the next miss whose own inputs are unchanged (a changed base image).
    pending: Option<MissReason>,
    /// The root cause of the misses to come, once a step missed (see [`StageOut::cause`]).
    cause: Option<MissReason>,
}

/// One step's place: its instruction, and whether a CMD came before it in the stage.
struct StepAt<'i> {
    ins: &'i Instruction,
    cmd_set: bool,
}

impl BuildRun<'_> {
    fn emit(&self, event: BuildEvent) {
        if let Some(tx) = self.events {
            let _ = tx.send(event);
        }
    }

    /// The shared state, locked (never across an await).
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A finished stage's output.
    fn stage_out(&self, i: usize) -> Option<StageOut> {
        self.shared().stages.get(&i).cloned()
    }

    /// The global `ARG`s.
    fn globals(&mut self, plan: &Plan<'_>) -> Result<(), BuildError> {
        for ins in &plan.globals {
            if let InstructionKind::Arg { args } = &ins.kind {
                for decl in args {
                    let global = self.args.global().clone();
                    let ex = |w: &str| {
                        self.expander
                            .expand_word(w, &global)
                            .map(|e| e.value)
                            .map_err(|source| BuildError::Expand {
                                line: ins.span.start_line,
                                word: w.to_string(),
                                source,
                            })
                    };
                    let name = ex(&decl.name)?;
                    let default = decl.default.as_deref().map(ex).transpose()?;
                    self.args.declare_global(&name, default);
                }
            }
        }
        Ok(())
    }

    /// The base of a stage: its state, the text and digest for its key, and the root cause
    /// when it is a stage that missed.
    async fn base(
        &self,
        plan: &Plan<'_>,
        stage: &Stage<'_>,
    ) -> Result<(ImageState, String, Option<MissReason>), BuildError> {
        let line = stage.from.span.start_line;
        let image = expand_from(self.expander, stage.from, self.args.global());
        if image.eq_ignore_ascii_case("scratch") {
            return Ok((ImageState::scratch(&self.platform), "scratch".into(), None));
        }
        if let Some(j) = plan.stage_named(&image, stage.index, false) {
            if let Some(out) = self.stage_out(j) {
                return Ok((out.state, format!("stage:{}", out.key), out.cause));
            }
        }
        let resolved = self.local_or_pull(&image, line).await?;
        let state = ImageState::from_image(&self.builder.store, &resolved)?;
        Ok((state, resolved.manifest_digest.to_string(), None))
    }

    /// `reference` resolved in the store, pulled through the image source first when missing.
    async fn local_or_pull(
        &self,
        reference: &str,
        line: usize,
    ) -> Result<boxwright_layer_store::Image, BuildError> {
        let store = &self.builder.store;
        if let Ok(img) = store.resolve_for(reference, &self.platform) {
            return Ok(img);
        }
        let err = |e: Box<dyn std::error::Error + Send + Sync>| BuildError::BaseImage {
            line,
            reference: reference.to_string(),
            source: e,
        };
        self.builder
            .source
            .pull(store, reference, &self.platform)
            .await
            .map_err(|e| err(Box::new(e)))?;
        store
            .resolve_for(reference, &self.platform)
            .map_err(|e| err(Box::new(e)))
    }

    /// Builds stage `i` (its dependencies have finished).
    async fn stage(&self, plan: &Plan<'_>, i: usize) -> Result<(), BuildError> {
        let Some(stage) = plan.stages.get(i) else {
            return Ok(());
        };
        self.emit(BuildEvent::StageStarted {
            stage: i,
            name: stage.name.clone(),
        });
        let mut args = self.args.clone();
        args.enter_stage();
        let prev = self.prev.as_ref().map(|log| BuildLog {
            steps: log.steps.iter().filter(|s| s.stage == i).cloned().collect(),
        });
        let (mut state, base, cause) = self.base(plan, stage).await?;
        let from_text = format!(
            "FROM {}",
            expand_from(self.expander, stage.from, self.args.global())
        );
        let from_inputs = StepInputs {
            stage: i,
            text: from_text,
            base: Some(base),
            ..StepInputs::default()
        };
        let pending = match explain(prev.as_ref(), 0, &from_inputs) {
            Some(reason @ MissReason::BaseImageChanged { .. }) => Some(reason),
            _ => None,
        };
        let root = format!(
            "{}|{}|{:?}|{:?}",
            platform::to_string(&self.platform),
            i,
            self.request.source_date_epoch,
            self.request.network
        );
        let mut key = from_inputs.key(&blake3::hash(root.as_bytes()).to_hex());
        let mut sr = StageRun {
            args,
            prev,
            log: vec![from_inputs],
            steps: Vec::new(),
            pending,
            cause,
        };
        let triggers = onbuild_triggers(&mut state, stage.from)?;
        let mut steps: Vec<&Instruction> = triggers.iter().collect();
        steps.extend(stage.steps.iter().copied());
        for ins in &steps {
            for from in stage_refs(ins) {
                if plan.stage_named(from, i, true).is_none() {
                    self.local_or_pull(from, ins.span.start_line).await?;
                }
            }
        }
        let mut cmd_set = false;
        for ins in steps {
            let at = StepAt { ins, cmd_set };
            (state, key) = self.step(plan, stage, &mut sr, at, state, key).await?;
            cmd_set |= matches!(ins.kind, InstructionKind::Cmd { .. });
        }
        let mut shared = self.shared();
        let cause = sr.cause;
        shared.stages.insert(i, StageOut { state, key, cause });
        shared.logs.insert(i, sr.log);
        shared.steps.insert(i, sr.steps);
        Ok(())
    }

    /// One step: prepared, then taken from the cache or run.
    async fn step(
        &self,
        plan: &Plan<'_>,
        stage: &Stage<'_>,
        sr: &mut StageRun,
        at: StepAt<'_>,
        state: ImageState,
        parent: String,
    ) -> Result<(ImageState, String), BuildError> {
        let started = Instant::now();
        let ins = at.ins;
        let line = ins.span.start_line;
        let prepared = self
            .prepare(plan, stage, &mut sr.args, ins, &state, at.cmd_set)
            .await?;
        let key = prepared.inputs.key(&parent);
        // A `--link` COPY's record is found by a key without the parent's, and rebased.
        // Its destination is absolute there: the text's may be relative to the WORKDIR.
        let (link, lookup) = match &prepared.action {
            Action::Copy(c) if c.link => (
                true,
                prepared.inputs.key(&format!("--link {}", c.opts.dest)),
            ),
            _ => (false, key.clone()),
        };
        let index = {
            let mut shared = self.shared();
            shared.next_index += 1;
            shared.next_index - 1
        };
        self.emit(BuildEvent::StepStarted {
            stage: stage.index,
            index,
            span: ins.span.clone(),
            text: prepared.inputs.text.clone(),
        });
        let no_cache = self
            .request
            .no_cache
            .applies(stage.name.as_deref(), stage.index);
        let hit = if no_cache {
            None
        } else {
            self.cache.get(&self.builder.store, &lookup).map(|r| {
                if link {
                    self.rebase(r, &state, &prepared)
                } else {
                    r
                }
            })
        };
        let (record, cached) = match hit {
            Some(record) => {
                self.emit(BuildEvent::StepCached {
                    index,
                    key: key.clone(),
                });
                (record, true)
            }
            None => {
                let from = self.cause_in_sources(plan, stage, ins);
                let reason = self.miss_reason(sr, no_cache, index, &prepared.inputs, from);
                self.emit(BuildEvent::StepCacheMiss { index, reason });
                let record = self.execute(&prepared, &state, index, line).await?;
                self.cache.put(&lookup, &record)?;
                (record, false)
            }
        };
        let duration = started.elapsed();
        let layer = record.layer.as_ref().map(LayerDesc::blob).transpose()?;
        self.emit(BuildEvent::StepDone {
            index,
            duration,
            layer_size: record.layer.as_ref().map(|l| l.size),
        });
        sr.steps.push(StepResult {
            stage: stage.index,
            line,
            cached,
            duration,
            layer,
        });
        sr.log.push(prepared.inputs);
        Ok((record.state, key))
    }

    /// Why step `index` (whose inputs are `inputs`) missed; a step whose own inputs are
    /// unchanged names the first step that missed before it. Records the root cause of the
    /// misses that follow.
    /// `from` is the root cause of a miss in a stage the step copies or mounts from.
    fn miss_reason(
        &self,
        sr: &mut StageRun,
        no_cache: bool,
        index: usize,
        inputs: &StepInputs,
        from: Option<MissReason>,
    ) -> MissReason {
        let own = if no_cache {
            Some(MissReason::NoCache)
        } else {
            explain(sr.prev.as_ref(), sr.log.len(), inputs)
        };
        let reason = match (own, &sr.cause, from) {
            // A `--from` stage's key changed (no context file did): name why that stage missed.
            (Some(MissReason::FilesChanged { count: 0, .. }), _, Some(from)) => from,
            (Some(r), _, _) => r,
            (None, Some(cause), _) => return cause.clone(),
            (None, None, _) => sr.pending.take().unwrap_or(MissReason::RecordGone),
        };
        if sr.cause.is_none() {
            sr.cause = Some(match &reason {
                MissReason::EarlierStepChanged { .. } => reason.clone(),
                _ => MissReason::EarlierStepChanged {
                    index,
                    text: inputs.text.clone(),
                    reason: Box::new(reason.clone()),
                },
            });
        }
        reason
    }

    /// The root cause of a miss in the stages `ins` copies or mounts from, if one missed.
    fn cause_in_sources(
        &self,
        plan: &Plan<'_>,
        stage: &Stage<'_>,
        ins: &Instruction,
    ) -> Option<MissReason> {
        stage_refs(ins)
            .into_iter()
            .filter_map(|f| plan.stage_named(f, stage.index, true))
            .find_map(|j| self.stage_out(j).and_then(|out| out.cause))
    }

    /// A `--link` COPY's cached record on another parent: its layer and history entry (with
    /// the time it was made, so an unchanged rebuild gives the same image) on top of `state`.
    fn rebase(&self, record: CacheRecord, state: &ImageState, prepared: &Prepared) -> CacheRecord {
        let mut next = state.clone();
        let created = record.state.last_created();
        let created = created.as_deref().unwrap_or(&self.created);
        next.add_history(created, &prepared.created_by, false);
        if let Some(l) = &record.layer {
            next.add_layer(l.clone());
        }
        CacheRecord {
            state: next,
            layer: record.layer,
        }
    }

    /// Prepares `ins` on `state`.
    async fn prepare(
        &self,
        plan: &Plan<'_>,
        stage: &Stage<'_>,
        args: &mut Args,
        ins: &Instruction,
        state: &ImageState,
        cmd_set: bool,
    ) -> Result<Prepared, BuildError> {
        let store = &self.builder.store;
        let platform = &self.platform;
        let from = |what: &str| -> Result<(CopySrc, String), BuildError> {
            if let Some(j) = plan.stage_named(what, stage.index, true) {
                let key = self.stage_out(j).map(|s| s.key).unwrap_or_default();
                return Ok((CopySrc::Stage(j), format!("stage:{key}")));
            }
            let img = store
                .resolve_for(what, platform)
                .map_err(BuildError::store(format!("resolving {what}")))?;
            Ok((
                CopySrc::Image(what.to_string()),
                img.manifest_digest.to_string(),
            ))
        };
        let cache_dir = self.cache.dir().join("mounts");
        let mut cx = PrepareCx {
            expander: self.expander,
            args,
            state,
            cmd_set,
            ctx: &self.ctx,
            stat: &self.stat,
            mounts: MountSources {
                context: self.ctx.root(),
                cache_dir: &cache_dir,
                secrets: &self.request.secrets,
            },
            network: self.request.network,
            stage: stage.index,
            from: &from,
        };
        prepare(ins, &mut cx).await
    }

    /// Runs a step that missed.
    async fn execute(
        &self,
        prepared: &Prepared,
        state: &ImageState,
        index: usize,
        line: usize,
    ) -> Result<CacheRecord, BuildError> {
        let mut next = state.clone();
        let layer = match &prepared.action {
            Action::Config(change) => {
                change.apply(&mut next);
                None
            }
            Action::Copy(copy) => Some(self.copy_job(copy, state)?.run().await?),
            Action::Workdir { path, user } => {
                ConfigChange::Workdir(path.clone()).apply(&mut next);
                let job = WorkdirJob {
                    store: self.builder.store.clone(),
                    state: state.clone(),
                    path: path.clone(),
                    user: user.clone(),
                    line,
                    source_date_epoch: self.request.source_date_epoch,
                };
                Some(job.run().await?)
            }
            Action::Run(action) => {
                let (_guards, binds) = self.stage_binds(&action.stage_binds, line).await?;
                let mut action = action.clone();
                action.mounts.extend(binds);
                Some(
                    run(
                        &self.builder.executor,
                        &self.builder.store,
                        state,
                        action,
                        index,
                        line,
                        self.events,
                        self.request.source_date_epoch,
                    )
                    .await?,
                )
            }
        };
        // ONBUILD writes no history entry in BuildKit (the trigger is in the config only).
        if !matches!(prepared.action, Action::Config(ConfigChange::Onbuild(_))) {
            next.add_history(&self.created, &prepared.created_by, layer.is_none());
        }
        if let Some(l) = &layer {
            next.add_layer(l.clone());
        }
        Ok(CacheRecord { state: next, layer })
    }

    /// The image a `--from` names: an earlier stage's result or an image in the store.
    fn image_of(&self, from: &CopySrc) -> Result<Option<Image>, BuildError> {
        let store = &self.builder.store;
        Ok(match from {
            CopySrc::Context => None,
            CopySrc::Stage(j) => match self.stage_out(*j) {
                Some(out) => Some(out.state.as_image(store)?),
                None => None,
            },
            CopySrc::Image(r) => Some(
                store
                    .resolve_for(r, &self.platform)
                    .map_err(BuildError::store(format!("resolving {r}")))?,
            ),
        })
    }

    /// Unpacks what `RUN --mount=type=bind,from=…` binds; the guards keep the unpacked roots
    /// until the step has ended.
    async fn stage_binds(
        &self,
        binds: &[StageBind],
        line: usize,
    ) -> Result<(Vec<Staging>, Vec<StepMount>), BuildError> {
        let mut guards = Vec::new();
        let mut mounts = Vec::new();
        for bind in binds {
            let image = self
                .image_of(&bind.from)?
                .ok_or_else(|| BuildError::Invalid {
                    line,
                    message: "the bind mount's stage was not built".into(),
                })?;
            let staging = Staging::new(&self.builder.store, "bind")?;
            let dir = staging.subdir("root")?;
            let (store, target) = (self.builder.store.clone(), dir.clone());
            blocking("unpacking a bind mount's source", move || {
                store
                    .unpack(&image, &target)
                    .map_err(BuildError::store("unpacking a bind mount's source"))
            })
            .await?;
            mounts.push(StepMount::Bind {
                source: inside(&dir, &bind.source),
                target: bind.target.clone().into(),
                readonly: bind.readonly,
            });
            guards.push(staging);
        }
        Ok((guards, mounts))
    }

    /// The COPY job of `copy` on `state`, with its `--from` image found.
    fn copy_job(&self, copy: &CopyAction, state: &ImageState) -> Result<CopyJob, BuildError> {
        let store = &self.builder.store;
        let from_image = self.image_of(&copy.from)?;
        Ok(CopyJob {
            store: store.clone(),
            ctx: self.ctx.clone(),
            copy: copy.clone(),
            state: state.clone(),
            from_image,
            source_date_epoch: self.request.source_date_epoch,
        })
    }

    /// Writes the target's image, tags it, and reports it; gives the result (steps in
    /// Dockerfile order) and the build log to save.
    fn finish(&self, target: usize) -> Result<(BuildResult, BuildLog), BuildError> {
        let shared = std::mem::take(&mut *self.shared());
        let out = shared
            .stages
            .get(&target)
            .ok_or_else(|| BuildError::TargetNotFound {
                target: target.to_string(),
            })?;
        let mut state = out.state.clone();
        if !self.request.labels.is_empty() {
            let labels = self
                .request
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            ConfigChange::ExtraLabels(labels).apply(&mut state);
        }
        let store = &self.builder.store;
        // As BuildKit: the image's time is the last history entry's, so a rebuild that is all
        // cache hits gives the same image ID.
        let when = match self.request.source_date_epoch {
            Some(_) => self.created.clone(),
            None => state.last_created().unwrap_or_else(|| self.created.clone()),
        };
        let (config, _manifest, desc) = state.write(store, &when)?;
        let mut tags = Vec::new();
        for t in &self.request.tags {
            tags.push(
                store
                    .tag(&desc, t)
                    .map_err(BuildError::store(format!("tagging {t}")))?,
            );
        }
        if tags.is_empty() {
            store
                .add_untagged(&desc)
                .map_err(BuildError::store("recording the image"))?;
        }
        self.emit(BuildEvent::ImageWritten {
            image_id: config.digest().clone(),
            manifest_digest: desc.digest().clone(),
            tags,
        });
        let result = BuildResult {
            image_id: config.digest().clone(),
            manifest_digest: desc.digest().clone(),
            steps: shared.steps.into_values().flatten().collect(),
        };
        let log = BuildLog {
            steps: shared.logs.into_values().flatten().collect(),
        };
        Ok((result, log))
    }
}

/// The ONBUILD triggers of a stage's base, parsed (their spans set to the FROM's), removed from
/// the config as Docker does.
fn onbuild_triggers(
    state: &mut ImageState,
    from: &Instruction,
) -> Result<Vec<Instruction>, BuildError> {
    let Some(list) = state.cfg_mut().remove("OnBuild") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for t in list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        let parsed = parse(&format!("FROM scratch\n{t}")).map_err(|e| BuildError::Invalid {
            line: from.span.start_line,
            message: format!("ONBUILD trigger {t:?} does not parse: {e}"),
        })?;
        for mut ins in parsed.instructions.into_iter().skip(1) {
            ins.span = from.span.clone();
            out.push(ins);
        }
    }
    Ok(out)
}
