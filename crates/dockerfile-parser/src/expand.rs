//! Variable expansion of Dockerfile words, as BuildKit does it.
//!
//! The builder expands `$name` and `${name…}` in the arguments of ADD, COPY,
//! ENV, LABEL, ARG, EXPOSE, STOPSIGNAL, USER, VOLUME, WORKDIR, FROM and the
//! options of some flags. This module is a faithful port of the rules of
//! BuildKit's word lexer (`frontend/dockerfile/shell/lex.go`):
//!
//! * quotes are removed: `'…'` is literal, `"…"` still expands `$`;
//! * the escape character (`\`, or `` ` `` after ``# escape=` ``) makes the next
//!   character literal; inside double quotes it only escapes `"`, `$` and
//!   itself;
//! * `$name`, `${name}`, `${name:-word}`, `${name-word}`, `${name:+word}`,
//!   `${name+word}`, `${name:?message}`, `${name?message}`, `${name#pattern}`,
//!   `${name##pattern}`, `${name%pattern}`, `${name%%pattern}`,
//!   `${name/pattern/replacement}` and `${name//pattern/replacement}`;
//! * patterns know `*`, `?` and backslash escapes, but no bracket expressions;
//! * an unset variable expands to the empty string; there is no tilde
//!   expansion, globbing, command substitution or arithmetic.
//!
//! Besides the expanded text, [`Expander::expand_word`] reports which
//! variables were looked up and found ([`Expansion::used`]) and which were
//! referenced but unset ([`Expansion::unset`]); the builder uses both for
//! cache keys and lint warnings. [`Expander::expand_words`] additionally
//! splits the result into words on unquoted whitespace, like BuildKit's
//! `ProcessWords`.
//!
//! ```
//! use boxwright_dockerfile_parser::expand::{expand, ExpandError, Expander};
//!
//! let vars = [("VERSION", "1.2.3"), ("EMPTY", "")];
//! let expander = Expander::default();
//!
//! let out = expander.expand_word("app-${VERSION%.*}-${ARCH:-amd64}", &vars)?;
//! assert_eq!(out.value, "app-1.2-amd64");
//! assert!(out.used.contains("VERSION"));
//! assert!(out.unset.contains("ARCH"));
//!
//! // Single quotes are literal, double quotes expand.
//! assert_eq!(expand(r#"'$VERSION' "$VERSION""#, &vars)?, "$VERSION 1.2.3");
//!
//! // Word splitting happens after expansion, on unquoted whitespace.
//! let words = expander.expand_words(r#"a "b c" d\ e"#, &vars)?;
//! assert_eq!(words, ["a", "b c", "d e"]);
//!
//! // With the escape=` directive, the backtick escapes instead of the backslash.
//! let windows = Expander::new('`');
//! assert_eq!(windows.expand_word(r"C:\dir\`$VERSION", &vars)?.value, r"C:\dir\$VERSION");
//!
//! // Errors carry BuildKit's message, the word and the offset of the problem.
//! let err = expander.expand_word("x${EMPTY:?must be set}", &vars).unwrap_err();
//! assert_eq!(err.to_string(), "EMPTY: must be set");
//! assert_eq!(err.offset(), 1);
//! # Ok::<(), ExpandError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

/// How many `${…}` may nest inside each other before expansion gives up.
const MAX_DEPTH: usize = 100;
/// A byte order mark; Go's `text/scanner` drops one at the start of its input.
const BOM: char = '\u{FEFF}';
/// What Go prints for the end-of-input rune in messages.
const REPLACEMENT: char = '\u{FFFD}';

/// Where expansion looks variables up.
///
/// Implemented for the usual maps and for lists of pairs (where the last pair
/// with a given name wins, like a list of `NAME=VALUE` settings).
pub trait Variables {
    /// The value of the variable `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Variables for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Variables for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

impl Variables for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl<const N: usize> Variables for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<&str> {
        Variables::get(self.as_slice(), name)
    }
}

impl Variables for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<&str> {
        Variables::get(self.as_slice(), name)
    }
}

impl Variables for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Variables for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Variables::get(self.as_slice(), name)
    }
}

impl<T: Variables + ?Sized> Variables for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

/// Expands Dockerfile words with a given escape character.
///
/// The escape character is `\` by default and `` ` `` when the Dockerfile
/// starts with the ``# escape=` `` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expander {
    escape: char,
}

impl Default for Expander {
    fn default() -> Self {
        Self::new('\\')
    }
}

impl Expander {
    /// An expander using `escape` as the escape character (normally `\` or
    /// `` ` ``; other characters are accepted and used the same way).
    pub fn new(escape: char) -> Self {
        Self { escape }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands one word (BuildKit's `ProcessWord`): variables are substituted,
    /// quotes and escapes removed, whitespace kept as it is.
    pub fn expand_word(&self, word: &str, vars: &dyn Variables) -> Result<Expansion, ExpandError> {
        let mut lexer = Lexer::new(word, self.escape, vars);
        let mut words = Words::disabled();
        let value = lexer
            .process_until(None, false, &mut words)
            .map_err(|fail| fail.into_error(word))?;
        Ok(Expansion {
            value,
            used: lexer.used,
            unset: lexer.unset,
        })
    }

    /// Expands a word and splits the result into words (BuildKit's
    /// `ProcessWords`).
    ///
    /// Splitting happens on whitespace that was neither quoted nor escaped in
    /// the source; whitespace inside the value of a variable splits too,
    /// unless the variable was inside double quotes. Empty words are dropped.
    pub fn expand_words(
        &self,
        word: &str,
        vars: &dyn Variables,
    ) -> Result<Vec<String>, ExpandError> {
        let mut lexer = Lexer::new(word, self.escape, vars);
        let mut words = Words::enabled();
        lexer
            .process_until(None, false, &mut words)
            .map_err(|fail| fail.into_error(word))?;
        Ok(words.finish())
    }
}

/// The result of expanding one word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded text.
    pub value: String,
    /// Names of the variables that were looked up and found set (possibly to
    /// the empty string).
    pub used: BTreeSet<String>,
    /// Names of the variables that were referenced but not set.
    pub unset: BTreeSet<String>,
}

/// Expands `word` with the default escape character `\` and returns the text.
pub fn expand(word: &str, vars: &dyn Variables) -> Result<String, ExpandError> {
    Expander::default().expand_word(word, vars).map(|e| e.value)
}

/// Why a word could not be expanded.
///
/// The message is BuildKit's; [`ExpandError::word`] and
/// [`ExpandError::offset`] tell which word and where in it (a byte offset:
/// the opening quote or the `$` of the construct that failed).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpandError {
    /// A `'` without its closing quote.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote {
        /// The word being expanded.
        word: String,
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A `"` without its closing quote.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote {
        /// The word being expanded.
        word: String,
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A `${` whose `}` is missing.
    #[error("syntax error: missing '}}'")]
    MissingBrace {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$`.
        offset: usize,
    },
    /// `${}`, `${:…}` or `${{…`.
    #[error("syntax error: bad substitution")]
    BadSubstitution {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$`.
        offset: usize,
    },
    /// `${name/pattern` without the `/` that starts the replacement.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$`.
        offset: usize,
    },
    /// An operator BuildKit does not support, such as `${name=word}`,
    /// `${name:#pattern}` or `${name^^}`.
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$`.
        offset: usize,
        /// The operator as BuildKit prints it (U+FFFD stands for the end of
        /// the word).
        modifier: String,
    },
    /// `${name?message}` with `name` unset, or `${name:?message}` with `name`
    /// unset or empty.
    #[error("{name}: {message}")]
    Required {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$`.
        offset: usize,
        /// The variable.
        name: String,
        /// The expanded message, or `is not allowed to be unset` /
        /// `is not allowed to be empty` when none was given.
        message: String,
    },
    /// A pattern of `#`, `%` or `/` with a bad escape.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$`.
        offset: usize,
        /// The pattern as BuildKit prints it (reversed for `%` and `%%`).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// More than 100 `${…}` nested inside each other (a limit of this
    /// implementation; BuildKit has none).
    #[error("substitutions nested too deeply")]
    TooDeep {
        /// The word being expanded.
        word: String,
        /// Byte offset of the `$` where the limit was reached.
        offset: usize,
    },
}

impl ExpandError {
    /// The word whose expansion failed.
    pub fn word(&self) -> &str {
        match self {
            Self::UnterminatedSingleQuote { word, .. }
            | Self::UnterminatedDoubleQuote { word, .. }
            | Self::MissingBrace { word, .. }
            | Self::BadSubstitution { word, .. }
            | Self::MissingSlash { word, .. }
            | Self::UnsupportedModifier { word, .. }
            | Self::Required { word, .. }
            | Self::InvalidPattern { word, .. }
            | Self::TooDeep { word, .. } => word,
        }
    }

    /// The byte offset in [`ExpandError::word`] of the construct that failed.
    pub fn offset(&self) -> usize {
        match self {
            Self::UnterminatedSingleQuote { offset, .. }
            | Self::UnterminatedDoubleQuote { offset, .. }
            | Self::MissingBrace { offset, .. }
            | Self::BadSubstitution { offset, .. }
            | Self::MissingSlash { offset, .. }
            | Self::UnsupportedModifier { offset, .. }
            | Self::Required { offset, .. }
            | Self::InvalidPattern { offset, .. }
            | Self::TooDeep { offset, .. } => *offset,
        }
    }
}

/// An error before the word is attached.
#[derive(Debug)]
enum Kind {
    SingleQuote,
    DoubleQuote,
    MissingBrace,
    BadSubstitution,
    MissingSlash,
    Unsupported(String),
    Required { name: String, message: String },
    InvalidPattern { pattern: String, reason: String },
    TooDeep,
}

#[derive(Debug)]
struct Fail {
    kind: Kind,
    offset: usize,
}

impl Fail {
    fn new(kind: Kind, offset: usize) -> Self {
        Self { kind, offset }
    }

    fn into_error(self, word: &str) -> ExpandError {
        let word = word.to_owned();
        let offset = self.offset;
        match self.kind {
            Kind::SingleQuote => ExpandError::UnterminatedSingleQuote { word, offset },
            Kind::DoubleQuote => ExpandError::UnterminatedDoubleQuote { word, offset },
            Kind::MissingBrace => ExpandError::MissingBrace { word, offset },
            Kind::BadSubstitution => ExpandError::BadSubstitution { word, offset },
            Kind::MissingSlash => ExpandError::MissingSlash { word, offset },
            Kind::Unsupported(modifier) => ExpandError::UnsupportedModifier {
                word,
                offset,
                modifier,
            },
            Kind::Required { name, message } => ExpandError::Required {
                word,
                offset,
                name,
                message,
            },
            Kind::InvalidPattern { pattern, reason } => ExpandError::InvalidPattern {
                word,
                offset,
                pattern,
                reason,
            },
            Kind::TooDeep => ExpandError::TooDeep { word, offset },
        }
    }
}

/// Collects the split words of `expand_words` (BuildKit's `wordsStruct`).
struct Words {
    enabled: bool,
    current: String,
    done: Vec<String>,
}

impl Words {
    fn enabled() -> Self {
        Self {
            enabled: true,
            current: String::new(),
            done: Vec::new(),
        }
    }

    fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::enabled()
        }
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    /// A character that splits words when it is whitespace.
    fn add_char(&mut self, c: char) {
        if !self.enabled {
            return;
        }
        if c.is_whitespace() {
            self.flush();
        } else {
            self.current.push(c);
        }
    }

    /// A character that never splits (quoted or escaped).
    fn add_raw_char(&mut self, c: char) {
        if self.enabled {
            self.current.push(c);
        }
    }

    fn add_str(&mut self, s: &str) {
        if self.enabled {
            s.chars().for_each(|c| self.add_char(c));
        }
    }

    fn add_raw_str(&mut self, s: &str) {
        if self.enabled {
            self.current.push_str(s);
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.flush();
        self.done
    }
}

/// The state of expanding one word (BuildKit's `shellWord`).
struct Lexer<'w, 'v> {
    src: &'w str,
    pos: usize,
    escape: char,
    vars: &'v dyn Variables,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
    depth: usize,
}

impl<'w, 'v> Lexer<'w, 'v> {
    fn new(src: &'w str, escape: char, vars: &'v dyn Variables) -> Self {
        // Go's text/scanner drops a byte order mark at the start of its input.
        let pos = if src.starts_with(BOM) {
            BOM.len_utf8()
        } else {
            0
        };
        Self {
            src,
            pos,
            escape,
            vars,
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Looks a variable up and records whether it was set.
    fn lookup(&mut self, name: &str) -> Option<&'v str> {
        let vars = self.vars;
        let value = vars.get(name);
        let set = if value.is_some() {
            &mut self.used
        } else {
            &mut self.unset
        };
        if !set.contains(name) {
            set.insert(name.to_owned());
        }
        value
    }

    /// Processes text until `stop` (consumed) or the end of the word
    /// (BuildKit's `processStopOn`). With `raw`, escape characters are kept in
    /// the output (used for patterns and replacements).
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw: bool,
        words: &mut Words,
    ) -> Result<String, Fail> {
        let start = self.pos;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.bump();
                return Ok(out);
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                    words.add_str(&value);
                }
                '\'' => {
                    let value = self.single_quote()?;
                    out.push_str(&value);
                    words.add_raw_str(&value);
                }
                '"' => {
                    let value = self.double_quote(raw)?;
                    out.push_str(&value);
                    words.add_raw_str(&value);
                }
                _ => {
                    self.bump();
                    if c == self.escape {
                        if raw {
                            words.add_raw_char(c);
                            out.push(c);
                        }
                        match self.bump() {
                            Some(next) => {
                                words.add_raw_char(next);
                                out.push(next);
                            }
                            None => break,
                        }
                    } else {
                        words.add_char(c);
                        out.push(c);
                    }
                }
            }
        }
        match stop {
            // Callers turn this into "missing '}'" or "missing '/'".
            Some(_) => Err(Fail::new(Kind::MissingBrace, start)),
            None => Ok(out),
        }
    }

    fn single_quote(&mut self) -> Result<String, Fail> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(Fail::new(Kind::SingleQuote, start)),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self, raw: bool) -> Result<String, Fail> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(Fail::new(Kind::DoubleQuote, start)),
                Some('"') => {
                    self.bump();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.bump();
                    if c == self.escape {
                        if raw {
                            out.push(c);
                        }
                        match self.peek() {
                            // A trailing escape is dropped; the loop then
                            // reports the missing quote.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.bump();
                                out.push(next);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// Reads a variable name (BuildKit's `processName`).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    self.bump();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && is_special_param(c) {
                self.bump();
                name.push(c);
                return name;
            }
            if !is_letter(c) && !is_digit(c) && c != '_' {
                break;
            }
            self.bump();
            name.push(c);
        }
        name
    }

    /// Expands the `$…` at the current position (BuildKit's `processDollar`).
    fn dollar(&mut self) -> Result<String, Fail> {
        let start = self.pos;
        self.bump();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.lookup(&name).unwrap_or_default().to_owned());
        }
        self.bump();
        match self.peek() {
            None => return Err(Fail::new(Kind::MissingBrace, start)),
            Some('{' | '}' | ':') => return Err(Fail::new(Kind::BadSubstitution, start)),
            Some(_) => {}
        }
        if self.depth >= MAX_DEPTH {
            return Err(Fail::new(Kind::TooDeep, start));
        }
        self.depth += 1;
        let result = self.braced(start);
        self.depth -= 1;
        result
    }

    /// Processes a nested part of `${…}` up to `stop`; running out of input
    /// gives `eof`.
    fn nested(&mut self, stop: char, raw: bool, start: usize, eof: Kind) -> Result<String, Fail> {
        let mut sink = Words::disabled();
        match self.process_until(Some(stop), raw, &mut sink) {
            Ok(text) => Ok(text),
            Err(fail) if matches!(fail.kind, Kind::TooDeep) || !self.at_eof() => Err(fail),
            Err(_) => Err(Fail::new(eof, start)),
        }
    }

    /// The part of `${…}` after `${`; `start` is the offset of the `$`.
    fn braced(&mut self, start: usize) -> Result<String, Fail> {
        let name = self.name();
        let ch = self.bump();
        let mut modifier = String::new();
        modifier.push(ch.unwrap_or(REPLACEMENT));
        match ch {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default().to_owned()),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let null_is_unset = ch == Some(':');
                let op = if null_is_unset {
                    let op = self.bump();
                    modifier.push(op.unwrap_or(REPLACEMENT));
                    op
                } else {
                    ch
                };
                let raw = matches!(op, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(Fail::new(Kind::Unsupported(modifier), start));
                }
                let word = self.nested('}', raw, start, Kind::MissingBrace)?;
                let value = self.lookup(&name);
                let empty = value.is_none_or(|v| null_is_unset && v.is_empty());
                match op {
                    Some('-') => Ok(if empty {
                        word
                    } else {
                        value.unwrap_or_default().to_owned()
                    }),
                    Some('+') => Ok(if empty { String::new() } else { word }),
                    Some('?') => match value {
                        Some(v) if !empty => Ok(v.to_owned()),
                        _ => {
                            let message = if !word.is_empty() {
                                word
                            } else if value.is_none() {
                                "is not allowed to be unset".to_owned()
                            } else {
                                "is not allowed to be empty".to_owned()
                            };
                            Err(Fail::new(Kind::Required { name, message }, start))
                        }
                    },
                    Some(c @ ('#' | '%')) => {
                        let (longest, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let value = value.unwrap_or_default();
                        let trimmed = if c == '#' {
                            trim_prefix(pattern, value, longest)
                        } else {
                            trim_suffix(pattern, value, longest)
                        };
                        trimmed.map_err(|kind| Fail::new(kind, start))
                    }
                    _ => Err(Fail::new(Kind::Unsupported(modifier), start)),
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.bump();
                }
                let pattern = self.nested('/', true, start, Kind::MissingSlash)?;
                let replacement = self.nested('}', true, start, Kind::MissingBrace)?;
                let value = self.lookup(&name).unwrap_or_default();
                let tokens = match compile(&pattern) {
                    Ok(tokens) => tokens,
                    Err(reason) => {
                        return Err(Fail::new(Kind::InvalidPattern { pattern, reason }, start));
                    }
                };
                Ok(if all {
                    replace_all(&tokens, value, &replacement)
                } else {
                    replace_first(&tokens, value, &replacement)
                })
            }
            _ => Err(Fail::new(Kind::Unsupported(modifier), start)),
        }
    }
}

/// Go's `unicode.IsLetter` (approximated by the Alphabetic property).
fn is_letter(c: char) -> bool {
    c.is_alphabetic()
}

/// Go's `unicode.IsDigit`: the decimal digits (category Nd).
fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    let c = u32::from(c);
    // Non-ASCII runs of category Nd (Unicode 15), as (first, last).
    const ND: &[(u32, u32)] = &[
        (0x660, 0x669),
        (0x6F0, 0x6F9),
        (0x7C0, 0x7C9),
        (0x966, 0x96F),
        (0x9E6, 0x9EF),
        (0xA66, 0xA6F),
        (0xAE6, 0xAEF),
        (0xB66, 0xB6F),
        (0xBE6, 0xBEF),
        (0xC66, 0xC6F),
        (0xCE6, 0xCEF),
        (0xD66, 0xD6F),
        (0xDE6, 0xDEF),
        (0xE50, 0xE59),
        (0xED0, 0xED9),
        (0xF20, 0xF29),
        (0x1040, 0x1049),
        (0x1090, 0x1099),
        (0x17E0, 0x17E9),
        (0x1810, 0x1819),
        (0x1946, 0x194F),
        (0x19D0, 0x19D9),
        (0x1A80, 0x1A89),
        (0x1A90, 0x1A99),
        (0x1B50, 0x1B59),
        (0x1BB0, 0x1BB9),
        (0x1C40, 0x1C49),
        (0x1C50, 0x1C59),
        (0xA620, 0xA629),
        (0xA8D0, 0xA8D9),
        (0xA900, 0xA909),
        (0xA9D0, 0xA9D9),
        (0xA9F0, 0xA9F9),
        (0xAA50, 0xAA59),
        (0xABF0, 0xABF9),
        (0xFF10, 0xFF19),
        (0x104A0, 0x104A9),
        (0x10D30, 0x10D39),
        (0x11066, 0x1106F),
        (0x110F0, 0x110F9),
        (0x11136, 0x1113F),
        (0x111D0, 0x111D9),
        (0x112F0, 0x112F9),
        (0x11450, 0x11459),
        (0x114D0, 0x114D9),
        (0x11650, 0x11659),
        (0x116C0, 0x116C9),
        (0x11730, 0x11739),
        (0x118E0, 0x118E9),
        (0x11950, 0x11959),
        (0x11C50, 0x11C59),
        (0x11D50, 0x11D59),
        (0x11DA0, 0x11DA9),
        (0x11F50, 0x11F59),
        (0x16A60, 0x16A69),
        (0x16AC0, 0x16AC9),
        (0x16B50, 0x16B59),
        (0x1D7CE, 0x1D7FF),
        (0x1E140, 0x1E149),
        (0x1E2F0, 0x1E2F9),
        (0x1E4F0, 0x1E4F9),
        (0x1E950, 0x1E959),
        (0x1FBF0, 0x1FBF9),
    ];
    let after = ND.partition_point(|&(first, _)| first <= c);
    after
        .checked_sub(1)
        .and_then(|i| ND.get(i))
        .is_some_and(|&(_, last)| c <= last)
}

/// The special parameters of POSIX shells (`$@`, `$*`, `$#`, …).
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// One element of a compiled shell pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// This exact character.
    Lit(char),
    /// `?`: any one character except a newline (Go's `.`).
    Any,
    /// `*`: any run of characters without a newline (Go's `.*`).
    Star,
}

/// Compiles a pattern like BuildKit's `convertShellPatternToRegex`; the error
/// is the reason BuildKit gives.
fn compile(pattern: &str) -> Result<Vec<Tok>, String> {
    let mut chars = pattern
        .strip_prefix(BOM)
        .unwrap_or(pattern)
        .chars()
        .peekable();
    let mut tokens = Vec::with_capacity(pattern.len());
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => {
                // `\}` and `\/` are needed inside `${}`; the backslash is not
                // part of the pattern.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => Tok::Lit(e),
                    other => {
                        return Err(format!(
                            "invalid escape '\\{}'",
                            other.unwrap_or(REPLACEMENT)
                        ));
                    }
                }
            }
            _ => Tok::Lit(c),
        });
    }
    Ok(tokens)
}

/// Reverses a pattern keeping `\x` pairs in order (BuildKit's
/// `reversePattern`), so a suffix match becomes a prefix match.
fn reverse_pattern(pattern: &str) -> String {
    let mut groups: Vec<(char, Option<char>)> = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let next = if c == '\\' { chars.next() } else { None };
        groups.push((c, next));
    }
    let mut out = String::with_capacity(pattern.len());
    for &(c, next) in groups.iter().rev() {
        out.push(c);
        out.extend(next);
    }
    out
}

fn set(states: &mut [bool], i: usize) {
    if let Some(s) = states.get_mut(i) {
        *s = true;
    }
}

/// Follows the empty matches of `*` (which only lead forward).
fn close(tokens: &[Tok], states: &mut [bool]) {
    for (i, tok) in tokens.iter().enumerate() {
        if *tok == Tok::Star && states.get(i).copied().unwrap_or(false) {
            set(states, i + 1);
        }
    }
}

/// Matches `tokens` against the start of `chars` and returns the number of
/// bytes of the shortest (or the longest) match.
fn anchored_match(
    tokens: &[Tok],
    chars: impl Iterator<Item = char>,
    longest: bool,
) -> Option<usize> {
    let len = tokens.len();
    let mut cur = vec![false; len + 1];
    let mut next = vec![false; len + 1];
    set(&mut cur, 0);
    close(tokens, &mut cur);
    let accepts = |states: &[bool]| states.get(len).copied().unwrap_or(false);
    let mut best = accepts(&cur).then_some(0);
    if best.is_some() && !longest {
        return best;
    }
    let mut consumed = 0;
    for c in chars {
        next.fill(false);
        for (i, (tok, _)) in tokens
            .iter()
            .zip(&cur)
            .enumerate()
            .filter(|(_, (_, &on))| on)
        {
            match *tok {
                Tok::Lit(l) if l == c => set(&mut next, i + 1),
                Tok::Any if c != '\n' => set(&mut next, i + 1),
                Tok::Star if c != '\n' => set(&mut next, i),
                _ => {}
            }
        }
        close(tokens, &mut next);
        std::mem::swap(&mut cur, &mut next);
        consumed += c.len_utf8();
        if accepts(&cur) {
            best = Some(consumed);
            if !longest {
                break;
            }
        }
        if !cur.iter().any(|&on| on) {
            break;
        }
    }
    best
}

/// `${v#p}` / `${v##p}`.
fn trim_prefix(pattern: &str, value: &str, longest: bool) -> Result<String, Kind> {
    let tokens = compile(pattern).map_err(|reason| Kind::InvalidPattern {
        pattern: pattern.to_owned(),
        reason,
    })?;
    let end = anchored_match(&tokens, value.chars(), longest).unwrap_or(0);
    Ok(value.get(end..).unwrap_or_default().to_owned())
}

/// `${v%p}` / `${v%%p}`: a prefix match of the reversed pattern on the
/// reversed value.
fn trim_suffix(pattern: &str, value: &str, longest: bool) -> Result<String, Kind> {
    let reversed = reverse_pattern(pattern);
    let tokens = compile(&reversed).map_err(|reason| Kind::InvalidPattern {
        pattern: reversed.clone(),
        reason,
    })?;
    let cut = anchored_match(&tokens, value.chars().rev(), longest).unwrap_or(0);
    let keep = value.len().saturating_sub(cut);
    Ok(value.get(..keep).unwrap_or_default().to_owned())
}

/// Finds the leftmost match of `tokens` in `value` starting at or after byte
/// `from`, taking the longest match at that start (the semantics of Go's
/// leftmost-first regexp with greedy `.*`). Returns byte offsets.
fn find(tokens: &[Tok], value: &str, from: usize) -> Option<(usize, usize)> {
    let rest = value.get(from..)?;
    let len = tokens.len();
    // For every state, the smallest start of a thread in it: a thread with a
    // later start in the same state has the same future and can only lose.
    let mut cur: Vec<Option<usize>> = vec![None; len + 1];
    let mut next: Vec<Option<usize>> = vec![None; len + 1];
    let mut best: Option<(usize, usize)> = None;
    let mut chars = rest.chars();
    let mut pos = from;
    loop {
        if best.is_none() {
            merge(&mut cur, 0, pos);
        }
        for i in 0..len {
            if let (Some(Tok::Star), Some(&Some(s))) = (tokens.get(i), cur.get(i)) {
                merge(&mut cur, i + 1, s);
            }
        }
        if let Some(&Some(s)) = cur.get(len) {
            best = match best {
                Some((b, _)) if b < s => best,
                _ => Some((s, pos)),
            };
        }
        if let Some((b, _)) = best {
            // Threads that started after the best match cannot win.
            for state in cur.iter_mut() {
                if state.is_some_and(|s| s > b) {
                    *state = None;
                }
            }
            if cur.iter().all(Option::is_none) {
                break;
            }
        }
        let Some(c) = chars.next() else { break };
        next.fill(None);
        for (i, tok) in tokens.iter().enumerate() {
            let Some(&Some(s)) = cur.get(i) else { continue };
            match *tok {
                Tok::Lit(l) if l == c => merge(&mut next, i + 1, s),
                Tok::Any if c != '\n' => merge(&mut next, i + 1, s),
                Tok::Star if c != '\n' => merge(&mut next, i, s),
                _ => {}
            }
        }
        std::mem::swap(&mut cur, &mut next);
        pos += c.len_utf8();
    }
    best
}

/// Puts a thread that started at `start` into state `i`, keeping the earliest.
fn merge(states: &mut [Option<usize>], i: usize, start: usize) {
    if let Some(state) = states.get_mut(i) {
        if state.is_none_or(|s| start < s) {
            *state = Some(start);
        }
    }
}

/// `${v/p/r}`: the replacement is inserted as it is.
fn replace_first(tokens: &[Tok], value: &str, replacement: &str) -> String {
    match find(tokens, value, 0) {
        Some((start, end)) => {
            let mut out = String::with_capacity(value.len() + replacement.len());
            out.push_str(value.get(..start).unwrap_or_default());
            out.push_str(replacement);
            out.push_str(value.get(end..).unwrap_or_default());
            out
        }
        None => value.to_owned(),
    }
}

/// `${v//p/r}`, like Go's `Regexp.ReplaceAllString`: empty matches right
/// after a match are skipped, and the replacement is a template where `$0`
/// stands for the match, `$$` for `$` and other `$name`s for nothing.
fn replace_all(tokens: &[Tok], value: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= value.len() {
        let Some((start, end)) = find(tokens, value, search) else {
            break;
        };
        out.push_str(value.get(last_end..start).unwrap_or_default());
        if end > last_end || start == 0 {
            expand_template(
                &mut out,
                replacement,
                value.get(start..end).unwrap_or_default(),
            );
        }
        last_end = end;
        let width = value
            .get(search..)
            .and_then(|rest| rest.chars().next())
            .map_or(0, char::len_utf8);
        search = if search + width > end {
            search + width
        } else if search + 1 > end {
            search + 1
        } else {
            end
        };
    }
    out.push_str(value.get(last_end..).unwrap_or_default());
    out
}

/// Go's `Regexp.expand` for a regexp without capture groups.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = after;
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match template_name(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// The `name` or `{name}` after a `$` in a replacement template, and the text
/// after it.
fn template_name(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !(is_letter(c) || is_digit(c) || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, mut after) = body.split_at_checked(len)?;
    if brace {
        after = after.strip_prefix('}')?;
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment of BuildKit's envVarTest, plus a few more.
    const ENV: &[(&str, &str)] = &[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
        ("FOO", "xxyy"),
        ("PATHV", "/usr/local/bin/app.tar.gz"),
        ("SPACE", "a  b"),
        ("LEAD", "  ab c"),
        ("STAR", "*"),
        ("NL", "a\nb"),
        ("DOLLAR", "$"),
        ("é", "accent"),
        ("_x1", "underscore"),
    ];

    fn ok(word: &str) -> String {
        match expand(word, &ENV) {
            Ok(v) => v,
            Err(e) => panic!("{word:?}: unexpected error {e}"),
        }
    }

    fn ok_bt(word: &str) -> String {
        match Expander::new('`').expand_word(word, &ENV) {
            Ok(v) => v.value,
            Err(e) => panic!("{word:?}: unexpected error {e}"),
        }
    }

    fn err(word: &str) -> ExpandError {
        match expand(word, &ENV) {
            Ok(v) => panic!("{word:?}: expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    /// (word, expected) with escape `\`; BuildKit's envVarTest where it has
    /// the case.
    const OK: &[(&str, &str)] = &[
        // plain text, quotes and escapes
        ("hello", "hello"),
        ("", ""),
        ("he'll'o", "hello"),
        (r"he\'llo", "he'llo"),
        (r"abc\tdef", "abctdef"),
        (r#""abc\tdef""#, r"abc\tdef"),
        (r#""abc\\tdef""#, r"abc\tdef"),
        (r"'abc\tdef'", r"abc\tdef"),
        (r"hello\", "hello"),
        (r"hello\\", r"hello\"),
        (r#""hel'lo""#, "hel'lo"),
        (r"'hello\'", r"hello\"),
        (r"'hello\there'", r"hello\there"),
        (r"'hello\\there'", r"hello\\there"),
        (r#""''""#, "''"),
        (r#"'"hello"'"#, r#""hello""#),
        (r#""a\"b""#, r#"a"b"#),
        (r#""a\b""#, r"a\b"),
        (r#""a\\b""#, r"a\b"),
        (r#""a\$b""#, "a$b"),
        (r#""a\'b""#, r"a\'b"),
        (r"a\ b", "a b"),
        (r"\\", r"\"),
        (r"\\\", r"\"),
        ("a b  c", "a b  c"),
        (" lead and trail ", " lead and trail "),
        ("''", ""),
        (r#""""#, ""),
        (r#"'a'"b"c"#, "abc"),
        ("\u{FEFF}bom", "bom"),
        ("a\u{FEFF}b", "a\u{FEFF}b"),
        // $name
        ("$.", "$."),
        ("he$1x", "hex"),
        ("he$12x", "hex"),
        ("he$.x", "he$.x"),
        ("he$pwd.", "he."),
        ("he$PWD", "he/home"),
        (r"he\$PWD", "he$PWD"),
        (r"he\\$PWD", r"he\/home"),
        (r#""he\$PWD""#, "he$PWD"),
        (r#""he\\$PWD""#, r"he\/home"),
        ("'$PWD'", "$PWD"),
        (r"'\$PWD'", r"\$PWD"),
        (r#""$PWD""#, "/home"),
        (r#""he'$PWD'""#, "he'/home'"),
        ("$PWD$SHELL", "/homebash"),
        ("$PWD/$SHELL", "/home/bash"),
        ("$PWD-x", "/home-x"),
        ("$", "$"),
        ("a$", "a$"),
        ("$ x", "$ x"),
        ("$(pwd)", "$(pwd)"),
        ("$((1+2))", "$((1+2))"),
        ("~/x", "~/x"),
        ("*.txt", "*.txt"),
        ("$@$*$#$?$-$$$!$0", ""),
        ("$$PWD", "PWD"),
        ("$#x", "x"),
        ("$0x", "x"),
        ("$_x1", "underscore"),
        ("$é", "accent"),
        ("$KOREAN", "한국어"),
        ("안녕$KOREAN", "안녕한국어"),
        ("$NULL", ""),
        ("$x²", "²"),
        ("$DOLLAR$PWD", "$/home"),
        ("$SPACE", "a  b"),
        // ${name}
        (r"\${}", "${}"),
        (r"\${}aaa", "${}aaa"),
        (r"he\${}xx", "he${}xx"),
        ("he${hi}", "he"),
        ("he${hi}xx", "hexx"),
        ("he${PWD}", "he/home"),
        ("${aaa}}", "}"),
        ("${PWD}${SHELL}", "/homebash"),
        ("${KOREAN}", "한국어"),
        ("${1}", ""),
        ("${#}", ""),
        ("${_x1}", "underscore"),
        ("'he${XX}'", "he${XX}"),
        (r#""he${PWD}""#, "he/home"),
        // - and :-
        ("he${XXX:-000}xx", "he000xx"),
        ("he${PWD:-000}xx", "he/homexx"),
        ("he${XXX:-$PWD}xx", "he/homexx"),
        ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
        ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
        ("${NULL:-x}", "x"),
        ("${NULL-x}", ""),
        ("${XXX-x}", "x"),
        ("${PWD-x}", "/home"),
        ("${XXX:-}", ""),
        ("${XXX:-a b}", "a b"),
        ("${XXX:-'a}b'}", "a}b"),
        (r#"${XXX:-"a}b"}"#, "a}b"),
        (r"${XXX:-a\}b}", "a}b"),
        (r"${XXX:-a\b}", "ab"),
        ("${aaa:-bbb}}", "bbb}"),
        ("${aaa:-bbb}}}", "bbb}}"),
        ("${XXX:-$}", "$"),
        ("${XXX:--}", "-"),
        ("${--x}", "x"),
        // + and :+
        ("he${XXX:+${PWD}}xx", "hexx"),
        ("he${PWD:+${XXX}}xx", "hexx"),
        ("he${PWD:+${SHELL}}xx", "hebashxx"),
        ("he${XXX:+000}xx", "hexx"),
        ("he${PWD:+000}xx", "he000xx"),
        ("he${PWD+${PWD}:}xx", "he/home:xx"),
        ("he${XXX+${PWD}:}xx", "hexx"),
        ("${NULL+set}", "set"),
        ("${NULL:+set}", ""),
        ("${PWD:+${PWD}:}/usr", "/home:/usr"),
        // ? and :?
        ("he${PWD?}", "he/home"),
        ("he${PWD:?}", "he/home"),
        ("he${NULL?}", "he"),
        ("${PWD:?msg}", "/home"),
        // # and ##
        ("${FOO#}", "xxyy"),
        ("${FOO##}", "xxyy"),
        ("${FOO#x}", "xyy"),
        ("${FOO##x}", "xyy"),
        ("${FOO#*x*y}", "y"),
        ("${FOO##*x*y}", ""),
        ("${FOO#*}", "xxyy"),
        ("${FOO##*}", ""),
        ("${FOO##*x}", "yy"),
        ("${FOO#?}", "xyy"),
        ("${FOO#z}", "xxyy"),
        ("${FOO#$SHELL}", "xxyy"),
        ("${FOO#$NULL}", "xxyy"),
        ("${FOO#'x'}", "xyy"),
        ("${FOO#'#'x}", "xyy"),
        ("${PATHV##*/}", "app.tar.gz"),
        ("${PATHV#*/}", "usr/local/bin/app.tar.gz"),
        ("${PATHV#/usr/}", "local/bin/app.tar.gz"),
        ("${XXX#x}", ""),
        ("${KOREAN#한}", "국어"),
        ("${KOREAN#?}", "국어"),
        ("${NL#*}", "a\nb"),
        ("${NL##*}", "\nb"),
        ("${NL##?}", "\nb"),
        // % and %%
        ("${FOO%}", "xxyy"),
        ("${FOO%%}", "xxyy"),
        ("${FOO%y}", "xxy"),
        ("${FOO%x}", "xxyy"),
        ("${FOO%y*}", "xxy"),
        ("${FOO%%y*}", "xx"),
        ("${FOO%%*}", ""),
        ("${FOO%*}", "xxyy"),
        ("${PATHV%.*}", "/usr/local/bin/app.tar"),
        ("${PATHV%%.*}", "/usr/local/bin/app"),
        ("${PATHV%/*}", "/usr/local/bin"),
        ("${KOREAN%어}", "한국"),
        ("${KOREAN%??}", "한"),
        ("${NL%%*}", "a\n"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", ".xxyy."),
        // / and //
        ("${FOO/x/z}", "zxyy"),
        ("${FOO//x/z}", "zzyy"),
        ("${FOO/x*/z}", "z"),
        ("${FOO//?/-}", "----"),
        ("${FOO/y/}", "xxy"),
        ("${FOO///}", "xxyy"),
        ("${FOO///-}", "-x-x-y-y-"),
        ("${FOO/$NULL/ww}", "wwxxyy"),
        ("${FOO/z/w}", "xxyy"),
        ("${PATHV//\\//:}", ":usr:local:bin:app.tar.gz"),
        ("${PATHV/\\/usr/}", "/local/bin/app.tar.gz"),
        ("${PWD//\\//\\/}", r"\/home"),
        ("${FOO/x/$SHELL}", "bashxyy"),
        ("${FOO//x/$SHELL}", "bashbashyy"),
        ("${FOO/x/${XXX:-q}}", "qxyy"),
        ("${XXX//x/y}", ""),
        ("${XXX/*/y}", "y"),
        ("${XXX//*/y}", "y"),
        ("${FOO//*/y}", "y"),
        ("${NL//*/X}", "X\nX"),
        ("${FOO//x/\\$}", r"\$\$yy"),
        ("${FOO//x/<${DOLLAR}0>}", "<x><x>yy"),
        ("${FOO/x/<${DOLLAR}0>}", "<$0>xyy"),
        ("${FOO//x/$DOLLAR$DOLLAR}", "$$yy"),
        ("${FOO//x/${DOLLAR}1}", "yy"),
        ("${FOO//x/${DOLLAR}{0'}'}", "xxyy"),
        ("${FOO//x/${DOLLAR}.}", "$.$.yy"),
        ("${KOREAN//국/-}", "한-어"),
        ("${STAR/\\*/star}", "star"),
        ("${FOO/$STAR/z}", "z"),
        // special characters of regular expressions are literal in patterns
        ("${PATHV/./-}", "/usr/local/bin/app-tar.gz"),
        ("${PATHV//[a]/-}", "/usr/local/bin/app.tar.gz"),
        // unicode and quoting
        ("안녕하세요", "안녕하세요"),
        ("안'녕'하세요", "안녕하세요"),
        (r"안녕\'하세요", "안녕'하세요"),
        (r"안녕\t하세요", "안녕t하세요"),
        (r#""안녕\t하세요""#, r"안녕\t하세요"),
        (r"안녕하세요\", "안녕하세요"),
        (r#""안녕$1x""#, "안녕x"),
        (r#""안녕${XXX:-${YYY:-yyy}}xx""#, "안녕yyyxx"),
        (r#""안녕${PWD:+${SHELL}}xx""#, "안녕bashxx"),
        ("안녕${NULL-xx}", "안녕"),
        ("안녕${NULL:-xx}", "안녕xx"),
    ];

    #[test]
    fn table_ok() {
        for (word, expected) in OK {
            assert_eq!(ok(word), *expected, "word {word:?}");
        }
    }

    /// (word, expected message) with escape `\`.
    const ERRORS: &[(&str, &str)] = &[
        (
            "he'llo",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            r"he\\'llo",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "'",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            r#""hello"#,
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            r#""hello\""#,
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            r#""hello\"#,
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            r#""$PWD"#,
            "unexpected end of statement while looking for matching double-quote",
        ),
        ("${}", "syntax error: bad substitution"),
        ("${}aaa", "syntax error: bad substitution"),
        ("he${}xx", "syntax error: bad substitution"),
        ("${:}", "syntax error: bad substitution"),
        ("${:-x}", "syntax error: bad substitution"),
        ("${{aaa}", "syntax error: bad substitution"),
        ("${{aaa}}}", "syntax error: bad substitution"),
        (r#""${}""#, "syntax error: bad substitution"),
        ("${", "syntax error: missing '}'"),
        ("he${", "syntax error: missing '}'"),
        ("${PWD:-", "syntax error: missing '}'"),
        ("${PWD:-x", "syntax error: missing '}'"),
        ("${PWD:", "syntax error: missing '}'"),
        ("${PWD:x", "syntax error: missing '}'"),
        ("${X:-'a}", "syntax error: missing '}'"),
        (r#"${X:-"a}"#, "syntax error: missing '}'"),
        (r"${X:-a\}", "syntax error: missing '}'"),
        ("${X:-${Y?oops}", "syntax error: missing '}'"),
        ("${FOO/x/y", "syntax error: missing '}'"),
        ("${FOO//y}/", "syntax error: missing '}'"),
        ("${XXX:-${}", "syntax error: bad substitution"),
        ("he${PWD", "unsupported modifier (\u{FFFD}) in substitution"),
        ("${PWD=000}", "unsupported modifier (=) in substitution"),
        ("${FOO=}", "unsupported modifier (=) in substitution"),
        ("he${.}", "unsupported modifier (.) in substitution"),
        ("${ x}", "unsupported modifier ( ) in substitution"),
        ("${PWD^^}", "unsupported modifier (^) in substitution"),
        ("${PWD,}", "unsupported modifier (,) in substitution"),
        ("${PWD:YYY}", "unsupported modifier (:Y) in substitution"),
        ("${PWD:0:2}", "unsupported modifier (:0) in substitution"),
        ("${PWD:#x}", "unsupported modifier (:#) in substitution"),
        ("${PWD:%x}", "unsupported modifier (:%) in substitution"),
        ("${PWD:=x}", "unsupported modifier (:=) in substitution"),
        ("${#PWD}", "unsupported modifier (P) in substitution"),
        ("${!PWD}", "unsupported modifier (P) in substitution"),
        ("${1x}", "unsupported modifier (x) in substitution"),
        ("${FOO//ww}", "syntax error: missing '/' in ${}"),
        ("${FOO//}", "syntax error: missing '/' in ${}"),
        ("${FOO/x", "syntax error: missing '/' in ${}"),
        ("he${XXX?}", "XXX: is not allowed to be unset"),
        ("he${XXX:?}", "XXX: is not allowed to be unset"),
        ("he${NULL:?}", "NULL: is not allowed to be empty"),
        ("${XXX?no $SHELL}", "XXX: no bash"),
        ("${NULL:?must 'be' set}", "NULL: must be set"),
        ("${X:-${Y?oops}}", "Y: oops"),
        (r#""${XXX?}""#, "XXX: is not allowed to be unset"),
        (
            "${FOO#\\x}",
            "invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
        (
            "${FOO#\\$}",
            "invalid pattern (\\$) in substitution: invalid escape '\\$'",
        ),
        (
            "${FOO#'\\'}",
            "invalid pattern (\\) in substitution: invalid escape '\\\u{FFFD}'",
        ),
        (
            "${FOO%a\\x}",
            "invalid pattern (\\xa) in substitution: invalid escape '\\x'",
        ),
        (
            "${FOO/\\x/y}",
            "invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
        (
            "${FOO#\"\\\"\"}",
            "invalid pattern (\\\") in substitution: invalid escape '\\\"'",
        ),
    ];

    #[test]
    fn table_errors() {
        for (word, expected) in ERRORS {
            let e = err(word);
            assert_eq!(e.to_string(), *expected, "word {word:?}");
            assert_eq!(e.word(), *word);
            assert!(e.offset() < word.len().max(1), "offset of {word:?}");
        }
    }

    /// The same rules with the backtick as escape character.
    const BACKTICK: &[(&str, &str)] = &[
        ("`$PWD", "$PWD"),
        (r"\$PWD", r"\/home"),
        (r"C:\dir\file", r"C:\dir\file"),
        ("a`b", "ab"),
        ("a` b", "a b"),
        ("``", "`"),
        ("a`", "a"),
        (r#""a`"b""#, r#"a"b"#),
        (r#""a`$b""#, "a$b"),
        (r#""a``b""#, "a`b"),
        (r#""a`b""#, "a`b"),
        (r#""a\b""#, r"a\b"),
        ("'a`b'", "a`b"),
        ("${XXX:-a`}b}", "a}b"),
        ("${PWD#`/}", "/home"),
        ("${PWD#\\/}", "home"),
        ("${STAR#\\*}", ""),
        ("${PWD:+`$x}", "$x"),
    ];

    #[test]
    fn table_backtick() {
        for (word, expected) in BACKTICK {
            assert_eq!(ok_bt(word), *expected, "word {word:?}");
        }
        assert_eq!(Expander::new('`').escape(), '`');
        assert_eq!(Expander::default().escape(), '\\');
    }

    /// (word, words) for `expand_words`; BuildKit's wordsTest where it has
    /// the case.
    const WORDS: &[(&str, &[&str])] = &[
        ("hello", &["hello"]),
        ("", &[]),
        ("   ", &[]),
        ("''", &[]),
        ("'' a", &["a"]),
        ("hello${hi}bye", &["hellobye"]),
        ("hello${SHELL}bye", &["hellobashbye"]),
        ("hello${SPACE}bye", &["helloa", "bbye"]),
        (r#"hello"${SPACE}"bye"#, &["helloa  bbye"]),
        ("hello${LEAD}def", &["hello", "ab", "cdef"]),
        (r#"hello"${LEAD}" def"#, &["hello  ab c", "def"]),
        ("hello${LEAD}", &["hello", "ab", "c"]),
        (r#"hello" there  ""#, &["hello there  "]),
        ("hello there     ", &["hello", "there"]),
        ("  hello   there", &["hello", "there"]),
        (r"hello\ there", &["hello there"]),
        (r#"hello\" there"#, &["hello\"", "there"]),
        (r#"hello"\\there""#, &[r"hello\there"]),
        (r#"hello"\there""#, &[r"hello\there"]),
        (r"hello'\\there'", &[r"hello\\there"]),
        (r"hello'\there'", &[r"hello\there"]),
        ("hello'$there'", &["hello$there"]),
        ("a\tb\nc", &["a", "b", "c"]),
        ("a\u{3000}b", &["a", "b"]),
        ("a${XXX:-b c}d", &["ab", "cd"]),
        (r#"a${XXX:-"b c"}d"#, &["ab", "cd"]),
        ("a'b c'd e", &["ab cd", "e"]),
        ("$KOREAN 안녕", &["한국어", "안녕"]),
    ];

    #[test]
    fn table_words() {
        let expander = Expander::default();
        for (word, expected) in WORDS {
            let got = match expander.expand_words(word, &ENV) {
                Ok(w) => w,
                Err(e) => panic!("{word:?}: unexpected error {e}"),
            };
            assert_eq!(got, *expected, "word {word:?}");
        }
        assert!(matches!(
            expander.expand_words(r#"hello" there"#, &ENV),
            Err(ExpandError::UnterminatedDoubleQuote { offset: 5, .. })
        ));
    }

    fn sets(word: &str, vars: &dyn Variables) -> (Vec<String>, Vec<String>) {
        match Expander::default().expand_word(word, vars) {
            Ok(e) => (e.used.into_iter().collect(), e.unset.into_iter().collect()),
            Err(e) => panic!("{word:?}: unexpected error {e}"),
        }
    }

    #[test]
    fn used_and_unset() {
        let env: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", ""), ("NEEDLE", "x")];
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("x", &[], &[]),
            ("x ${UNUSED}", &[], &["UNUSED"]),
            ("x ${FOO}", &["FOO"], &[]),
            (
                "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
                &["BAR", "FOO"],
                &["BAZ"],
            ),
            (
                "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
                &["BAR", "FOO"],
                &["BAZ"],
            ),
            (
                "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
                &["BAR", "FOO"],
                &["BAZ"],
            ),
            ("${BAR?bbb}", &["BAR"], &[]),
            ("${FOO#$NEEDLE}", &["FOO", "NEEDLE"], &[]),
            ("${FOO/$NEEDLE/$R}", &["FOO", "NEEDLE"], &["R"]),
            // the word of :- is expanded even when it is not used
            ("${FOO:-$OTHER}", &["FOO"], &["OTHER"]),
            ("$FOO$FOO$X$X", &["FOO"], &["X"]),
            ("'$FOO' \\$BAR", &[], &[]),
            ("\"$FOO\"", &["FOO"], &[]),
            ("$1 $@", &[], &["1", "@"]),
        ];
        for (word, used, unset) in cases {
            let (u, n) = sets(word, &env);
            assert_eq!(u, *used, "used of {word:?}");
            assert_eq!(n, *unset, "unset of {word:?}");
        }
        let e = Expander::default().expand_word("${FOO:-x}${NOPE}", &env);
        assert!(matches!(e, Ok(Expansion { ref value, .. }) if value == "xxx"));
    }

    #[test]
    fn buildkit_matches_cases() {
        // Cases of BuildKit's TestProcessWithMatches.
        let run = |word: &str, env: &[(&str, &str)]| match expand(word, &env) {
            Ok(v) => v,
            Err(e) => panic!("{word:?}: {e}"),
        };
        let specials = r"()[]{}^$.*?|\x";
        assert_eq!(run(r"${FOO#()[]{\}^$.\*\?|\\}", &[("FOO", specials)]), "x");
        assert_eq!(run(r"${FOO%%\**}", &[("FOO", "xx**")]), "xx");
        assert_eq!(run(r"${FOO%%\**\*}", &[("FOO", "a***yy*")]), "a");
        assert_eq!(run("${FOO#?\\?}", &[("FOO", "???y")]), "?y");
        let env = [("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")];
        assert_eq!(
            run("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", &env),
            "/foo.*/*.txt - /foo..*.txt"
        );
        let env = [("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")];
        assert_eq!(
            run("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", &env),
            "/tmp/bar.txt - /bar.txt"
        );
        let env = [
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ];
        assert_eq!(
            run(
                "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
                &env
            ),
            "/foo/b/c.txt - /foo/c.txt"
        );
        let env = [
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ];
        assert_eq!(
            run("${FOO/$NEEDLE/$REPLACEMENT}", &env),
            "https://google.de"
        );
        assert_eq!(
            run(r"${FOO//\//\/}", &[("FOO", "/tmp/foo.txt")]),
            r"\/tmp\/foo.txt"
        );
        assert_eq!(run("${FOO///}", &[]), "");
        let release = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
        let env = [
            ("VERSION", "v1.2.3"),
            ("TARGETOS", "linux"),
            ("TARGETARCH", "arm"),
            ("TARGETVARIANT", "v7"),
        ];
        assert_eq!(run(release, &env), "something-v1.2.3.linux-arm-v7.tar.gz");
        let env = [
            ("VERSION", "v1.2.3"),
            ("TARGETOS", "linux"),
            ("TARGETARCH", "amd64"),
        ];
        assert_eq!(run(release, &env), "something-v1.2.3.linux-amd64.tar.gz");
        // TestShellParserMandatoryEnvVars
        let msg = |word: &str, env: &[(&str, &str)]| expand(word, &env).map_err(|e| e.to_string());
        assert_eq!(
            msg(
                "${VAR:?message here$ARG}",
                &[("VAR", "plain"), ("ARG", "x")]
            ),
            Ok("plain".into())
        );
        assert_eq!(
            msg("${VAR:?message here$ARG}", &[("VAR", ""), ("ARG", "x")]),
            Err("VAR: message herex".into())
        );
        assert_eq!(
            msg("${VAR:?message here$ARG}", &[("ARG", "x")]),
            Err("VAR: message herex".into())
        );
        assert_eq!(
            msg("${VAR?message here$ARG}", &[("VAR", ""), ("ARG", "x")]),
            Ok(String::new())
        );
        assert_eq!(
            msg("${VAR?message here$ARG}", &[("ARG", "x")]),
            Err("VAR: message herex".into())
        );
    }

    #[test]
    fn error_details() {
        let e = err("ab'cd");
        assert_eq!(
            e,
            ExpandError::UnterminatedSingleQuote {
                word: "ab'cd".into(),
                offset: 2
            }
        );
        let e = err("xy${NULL:?}");
        assert_eq!(
            e,
            ExpandError::Required {
                word: "xy${NULL:?}".into(),
                offset: 2,
                name: "NULL".into(),
                message: "is not allowed to be empty".into(),
            }
        );
        assert!(
            matches!(err("a${PWD^}"), ExpandError::UnsupportedModifier { offset: 1, ref modifier, .. } if modifier == "^")
        );
        assert!(matches!(
            err("é${X:-${"),
            ExpandError::MissingBrace { offset: 2, .. }
        ));
        assert!(
            matches!(err("${FOO%'x\\'}"), ExpandError::InvalidPattern { ref pattern, .. } if pattern == "\\x")
        );
    }

    #[test]
    fn variable_sources() {
        let mut hash = HashMap::new();
        hash.insert("A".to_owned(), "1".to_owned());
        let mut btree = BTreeMap::new();
        btree.insert("A".to_owned(), "2".to_owned());
        let owned = vec![
            ("A".to_owned(), "3".to_owned()),
            ("A".to_owned(), "4".to_owned()),
        ];
        let borrowed = vec![("A", "5"), ("A", "6")];
        let array = [("A", "7")];
        assert_eq!(expand("$A", &hash).ok().as_deref(), Some("1"));
        assert_eq!(expand("$A", &btree).ok().as_deref(), Some("2"));
        assert_eq!(expand("$A", &owned).ok().as_deref(), Some("4"));
        assert_eq!(expand("$A", &owned.as_slice()).ok().as_deref(), Some("4"));
        assert_eq!(expand("$A", &borrowed).ok().as_deref(), Some("6"));
        assert_eq!(
            expand("$A", &borrowed.as_slice()).ok().as_deref(),
            Some("6")
        );
        assert_eq!(expand("$A", &array).ok().as_deref(), Some("7"));
        assert_eq!(expand("$A", &&array).ok().as_deref(), Some("7"));
        assert_eq!(expand("$A-$B", &[("B", "b")]).ok().as_deref(), Some("-b"));
    }

    #[test]
    fn digits_and_letters() {
        assert!(is_digit('0') && is_digit('٣') && is_digit('𝟿') && is_digit('９'));
        assert!(!is_digit('a') && !is_digit('²') && !is_digit('½') && !is_digit('Ⅻ'));
        assert!(is_letter('é') && is_letter('한') && !is_letter('_') && !is_letter('1'));
        assert_eq!(expand("$٣x", &ENV).ok().as_deref(), Some("x"));
    }

    #[test]
    fn patterns() {
        assert_eq!(reverse_pattern(r"a\*c"), r"c\*a");
        assert_eq!(reverse_pattern(r"\\\ab"), r"b\a\\");
        assert_eq!(reverse_pattern(r"ab\"), r"\ba");
        assert_eq!(reverse_pattern("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse_pattern(r"\\b"), r"b\\");
        assert!(compile(r"\*").is_ok());
        for bad in [r"\", r"\x", r"\\\"] {
            assert!(compile(bad).is_err(), "{bad:?}");
        }
        assert_eq!(compile("\u{FEFF}a"), Ok(vec![Tok::Lit('a')]));
        let t = compile("a*").unwrap_or_default();
        assert_eq!(find(&t, "xxaaa\naa", 0), Some((2, 5)));
        assert_eq!(find(&t, "xxaaa\naa", 5), Some((6, 8)));
        assert_eq!(find(&t, "xyz", 0), None);
        assert_eq!(find(&t, "xyz", 9), None);
        let mut out = String::new();
        expand_template(&mut out, "$0|${0}|$$|$00|$1|$x y|$|${|${0|$.|$é", "M");
        assert_eq!(out, "M|M|$||| y|$|${|${0|$.|");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "${X:-".repeat(10_000);
        assert!(matches!(
            expand(&deep, &ENV),
            Err(ExpandError::TooDeep { .. })
        ));
        let deep = format!("{}x{}", "${X:-".repeat(50), "}".repeat(50));
        assert_eq!(expand(&deep, &ENV).ok().as_deref(), Some("x"));
        let quoted = format!("{}x{}", "\"${X:-".repeat(50), "}\"".repeat(50));
        assert_eq!(expand(&quoted, &ENV).ok().as_deref(), Some("x"));
    }

    /// A small deterministic PRNG (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    #[test]
    fn random_input_never_panics() {
        const ALPHABET: &[&str] = &[
            "$", "{", "}", ":", "-", "+", "?", "#", "%", "/", "\\", "`", "'", "\"", "*", "a", "F",
            "FOO", "PWD", " ", "\n", "é", "한", "x", "0", "1", "$0", "@", "^", "=", "\u{FEFF}",
            ".", "NULL", "NL",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000 {
            let len = rng.below(24);
            let word: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            let escape = if round % 3 == 0 { '`' } else { '\\' };
            let expander = Expander::new(escape);
            let one = expander.expand_word(&word, &ENV);
            let many = expander.expand_words(&word, &ENV);
            assert_eq!(one.is_ok(), many.is_ok(), "{word:?}");
            if let Err(e) = one {
                assert_eq!(e.word(), word);
                assert!(e.offset() <= word.len());
                assert!(word.is_char_boundary(e.offset()));
            }
        }
        // Raw random bytes, made into strings lossily.
        for _ in 0..5_000 {
            let len = rng.below(32);
            let bytes: Vec<u8> = (0..len).map(|_| (rng.next() >> 24) as u8).collect();
            let word = String::from_utf8_lossy(&bytes);
            let _ = expand(&word, &ENV);
            let _ = Expander::new('`').expand_words(&word, &ENV);
        }
    }
}
