//! The stages of a Dockerfile: the global `ARG`s before the first `FROM`, each stage's
//! instructions, the edges between stages (`FROM stage`, `COPY --from`, `RUN --mount from=`),
//! and the stages a target needs, in build order.

use std::collections::BTreeSet;

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

    /// The stages the target needs, in Dockerfile order (which is a build order: every edge
    /// points to an earlier stage). `from_image` gives a stage's expanded `FROM` image.
    pub(crate) fn needed(&self, from_image: &dyn Fn(&Stage<'_>) -> String) -> Vec<usize> {
        let mut need = BTreeSet::new();
        let mut todo = vec![self.target];
        while let Some(i) = todo.pop() {
            if !need.insert(i) {
                continue;
            }
            let Some(stage) = self.stages.get(i) else {
                continue;
            };
            if let Some(dep) = self.stage_named(&from_image(stage), i, false) {
                todo.push(dep);
            }
            for ins in &stage.steps {
                for from in stage_refs(ins) {
                    if let Some(dep) = self.stage_named(from, i, true) {
                        todo.push(dep);
                    }
                }
            }
        }
        need.into_iter().collect()
    }
}

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
