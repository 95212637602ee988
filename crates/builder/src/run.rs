//! A `RUN` step through the [`Executor`]: its mounts resolved to host paths, the parent's
//! snapshots as lower dirs, a fresh upper dir that becomes the layer, output split into lines.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use boxwright_dockerfile_parser::{Mount, MountType};
use boxwright_layer_store::Store;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::blocking::blocking;
use crate::copy::{inside, CopySrc};
use crate::error::BuildError;
use crate::events::BuildEvent;
use crate::executor::{Executor, OutputStream, RunStep, StepMount, StepNetwork};
use crate::image::{ImageState, LayerDesc};
use crate::layer::write_layer;
use crate::staging::Staging;

/// How many output lines a failed step reports.
const LAST_LINES: usize = 20;

/// A `RUN` step ready to run, apart from its root file system.
#[derive(Debug, Clone)]
pub(crate) struct RunAction {
    /// The command line.
    pub(crate) args: Vec<String>,
    /// The environment.
    pub(crate) env: Vec<String>,
    /// `USER`, as written.
    pub(crate) user: Option<String>,
    /// The mounts.
    pub(crate) mounts: Vec<StepMount>,
    /// The network.
    pub(crate) network: StepNetwork,
    /// Bind mounts of another stage's or an image's root (`--mount=type=bind,from=…`),
    /// unpacked when the step runs.
    pub(crate) stage_binds: Vec<StageBind>,
}

/// A bind mount from a stage or an image.
#[derive(Debug, Clone)]
pub(crate) struct StageBind {
    /// The stage or image.
    pub(crate) from: CopySrc,
    /// The path in its root.
    pub(crate) source: String,
    /// The mount point.
    pub(crate) target: String,
    /// Read-only (the default); writes to a writable one are discarded with the step.
    pub(crate) readonly: bool,
}

/// Where the mounts of a build come from.
pub(crate) struct MountSources<'a> {
    /// The context directory.
    pub(crate) context: &'a Path,
    /// `ROOT/cache/mounts`.
    pub(crate) cache_dir: &'a Path,
    /// The request's secrets.
    pub(crate) secrets: &'a BTreeMap<String, PathBuf>,
}

/// Resolves one (expanded, parsed) `--mount` to host paths; `None` for an optional secret the
/// request lacks.
pub(crate) fn resolve_mount(
    m: &Mount,
    src: &MountSources<'_>,
    line: usize,
) -> Result<Option<StepMount>, BuildError> {
    let target = |default: Option<String>| {
        m.target
            .clone()
            .or(default)
            .ok_or_else(|| BuildError::Invalid {
                line,
                message: format!("--mount={}: no target", m.raw),
            })
    };
    Ok(Some(match m.kind {
        MountType::Cache => {
            let t = target(None)?;
            let id = m.id.clone().unwrap_or_else(|| t.clone());
            let dir = src
                .cache_dir
                .join(blake3::hash(id.as_bytes()).to_hex().as_str());
            std::fs::create_dir_all(&dir).map_err(BuildError::io("create", &dir))?;
            StepMount::Bind {
                source: dir,
                target: t.into(),
                readonly: m.readonly.unwrap_or(false),
            }
        }
        MountType::Tmpfs => StepMount::Tmpfs {
            target: target(None)?.into(),
            size: m.size.as_deref().and_then(parse_size),
        },
        MountType::Bind if m.from.is_none() => StepMount::Bind {
            source: inside(src.context, m.source.as_deref().unwrap_or("")),
            target: target(None)?.into(),
            readonly: m.is_readonly(),
        },
        MountType::Secret => {
            let id =
                m.id.clone()
                    .or_else(|| {
                        m.target
                            .as_deref()
                            .and_then(|t| t.rsplit('/').next())
                            .map(String::from)
                    })
                    .unwrap_or_default();
            let Some(file) = src.secrets.get(&id) else {
                if m.required.unwrap_or(false) {
                    return Err(BuildError::Invalid {
                        line,
                        message: format!("secret {id:?} is required but was not given"),
                    });
                }
                return Ok(None);
            };
            StepMount::Bind {
                source: file.clone(),
                target: target(Some(format!("/run/secrets/{id}")))?.into(),
                readonly: true,
            }
        }
        _ => {
            return Err(BuildError::Unsupported {
                line,
                what: format!("--mount={}", m.raw),
            })
        }
    }))
}

/// `64m`, `1g`, `4096` in bytes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s.as_str(), 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Runs the step on `state`'s layers; returns the layer its changes make.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    executor: &Arc<dyn Executor>,
    store: &Store,
    state: &ImageState,
    action: RunAction,
    step: usize,
    line: usize,
    events: Option<&UnboundedSender<BuildEvent>>,
    source_date_epoch: Option<i64>,
) -> Result<LayerDesc, BuildError> {
    let staging = Staging::new(store, "run")?;
    let upper = staging.subdir("upper")?;
    let work = staging.subdir("work")?;
    let lower = if state.layers.is_empty() {
        Vec::new()
    } else {
        let (store, state) = (store.clone(), state.clone());
        blocking("unpacking the parent's layers", move || {
            let image = state.as_image(&store)?;
            let snaps = store
                .snapshots(&image)
                .map_err(BuildError::store("unpacking the parent's layers"))?;
            Ok(snaps.into_iter().rev().map(|s| s.dir).collect())
        })
        .await?
    };
    let run_step = RunStep {
        args: action.args,
        env: action.env,
        workdir: state.workdir(),
        user: action.user,
        lower,
        upper: upper.clone(),
        work,
        mounts: action.mounts,
        network: action.network,
        hostname: "buildkitsandbox".to_string(),
    };
    let (tx, mut rx) = unbounded_channel::<(OutputStream, Vec<u8>)>();
    let mut lines = Lines::default();
    let drain = async {
        while let Some((stream, chunk)) = rx.recv().await {
            lines.push(stream, &chunk, step, events);
        }
    };
    let (exit, ()) = tokio::join!(executor.run(run_step, tx), drain);
    lines.flush(step, events);
    let exit = exit.map_err(|source| BuildError::Executor { line, source })?;
    if !exit.success() {
        return Err(BuildError::RunFailed {
            step,
            line,
            code: exit.code,
            last_lines: lines.last.into_iter().collect(),
        });
    }
    let layer_store = store.clone();
    let layer = blocking("writing the RUN layer", move || {
        write_layer(&layer_store, &upper, true, source_date_epoch)
    })
    .await?;
    drop(staging);
    Ok(layer)
}

/// Output split into lines per stream, with the last lines kept.
#[derive(Default)]
struct Lines {
    partial: BTreeMap<u8, Vec<u8>>,
    last: VecDeque<String>,
}

impl Lines {
    fn push(
        &mut self,
        stream: OutputStream,
        chunk: &[u8],
        step: usize,
        events: Option<&UnboundedSender<BuildEvent>>,
    ) {
        let key = u8::from(stream == OutputStream::Stderr);
        let mut buf = self.partial.remove(&key).unwrap_or_default();
        buf.extend_from_slice(chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.emit(stream, text, step, events);
        }
        self.partial.insert(key, buf);
    }

    fn flush(&mut self, step: usize, events: Option<&UnboundedSender<BuildEvent>>) {
        for (key, buf) in std::mem::take(&mut self.partial) {
            if !buf.is_empty() {
                let stream = if key == 1 {
                    OutputStream::Stderr
                } else {
                    OutputStream::Stdout
                };
                self.emit(
                    stream,
                    String::from_utf8_lossy(&buf).into_owned(),
                    step,
                    events,
                );
            }
        }
    }

    fn emit(
        &mut self,
        stream: OutputStream,
        line: String,
        index: usize,
        events: Option<&UnboundedSender<BuildEvent>>,
    ) {
        if self.last.len() == LAST_LINES {
            self.last.pop_front();
        }
        self.last.push_back(line.clone());
        if let Some(tx) = events {
            let _ = tx.send(BuildEvent::RunOutput {
                index,
                stream,
                line,
            });
        }
    }
}
