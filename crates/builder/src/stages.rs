//! The stages of a Dockerfile: the global `ARG`s before the first `FROM`, each stage's
//! instructions, the edges between stages (`FROM stage`, `COPY --from`, `RUN --mount from=`),
//! the stages a target needs, and running them as a DAG (independent stages at once).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use boxwright_dockerfile_parser::{Dockerfile, Instruction, InstructionKind};

use crate::error::BuildError;

/// One stage: its `FROM` and the instructions after it.
#[derive(Debug, Clone)]
pub(crate) struct Stage<'a> {
    /// Its index in the Dockerfile.
    pub(crate) index: usize,
    /// `AS name`, lower-cased.
    pub(crate) name: Option<String>,
    /// The `FROM` instruction.
    pub(crate) from: &'a Instruction,
    /// The instructions after `FROM`.
    pub(crate) steps: Vec<&'a Instruction>,
}

/// A Dockerfile split into stages.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    /// The `ARG`s before the first `FROM`.
    pub(crate) globals: Vec<&'a Instruction>,
    /// Every stage, in order.
    pub(crate) stages: Vec<Stage<'a>>,
    /// The target stage's index.
    pub(crate) target: usize,
}

impl<'a> Plan<'a> {
    /// Splits `file` and finds the target stage (the last when `target` is `None`).
    pub(crate) fn new(file: &'a Dockerfile, target: Option<&str>) -> Result<Plan<'a>, BuildError> {
        let mut globals = Vec::new();
        let mut stages: Vec<Stage<'a>> = Vec::new();
        for ins in &file.instructions {
            match (&ins.kind, stages.last_mut()) {
                (InstructionKind::From { alias, .. }, _) => stages.push(Stage {
                    index: stages.len(),
                    name: alias.as_ref().map(|a| a.to_ascii_lowercase()),
                    from: ins,
                    steps: Vec::new(),
                }),
                (_, Some(stage)) => stage.steps.push(ins),
                (InstructionKind::Arg { .. }, None) => globals.push(ins),
                (_, None) => {
                    return Err(BuildError::Structure {
                        line: ins.span.start_line,
                        message: format!("{} before the first FROM", ins.keyword),
                    })
                }
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Structure {
                line: 1,
                message: "the Dockerfile has no FROM".into(),
            });
        }
        let target = match target {
            None => stages.len() - 1,
            Some(t) => {
                find_stage(&stages, t, stages.len()).ok_or_else(|| BuildError::TargetNotFound {
                    target: t.to_string(),
                })?
            }
        };
        Ok(Plan {
            globals,
            stages,
            target,
        })
    }

    /// The stage a `FROM` image or `--from` value names, if it names an earlier stage than
    /// `before` (by name, or by index for `--from`).
    pub(crate) fn stage_named(&self, what: &str, before: usize, by_index: bool) -> Option<usize> {
        let found = find_stage(&self.stages, what, before)?;
        if !by_index && what.parse::<usize>().is_ok() {
            return None;
        }
        Some(found)
    }

    /// The stages stage `i` depends on: its `FROM` stage and the stages its `--from` values
    /// name (each an earlier stage). `from_image` gives a stage's expanded `FROM` image.
    pub(crate) fn deps(&self, i: usize, from_image: &dyn Fn(&Stage<'_>) -> String) -> Vec<usize> {
        let Some(stage) = self.stages.get(i) else {
            return Vec::new();
        };
        let mut deps = BTreeSet::new();
        if let Some(dep) = self.stage_named(&from_image(stage), i, false) {
            deps.insert(dep);
        }
        for ins in &stage.steps {
            for from in stage_refs(ins) {
                if let Some(dep) = self.stage_named(from, i, true) {
                    deps.insert(dep);
                }
            }
        }
        deps.into_iter().collect()
    }

    /// The stages the target needs, in Dockerfile order (which is a build order: every edge
    /// points to an earlier stage). `from_image` gives a stage's expanded `FROM` image.
    pub(crate) fn needed(&self, from_image: &dyn Fn(&Stage<'_>) -> String) -> Vec<usize> {
        let mut need = BTreeSet::new();
        let mut todo = vec![self.target];
        while let Some(i) = todo.pop() {
            if need.insert(i) {
                todo.extend(self.deps(i, from_image));
            }
        }
        need.into_iter().collect()
    }
}

/// Runs `start(i)` for every stage of `order`, each once the stages `deps` gives for it have
/// finished, all in the calling task: independent stages make progress at once. The first
/// failure is returned and the stages still running are dropped (cancelled). A dependency
/// outside `order` counts as finished.
pub(crate) async fn run_dag<'f, F>(
    order: &[usize],
    deps: &BTreeMap<usize, Vec<usize>>,
    mut start: F,
) -> Result<(), BuildError>
where
    F: FnMut(usize) -> StageFuture<'f>,
{
    let mut waiting: Vec<usize> = order.to_vec();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut running: Vec<(usize, StageFuture<'f>)> = Vec::new();
    std::future::poll_fn(|cx| loop {
        let ready = |i: &usize| {
            deps.get(i)
                .into_iter()
                .flatten()
                .all(|d| done.contains(d) || !order.contains(d))
        };
        let (now, later): (Vec<usize>, Vec<usize>) = waiting.iter().partition(|i| ready(i));
        waiting = later;
        running.extend(now.into_iter().map(|i| (i, start(i))));
        let mut finished = false;
        let mut k = 0;
        while k < running.len() {
            let Some((i, fut)) = running.get_mut(k) else {
                break;
            };
            match fut.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => {
                    done.insert(*i);
                    drop(running.remove(k));
                    finished = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => k += 1,
            }
        }
        if running.is_empty() && waiting.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if !finished {
            return Poll::Pending;
        }
    })
    .await
}

/// One stage's build, as [`run_dag`] polls it.
pub(crate) type StageFuture<'f> = Pin<Box<dyn Future<Output = Result<(), BuildError>> + Send + 'f>>;

/// The `--from` values of an instruction (COPY, RUN mounts).
pub(crate) fn stage_refs(ins: &Instruction) -> Vec<&str> {
    match &ins.kind {
        InstructionKind::Copy { from: Some(f), .. } => vec![f.as_str()],
        InstructionKind::Run { mounts, .. } => {
            mounts.iter().filter_map(|m| m.from.as_deref()).collect()
        }
        _ => Vec::new(),
    }
}

/// The index of the stage named `what` (or numbered, as `--from=0` does) before `before`.
fn find_stage(stages: &[Stage<'_>], what: &str, before: usize) -> Option<usize> {
    let lower = what.to_ascii_lowercase();
    if let Some(i) = stages
        .iter()
        .take(before)
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    match what.parse::<usize>() {
        Ok(i) if i < before => Some(i),
        _ => None,
    }
}
