//! The instruction layer (BuildKit's `instructions` package): keywords, flags, argument counts
//! and per-instruction rules, turning line-parser nodes into typed [`Instruction`]s.

use std::time::Duration;

use crate::ast::{
    ArgDecl, Command, Dockerfile, Flag, Healthcheck, Heredoc, Instruction, InstructionKind,
    KeyValue, Keyword, Network, Security, Span,
};
use crate::error::{Error, ErrorKind, Warning};
use crate::mount::Mount;
use crate::parser::{heredoc_from_word, line_col, parse_lines, Parsed, Position, RawNode};

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    Str,
    List,
}

use FlagType::{Bool, List, Str};

/// Flag values after checking, by name (borrowed from the node; booleans as `"true"`/`"false"`).
#[derive(Default)]
struct Flags<'a> {
    values: Vec<(&'static str, &'a str)>,
}

impl Flags<'_> {
    fn string(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
            .collect()
    }

    fn boolean(&self, name: &str) -> Option<bool> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v == "true")
    }
}

/// Levenshtein distance, for "did you mean" hints (BuildKit suggests within two edits).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur[j + 1] = best;
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn suggest(word: &str, options: impl IntoIterator<Item = &'static str>) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    options
        .into_iter()
        .map(|o| (distance(&word, &o.to_ascii_lowercase()), o))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, o)| o)
}

/// Positions for one instruction's errors.
struct Ctx<'a> {
    src: &'a str,
    loc: &'a Position,
}

impl Ctx<'_> {
    fn at(&self, logical: usize, kind: ErrorKind) -> Error {
        let (l, c) = line_col(self.src, self.loc.source_offset(logical));
        Error::new(l, c, kind)
    }

    /// An error at the instruction's keyword.
    fn at_keyword(&self, kind: ErrorKind) -> Error {
        self.at(self.loc.keyword_offset, kind)
    }

    /// An argument-count error at the keyword, as BuildKit words it.
    fn args(&self, keyword: &'static str, requirement: &'static str) -> Error {
        self.at_keyword(ErrorKind::Arguments {
            keyword,
            requirement,
        })
    }
}

fn check_flags<'n>(
    ctx: &Ctx<'_>,
    node: &'n RawNode,
    spec: &[(&'static str, FlagType)],
) -> Result<Flags<'n>, Error> {
    let mut out = Flags::default();
    for (flag, off) in &node.flags {
        // Flag names are matched exactly, as BuildKit's map lookup does.
        let Some(&(known, ty)) = spec.iter().find(|(n, _)| *n == flag.name) else {
            let name = flag.name.clone();
            return Err(ctx.at(
                *off,
                ErrorKind::UnknownFlag {
                    suggestion: suggest(&name, spec.iter().map(|(n, _)| *n)),
                    flag: name,
                },
            ));
        };
        let name = || known.to_string();
        if ty != List && out.values.iter().any(|(n, _)| *n == known) {
            return Err(ctx.at(*off, ErrorKind::DuplicateFlag(name())));
        }
        let value: &str = match ty {
            Bool => match flag.value.as_deref() {
                Some("") => return Err(ctx.at(*off, ErrorKind::MissingFlagValue(name()))),
                None => "true",
                Some(v) if v.eq_ignore_ascii_case("true") => "true",
                Some(v) if v.eq_ignore_ascii_case("false") => "false",
                Some(v) => {
                    return Err(ctx.at(
                        *off,
                        ErrorKind::BadBoolFlag {
                            flag: name(),
                            value: v.to_string(),
                        },
                    ))
                }
            },
            Str | List => match &flag.value {
                Some(v) => v,
                None => return Err(ctx.at(*off, ErrorKind::MissingFlagValue(name()))),
            },
        };
        out.values.push((known, value));
    }
    Ok(out)
}

fn flag_offset(node: &RawNode, name: &str) -> Option<usize> {
    node.flags
        .iter()
        .rev()
        .find(|(f, _)| f.name == name)
        .map(|(_, o)| *o)
}

fn command(node: &RawNode) -> Command {
    if node.json {
        Command::Exec(node.args.clone())
    } else {
        Command::Shell(node.args.first().cloned().unwrap_or_default())
    }
}

fn valid_stage_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

/// Go's `time.ParseDuration`, for HEALTHCHECK durations; the error is Go's message.
pub(crate) fn go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_end);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let e = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(e)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per: u128 = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                ))
            }
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_part.bytes().take(18) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total = int
            .checked_mul(nanos_per)
            .and_then(|v| v.checked_add(frac * nanos_per / scale))
            .and_then(|v| total.checked_add(v))
            .filter(|&v| v <= i64::MAX as u128)
            .ok_or_else(invalid)?;
        rest = after;
    }
    if negative && total > 0 {
        // Negative durations parse in Go; BuildKit then refuses them as below the minimum.
        return Ok(Duration::from_nanos(1));
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| invalid())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| invalid())?;
    Ok(Duration::new(secs, nanos))
}

/// Go's `%q` for the strings durations hold (printable text, `"` and `\\` escaped).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn duration_flag(
    ctx: &Ctx<'_>,
    node: &RawNode,
    flags: &Flags<'_>,
    name: &'static str,
) -> Result<Option<Duration>, Error> {
    let Some(v) = flags
        .values
        .iter()
        .rev()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
    else {
        return Ok(None);
    };
    if v.is_empty() {
        return Ok(None);
    }
    let off = flag_offset(node, name).unwrap_or(ctx.loc.keyword_offset);
    let d = go_duration(v).map_err(|e| ctx.at(off, ErrorKind::BadDuration(e)))?;
    if d.is_zero() {
        return Ok(None);
    }
    if d < Duration::from_millis(1) {
        return Err(ctx.at(off, ErrorKind::DurationTooShort(name)));
    }
    Ok(Some(d))
}

/// Types one node. `heredocs` are the bodies that followed the line.
///
/// An unknown keyword is refused first; then [`instruction_kind`] applies the keyword's rules.
fn type_node(
    ctx: &Ctx<'_>,
    node: RawNode,
    heredocs: Vec<Heredoc>,
    comments: Vec<String>,
    warnings: &mut Vec<Warning>,
) -> Result<Instruction, Error> {
    let loc = ctx.loc;
    let Some(keyword) = Keyword::from_word(&node.keyword) else {
        return Err(ctx.at_keyword(ErrorKind::UnknownInstruction {
            keyword: node.keyword.clone(),
            suggestion: suggest(&node.keyword, Keyword::ALL.map(Keyword::as_str)),
        }));
    };
    let kind = instruction_kind(ctx, keyword, &node, &heredocs, warnings)?;
    Ok(Instruction {
        span: Span {
            start_line: loc.start_line,
            end_line: loc.end_line,
            bytes: loc.bytes.clone(),
        },
        text: ctx
            .src
            .get(loc.bytes.clone())
            .unwrap_or_default()
            .to_string(),
        comments,
        keyword,
        json: node.json,
        flags: node
            .flags
            .into_iter()
            .map(|(f, _)| f)
            .collect::<Vec<Flag>>(),
        args: node.args,
        heredocs,
        kind,
    })
}

/// The typed payload of one node, by its keyword's rules (one function per family below). Each
/// family checks in BuildKit's order, so the first error is BuildKit's.
fn instruction_kind(
    ctx: &Ctx<'_>,
    keyword: Keyword,
    node: &RawNode,
    heredocs: &[Heredoc],
    warnings: &mut Vec<Warning>,
) -> Result<InstructionKind, Error> {
    match keyword {
        Keyword::From => from(ctx, node),
        Keyword::Run => run(ctx, node, heredocs),
        Keyword::Cmd => {
            check_flags(ctx, node, &[])?;
            Ok(InstructionKind::Cmd {
                command: command(node),
            })
        }
        Keyword::Entrypoint => {
            check_flags(ctx, node, &[])?;
            Ok(InstructionKind::Entrypoint {
                command: command(node),
            })
        }
        Keyword::Copy => copy(ctx, node, heredocs),
        Keyword::Add => add(ctx, node, heredocs),
        Keyword::Env | Keyword::Label => env_or_label(ctx, keyword, node, warnings),
        Keyword::Arg => arg(ctx, node),
        Keyword::Workdir | Keyword::User | Keyword::Maintainer | Keyword::Stopsignal => {
            single_value(ctx, keyword, node, warnings)
        }
        Keyword::Expose | Keyword::Volume | Keyword::Shell => word_list(ctx, keyword, node),
        Keyword::Healthcheck => healthcheck(ctx, node),
        Keyword::Onbuild => onbuild(ctx, node, heredocs, warnings),
    }
}

/// `FROM image [AS name]`, with `--platform`.
fn from(ctx: &Ctx<'_>, node: &RawNode) -> Result<InstructionKind, Error> {
    let flags = check_flags(ctx, node, &[("platform", Str)])?;
    let alias = match node.args.as_slice() {
        [_] => None,
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(ctx.at_keyword(ErrorKind::InvalidStageName(name.clone())));
            }
            Some(lower)
        }
        _ => return Err(ctx.args("FROM", "requires either one or three arguments")),
    };
    Ok(InstructionKind::From {
        image: node.args.first().cloned().unwrap_or_default(),
        platform: flags.string("platform"),
        alias,
    })
}

/// `RUN`, with `--mount`, `--network`, `--security` and `--device`.
fn run(ctx: &Ctx<'_>, node: &RawNode, heredocs: &[Heredoc]) -> Result<InstructionKind, Error> {
    let flags = check_flags(
        ctx,
        node,
        &[
            ("mount", List),
            ("network", Str),
            ("security", Str),
            ("device", List),
        ],
    )?;
    let network = match flags.string("network").as_deref() {
        None => None,
        Some("default") => Some(Network::Default),
        Some("none") => Some(Network::None),
        Some("host") => Some(Network::Host),
        Some(other) => {
            return Err(ctx.at(
                flag_offset(node, "network").unwrap_or(0),
                ErrorKind::BadNetwork(other.to_string()),
            ))
        }
    };
    let security = match flags.string("security").as_deref() {
        None => None,
        Some("sandbox") => Some(Security::Sandbox),
        Some("insecure") => Some(Security::Insecure),
        Some(other) => {
            return Err(ctx.at(
                flag_offset(node, "security").unwrap_or(0),
                ErrorKind::BadSecurity(other.to_string()),
            ))
        }
    };
    Ok(InstructionKind::Run {
        command: command(node),
        mounts: mounts(ctx, node)?,
        network,
        security,
        devices: flags.list("device"),
        heredocs: heredocs.to_vec(),
    })
}

/// The `--mount` flags of a `RUN`, in order, each checked as far as it can be before expansion.
fn mounts(ctx: &Ctx<'_>, node: &RawNode) -> Result<Vec<Mount>, Error> {
    let mut mounts = Vec::new();
    for (flag, off) in &node.flags {
        if flag.name != "mount" {
            continue;
        }
        let value = flag.value.clone().unwrap_or_default();
        let mount = Mount::parse_unexpanded(&value)
            .map_err(|reason| ctx.at(*off, ErrorKind::BadMount { value, reason }))?;
        mounts.push(mount);
    }
    Ok(mounts)
}

/// `COPY sources... dest`.
fn copy(ctx: &Ctx<'_>, node: &RawNode, heredocs: &[Heredoc]) -> Result<InstructionKind, Error> {
    let flags = check_flags(
        ctx,
        node,
        &[
            ("from", Str),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", List),
        ],
    )?;
    let paths = CopyPaths::of(ctx, node, "COPY", heredocs)?;
    Ok(InstructionKind::Copy {
        sources: paths.sources,
        dest: paths.dest,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.boolean("link").unwrap_or(false),
        parents: flags.boolean("parents").unwrap_or(false),
        exclude: flags.list("exclude"),
        heredocs: paths.heredocs,
    })
}

/// `ADD sources... dest`.
fn add(ctx: &Ctx<'_>, node: &RawNode, heredocs: &[Heredoc]) -> Result<InstructionKind, Error> {
    let flags = check_flags(
        ctx,
        node,
        &[
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Str),
            ("unpack", Bool),
            ("exclude", List),
        ],
    )?;
    let paths = CopyPaths::of(ctx, node, "ADD", heredocs)?;
    Ok(InstructionKind::Add {
        sources: paths.sources,
        dest: paths.dest,
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.boolean("link").unwrap_or(false),
        keep_git_dir: flags.boolean("keep-git-dir").unwrap_or(false),
        checksum: flags.string("checksum"),
        unpack: flags.boolean("unpack"),
        exclude: flags.list("exclude"),
        heredocs: paths.heredocs,
    })
}

/// The arguments of `COPY` and `ADD`: sources (paths, or heredocs in shell form) and the
/// destination, which cannot be a heredoc.
struct CopyPaths {
    sources: Vec<String>,
    dest: String,
    heredocs: Vec<Heredoc>,
}

impl CopyPaths {
    fn of(
        ctx: &Ctx<'_>,
        node: &RawNode,
        keyword: &'static str,
        heredocs: &[Heredoc],
    ) -> Result<Self, Error> {
        let Some((dest, srcs)) = node.args.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(ctx.args(
                keyword,
                "requires at least two arguments, but only one was provided. Destination could not be determined",
            ));
        };
        if heredoc_from_word(dest).is_some() {
            return Err(ctx.at_keyword(ErrorKind::HeredocDestination(keyword)));
        }
        let mut sources = Vec::new();
        let mut inline = Vec::new();
        for s in srcs {
            match heredoc_from_word(s).filter(|_| !node.json) {
                Some(h) => inline.push(
                    heredocs
                        .iter()
                        .find(|d| d.name == h.name)
                        .cloned()
                        .unwrap_or(h),
                ),
                None => sources.push(s.clone()),
            }
        }
        Ok(CopyPaths {
            sources,
            dest: dest.clone(),
            heredocs: inline,
        })
    }
}

/// `ENV` and `LABEL`: `key=value` pairs, or one pair in the legacy `key value` form (a warning).
fn env_or_label(
    ctx: &Ctx<'_>,
    keyword: Keyword,
    node: &RawNode,
    warnings: &mut Vec<Warning>,
) -> Result<InstructionKind, Error> {
    check_flags(ctx, node, &[])?;
    let name = keyword.as_str();
    let args = &node.args;
    if args.is_empty() {
        return Err(ctx.args(name, "requires at least one argument"));
    }
    if !node.legacy && args.iter().any(|w| w.starts_with('=')) {
        return Err(ctx.at_keyword(ErrorKind::BlankName(name)));
    }
    let pairs = if node.legacy {
        vec![KeyValue {
            key: args.first().cloned().unwrap_or_default(),
            value: args.get(1).cloned().unwrap_or_default(),
        }]
    } else {
        args.iter()
            .map(|w| {
                let (k, v) = w.split_once('=').unwrap_or((w.as_str(), ""));
                KeyValue {
                    key: k.to_string(),
                    value: v.to_string(),
                }
            })
            .collect()
    };
    if node.legacy {
        warnings.push(Warning {
            line: ctx.loc.start_line,
            rule: "LegacyKeyValueFormat",
            message: format!(
                "\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"
            ),
        });
    }
    let legacy = node.legacy;
    Ok(if keyword == Keyword::Env {
        InstructionKind::Env { pairs, legacy }
    } else {
        InstructionKind::Label { pairs, legacy }
    })
}

/// `ARG name[=default]...`. Its flags are not checked: older BuildKit took none; the newer
/// `ARG --required` is not known here yet.
fn arg(ctx: &Ctx<'_>, node: &RawNode) -> Result<InstructionKind, Error> {
    if node.args.is_empty() {
        return Err(ctx.args("ARG", "requires at least one argument"));
    }
    let mut decls = Vec::with_capacity(node.args.len());
    for a in &node.args {
        decls.push(match a.split_once('=') {
            Some(("", _)) => return Err(ctx.at_keyword(ErrorKind::BlankName("ARG"))),
            Some((n, v)) => ArgDecl {
                name: n.to_string(),
                default: Some(v.to_string()),
            },
            None => ArgDecl {
                name: a.clone(),
                default: None,
            },
        });
    }
    Ok(InstructionKind::Arg { args: decls })
}

/// `WORKDIR`, `USER`, `STOPSIGNAL` and `MAINTAINER` (a warning): exactly one argument.
/// `STOPSIGNAL`'s flags are not checked, as in BuildKit.
fn single_value(
    ctx: &Ctx<'_>,
    keyword: Keyword,
    node: &RawNode,
    warnings: &mut Vec<Warning>,
) -> Result<InstructionKind, Error> {
    if keyword != Keyword::Stopsignal {
        check_flags(ctx, node, &[])?;
    }
    let [value] = node.args.as_slice() else {
        return Err(ctx.args(keyword.as_str(), "requires exactly one argument"));
    };
    let value = value.clone();
    Ok(match keyword {
        Keyword::Workdir => InstructionKind::Workdir { path: value },
        Keyword::User => InstructionKind::User { user: value },
        Keyword::Stopsignal => InstructionKind::Stopsignal { signal: value },
        _ => {
            warnings.push(Warning {
                line: ctx.loc.start_line,
                rule: "MaintainerDeprecated",
                message: "Maintainer instruction is deprecated in favor of using label".to_string(),
            });
            InstructionKind::Maintainer { name: value }
        }
    })
}

/// `EXPOSE`, `VOLUME` and `SHELL`: no flags, at least one word; `VOLUME` refuses a blank path
/// and `SHELL` takes only the JSON form.
fn word_list(ctx: &Ctx<'_>, keyword: Keyword, node: &RawNode) -> Result<InstructionKind, Error> {
    check_flags(ctx, node, &[])?;
    let args = &node.args;
    if args.is_empty() {
        return Err(ctx.args(keyword.as_str(), "requires at least one argument"));
    }
    Ok(match keyword {
        Keyword::Volume => {
            if args.iter().any(|a| a.trim().is_empty()) {
                return Err(ctx.at_keyword(ErrorKind::EmptyVolume));
            }
            InstructionKind::Volume {
                paths: args.clone(),
            }
        }
        Keyword::Shell => {
            if !node.json {
                return Err(ctx.at_keyword(ErrorKind::ShellNotJson));
            }
            InstructionKind::Shell {
                shell: args.clone(),
            }
        }
        _ => InstructionKind::Expose {
            ports: args.clone(),
        },
    })
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [flags] CMD command`.
fn healthcheck(ctx: &Ctx<'_>, node: &RawNode) -> Result<InstructionKind, Error> {
    let Some(typ) = node.args.first() else {
        return Err(ctx.args("HEALTHCHECK", "requires at least one argument"));
    };
    let typ_upper = typ.to_uppercase();
    if typ_upper == "NONE" {
        // As in BuildKit, the flags of `HEALTHCHECK NONE` are not checked.
        if node.args.len() > 1 {
            return Err(ctx.at_keyword(ErrorKind::HealthcheckNoneArgs));
        }
        return Ok(InstructionKind::Healthcheck(Healthcheck::None));
    }
    let flags = check_flags(
        ctx,
        node,
        &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
    )?;
    if typ_upper != "CMD" {
        return Err(ctx.at_keyword(ErrorKind::HealthcheckType(typ_upper)));
    }
    let cmd_args = node.args.get(1..).unwrap_or(&[]);
    if cmd_args.is_empty() {
        return Err(ctx.at_keyword(ErrorKind::HealthcheckNoCommand));
    }
    let command = if node.json {
        Command::Exec(cmd_args.to_vec())
    } else {
        Command::Shell(cmd_args.join(" "))
    };
    Ok(InstructionKind::Healthcheck(Healthcheck::Cmd {
        command,
        interval: duration_flag(ctx, node, &flags, "interval")?,
        timeout: duration_flag(ctx, node, &flags, "timeout")?,
        start_period: duration_flag(ctx, node, &flags, "start-period")?,
        start_interval: duration_flag(ctx, node, &flags, "start-interval")?,
        retries: retries_flag(ctx, node, &flags)?,
    }))
}

/// `HEALTHCHECK --retries`: a non-negative `i32`; zero or empty means unset.
fn retries_flag(ctx: &Ctx<'_>, node: &RawNode, flags: &Flags<'_>) -> Result<Option<u32>, Error> {
    let Some(v) = flags.string("retries").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.parse::<i64>() {
        Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => {
            Ok(u32::try_from(n).ok().filter(|&n| n > 0))
        }
        _ => Err(ctx.at(
            flag_offset(node, "retries").unwrap_or(0),
            ErrorKind::BadRetries(v),
        )),
    }
}

/// `ONBUILD trigger`: the trigger is kept as text (with its heredoc bodies) and typed too; a
/// trigger that does not type is a warning, since it only fails in a downstream build.
fn onbuild(
    ctx: &Ctx<'_>,
    node: &RawNode,
    heredocs: &[Heredoc],
    warnings: &mut Vec<Warning>,
) -> Result<InstructionKind, Error> {
    check_flags(ctx, node, &[])?;
    let Some(child) = node.child.as_deref() else {
        return Err(ctx.args("ONBUILD", "requires at least one argument"));
    };
    match child.keyword.to_ascii_uppercase().as_str() {
        "ONBUILD" => return Err(ctx.at_keyword(ErrorKind::OnbuildChained)),
        "FROM" => return Err(ctx.at_keyword(ErrorKind::OnbuildTrigger("FROM"))),
        "MAINTAINER" => return Err(ctx.at_keyword(ErrorKind::OnbuildTrigger("MAINTAINER"))),
        _ => {}
    }
    // The image config keeps the trigger with its heredoc bodies, as BuildKit writes it.
    let mut expression = node.args.get(1).cloned().unwrap_or_default();
    for h in heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    let typed = type_node(
        ctx,
        child.clone(),
        heredocs.to_vec(),
        Vec::new(),
        &mut Vec::new(),
    );
    let trigger = match typed {
        Ok(mut t) => {
            t.text.clone_from(&expression);
            Some(Box::new(t))
        }
        Err(e) => {
            warnings.push(Warning {
                line: ctx.loc.start_line,
                rule: "OnbuildTrigger",
                message: format!(
                    "ONBUILD trigger is stored as text and will fail in a downstream build: {}",
                    e.kind()
                ),
            });
            None
        }
    };
    Ok(InstructionKind::Onbuild {
        expression,
        trigger,
    })
}

/// Parses a whole file: the line parser feeds each node to the instruction layer as it is read.
pub(crate) fn parse_file(src: &str) -> Result<Dockerfile, Error> {
    let mut instructions = Vec::new();
    let mut seen_from = false;
    let mut first_error: Option<Error> = None;
    let parsed = parse_lines(src, |located, warnings| {
        if first_error.is_some() {
            return;
        }
        let loc = &located.pos;
        let ctx = Ctx { src, loc };
        let typed = type_node(
            &ctx,
            located.node,
            located.heredocs,
            located.comments,
            warnings,
        );
        match typed {
            Err(e) => first_error = Some(e),
            Ok(inst) => {
                if !seen_from {
                    match inst.keyword {
                        Keyword::From => seen_from = true,
                        Keyword::Arg => {}
                        other => {
                            first_error = Some(ctx.at(
                                loc.keyword_offset,
                                ErrorKind::NoBuildStage(other.as_str().to_string()),
                            ));
                            return;
                        }
                    }
                }
                instructions.push(inst);
            }
        }
    })?;
    if let Some(e) = first_error {
        return Err(e);
    }
    let Parsed {
        directives,
        mut warnings,
    } = parsed;
    warnings.sort_by_key(|w| w.line);
    Ok(Dockerfile {
        directives,
        instructions,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go() {
        assert_eq!(go_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(go_duration("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(go_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            go_duration("10"),
            Err("time: missing unit in duration \"10\"".to_string())
        );
        assert_eq!(
            go_duration(""),
            Err("time: invalid duration \"\"".to_string())
        );
        assert_eq!(
            go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".to_string())
        );
        assert!(go_duration(".s").is_err());
        assert!(go_duration("-1s").is_ok_and(|d| d < Duration::from_millis(1)));
        assert!(go_duration("99999999999h").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("COPPY", Keyword::ALL.map(Keyword::as_str)),
            Some("COPY")
        );
        assert_eq!(
            suggest("workdri", Keyword::ALL.map(Keyword::as_str)),
            Some("WORKDIR")
        );
        assert_eq!(suggest("XYZZY", Keyword::ALL.map(Keyword::as_str)), None);
        assert_eq!(suggest("chmown", ["chown", "chmod"]), Some("chown"));
    }
}
