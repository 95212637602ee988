//! Errors and warnings of the parser.
//!
//! Every error carries the 1-based line and column where it was found, and its message says what
//! is wrong in the words BuildKit uses, so a user can look the same message up in Docker's
//! documentation. The [`Display`](std::fmt::Display) form reads
//! `line 7: unknown instruction "COPPY" (did you mean COPY?)`, with `, column N` added when the
//! problem is not at the start of the instruction.

use std::fmt;

use serde::Serialize;

/// Which of BuildKit's three layers rejects an input.
///
/// BuildKit parses in layers: the line parser (directives, continuations, heredocs), the
/// instruction layer (argument counts, flags, stage names) and dispatch (variable expansion,
/// mount options). This parser implements the first two; [`crate::expand`] errors belong to the
/// third.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Layer {
    /// The line parser.
    Parse,
    /// The instruction layer.
    Instructions,
}

/// What went wrong while parsing a Dockerfile.
///
/// Messages are lower-case where BuildKit's are, and otherwise BuildKit's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not UTF-8.
    #[error("the Dockerfile is not valid UTF-8")]
    InvalidUtf8,
    /// The file holds no instruction at all (only blank lines, comments and directives).
    #[error("file with no instructions")]
    NoInstructions,
    /// A physical line is longer than BuildKit's scanner accepts.
    #[error("dockerfile line greater than max allowed size of 65535")]
    LineTooLong,
    /// A parser directive was given twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// The `escape` directive names something other than `\` or `` ` ``.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    /// A heredoc body has no terminating line.
    #[error("unterminated heredoc {0:?}")]
    UnterminatedHeredoc(String),
    /// A JSON array holds something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    /// `ENV`/`LABEL` in the legacy `KEY value` form with no value.
    #[error("{0} must have two arguments")]
    MissingValue(&'static str),
    /// `ENV`/`LABEL` in the `k=v` form with a word that has no `=`.
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    /// The keyword is not one of the 18 Dockerfile instructions.
    #[error("unknown instruction {keyword:?}{}", did_you_mean(.suggestion))]
    UnknownInstruction {
        /// The keyword as written.
        keyword: String,
        /// The closest known instruction, when one is close.
        suggestion: Option<&'static str>,
    },
    /// An instruction other than `ARG` comes before the first `FROM`.
    #[error("no build stage in current context ({0} before the first FROM)")]
    NoBuildStage(String),
    /// The instruction does not know this flag (names are case-sensitive, as in BuildKit).
    #[error("unknown flag: --{flag}{}", did_you_mean(.suggestion))]
    UnknownFlag {
        /// The flag's name as written.
        flag: String,
        /// The closest flag the instruction knows, when one is close.
        suggestion: Option<&'static str>,
    },
    /// A flag that may appear once appears again.
    #[error("duplicate flag specified: --{0}")]
    DuplicateFlag(String),
    /// A flag that needs `=value` has none.
    #[error("missing a value on flag: --{0}")]
    MissingFlagValue(String),
    /// A boolean flag with a value other than `true` or `false`.
    #[error("expecting boolean value for flag --{flag}, not: {value}")]
    BadBoolFlag {
        /// The flag's name.
        flag: String,
        /// The value given.
        value: String,
    },
    /// `RUN --network` with a mode other than `default`, `none` or `host`.
    #[error("invalid network mode {0:?}")]
    BadNetwork(String),
    /// `RUN --security` with a mode other than `sandbox` or `insecure`.
    #[error("security {0:?} is not valid")]
    BadSecurity(String),
    /// Too few or too many arguments.
    #[error("{keyword} {requirement}")]
    Arguments {
        /// The instruction, upper-case.
        keyword: &'static str,
        /// What the instruction requires, e.g. `requires exactly one argument`.
        requirement: &'static str,
    },
    /// `FROM` with a stage name that BuildKit refuses.
    #[error(
        "invalid name for build stage: {0:?}, name can't start with a number or contain symbols"
    )]
    InvalidStageName(String),
    /// `ARG =value`, `ENV =value`, `LABEL =value`.
    #[error("{0} names can not be blank")]
    BlankName(&'static str),
    /// `SHELL` not in JSON form.
    #[error("SHELL requires the arguments to be in JSON form")]
    ShellNotJson,
    /// `VOLUME` with an empty path.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `COPY`/`ADD` whose destination is a heredoc.
    #[error("{0} cannot accept a heredoc as a destination")]
    HeredocDestination(&'static str),
    /// `ONBUILD ONBUILD`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChained,
    /// `ONBUILD FROM` or `ONBUILD MAINTAINER`.
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(&'static str),
    /// `HEALTHCHECK NONE` followed by more words.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArgs,
    /// `HEALTHCHECK` with a type other than `CMD` or `NONE`.
    #[error("Unknown type {0:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType(String),
    /// `HEALTHCHECK CMD` without a command.
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckNoCommand,
    /// A duration flag that Go's `time.ParseDuration` refuses (Go's message).
    #[error("{0}")]
    BadDuration(String),
    /// A non-zero duration flag below BuildKit's minimum of 1ms.
    #[error("Interval {0:?} cannot be less than 1ms")]
    DurationTooShort(&'static str),
    /// `--retries` that is not a non-negative 32-bit integer.
    #[error("invalid value {0:?} for --retries: expected a non-negative integer")]
    BadRetries(String),
    /// A `RUN --mount` value that cannot be used.
    #[error("invalid mount {value:?}: {reason}")]
    BadMount {
        /// The flag value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

fn did_you_mean(s: &Option<&'static str>) -> String {
    s.map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

impl ErrorKind {
    /// The BuildKit layer that raises this error.
    pub fn layer(&self) -> Layer {
        match self {
            ErrorKind::NoInstructions
            | ErrorKind::InvalidUtf8
            | ErrorKind::LineTooLong
            | ErrorKind::DuplicateDirective(_)
            | ErrorKind::InvalidEscape(_)
            | ErrorKind::UnterminatedHeredoc(_)
            | ErrorKind::JsonNotStrings
            | ErrorKind::MissingValue(_)
            | ErrorKind::MissingEquals(_) => Layer::Parse,
            _ => Layer::Instructions,
        }
    }
}

/// A Dockerfile that cannot be parsed: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    line: usize,
    column: usize,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(line: usize, column: usize, kind: ErrorKind) -> Self {
        Error { line, column, kind }
    }

    /// The 1-based line of the problem.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) of the problem on [`Error::line`].
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The BuildKit layer that raises this error.
    pub fn layer(&self) -> Layer {
        self.kind.layer()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 1 {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.kind
            )
        } else {
            write!(f, "line {}: {}", self.line, self.kind)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

/// Something BuildKit accepts but warns about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The 1-based line the warning is about.
    pub line: usize,
    /// BuildKit's rule name, e.g. `NoEmptyContinuation`.
    pub rule: &'static str,
    /// A human-readable message.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} ({})", self.line, self.message, self.rule)
    }
}
