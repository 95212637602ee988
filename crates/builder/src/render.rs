//! [`BuildProgress`]: build events as the lines a person reads — BuildKit's plain progress
//! style, with each cache miss explained.

use std::collections::BTreeMap;

use crate::events::{BuildEvent, MissReason};
use crate::executor::OutputStream;
use boxwright_dockerfile_parser::InstructionKind;

/// Renders a build's [`BuildEvent`]s as lines, as `docker build --progress=plain` does, with
/// the reason of every cache miss:
///
/// ```text
/// #1 [1/4] FROM hostbase
/// #2 [2/4] COPY greeting.txt /greeting.txt    (line 2)
/// #2 cache miss: greeting.txt changed (1 file)
/// #2 ran in 0.01s (1.2 kB)
/// #3 [3/4] RUN /bin/sh -c tr a-z A-Z < /greeting.txt > /shout.txt    (line 3)
/// #3 cache miss: earlier step #2 (COPY greeting.txt /greeting.txt) missed: greeting.txt changed (1 file)
/// #3 ran in 0.05s (1.1 kB)
/// #4 [4/4] CMD ["/bin/cat", "/shout.txt"]    (line 4)
/// #4 CACHED
/// #5 exporting to image
/// #5 writing image sha256:… done
/// #5 naming to docker.io/library/app:latest done
/// ```
///
/// Give it the Dockerfile's text ([`BuildProgress::for_dockerfile`]) for the `[2/4]` totals
/// and the `FROM` lines as written. It only formats: the caller prints (the library prints
/// nothing).
///
/// ```
/// use boxwright_builder::{BuildEvent, BuildProgress, MissReason};
///
/// let mut progress = BuildProgress::for_dockerfile("FROM scratch\nCOPY a /a\n");
/// let event = BuildEvent::StepCacheMiss {
///     index: 0,
///     reason: MissReason::FilesChanged { paths: vec!["a".into()], count: 1 },
/// };
/// assert_eq!(progress.lines(&event), ["#1 cache miss: a changed (1 file)"]);
/// ```
#[derive(Debug, Default)]
pub struct BuildProgress {
    /// Per stage: its `FROM` line as written and how many instructions it has.
    outline: Vec<(String, usize)>,
    stage: usize,
    stage_label: String,
    in_stage: usize,
    vertex: usize,
    /// `#N` of each step index.
    steps: BTreeMap<usize, usize>,
    /// The steps that came from the cache.
    cached: BTreeMap<usize, bool>,
}

impl BuildProgress {
    /// A renderer that knows nothing of the Dockerfile (`[stage-0 2/2]` counts as it goes).
    pub fn new() -> Self {
        BuildProgress::default()
    }

    /// A renderer for the Dockerfile `text` (a text that does not parse gives
    /// [`BuildProgress::new`]: the build reports why).
    pub fn for_dockerfile(text: &str) -> Self {
        BuildProgress {
            outline: outline(text),
            ..BuildProgress::default()
        }
    }

    /// The lines for `event` (none for a cached step's end; several when an image gets
    /// several names).
    pub fn lines(&mut self, event: &BuildEvent) -> Vec<String> {
        match event {
            BuildEvent::StageStarted { stage, name } => {
                self.stage = *stage;
                self.stage_label = match name {
                    Some(n) => format!("{n} "),
                    None if self.outline.len() > 1 => format!("stage-{stage} "),
                    None => String::new(),
                };
                self.in_stage = 1;
                self.vertex += 1;
                let from = self
                    .outline
                    .get(*stage)
                    .map_or_else(|| "FROM".to_owned(), |s| s.0.clone());
                vec![format!(
                    "#{} [{}1/{}] {from}",
                    self.vertex,
                    self.stage_label,
                    self.total()
                )]
            }
            BuildEvent::StepStarted {
                index, span, text, ..
            } => {
                self.in_stage += 1;
                self.vertex += 1;
                self.steps.insert(*index, self.vertex);
                vec![format!(
                    "#{} [{}{}/{}] {text}    (line {})",
                    self.vertex,
                    self.stage_label,
                    self.in_stage,
                    self.total(),
                    span.start_line
                )]
            }
            BuildEvent::StepCached { index, .. } => {
                self.cached.insert(*index, true);
                vec![format!("#{} CACHED", self.n(*index))]
            }
            BuildEvent::StepCacheMiss { index, reason } => {
                let why = match reason {
                    // Named by its `#N`, as the lines above show it.
                    MissReason::EarlierStepChanged {
                        index: first,
                        text,
                        reason,
                    } => format!(
                        "earlier step #{} ({text}) missed: {}",
                        self.n(*first),
                        describe_miss(reason)
                    ),
                    other => describe_miss(other),
                };
                vec![format!("#{} cache miss: {why}", self.n(*index))]
            }
            BuildEvent::RunOutput {
                index,
                stream,
                line,
            } => {
                let tag = match stream {
                    OutputStream::Stderr => " (stderr)",
                    _ => "",
                };
                vec![format!("#{}{tag} {line}", self.n(*index))]
            }
            BuildEvent::StepDone {
                index,
                duration,
                layer_size,
            } => {
                if self.cached.get(index).copied().unwrap_or(false) {
                    return Vec::new();
                }
                let layer = layer_size.map_or_else(String::new, |s| format!(" ({})", size(s)));
                vec![format!(
                    "#{} ran in {:.2}s{layer}",
                    self.n(*index),
                    duration.as_secs_f64()
                )]
            }
            BuildEvent::Warning { span, message } => {
                vec![format!("WARN: line {}: {message}", span.start_line)]
            }
            BuildEvent::ImageWritten { image_id, tags, .. } => {
                self.vertex += 1;
                let v = self.vertex;
                let mut lines = vec![
                    format!("#{v} exporting to image"),
                    format!("#{v} writing image {image_id} done"),
                ];
                lines.extend(tags.iter().map(|t| format!("#{v} naming to {t} done")));
                lines
            }
        }
    }

    /// The current stage's instruction count (as far as known).
    fn total(&self) -> usize {
        self.outline
            .get(self.stage)
            .map_or(self.in_stage, |s| s.1)
            .max(self.in_stage)
    }

    /// The `#N` of step `index`.
    fn n(&self, index: usize) -> usize {
        self.steps.get(&index).copied().unwrap_or(index + 1)
    }
}

/// A miss reason as a person reads it (`greeting.txt changed (1 file)`).
pub fn describe_miss(reason: &MissReason) -> String {
    match reason {
        MissReason::FilesChanged { paths, count } => {
            let more = count.saturating_sub(paths.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let s = if *count == 1 { "" } else { "s" };
            format!("{}{more} changed ({count} file{s})", paths.join(", "))
        }
        other => other.to_string(),
    }
}

/// `12.3 kB`, as Docker prints sizes (powers of 1000).
fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < units.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

/// Per stage of the Dockerfile: its `FROM` line as written and how many instructions it has
/// (the `FROM` included). Empty when the text does not parse.
fn outline(text: &str) -> Vec<(String, usize)> {
    let Ok(file) = boxwright_dockerfile_parser::parse(text) else {
        return Vec::new();
    };
    let mut stages: Vec<(String, usize)> = Vec::new();
    for ins in &file.instructions {
        if let InstructionKind::From { .. } = ins.kind {
            let first = ins.text.lines().next().unwrap_or_default().trim();
            stages.push((first.to_owned(), 1));
        } else if let Some(last) = stages.last_mut() {
            last.1 += 1;
        }
    }
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1234), "1.2 kB");
        assert_eq!(size(5_600_000), "5.6 MB");
    }

    #[test]
    fn many_files_are_counted() {
        let reason = MissReason::FilesChanged {
            paths: vec!["a".into(), "b".into()],
            count: 7,
        };
        assert_eq!(describe_miss(&reason), "a, b and 5 more changed (7 files)");
    }

    #[test]
    fn outline_counts_instructions_per_stage() {
        let text = "FROM a AS one\nRUN x\nFROM one\nCOPY a b\nCMD [\"x\"]\n";
        assert_eq!(
            outline(text),
            [("FROM a AS one".to_owned(), 2), ("FROM one".to_owned(), 3)]
        );
    }
}
