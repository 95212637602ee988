//! The typed syntax tree of a Dockerfile.
//!
//! A [`Dockerfile`] holds its parser [`Directives`] and a list of [`Instruction`]s. Each
//! instruction keeps two views of itself:
//!
//! - the *node* view BuildKit's line parser produces — [`Instruction::keyword`],
//!   [`Instruction::flags`], [`Instruction::args`] split the way that instruction splits its
//!   arguments, [`Instruction::json`] and [`Instruction::heredocs`] — which is what the `dump`
//!   example prints and what a formatter or linter wants;
//! - the *typed* view, [`Instruction::kind`]: one [`InstructionKind`] variant per instruction,
//!   with its flags checked and interpreted, which is what a builder wants.
//!
//! Both views keep argument text raw: variables are expanded later (see [`crate::expand`]), at
//! build time, with the values of that build.

use std::ops::Range;
use std::time::Duration;

use serde::Serialize;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// The parser directives found at the top of the file.
    pub directives: Directives,
    /// The instructions, in file order.
    pub instructions: Vec<Instruction>,
    /// What BuildKit would warn about (empty continuation lines, deprecated instructions…).
    pub warnings: Vec<Warning>,
}

use crate::error::Warning;

/// Parser directives (`# syntax=…`, `# escape=…`, `# check=…`) from the top of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Directives {
    /// The frontend image named by `# syntax=`, with any arguments after it.
    pub syntax: Option<String>,
    /// The escape character set by `# escape=`, if one was given.
    pub escape: Option<char>,
    /// The build-check configuration given by `# check=`, unparsed.
    pub check: Option<String>,
}

impl Directives {
    /// The escape character in force: the directive's, or `\`.
    pub fn escape_char(&self) -> char {
        self.escape.unwrap_or('\\')
    }
}

/// Where an instruction sits in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// 1-based line of the instruction's keyword.
    pub start_line: usize,
    /// 1-based last line of the instruction (its last continuation line or heredoc terminator).
    pub end_line: usize,
    /// Byte range of the instruction in the source, from the start of its first line to the end
    /// of its last line (without the final line break).
    pub bytes: Range<usize>,
}

/// The 18 Dockerfile instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Keyword {
    /// `ADD`
    Add,
    /// `ARG`
    Arg,
    /// `CMD`
    Cmd,
    /// `COPY`
    Copy,
    /// `ENTRYPOINT`
    Entrypoint,
    /// `ENV`
    Env,
    /// `EXPOSE`
    Expose,
    /// `FROM`
    From,
    /// `HEALTHCHECK`
    Healthcheck,
    /// `LABEL`
    Label,
    /// `MAINTAINER` (deprecated, still valid)
    Maintainer,
    /// `ONBUILD`
    Onbuild,
    /// `RUN`
    Run,
    /// `SHELL`
    Shell,
    /// `STOPSIGNAL`
    Stopsignal,
    /// `USER`
    User,
    /// `VOLUME`
    Volume,
    /// `WORKDIR`
    Workdir,
}

impl Keyword {
    /// Every instruction, in alphabetical order.
    pub const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::Stopsignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// The keyword in upper case, as Dockerfiles usually write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    /// The keyword matching `word`, ignoring ASCII case.
    pub fn from_word(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether the builder expands variables in this instruction's arguments (BuildKit's list:
    /// ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD, and ARG
    /// default values). RUN, CMD and ENTRYPOINT are left to the shell at run time.
    pub fn expands_variables(self) -> bool {
        matches!(
            self,
            Keyword::Add
                | Keyword::Arg
                | Keyword::Copy
                | Keyword::Env
                | Keyword::Expose
                | Keyword::From
                | Keyword::Label
                | Keyword::Onbuild
                | Keyword::Stopsignal
                | Keyword::User
                | Keyword::Volume
                | Keyword::Workdir
        )
    }
}

impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flag as written: `--name=value` with quotes and escapes removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// The name after `--`, as written (flag names are matched case-insensitively).
    pub name: String,
    /// The value after the first `=`, or `None` for a bare `--name`.
    pub value: Option<String>,
}

impl Flag {
    /// The flag as BuildKit stores it: `--name=value` or `--name`.
    pub fn raw(&self) -> String {
        match &self.value {
            Some(v) => format!("--{}={}", self.name, v),
            None => format!("--{}", self.name),
        }
    }
}

/// A heredoc: an inline document after an instruction (`RUN <<EOF … EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter, quotes removed; for COPY and ADD also the inline file's name.
    pub name: String,
    /// The body exactly as written: every line with its line break (`\r\n` kept).
    pub content: String,
    /// Whether `${…}` in the body is expanded (the delimiter was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are removed from the body's lines when it is used.
    pub chomp: bool,
    /// The file descriptor before `<<` (`3<<EOF`), if any.
    pub fd: Option<u32>,
}

impl Heredoc {
    /// The body as it is used: with leading tabs removed from every line when [`Heredoc::chomp`].
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        if !self.chomp {
            return std::borrow::Cow::Borrowed(&self.content);
        }
        let mut out = String::with_capacity(self.content.len());
        for line in self.content.split_inclusive('\n') {
            out.push_str(line.trim_start_matches('\t'));
        }
        std::borrow::Cow::Owned(out)
    }
}

/// One instruction of a Dockerfile, in both its node and typed views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// Where the instruction is.
    pub span: Span,
    /// The instruction's original text: its physical lines, continuations, comments inside them
    /// and heredoc bodies included.
    pub text: String,
    /// The comment lines directly above the instruction, `#` removed (an empty `#` line resets
    /// them).
    pub comments: Vec<String>,
    /// The instruction keyword.
    pub keyword: Keyword,
    /// The flags before the arguments, in order.
    pub flags: Vec<Flag>,
    /// The arguments as this instruction splits them (see the crate docs for the rules).
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The heredocs that follow the instruction, in the order they appear on the line.
    pub heredocs: Vec<Heredoc>,
    /// The typed instruction.
    pub kind: InstructionKind,
}

/// The command of `RUN`, `CMD`, `ENTRYPOINT` and `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Shell form: the text is run with the stage's shell (`/bin/sh -c` by default).
    Shell(String),
    /// Exec (JSON) form: the argument vector, run without a shell.
    Exec(Vec<String>),
}

impl Command {
    /// Whether there is no command at all (`CMD []`, or an empty `RUN`).
    pub fn is_empty(&self) -> bool {
        match self {
            Command::Shell(s) => s.is_empty(),
            Command::Exec(v) => v.is_empty(),
        }
    }
}

/// A `KEY=value` pair of `ENV` or `LABEL`, both kept raw (quotes and escapes still in place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The key, raw.
    pub key: String,
    /// The value, raw: `"a b"` keeps its quotes until expansion removes them.
    pub value: String,
}

/// One name of an `ARG` instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    /// The argument's name, raw.
    pub name: String,
    /// The default value, raw, if `name=value` was given.
    pub default: Option<String>,
}

/// `RUN --network=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The build's default network.
    Default,
    /// No network at all.
    None,
    /// The host's network.
    Host,
}

/// `RUN --security=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// The default sandbox.
    Sandbox,
    /// Full privileges (needs the `security.insecure` entitlement).
    Insecure,
}

use crate::mount::Mount;

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any health check inherited from the base image.
    None,
    /// `HEALTHCHECK [options] CMD command`.
    Cmd {
        /// The check's command; shell form becomes Docker's `CMD-SHELL`.
        command: Command,
        /// `--interval` (default 30s when absent or zero).
        interval: Option<Duration>,
        /// `--timeout` (default 30s when absent or zero).
        timeout: Option<Duration>,
        /// `--start-period` (default 0s).
        start_period: Option<Duration>,
        /// `--start-interval` (default 5s when absent or zero).
        start_interval: Option<Duration>,
        /// `--retries` (default 3 when absent or zero).
        retries: Option<u32>,
    },
}

/// The typed instructions.
///
/// Argument text is raw (not yet expanded); [`Keyword::expands_variables`] says which
/// instructions the builder expands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "instruction", rename_all = "lowercase")]
pub enum InstructionKind {
    /// `FROM [--platform=P] image [AS name]`
    From {
        /// The base image reference (or `scratch`, or an earlier stage's name).
        image: String,
        /// `--platform`, raw.
        platform: Option<String>,
        /// The stage name given with `AS`, lower-cased.
        alias: Option<String>,
    },
    /// `RUN [flags] command`
    Run {
        /// The command.
        command: Command,
        /// `--mount` flags.
        mounts: Vec<Mount>,
        /// `--network`.
        network: Option<Network>,
        /// `--security`.
        security: Option<Security>,
        /// `--device` flags (BuildKit labs), raw.
        devices: Vec<String>,
        /// Heredocs: the script (when the command is only `<<EOF`) or the stdin of commands.
        heredocs: Vec<Heredoc>,
    },
    /// `CMD command`
    Cmd {
        /// The default command.
        command: Command,
    },
    /// `ENTRYPOINT command`
    Entrypoint {
        /// The entrypoint.
        command: Command,
    },
    /// `COPY [flags] src… dest`
    Copy {
        /// Source paths (or, with `from`, paths in that stage or image); heredoc sources are in
        /// `heredocs` instead.
        sources: Vec<String>,
        /// The destination.
        dest: String,
        /// `--from`: a stage name or index, an image, or a named context.
        from: Option<String>,
        /// `--chown=user[:group]`, raw.
        chown: Option<String>,
        /// `--chmod=` octal or symbolic mode, raw.
        chmod: Option<String>,
        /// `--link`.
        link: bool,
        /// `--parents`.
        parents: bool,
        /// `--exclude` patterns.
        exclude: Vec<String>,
        /// Inline files: a source `<<NAME` copies the heredoc body as a file named NAME.
        heredocs: Vec<Heredoc>,
    },
    /// `ADD [flags] src… dest`
    Add {
        /// Source paths or URLs (or git repositories); heredoc sources are in `heredocs`.
        sources: Vec<String>,
        /// The destination.
        dest: String,
        /// `--chown`, raw.
        chown: Option<String>,
        /// `--chmod`, raw.
        chmod: Option<String>,
        /// `--link`.
        link: bool,
        /// `--keep-git-dir`.
        keep_git_dir: bool,
        /// `--checksum=sha256:…` (or a git commit), raw.
        checksum: Option<String>,
        /// `--unpack`, when given.
        unpack: Option<bool>,
        /// `--exclude` patterns.
        exclude: Vec<String>,
        /// Inline files.
        heredocs: Vec<Heredoc>,
    },
    /// `ENV k=v …` or the legacy `ENV k v`
    Env {
        /// The variables, in order.
        pairs: Vec<KeyValue>,
        /// Written in the legacy `ENV key value` form.
        legacy: bool,
    },
    /// `LABEL k=v …`
    Label {
        /// The labels, in order.
        pairs: Vec<KeyValue>,
        /// Written in the legacy `LABEL key value` form.
        legacy: bool,
    },
    /// `ARG name[=default] …`
    Arg {
        /// The declared arguments.
        args: Vec<ArgDecl>,
    },
    /// `WORKDIR path` (the whole rest of the line, spaces included)
    Workdir {
        /// The directory.
        path: String,
    },
    /// `USER user[:group]`
    User {
        /// The user, raw.
        user: String,
    },
    /// `EXPOSE port[/proto] …`
    Expose {
        /// The ports, raw (`80`, `8000-8010/udp`, `${PORT}`); see [`crate::ExposedPort`].
        ports: Vec<String>,
    },
    /// `VOLUME path …` or `VOLUME ["path", …]`
    Volume {
        /// The mount points.
        paths: Vec<String>,
    },
    /// `SHELL ["executable", "param"…]`
    Shell {
        /// The shell and its arguments.
        shell: Vec<String>,
    },
    /// `STOPSIGNAL signal`
    Stopsignal {
        /// The signal, raw (`SIGTERM`, `9`, `${SIG}`).
        signal: String,
    },
    /// `HEALTHCHECK …`
    Healthcheck(Healthcheck),
    /// `ONBUILD trigger`
    Onbuild {
        /// The trigger's text, as stored in the image config.
        expression: String,
        /// The trigger parsed, or `None` when it does not parse here (BuildKit stores such
        /// triggers as text and only a downstream build rejects them).
        trigger: Option<Box<Instruction>>,
    },
    /// `MAINTAINER name` (deprecated; use a label)
    Maintainer {
        /// The maintainer, the whole rest of the line.
        name: String,
    },
}

impl Instruction {
    /// The keyword exactly as written (`run`, `Run`, `RUN`).
    pub fn keyword_text(&self) -> &str {
        let len = self.keyword.as_str().len();
        match self.text.get(..len) {
            Some(t) if t.eq_ignore_ascii_case(self.keyword.as_str()) => t,
            _ => self.keyword.as_str(),
        }
    }

    /// Whether two instructions are the same apart from where they stand and how they were laid
    /// out: span, original text, comments above them and the keyword's case are ignored.
    ///
    /// Printing a [`Dockerfile`] and parsing the text again gives instructions that are the same
    /// in this sense.
    pub fn same_as(&self, other: &Instruction) -> bool {
        self.normalized() == other.normalized()
    }

    fn normalized(&self) -> Instruction {
        let mut n = self.clone();
        n.span = Span {
            start_line: 0,
            end_line: 0,
            bytes: 0..0,
        };
        n.text.clear();
        n.comments.clear();
        if let InstructionKind::Onbuild {
            trigger: Some(t), ..
        } = &mut n.kind
        {
            **t = t.normalized();
        }
        n
    }
}

impl Dockerfile {
    /// Whether two files have the same directives and the same instructions in the sense of
    /// [`Instruction::same_as`] (warnings are not compared).
    pub fn same_as(&self, other: &Dockerfile) -> bool {
        self.directives == other.directives
            && self.instructions.len() == other.instructions.len()
            && self
                .instructions
                .iter()
                .zip(&other.instructions)
                .all(|(a, b)| a.same_as(b))
    }
}

/// The node view of an instruction, in the shape the `dump` example prints: what BuildKit's
/// line parser produced, with the instruction's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView<'a> {
    /// The keyword, lower case.
    pub keyword: &'static str,
    /// The flags as `--name=value` (or `--name`) strings.
    pub flags: Vec<String>,
    /// The arguments as the instruction splits them.
    pub args: &'a [String],
    /// Exec (JSON) form.
    pub json: bool,
    /// First line.
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
    /// Heredoc bodies.
    pub heredocs: &'a [Heredoc],
}

impl Instruction {
    /// The node view of this instruction.
    pub fn node_view(&self) -> NodeView<'_> {
        NodeView {
            keyword: self.keyword.as_lower_str(),
            flags: self.flags.iter().map(Flag::raw).collect(),
            args: &self.args,
            json: self.json,
            start_line: self.span.start_line,
            end_line: self.span.end_line,
            heredocs: &self.heredocs,
        }
    }
}

impl Keyword {
    /// The keyword in lower case, as BuildKit's nodes and the `dump` example write it.
    pub fn as_lower_str(self) -> &'static str {
        match self {
            Keyword::Add => "add",
            Keyword::Arg => "arg",
            Keyword::Cmd => "cmd",
            Keyword::Copy => "copy",
            Keyword::Entrypoint => "entrypoint",
            Keyword::Env => "env",
            Keyword::Expose => "expose",
            Keyword::From => "from",
            Keyword::Healthcheck => "healthcheck",
            Keyword::Label => "label",
            Keyword::Maintainer => "maintainer",
            Keyword::Onbuild => "onbuild",
            Keyword::Run => "run",
            Keyword::Shell => "shell",
            Keyword::Stopsignal => "stopsignal",
            Keyword::User => "user",
            Keyword::Volume => "volume",
            Keyword::Workdir => "workdir",
        }
    }
}
