//! One instruction prepared as a build step: its words expanded, its inputs (the cache key's
//! material) gathered, and what running it does (a config change, a copy, a command).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use boxwright_dockerfile_parser::dockerignore::DockerIgnore;

use boxwright_dockerfile_parser::expand::Expander;
use boxwright_dockerfile_parser::{
    Command, ExposedPort, Healthcheck, Instruction, InstructionKind, Mount, Network,
};
use serde_json::{json, Value};

use crate::blocking::blocking;
use crate::cache::StepInputs;
use crate::checksum::Checksum;
use crate::context::{Context, CopyFilter};
use crate::copy::{inside, parse_chmod, CopyOptions, CopySrc};
use crate::error::BuildError;
use crate::executor::StepNetwork;
use crate::glob;
use crate::image::ImageState;
use crate::instr::ConfigChange;
use crate::run::{resolve_mount, MountSources, RunAction, StageBind};
use crate::stat_cache::StatCache;
use crate::vars::{Args, Expanding};

/// The `PATH` a step gets when the image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A COPY/ADD ready to stage.
#[derive(Debug, Clone)]
pub(crate) struct CopyAction {
    /// Where from.
    pub(crate) from: CopySrc,
    /// The source paths (expanded).
    pub(crate) sources: Vec<String>,
    /// Inline files: name and content.
    pub(crate) heredocs: Vec<(String, String)>,
    /// `--chown` as written (expanded); resolved against the image when names are used.
    pub(crate) chown: Option<String>,
    /// `--exclude`, for the context's matches.
    pub(crate) filter: CopyFilter,
    /// `--parents`: each source's pivot (context-relative, `""` for none); empty without.
    pub(crate) pivots: Vec<String>,
    /// `--link` in effect: the layer is made without looking at the parent image (no
    /// directory found there for the destination), so its cache record serves any parent.
    /// Off with `--chmod` (as BuildKit) and with `--chown` names (they are read in the
    /// parent's `/etc/passwd`).
    pub(crate) link: bool,
    /// How to write.
    pub(crate) opts: CopyOptions,
}

/// What a step does when it runs.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// A config change (no layer).
    Config(ConfigChange),
    /// A COPY or ADD (a layer).
    Copy(Box<CopyAction>),
    /// A RUN (a layer).
    Run(RunAction),
    /// A WORKDIR: the config's `WorkingDir`, and a layer with the directories it makes (an
    /// empty one when it exists), as BuildKit.
    Workdir {
        /// The directory, absolute and clean.
        path: String,
        /// The stage's `USER` then, who owns the directories made.
        user: Option<String>,
    },
}

/// A prepared step.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The cache key's material (and the text events show).
    pub(crate) inputs: StepInputs,
    /// The history entry's `created_by`.
    pub(crate) created_by: String,
    /// What it does.
    pub(crate) action: Action,
}

/// Resolves a `--from` value to its source and digest (a stage's key, an image's digest).
pub(crate) type FromResolver<'a> =
    dyn Fn(&str) -> Result<(CopySrc, String), BuildError> + Send + Sync + 'a;

/// What preparing a step needs.
pub(crate) struct PrepareCx<'a> {
    /// The Dockerfile's escape character.
    pub(crate) expander: Expander,
    /// The arguments in scope (ARG updates them).
    pub(crate) args: &'a mut Args,
    /// The image so far.
    pub(crate) state: &'a ImageState,
    /// Whether a CMD came earlier in this stage.
    pub(crate) cmd_set: bool,
    /// The build context.
    pub(crate) ctx: &'a Context,
    /// The stat cache (locked by the hashing thread).
    pub(crate) stat: &'a Arc<Mutex<StatCache>>,
    /// Where mounts come from.
    pub(crate) mounts: MountSources<'a>,
    /// The request's default network.
    pub(crate) network: StepNetwork,
    /// The stage index.
    pub(crate) stage: usize,
    /// `--from` → the source and its digest (a stage's key or an image's manifest digest).
    pub(crate) from: &'a FromResolver<'a>,
}

impl PrepareCx<'_> {
    fn expanding(&self, line: usize) -> Expanding<'_> {
        Expanding::new(
            self.expander,
            line,
            self.args.declared(),
            Vec::new(),
            self.state.env(),
        )
    }

    /// The checksum of `sources` in the context, hashed on a blocking thread.
    async fn checksum(&self, sources: &[&str], line: usize) -> Result<Checksum, BuildError> {
        let (ctx, stat) = (self.ctx.clone(), Arc::clone(self.stat));
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        blocking("hashing the context", move || {
            let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
            let mut stat = stat.lock().unwrap_or_else(PoisonError::into_inner);
            ctx.checksum(&refs, &mut stat)
                .map_err(|source| BuildError::Context { line, source })
        })
        .await
    }

    fn inputs(&self, text: String, args: BTreeMap<String, String>) -> StepInputs {
        StepInputs {
            stage: self.stage,
            text,
            args,
            ..StepInputs::default()
        }
    }
}

/// Prepares `ins` (any instruction but FROM).
pub(crate) async fn prepare(
    ins: &Instruction,
    cx: &mut PrepareCx<'_>,
) -> Result<Prepared, BuildError> {
    let line = ins.span.start_line;
    match &ins.kind {
        InstructionKind::Copy { .. } | InstructionKind::Add { .. } => prepare_copy(ins, cx).await,
        InstructionKind::Run { .. } => prepare_run(ins, cx).await,
        InstructionKind::Arg { args } => {
            let mut texts = Vec::new();
            for decl in args {
                let mut ex = cx.expanding(line);
                let name = ex.word(&decl.name)?;
                let default = ex.opt(decl.default.as_ref())?;
                texts.push(match &default {
                    Some(d) => format!("{name}={d}"),
                    None => name.clone(),
                });
                cx.args.declare(&name, default);
            }
            let text = texts.join(" ");
            let change = ConfigChange::Arg;
            Ok(Prepared {
                inputs: cx.inputs(format!("ARG {text}"), BTreeMap::new()),
                created_by: change.created_by(&text),
                action: Action::Config(change),
            })
        }
        InstructionKind::From { .. } => Err(BuildError::Structure {
            line,
            message: "FROM inside a stage".into(),
        }),
        _ => prepare_config(ins, cx),
    }
}

/// ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, MAINTAINER and the command ones.
fn prepare_config(ins: &Instruction, cx: &mut PrepareCx<'_>) -> Result<Prepared, BuildError> {
    let line = ins.span.start_line;
    let mut ex = cx.expanding(line);
    let change = match &ins.kind {
        InstructionKind::Env { pairs, .. } => {
            let mut out = Vec::new();
            for p in pairs {
                let k = ex.word(&p.key)?;
                let v = ex.word(&p.value)?;
                ex.set_env(&k, &v);
                out.push((k, v));
            }
            ConfigChange::Env(out)
        }
        InstructionKind::Label { pairs, .. } => {
            let mut out = Vec::new();
            for p in pairs {
                out.push((ex.word(&p.key)?, ex.word(&p.value)?));
            }
            ConfigChange::Label(out)
        }
        InstructionKind::Workdir { path } => {
            let p = ex.word(path)?;
            let abs = if p.starts_with('/') {
                p
            } else {
                format!("{}/{p}", cx.state.workdir())
            };
            let clean = inside(std::path::Path::new("/"), &abs);
            ConfigChange::Workdir(clean.to_string_lossy().into_owned())
        }
        InstructionKind::User { user } => ConfigChange::User(ex.word(user)?),
        InstructionKind::Expose { ports } => {
            let mut out = Vec::new();
            for p in ex.all(ports)? {
                let port = ExposedPort::parse(&p).map_err(|e| BuildError::Invalid {
                    line,
                    message: format!("EXPOSE {p}: {e}"),
                })?;
                for n in port.start..=port.end {
                    out.push(format!("{n}/{}", port.protocol.as_str()));
                }
            }
            ConfigChange::Expose(out)
        }
        InstructionKind::Volume { paths } => ConfigChange::Volume(ex.all(paths)?),
        InstructionKind::Stopsignal { signal } => ConfigChange::Stopsignal(ex.word(signal)?),
        InstructionKind::Maintainer { name } => ConfigChange::Maintainer(name.clone()),
        InstructionKind::Cmd { command } => ConfigChange::Cmd(vector(command, cx.state)),
        InstructionKind::Entrypoint { command } => {
            ConfigChange::Entrypoint(vector(command, cx.state), !cx.cmd_set)
        }
        InstructionKind::Shell { shell } => ConfigChange::Shell(shell.clone()),
        InstructionKind::Healthcheck(hc) => ConfigChange::Healthcheck(healthcheck(hc)),
        InstructionKind::Onbuild { expression, .. } => ConfigChange::Onbuild(expression.clone()),
        other => {
            return Err(BuildError::Unsupported {
                line,
                what: format!("{other:?}"),
            })
        }
    };
    let read = std::mem::take(&mut ex.read);
    let created_by = change.created_by("");
    let mut text = created_by.clone();
    if let ConfigChange::Entrypoint(_, true) = change {
        text.push_str(" (resets CMD)");
    }
    let action = match change {
        ConfigChange::Workdir(path) => Action::Workdir {
            path,
            user: cx
                .state
                .cfg("User")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
                .map(String::from),
        },
        change => Action::Config(change),
    };
    Ok(Prepared {
        inputs: cx.inputs(text, read),
        created_by,
        action,
    })
}

/// A command as the vector the config stores (shell form through the stage's `SHELL`).
fn vector(command: &Command, state: &ImageState) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = state.shell();
            v.push(s.clone());
            v
        }
    }
}

/// Docker's `Healthcheck` object.
fn healthcheck(hc: &Healthcheck) -> Value {
    match hc {
        Healthcheck::None => json!({"Test": ["NONE"]}),
        Healthcheck::Cmd {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test = match command {
                Command::Exec(v) => std::iter::once("CMD".to_string())
                    .chain(v.iter().cloned())
                    .collect(),
                Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            };
            let mut o = serde_json::Map::new();
            o.insert("Test".into(), json!(test));
            for (k, d) in [
                ("Interval", interval),
                ("Timeout", timeout),
                ("StartPeriod", start_period),
                ("StartInterval", start_interval),
            ] {
                if let Some(d) = d.filter(|d| !d.is_zero()) {
                    o.insert(k.into(), json!(d.as_nanos() as u64));
                }
            }
            if let Some(r) = retries.filter(|r| *r > 0) {
                o.insert("Retries".into(), json!(r));
            }
            Value::Object(o)
        }
    }
}

/// The fields COPY and ADD share, with the flags this builder lacks refused.
struct CopyFields<'a> {
    keyword: &'static str,
    sources: &'a [String],
    dest: &'a String,
    from: Option<String>,
    chown: &'a Option<String>,
    chmod: &'a Option<String>,
    heredocs: &'a [boxwright_dockerfile_parser::Heredoc],
    extract: bool,
    parents: bool,
    exclude: &'a [String],
    checksum: &'a Option<String>,
    link: bool,
}

/// The COPY/ADD fields of `ins`.
fn copy_fields(ins: &Instruction) -> Result<CopyFields<'_>, BuildError> {
    let line = ins.span.start_line;
    let unsupported = |what: &str| BuildError::Unsupported {
        line,
        what: what.to_string(),
    };
    Ok(match &ins.kind {
        InstructionKind::Copy {
            sources,
            dest,
            from,
            chown,
            chmod,
            parents,
            exclude,
            heredocs,
            link,
        } => CopyFields {
            keyword: "COPY",
            sources,
            dest,
            from: from.clone(),
            chown,
            chmod,
            heredocs,
            extract: false,
            parents: *parents,
            exclude,
            checksum: &None,
            link: *link,
        },
        InstructionKind::Add {
            sources,
            dest,
            chown,
            chmod,
            checksum,
            exclude,
            heredocs,
            unpack,
            link,
            ..
        } => CopyFields {
            keyword: "ADD",
            sources,
            dest,
            from: None,
            chown,
            chmod,
            heredocs,
            extract: unpack.unwrap_or(true),
            parents: false,
            exclude,
            checksum,
            link: *link,
        },
        _ => return Err(unsupported("this instruction as a copy")),
    })
}

/// COPY and ADD.
async fn prepare_copy(ins: &Instruction, cx: &mut PrepareCx<'_>) -> Result<Prepared, BuildError> {
    let line = ins.span.start_line;
    let unsupported = |what: &str| BuildError::Unsupported {
        line,
        what: what.to_string(),
    };
    let CopyFields {
        keyword,
        sources,
        dest,
        from,
        chown,
        chmod,
        heredocs,
        extract,
        parents,
        exclude,
        checksum,
        link,
    } = copy_fields(ins)?;
    let mut ex = cx.expanding(line);
    let mut srcs = ex.all(sources)?;
    let exclude = ex.all(exclude)?;
    let checksum = ex.opt(checksum.as_ref())?;
    let is_remote = |s: &String| s.contains("://") || s.starts_with("git@");
    if checksum.is_some() {
        // BuildKit's own checks, in its order.
        let message = if srcs.len() != 1 {
            Some("checksum can't be specified for multiple sources")
        } else if !srcs.iter().any(is_remote) {
            Some("checksum requires HTTP(S) or Git sources")
        } else {
            None
        };
        if let Some(message) = message {
            return Err(BuildError::Invalid {
                line,
                message: message.into(),
            });
        }
    }
    if let Some(url) = srcs.iter().find(|s| is_remote(s)) {
        return Err(unsupported(&format!(
            "ADD of a URL or git repository ({url})"
        )));
    }
    if from.is_some() && (parents || !exclude.is_empty()) {
        return Err(unsupported("COPY --from with --parents or --exclude"));
    }
    let filter = copy_filter(&exclude, line)?;
    let written = srcs.clone();
    let pivots = if parents {
        let (pivots, cleaned) = srcs.iter().map(|s| parents_pivot(s)).unzip();
        srcs = cleaned;
        pivots
    } else {
        Vec::new()
    };
    let dest_raw = ex.word(dest)?;
    let chown = ex.opt(chown.as_ref())?;
    let chmod = ex.opt(chmod.as_ref())?;
    let read = std::mem::take(&mut ex.read);
    let dest_abs = if dest_raw.starts_with('/') {
        dest_raw.clone()
    } else {
        format!("{}/{dest_raw}", cx.state.workdir())
    };
    let dest_is_dir = dest_raw.ends_with('/')
        || dest_raw.ends_with("/.")
        || dest_raw == "."
        || parents
        || srcs.len() + heredocs.len() > 1
        || srcs.iter().any(|s| glob::has_meta(s));
    let opts = CopyOptions {
        dest: dest_abs,
        dest_is_dir,
        owner: None,
        mode: chmod.as_deref().map(|m| parse_chmod(m, line)).transpose()?,
        extract,
        line,
    };
    // The key's text names every flag; the history's, as BuildKit's, not `--from`,
    // `--chown` nor `--chmod` (Docker 20.10 writes `COPY src dest # buildkit`).
    let mut flags = String::new();
    let mut history_flags = String::new();
    if parents {
        flags.push_str("--parents ");
        history_flags.push_str("--parents ");
    }
    for (name, v) in [("from", &from), ("chown", &chown), ("chmod", &chmod)] {
        if let Some(v) = v {
            flags.push_str(&format!("--{name}={v} "));
        }
    }
    // `--exclude` is not in the text (nor in BuildKit's history): the checksum covers
    // exactly what is copied.
    let mut names: Vec<String> = written;
    names.extend(heredocs.iter().map(|h| format!("<<{}", h.name)));
    let text = format!("{keyword} {flags}{} {dest_raw}", names.join(" "));
    let history = format!("{keyword} {history_flags}{} {dest_raw}", names.join(" "));
    let mut inputs = cx.inputs(text.clone(), read);
    let from_src = match &from {
        None => {
            if !srcs.is_empty() {
                let sum = copy_checksum(cx, &srcs, &pivots, &filter, line).await?;
                inputs.add_checksum(&sum);
            }
            CopySrc::Context
        }
        Some(f) => {
            let (src, digest) = (cx.from)(f)?;
            inputs.sources_digest = Some(digest);
            src
        }
    };
    let heredocs = heredocs
        .iter()
        .map(|h| (h.name.clone(), h.text().into_owned()))
        .collect::<Vec<_>>();
    if !heredocs.is_empty() {
        let all: String = heredocs
            .iter()
            .map(|(n, c)| format!("{n}\0{c}\0"))
            .collect();
        let prev = inputs.sources_digest.take().unwrap_or_default();
        inputs.sources_digest = Some(
            blake3::hash(format!("{prev}\0{all}").as_bytes())
                .to_hex()
                .to_string(),
        );
    }
    Ok(Prepared {
        inputs,
        created_by: format!("{history} # buildkit"),
        action: Action::Copy(Box::new(CopyAction {
            from: from_src,
            sources: srcs,
            heredocs,
            filter,
            pivots,
            link: link
                && chmod.is_none()
                && chown
                    .as_deref()
                    .is_none_or(|c| c.split(':').all(|p| p.parse::<u32>().is_ok())),
            chown,
            opts,
        })),
    })
}

/// The `--exclude` patterns as a matcher (`.dockerignore` syntax).
fn copy_filter(exclude: &[String], line: usize) -> Result<CopyFilter, BuildError> {
    if exclude.is_empty() {
        return Ok(CopyFilter::default());
    }
    let ignore = DockerIgnore::parse(&exclude.join("\n")).map_err(|e| BuildError::Invalid {
        line,
        message: format!("--exclude: {e}"),
    })?;
    Ok(CopyFilter {
        exclude: Some(ignore),
        parents: None,
    })
}

/// A `COPY --parents` source split at its pivot (BuildKit cuts at the first `/./`): the
/// pivot, cleaned and context-relative (`""` without one), and the source without the `./`.
fn parents_pivot(src: &str) -> (String, String) {
    match src.split_once("/./") {
        Some((pivot, rest)) => {
            let mut parts: Vec<&str> = Vec::new();
            for c in pivot.split('/') {
                match c {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    c => parts.push(c),
                }
            }
            (parts.join("/"), format!("{pivot}/{rest}"))
        }
        None => (String::new(), src.to_string()),
    }
}

/// The checksum of what a context COPY copies: per source, with its `--parents` pivot.
async fn copy_checksum(
    cx: &PrepareCx<'_>,
    srcs: &[String],
    pivots: &[String],
    filter: &CopyFilter,
    line: usize,
) -> Result<Checksum, BuildError> {
    let (ctx, stat) = (cx.ctx.clone(), Arc::clone(cx.stat));
    let (srcs, pivots, filter) = (srcs.to_vec(), pivots.to_vec(), filter.clone());
    blocking("hashing the context", move || {
        let mut stat = stat.lock().unwrap_or_else(PoisonError::into_inner);
        let sum = if pivots.is_empty() {
            let refs: Vec<&str> = srcs.iter().map(String::as_str).collect();
            ctx.checksum_with(&refs, &filter, &mut stat)
        } else {
            // One checksum over every source's matches, each with its own pivot's parents.
            let mut all = Vec::new();
            let mut failed = None;
            for (src, pivot) in srcs.iter().zip(&pivots) {
                let f = CopyFilter {
                    exclude: filter.exclude.clone(),
                    parents: Some(pivot.clone()),
                };
                match ctx.checksum_with(&[src.as_str()], &f, &mut stat) {
                    Ok(sum) => all.extend(sum.entries().map(|(p, h)| (p.to_string(), *h))),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                Some(e) => Err(e),
                None => {
                    all.sort();
                    all.dedup_by(|a, b| a.0 == b.0);
                    Ok(Checksum::from_sorted(all))
                }
            }
        };
        sum.map_err(|source| BuildError::Context { line, source })
    })
    .await
}

/// RUN.
async fn prepare_run(ins: &Instruction, cx: &mut PrepareCx<'_>) -> Result<Prepared, BuildError> {
    let line = ins.span.start_line;
    let InstructionKind::Run {
        command,
        mounts,
        network,
        heredocs,
        ..
    } = &ins.kind
    else {
        return Err(BuildError::Unsupported {
            line,
            what: "this instruction as a RUN".into(),
        });
    };
    let args = match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = cx.state.shell();
            let trimmed = s.trim();
            match heredocs.as_slice() {
                [h] if trimmed == format!("<<{}", h.name)
                    || trimmed == format!("<<-{}", h.name) =>
                {
                    v.push(h.text().into_owned());
                }
                _ => {
                    let mut text = s.clone();
                    for h in heredocs {
                        text.push('\n');
                        text.push_str(&h.content);
                        text.push_str(&h.name);
                    }
                    v.push(text);
                }
            }
            v
        }
    };
    let scope = cx.args.stage_args();
    let env_pairs = cx.state.env();
    let mut env: Vec<String> = env_pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in &scope {
        if !env_pairs.iter().any(|(e, _)| e == k) {
            env.push(format!("{k}={v}"));
        }
    }
    if !env_pairs.iter().any(|(k, _)| k == "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    let mut ex = cx.expanding(line);
    let mut step_mounts = Vec::new();
    let mut mount_text = Vec::new();
    let mut bind_sources = Vec::new();
    let mut stage_binds = Vec::new();
    let mut from_digests = Vec::new();
    for m in mounts {
        let raw = ex.word(&m.raw)?;
        let parsed = Mount::parse(&raw).map_err(|message| BuildError::Invalid { line, message })?;
        mount_text.push(format!("--mount={raw} "));
        if let Some(f) = &parsed.from {
            if parsed.kind != boxwright_dockerfile_parser::MountType::Bind {
                return Err(BuildError::Unsupported {
                    line,
                    what: format!("--mount={raw} (from= on a {:?} mount)", parsed.kind),
                });
            }
            let (from, digest) = (cx.from)(f)?;
            from_digests.push(digest);
            stage_binds.push(StageBind {
                from,
                source: parsed.source.clone().unwrap_or_default(),
                target: parsed.target.clone().ok_or_else(|| BuildError::Invalid {
                    line,
                    message: format!("--mount={raw}: no target"),
                })?,
                readonly: parsed.is_readonly(),
            });
            continue;
        }
        if parsed.kind == boxwright_dockerfile_parser::MountType::Bind {
            bind_sources.push(parsed.source.clone().unwrap_or_else(|| ".".into()));
        }
        step_mounts.extend(resolve_mount(&parsed, &cx.mounts, line)?);
    }
    let net = match network {
        None | Some(Network::Default) => cx.network,
        Some(Network::None) => StepNetwork::None,
        Some(Network::Host) => StepNetwork::Host,
    };
    let declared = cx.args.history_args();
    let prefix = if declared.is_empty() {
        String::new()
    } else {
        format!("|{} {} ", declared.len(), declared.join(" "))
    };
    if let Some(n) = network {
        mount_text.push(format!(
            "--network={} ",
            format!("{n:?}").to_ascii_lowercase()
        ));
    }
    let text = format!("RUN {}{}", mount_text.concat(), args.join(" "));
    let mut inputs = cx.inputs(text, scope.into_iter().collect());
    if !from_digests.is_empty() {
        inputs.sources_digest = Some(from_digests.join("+"));
    }
    if !bind_sources.is_empty() {
        let refs: Vec<&str> = bind_sources.iter().map(String::as_str).collect();
        let sum = cx.checksum(&refs, line).await?;
        inputs.add_checksum(&sum);
    }
    let user = cx
        .state
        .cfg("User")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(String::from);
    Ok(Prepared {
        inputs,
        created_by: format!("RUN {prefix}{} # buildkit", args.join(" ")),
        action: Action::Run(RunAction {
            args,
            env,
            user,
            mounts: step_mounts,
            network: net,
            stage_binds,
        }),
    })
}
