//! `.dockerignore` matching with Docker's exact semantics.
//!
//! This module reproduces what Docker and BuildKit do with an ignore file
//! (`moby/patternmatcher` and its `ignorefile` reader), including the corner
//! cases. It is deliberately **not** built on gitignore rules or on a glob
//! library such as `globset`. Those differ from Docker in ways that change which
//! files end up in a build context:
//!
//! * **Anchoring.** A Docker pattern is anchored at the context root. `foo`
//!   matches only the top-level `foo`, not `a/foo` as it would in gitignore.
//! * **`**`.** `**` matches any number of directories, including none, and a
//!   leading `**` is matched as a plain *suffix* of the path. So `**foo` matches
//!   `barfoo` (this is Docker's own fast path).
//! * **Classes.** Negation is `[^...]`. `[!...]` is an ordinary class that
//!   contains `!`. Patterns are turned into Go regular expressions, so a few
//!   regex features leak through. For example `\d` in a class is a digit.
//!
//! # Reading the file
//!
//! A UTF-8 BOM is removed. Lines whose *first* character is `#` are comments,
//! so `  #x` is a pattern. Every other line is trimmed, and blank lines are
//! skipped. A leading `!` marks an *exception* (re-inclusion): it is removed,
//! the rest is trimmed, and the rest then goes through Go's `filepath.Clean`
//! (`./a` becomes `a`, `a/` becomes `a`, `a/../b` becomes `b`). One leading `/`
//! is dropped, so `/a` is the same as `a`.
//!
//! # Matching
//!
//! * `*` and `?` never match `/`. `[...]`, `[^...]`, ranges and `\` escapes
//!   follow Go `filepath.Match`.
//! * `**` matches any number of path segments. `**/x` also matches a top-level
//!   `x`, and a trailing `**` matches everything below.
//! * A path is matched when the path itself **or any of its parent
//!   directories** matches a pattern. So `node_modules` excludes
//!   `node_modules/a/b.js`.
//! * Patterns are applied in order and the **last** matching one wins.
//!   Because of this, a `!` pattern re-includes what an earlier pattern
//!   excluded.
//! * A bare `!` is an error, and so is a pattern that Go rejects (for example
//!   an unclosed `[`, a trailing `\`, or `[z-a]`).
//!
//! ```
//! use boxwright_dockerfile_parser::dockerignore::DockerIgnore;
//!
//! let ignore = DockerIgnore::parse("# build output\ntarget\n*.log\n!keep.log\n**/.git\n")?;
//! assert!(ignore.is_excluded("target/debug/app"));
//! assert!(ignore.is_excluded("server.log"));
//! assert!(!ignore.is_excluded("keep.log"));
//! assert!(!ignore.is_excluded("logs/server.log")); // `*` does not cross `/`
//! assert!(ignore.is_excluded("vendor/lib/.git/HEAD"));
//! assert!(!ignore.is_excluded("src/main.rs"));
//! assert!(!ignore.must_descend("target")); // nothing below `target` can come back
//! # Ok::<(), boxwright_dockerfile_parser::dockerignore::IgnoreError>(())
//! ```

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use regex::Regex;

/// An error found while reading ignore patterns.
///
/// Every message is lower case. It gives the 1-based line number when the
/// pattern came from a file, and it names the offending pattern.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IgnoreError {
    /// A line (or pattern) that is just `!`, with nothing to re-include.
    #[error("{}illegal exclusion pattern: \"!\"", line_prefix(.line))]
    BareExclamation {
        /// 1-based line number in the ignore file, if the pattern came from one.
        line: Option<usize>,
    },
    /// A pattern that Docker rejects: a `filepath.Match` syntax error, or a
    /// pattern whose generated regular expression Go would refuse to compile.
    #[error("{}invalid pattern {pattern:?}: {reason}", line_prefix(.line))]
    BadPattern {
        /// The cleaned pattern, including its leading `!` if it is an exception.
        pattern: String,
        /// 1-based line number in the ignore file, if the pattern came from one.
        line: Option<usize>,
        /// What is wrong with the pattern.
        reason: String,
    },
}

fn line_prefix(line: &Option<usize>) -> String {
    match line {
        Some(n) => format!("line {n}: "),
        None => String::new(),
    }
}

/// One cleaned pattern from an ignore file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    exception: bool,
    line: Option<usize>,
}

impl Pattern {
    /// The cleaned pattern text, **without** the leading `!` of an exception.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `true` for a `!` pattern, which re-includes the paths it matches.
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    /// 1-based line number in the ignore file, or `None` for patterns given
    /// to [`DockerIgnore::from_patterns`].
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

/// A compiled set of `.dockerignore` patterns.
///
/// Build one with [`DockerIgnore::parse`] or [`DockerIgnore::from_patterns`],
/// then test context-relative paths with [`DockerIgnore::is_excluded`].
#[derive(Debug, Clone)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    exception: bool,
    matcher: Matcher,
}

/// How one pattern is matched, mirroring patternmatcher's match types.
#[derive(Debug, Clone)]
enum Matcher {
    /// The path equals the pattern.
    Exact(String),
    /// The path starts with the pattern minus its trailing `**`.
    Prefix(String),
    /// The path ends with the pattern minus its leading `**` (bytes, because
    /// patternmatcher slices bytes), or equals it minus a further `/`.
    Suffix(Vec<u8>),
    /// A compiled regular expression, plus the literal text every match
    /// starts with (used by `must_descend`).
    Regex { re: Regex, literal_prefix: String },
}

impl Matcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                let bytes = path.as_bytes();
                if bytes.ends_with(suffix) {
                    return true;
                }
                match suffix.split_first() {
                    Some((b'/', rest)) => bytes == rest,
                    _ => false,
                }
            }
            Matcher::Regex { re, .. } => re.is_match(path),
        }
    }

    /// Could this matcher accept some path strictly below `dir`?
    /// Conservative: `true` whenever it cannot rule that out.
    fn may_match_below(&self, dir: &str) -> bool {
        match self {
            Matcher::Exact(text) => text.len() > dir.len() && prefix_compatible(text, dir),
            Matcher::Prefix(prefix) => prefix_compatible(prefix, dir),
            Matcher::Suffix(_) => true,
            Matcher::Regex { literal_prefix, .. } => prefix_compatible(literal_prefix, dir),
        }
    }
}

impl Rule {
    /// The path matches, or one of its parent directories does
    /// (patternmatcher's `MatchesOrParentMatches` for one pattern).
    fn matches_or_parent(&self, path: &str) -> bool {
        if self.matcher.matches(path) {
            return true;
        }
        path.match_indices('/')
            .any(|(idx, _)| path.get(..idx).is_some_and(|p| self.matcher.matches(p)))
    }
}

/// Whether `lit` and `dir + "/"` agree on their common length, i.e. one is a
/// prefix of the other.
fn prefix_compatible(lit: &str, dir: &str) -> bool {
    let lit = lit.as_bytes();
    let dir = dir.as_bytes();
    let common = lit.len().min(dir.len() + 1);
    // Past the end of `dir` comes the `/` that starts the part below it.
    (0..common).all(|i| lit.get(i) == Some(dir.get(i).unwrap_or(&b'/')))
}

impl DockerIgnore {
    /// Parse the text of a `.dockerignore` file.
    ///
    /// Line numbers in errors and in [`Pattern::line`] are 1-based.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut builder = Builder::default();
        for (idx, raw) in text.lines().enumerate() {
            let raw = if idx == 0 {
                raw.strip_prefix('\u{FEFF}').unwrap_or(raw)
            } else {
                raw
            };
            if raw.starts_with('#') {
                continue;
            }
            builder.add(raw, Some(idx + 1))?;
        }
        Ok(builder.finish())
    }

    /// Build from pattern strings as they would appear on lines of the file.
    ///
    /// Each one is trimmed and cleaned exactly like a line, and blank entries
    /// are skipped. A leading `#` is *not* a comment here, because these are
    /// patterns and not file text.
    pub fn from_patterns<I, S>(patterns: I) -> Result<Self, IgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut builder = Builder::default();
        for p in patterns {
            builder.add(p.as_ref(), None)?;
        }
        Ok(builder.finish())
    }

    /// The cleaned patterns in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// `true` when there are no patterns, so nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `true` when the context-relative, `/`-separated `path` is excluded from
    /// the build context.
    ///
    /// A path is excluded when the last pattern that matches it, or one of its
    /// parent directories, is not an exception. The path may start with `./`
    /// or `/`, and it is cleaned like Go's `filepath.Clean`. The context root
    /// itself (`""`, `.` or `/`) is never excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean_query(path);
        if is_root(&path) {
            return false;
        }
        // patternmatcher's loop: skipping a pattern that could not change the
        // result is exactly "the last matching pattern wins".
        let mut matched = false;
        for rule in &self.rules {
            if rule.exception != matched {
                continue;
            }
            if rule.matches_or_parent(&path) {
                matched = !rule.exception;
            }
        }
        matched
    }

    /// For a directory walk: `false` only when nothing under `dir` can be
    /// included, so a walker may skip the directory without reading it.
    ///
    /// This is conservative. It returns `true` whenever `dir` itself is
    /// included, or a later exception pattern might match something below it.
    /// It never returns `false` while a path below `dir` could still be
    /// included according to [`DockerIgnore::is_excluded`].
    pub fn must_descend(&self, dir: &str) -> bool {
        let dir = clean_query(dir);
        if is_root(&dir) {
            return true;
        }
        let last = self
            .rules
            .iter()
            .enumerate()
            .rev()
            .find(|(_, r)| r.matches_or_parent(&dir));
        match last {
            None => true,
            Some((_, rule)) if rule.exception => true,
            Some((idx, _)) => self
                .rules
                .iter()
                .skip(idx + 1)
                .any(|r| r.exception && r.matcher.may_match_below(&dir)),
        }
    }
}

fn is_root(path: &str) -> bool {
    path.is_empty() || path == "." || path == "/"
}

/// Clean a queried path: Go `filepath.Clean`, then one leading `/` dropped.
/// Borrows when the path is already clean (the common case).
fn clean_query(path: &str) -> Cow<'_, str> {
    let cleaned = if is_clean(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(go_clean(path))
    };
    match cleaned {
        Cow::Borrowed(p) if p.len() > 1 && p.starts_with('/') => {
            Cow::Borrowed(p.get(1..).unwrap_or(p))
        }
        Cow::Owned(p) if p.len() > 1 && p.starts_with('/') => {
            Cow::Owned(p.get(1..).unwrap_or("").to_owned())
        }
        other => other,
    }
}

/// Whether `go_clean(path) == path`.
fn is_clean(path: &str) -> bool {
    if path.is_empty() {
        return false;
    }
    if path == "/" || path == "." {
        return true;
    }
    let rooted = path.starts_with('/');
    let body = if rooted {
        path.get(1..).unwrap_or("")
    } else {
        path
    };
    let mut seen_name = false;
    for comp in body.split('/') {
        match comp {
            "" | "." => return false,
            ".." => {
                if rooted || seen_name {
                    return false;
                }
            }
            _ => seen_name = true,
        }
    }
    true
}

/// Go's `filepath.Clean` on a Unix system.
fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ => {
                    if !rooted {
                        parts.push("..");
                    }
                }
            },
            name => parts.push(name),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Collects patterns, applying the ignore-file and patternmatcher cleaning.
#[derive(Default)]
struct Builder {
    patterns: Vec<Pattern>,
    rules: Vec<Rule>,
}

impl Builder {
    fn add(&mut self, raw: &str, line: Option<usize>) -> Result<(), IgnoreError> {
        // ignorefile.ReadAll: trim, handle `!`, Clean, drop one leading `/`.
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(());
        }
        let (invert, rest) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        let mut pattern = String::new();
        if !rest.is_empty() {
            pattern = go_clean(rest);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
        }
        if invert {
            pattern.insert(0, '!');
        }
        // patternmatcher.New: trim again, Clean again (this re-cleaning can
        // change an exception such as `!../..`), then split off the `!`.
        let pattern = go_clean(pattern.trim());
        let (exception, text) = match pattern.strip_prefix('!') {
            Some("") => return Err(IgnoreError::BareExclamation { line }),
            Some(rest) => (true, rest.to_owned()),
            None => (false, pattern.clone()),
        };
        let bad = |reason: String| IgnoreError::BadPattern {
            pattern: pattern.clone(),
            line,
            reason,
        };
        validate_glob(&text).map_err(|r| bad(r.to_owned()))?;
        let matcher = compile(&text).map_err(bad)?;
        self.rules.push(Rule { exception, matcher });
        self.patterns.push(Pattern {
            text,
            exception,
            line,
        });
        Ok(())
    }

    fn finish(self) -> DockerIgnore {
        DockerIgnore {
            patterns: self.patterns,
            rules: self.rules,
        }
    }
}

// ---------------------------------------------------------------------------
// Go `filepath.Match` syntax check (what patternmatcher.New runs).
// ---------------------------------------------------------------------------

/// Split off the next chunk like Go's `scanChunk`: leading stars, then text
/// up to the next unescaped `*` outside a bracket expression.
fn scan_chunk(pattern: &str) -> (&str, &str) {
    let bytes = pattern.as_bytes();
    let mut start = 0;
    while bytes.get(start) == Some(&b'*') {
        start += 1;
    }
    let mut in_range = false;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if i + 1 < bytes.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    // `i` is at the end or at an ASCII `*`, both char boundaries.
    (
        pattern.get(start..i).unwrap_or(""),
        pattern.get(i..).unwrap_or(""),
    )
}

/// Skip the first character of `s`.
fn skip_char(s: &str) -> &str {
    let mut chars = s.chars();
    chars.next();
    chars.as_str()
}

/// Go's `getEsc`: one (possibly escaped) character of a range.
fn get_esc(chunk: &str) -> Result<&str, &'static str> {
    if chunk.is_empty() {
        return Err("unclosed character class");
    }
    if chunk.starts_with('-') || chunk.starts_with(']') {
        return Err("bad character range in class");
    }
    let mut rest = chunk;
    if let Some(after) = rest.strip_prefix('\\') {
        if after.is_empty() {
            return Err("unclosed character class");
        }
        rest = after;
    }
    let rest = skip_char(rest);
    if rest.is_empty() {
        return Err("unclosed character class");
    }
    Ok(rest)
}

/// The syntax checks of Go's `matchChunk`.
fn validate_chunk(chunk: &str) -> Result<(), &'static str> {
    let mut rest = chunk;
    while let Some(c) = rest.chars().next() {
        match c {
            '[' => {
                rest = skip_char(rest);
                if let Some(after) = rest.strip_prefix('^') {
                    rest = after;
                }
                let mut nrange = 0usize;
                loop {
                    if nrange > 0 {
                        if let Some(after) = rest.strip_prefix(']') {
                            rest = after;
                            break;
                        }
                    }
                    rest = get_esc(rest)?;
                    if let Some(after) = rest.strip_prefix('-') {
                        rest = get_esc(after)?;
                    }
                    nrange += 1;
                }
            }
            '\\' => {
                rest = skip_char(rest);
                if rest.is_empty() {
                    return Err("trailing backslash");
                }
                rest = skip_char(rest);
            }
            _ => rest = skip_char(rest),
        }
    }
    Ok(())
}

/// Whether Go's `filepath.Match(pattern, ".")` returns a syntax error.
/// Match checks every chunk, whether or not the name matched.
fn validate_glob(pattern: &str) -> Result<(), &'static str> {
    let mut rest = pattern;
    while !rest.is_empty() {
        let (chunk, after) = scan_chunk(rest);
        validate_chunk(chunk)?;
        rest = after;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// patternmatcher's compile step: glob -> Go regexp source + match type.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

/// Characters patternmatcher escapes before handing the text to Go's regexp.
/// Its bitmap only has room for bytes below 64, so `|`, `{` and `}` (which
/// it means to escape) actually reach the regexp unescaped.
fn should_escape(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '$')
}

/// Translate a cleaned glob into patternmatcher's regexp source and match type.
fn go_regex_source(pattern: &str) -> (MatchType, String) {
    let mut chars = pattern.chars().peekable();
    // text/scanner skips a byte order mark at the very start.
    if chars.peek() == Some(&'\u{FEFF}') {
        chars.next();
    }
    let mut reg = String::from("^");
    let mut kind = MatchType::Exact;
    let mut first = true;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == MatchType::Exact {
                        kind = MatchType::Prefix;
                    } else {
                        reg.push_str(".*");
                        kind = MatchType::Regexp;
                    }
                } else {
                    reg.push_str("(.*/)?");
                    kind = MatchType::Regexp;
                }
                if first {
                    kind = MatchType::Suffix;
                }
            }
            '*' => {
                reg.push_str("[^/]*");
                kind = MatchType::Regexp;
            }
            '?' => {
                reg.push_str("[^/]");
                kind = MatchType::Regexp;
            }
            c if should_escape(c) => {
                reg.push('\\');
                reg.push(c);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    reg.push('\\');
                    reg.push(next);
                    kind = MatchType::Regexp;
                }
                None => reg.push('\\'),
            },
            '[' | ']' => {
                reg.push(ch);
                kind = MatchType::Regexp;
            }
            c => reg.push(c),
        }
        first = false;
    }
    if kind == MatchType::Regexp {
        reg.push('$');
    }
    (kind, reg)
}

/// Compile one cleaned, syntax-checked glob.
fn compile(text: &str) -> Result<Matcher, String> {
    let (kind, source) = go_regex_source(text);
    Ok(match kind {
        MatchType::Exact => Matcher::Exact(text.to_owned()),
        MatchType::Prefix => {
            let end = text.len().saturating_sub(2);
            Matcher::Prefix(text.get(..end).unwrap_or("").to_owned())
        }
        MatchType::Suffix => Matcher::Suffix(text.as_bytes().get(2..).unwrap_or(&[]).to_vec()),
        MatchType::Regexp => {
            let ast = GoRegexParser::new(&source).parse()?;
            let literal_prefix = literal_prefix(&ast);
            let mut rust = String::new();
            emit_alternation(&ast, &mut rust);
            let re = Regex::new(&rust).map_err(|e| format!("regular expression error: {e}"))?;
            Matcher::Regex { re, literal_prefix }
        }
    })
}

// ---------------------------------------------------------------------------
// A parser for the subset of Go RE2 syntax patternmatcher can produce, which
// re-emits it as an equivalent `regex` crate expression. Going through a
// syntax tree (instead of passing the text on) matters because the two
// dialects read the same text differently, e.g. `[[^/]*]` or `\d`.
// ---------------------------------------------------------------------------

/// A repetition: `min`, and `max` (`None` = unbounded).
type RepeatKind = (u32, Option<u32>);

#[derive(Debug, Clone)]
enum Node {
    Literal(char),
    /// Sorted, non-overlapping inclusive code point ranges.
    Class(Vec<(u32, u32)>),
    AnyNotNewline,
    BeginText,
    EndText,
    /// ASCII word boundary; `true` means `\B`.
    WordBoundary(bool),
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, RepeatKind),
}

struct GoRegexParser {
    chars: Vec<char>,
    pos: usize,
}

const MAX_RUNE: u32 = 0x10FFFF;

impl GoRegexParser {
    fn new(source: &str) -> Self {
        GoRegexParser {
            chars: source.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Parse the whole expression into its top-level alternatives.
    fn parse(mut self) -> Result<Vec<Vec<Node>>, String> {
        // Each frame: finished alternatives and the concatenation in progress.
        let mut frames: Vec<(Vec<Vec<Node>>, Vec<Node>)> = vec![(Vec::new(), Vec::new())];
        let mut last_was_repeat = false;
        while let Some(c) = self.peek() {
            let mut is_repeat = false;
            match c {
                '(' => {
                    if self.peek_at(1) == Some('?') {
                        return Err("unsupported group syntax `(?`".to_owned());
                    }
                    self.pos += 1;
                    frames.push((Vec::new(), Vec::new()));
                }
                '|' => {
                    self.pos += 1;
                    if let Some((alts, cur)) = frames.last_mut() {
                        alts.push(std::mem::take(cur));
                    }
                }
                ')' => {
                    self.pos += 1;
                    if frames.len() < 2 {
                        return Err("unexpected )".to_owned());
                    }
                    if let Some((mut alts, cur)) = frames.pop() {
                        alts.push(cur);
                        push_node(&mut frames, Node::Group(alts));
                    }
                }
                '^' => {
                    self.pos += 1;
                    push_node(&mut frames, Node::BeginText);
                }
                '$' => {
                    self.pos += 1;
                    push_node(&mut frames, Node::EndText);
                }
                '.' => {
                    self.pos += 1;
                    push_node(&mut frames, Node::AnyNotNewline);
                }
                '[' => {
                    let class = self.parse_class()?;
                    push_node(&mut frames, Node::Class(class));
                }
                '*' | '+' | '?' => {
                    self.pos += 1;
                    let kind = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.apply_repeat(&mut frames, kind, last_was_repeat)?;
                    is_repeat = true;
                }
                '{' => match self.parse_repeat_braces() {
                    Some((min, max)) => {
                        let too_big = |v: i64| !(0..=1000).contains(&v);
                        if too_big(min) || max.is_some_and(too_big) || max.is_some_and(|m| min > m)
                        {
                            return Err("invalid repeat count".to_owned());
                        }
                        let min = u32::try_from(min).unwrap_or(0);
                        let max = max.map(|m| u32::try_from(m).unwrap_or(0));
                        self.apply_repeat(&mut frames, (min, max), last_was_repeat)?;
                        is_repeat = true;
                    }
                    None => {
                        self.pos += 1;
                        push_node(&mut frames, Node::Literal('{'));
                    }
                },
                '\\' => self.parse_top_escape(&mut frames)?,
                other => {
                    self.pos += 1;
                    push_node(&mut frames, Node::Literal(other));
                }
            }
            last_was_repeat = is_repeat;
        }
        if frames.len() != 1 {
            return Err("missing closing )".to_owned());
        }
        let (mut alts, cur) = frames.pop().unwrap_or_default();
        alts.push(cur);
        Ok(alts)
    }

    fn apply_repeat(
        &mut self,
        frames: &mut [(Vec<Vec<Node>>, Vec<Node>)],
        kind: RepeatKind,
        last_was_repeat: bool,
    ) -> Result<(), String> {
        // Perl syntax: a trailing `?` makes the repetition lazy, which does
        // not change whether a match exists.
        if self.peek() == Some('?') {
            self.pos += 1;
        }
        if last_was_repeat {
            return Err("invalid nested repetition operator".to_owned());
        }
        let cur = match frames.last_mut() {
            Some((_, cur)) => cur,
            None => return Err("missing argument to repetition operator".to_owned()),
        };
        match cur.pop() {
            Some(node) => {
                cur.push(Node::Repeat(Box::new(node), kind));
                Ok(())
            }
            None => Err("missing argument to repetition operator".to_owned()),
        }
    }

    /// Go's `parseRepeat` for `{n}`, `{n,}` and `{n,m}`, consuming it; `None`
    /// means the brace is a literal (nothing consumed). Values of 1e8 and up
    /// become -1 (Go's overflow guard).
    fn parse_repeat_braces(&mut self) -> Option<(i64, Option<i64>)> {
        let mut i = self.pos + 1;
        let min = self.parse_int(&mut i)?;
        let max = match self.chars.get(i) {
            Some(',') => {
                i += 1;
                match self.chars.get(i) {
                    Some('}') => None,
                    Some(_) => Some(self.parse_int(&mut i)?),
                    None => return None,
                }
            }
            Some(_) => Some(min),
            None => return None,
        };
        if self.chars.get(i) != Some(&'}') {
            return None;
        }
        self.pos = i + 1;
        // Too-large max makes min invalid, as in Go.
        let min = if max.is_some_and(|m| m < 0) { -1 } else { min };
        Some((min, max))
    }

    fn parse_int(&self, i: &mut usize) -> Option<i64> {
        let start = *i;
        let first = self.chars.get(start)?;
        if !first.is_ascii_digit() {
            return None;
        }
        if *first == '0'
            && self
                .chars
                .get(start + 1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            return None;
        }
        let mut n: i64 = 0;
        while let Some(d) = self.chars.get(*i).and_then(|c| c.to_digit(10)) {
            if n >= 0 {
                n = if n >= 100_000_000 {
                    -1
                } else {
                    n * 10 + i64::from(d)
                };
            }
            *i += 1;
        }
        Some(n)
    }

    /// A backslash outside a class.
    fn parse_top_escape(
        &mut self,
        frames: &mut [(Vec<Vec<Node>>, Vec<Node>)],
    ) -> Result<(), String> {
        match self.peek_at(1) {
            Some('A') => {
                self.pos += 2;
                push_node(frames, Node::BeginText);
            }
            Some('z') => {
                self.pos += 2;
                push_node(frames, Node::EndText);
            }
            Some('b') => {
                self.pos += 2;
                push_node(frames, Node::WordBoundary(false));
            }
            Some('B') => {
                self.pos += 2;
                push_node(frames, Node::WordBoundary(true));
            }
            Some('C') => return Err("invalid escape sequence `\\C`".to_owned()),
            Some('Q') => {
                self.pos += 2;
                while let Some(c) = self.bump() {
                    if c == '\\' && self.peek() == Some('E') {
                        self.pos += 1;
                        break;
                    }
                    push_node(frames, Node::Literal(c));
                }
            }
            Some('p' | 'P') => {
                return Err("unicode classes (\\p, \\P) are not supported".to_owned())
            }
            Some(c) if perl_class(c).is_some() => {
                self.pos += 2;
                push_node(frames, Node::Class(perl_class(c).unwrap_or_default()));
            }
            _ => {
                let c = self.parse_escape()?;
                push_node(frames, c);
            }
        }
        Ok(())
    }

    /// Go's `parseEscape` for a single character. Returns an empty class for
    /// code points that cannot occur in a string (they never match).
    fn parse_escape(&mut self) -> Result<Node, String> {
        let start = self.pos;
        self.pos += 1; // the backslash
        let invalid = |p: &Self| {
            let end = p.pos.min(p.chars.len());
            let text: String = p.chars.get(start..end).unwrap_or(&[]).iter().collect();
            format!("invalid escape sequence `{text}`")
        };
        let Some(c) = self.bump() else {
            return Err("trailing backslash at end of expression".to_owned());
        };
        let literal = |v: u32| match char::from_u32(v) {
            Some(ch) => Node::Literal(ch),
            None => Node::Class(Vec::new()),
        };
        match c {
            '1'..='7' if !self.peek().is_some_and(|d| ('0'..='7').contains(&d)) => {
                Err(invalid(self))
            }
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                Ok(literal(v))
            }
            'x' => {
                let Some(h) = self.bump() else {
                    return Err(invalid(self));
                };
                if h == '{' {
                    let mut v: u32 = 0;
                    let mut digits = 0;
                    loop {
                        let Some(d) = self.bump() else {
                            return Err(invalid(self));
                        };
                        if d == '}' {
                            break;
                        }
                        let Some(x) = d.to_digit(16) else {
                            return Err(invalid(self));
                        };
                        v = v * 16 + x;
                        if v > MAX_RUNE {
                            return Err(invalid(self));
                        }
                        digits += 1;
                    }
                    if digits == 0 {
                        return Err(invalid(self));
                    }
                    return Ok(literal(v));
                }
                let lo = self.bump().and_then(|d| d.to_digit(16));
                match (h.to_digit(16), lo) {
                    (Some(a), Some(b)) => Ok(literal(a * 16 + b)),
                    _ => Err(invalid(self)),
                }
            }
            'a' => Ok(Node::Literal('\u{7}')),
            'f' => Ok(Node::Literal('\u{C}')),
            'n' => Ok(Node::Literal('\n')),
            'r' => Ok(Node::Literal('\r')),
            't' => Ok(Node::Literal('\t')),
            'v' => Ok(Node::Literal('\u{B}')),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(Node::Literal(c)),
            _ => Err(invalid(self)),
        }
    }

    /// Go's `parseClass`, starting at `[`.
    fn parse_class(&mut self) -> Result<Vec<(u32, u32)>, String> {
        self.pos += 1; // `[`
        let mut negate = false;
        if self.peek() == Some('^') {
            negate = true;
            self.pos += 1;
        }
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut first = true;
        loop {
            match self.peek() {
                None => return Err("missing closing ]".to_owned()),
                Some(']') if !first => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            first = false;
            // POSIX class such as `[:alpha:]`; Go searches for `:]` anywhere
            // in the rest of the expression.
            if self.peek() == Some('[') && self.peek_at(1) == Some(':') && self.peek_at(2).is_some()
            {
                if let Some(end) = self.find_colon_bracket(self.pos + 2) {
                    let name: String = self
                        .chars
                        .get(self.pos..end + 2)
                        .unwrap_or(&[])
                        .iter()
                        .collect();
                    match posix_class(&name) {
                        Some(group) => {
                            ranges.extend(group);
                            self.pos = end + 2;
                            continue;
                        }
                        None => return Err(format!("invalid character class range `{name}`")),
                    }
                }
            }
            if self.peek() == Some('\\') {
                match self.peek_at(1) {
                    Some('p' | 'P') => {
                        return Err("unicode classes (\\p, \\P) are not supported".to_owned())
                    }
                    Some(c) if perl_class(c).is_some() => {
                        ranges.extend(perl_class(c).unwrap_or_default());
                        self.pos += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            let range_start = self.pos;
            let lo = self.parse_class_char()?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                hi = self.parse_class_char()?;
                if hi < lo {
                    let text: String = self
                        .chars
                        .get(range_start..self.pos)
                        .unwrap_or(&[])
                        .iter()
                        .collect();
                    return Err(format!("invalid character class range `{text}`"));
                }
            }
            ranges.push((lo, hi));
        }
        let ranges = normalize(ranges);
        Ok(if negate {
            negate_ranges(&ranges)
        } else {
            ranges
        })
    }

    fn find_colon_bracket(&self, from: usize) -> Option<usize> {
        let mut i = from;
        while i + 1 < self.chars.len() {
            if self.chars.get(i) == Some(&':') && self.chars.get(i + 1) == Some(&']') {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    fn parse_class_char(&mut self) -> Result<u32, String> {
        match self.peek() {
            None => Err("missing closing ]".to_owned()),
            Some('\\') => match self.parse_escape()? {
                Node::Literal(c) => Ok(u32::from(c)),
                // Unreachable in practice: escapes in classes give < 0x200.
                _ => Err("invalid escape sequence in class".to_owned()),
            },
            Some(c) => {
                self.pos += 1;
                Ok(u32::from(c))
            }
        }
    }
}

fn push_node(frames: &mut [(Vec<Vec<Node>>, Vec<Node>)], node: Node) {
    if let Some((_, cur)) = frames.last_mut() {
        cur.push(node);
    }
}

/// Go's ASCII Perl classes `\d \D \s \S \w \W`.
fn perl_class(c: char) -> Option<Vec<(u32, u32)>> {
    let (ranges, negated): (&[(u32, u32)], bool) = match c {
        'd' => (&[(0x30, 0x39)], false),
        'D' => (&[(0x30, 0x39)], true),
        's' => (&[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)], false),
        'S' => (&[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)], true),
        'w' => (
            &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
            false,
        ),
        'W' => (
            &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
            true,
        ),
        _ => return None,
    };
    Some(if negated {
        negate_ranges(ranges)
    } else {
        ranges.to_vec()
    })
}

/// Go's POSIX classes, e.g. `[:alpha:]` or `[:^space:]`.
fn posix_class(name: &str) -> Option<Vec<(u32, u32)>> {
    let inner = name.strip_prefix("[:")?.strip_suffix(":]")?;
    let (negated, inner) = match inner.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let ranges: &[(u32, u32)] = match inner {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        "alpha" => &[(0x41, 0x5A), (0x61, 0x7A)],
        "ascii" => &[(0x00, 0x7F)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1F), (0x7F, 0x7F)],
        "digit" => &[(0x30, 0x39)],
        "graph" => &[(0x21, 0x7E)],
        "lower" => &[(0x61, 0x7A)],
        "print" => &[(0x20, 0x7E)],
        "punct" => &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
        "space" => &[(0x09, 0x0D), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5A)],
        "word" => &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    };
    Some(if negated {
        negate_ranges(ranges)
    } else {
        ranges.to_vec()
    })
}

/// Sort and merge ranges.
fn normalize(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Complement within `0..=0x10FFFF`.
fn negate_ranges(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let ranges = normalize(ranges.to_vec());
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in &ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi.saturating_add(1);
    }
    if next <= MAX_RUNE {
        out.push((next, MAX_RUNE));
    }
    out
}

/// The literal text every match of the expression starts with.
fn literal_prefix(alts: &[Vec<Node>]) -> String {
    let mut out = String::new();
    if let [only] = alts {
        for node in only {
            match node {
                Node::BeginText if out.is_empty() => {}
                Node::Literal(c) => out.push(*c),
                _ => break,
            }
        }
    }
    out
}

fn emit_alternation(alts: &[Vec<Node>], out: &mut String) {
    out.push_str("(?:");
    for (i, alt) in alts.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        for node in alt {
            emit_node(node, out);
        }
    }
    out.push(')');
}

fn emit_char(c: u32, out: &mut String) {
    match char::from_u32(c) {
        Some(ch) if ch.is_ascii_alphanumeric() => out.push(ch),
        _ => out.push_str(&format!("\\x{{{c:X}}}")),
    }
}

fn emit_node(node: &Node, out: &mut String) {
    match node {
        Node::Literal(c) => emit_char(u32::from(*c), out),
        Node::Class(ranges) => {
            // Clip surrogates, which are not characters in Rust.
            let valid: Vec<(u32, u32)> = ranges
                .iter()
                .filter_map(|&(lo, hi)| {
                    let lo = if (0xD800..=0xDFFF).contains(&lo) {
                        0xE000
                    } else {
                        lo
                    };
                    let hi = if (0xD800..=0xDFFF).contains(&hi) {
                        0xD7FF
                    } else {
                        hi
                    };
                    (lo <= hi).then_some((lo, hi))
                })
                .collect();
            if valid.is_empty() {
                // A class that matches nothing.
                out.push_str("[^\\x{0}-\\x{10FFFF}]");
                return;
            }
            out.push('[');
            for (lo, hi) in valid {
                emit_char(lo, out);
                if hi != lo {
                    out.push('-');
                    emit_char(hi, out);
                }
            }
            out.push(']');
        }
        Node::AnyNotNewline => out.push('.'),
        Node::BeginText => out.push_str("\\A"),
        Node::EndText => out.push_str("\\z"),
        Node::WordBoundary(false) => out.push_str("(?-u:\\b)"),
        Node::WordBoundary(true) => out.push_str("(?-u:\\B)"),
        Node::Group(alts) => emit_alternation(alts, out),
        Node::Repeat(inner, (min, max)) => {
            out.push_str("(?:");
            emit_node(inner, out);
            out.push(')');
            match (min, max) {
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (0, Some(1)) => out.push('?'),
                (n, None) => out.push_str(&format!("{{{n},}}")),
                (n, Some(m)) => out.push_str(&format!("{{{n},{m}}}")),
            }
        }
    }
}

/// Which ignore file applies to a build.
///
/// Docker and BuildKit first look for `<dockerfile path>.dockerignore` beside
/// the Dockerfile (for example `Dockerfile.dockerignore` or
/// `build/api.Dockerfile.dockerignore`). If it exists it **replaces**
/// `<context>/.dockerignore`, and only when it is absent is the context-root
/// file used. This function is pure: `exists` says which files exist. It
/// returns the first candidate that exists, or `None`.
pub fn ignore_file_for(
    dockerfile: &Path,
    context: &Path,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(name) = dockerfile.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        let candidate = dockerfile.with_file_name(specific);
        if exists(&candidate) {
            return Some(candidate);
        }
    }
    let root = context.join(".dockerignore");
    exists(&root).then_some(root)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn ignore(patterns: &[&str]) -> DockerIgnore {
        DockerIgnore::from_patterns(patterns.iter().copied())
            .unwrap_or_else(|e| panic!("patterns {patterns:?} failed: {e}"))
    }

    /// (patterns, path, excluded)
    const CASES: &[(&[&str], &str, bool)] = &[
        // --- patternmatcher TestMatches (MatchesOrParentMatches expectations)
        (&["**"], "file", true),
        (&["**"], "file/", true),
        (&["**/"], "file", true),
        (&["**"], "dir/file", true),
        (&["**/"], "dir/file", true),
        (&["**/**"], "dir/file", true),
        (&["dir/**"], "dir/file", true),
        (&["dir/**"], "dir/dir2/file", true),
        (&["**/dir"], "dir", true),
        (&["**/dir"], "dir/file", true),
        (&["**/dir2/*"], "dir/dir2/file", true),
        (&["**/dir2/*"], "dir/dir2/file/", true),
        (&["**/dir2/**"], "dir/dir2/dir3/file", true),
        (&["**file"], "file", true),
        (&["**file"], "dir/file", true),
        (&["**/file"], "dir/file", true),
        (&["**file"], "dir/dir/file", true),
        (&["**/file"], "dir/dir/file", true),
        (&["**/file*"], "dir/dir/file", true),
        (&["**/file*"], "dir/dir/file.txt", true),
        (&["**/file*txt"], "dir/dir/file.txt", true),
        (&["**/file*.txt"], "dir/dir/file.txt", true),
        (&["**/file*.txt*"], "dir/dir/file.txt", true),
        (&["**/**/*.txt"], "dir/dir/file.txt", true),
        (&["**/**/*.txt2"], "dir/dir/file.txt", false),
        (&["**/*.txt"], "file.txt", true),
        (&["**/**/*.txt"], "file.txt", true),
        (&["a**/*.txt"], "a/file.txt", true),
        (&["a**/*.txt"], "a/dir/file.txt", true),
        (&["a**/*.txt"], "a/dir/dir/file.txt", true),
        (&["a/*.txt"], "a/dir/file.txt", false),
        (&["a/*.txt"], "a/file.txt", true),
        (&["a/*.txt**"], "a/file.txt", true),
        (&["a[b-d]e"], "ae", false),
        (&["a[b-d]e"], "ace", true),
        (&["a[b-d]e"], "aae", false),
        (&["a[^b-d]e"], "aze", true),
        (&[".*"], ".foo", true),
        (&[".*"], "foo", false),
        (&["abc.def"], "abcdef", false),
        (&["abc.def"], "abc.def", true),
        (&["abc.def"], "abcZdef", false),
        (&["abc?def"], "abcZdef", true),
        (&["abc?def"], "abcdef", false),
        (&["**/foo/bar"], "foo/bar", true),
        (&["**/foo/bar"], "dir/foo/bar", true),
        (&["**/foo/bar"], "dir/dir2/foo/bar", true),
        (&["abc/**"], "abc", false),
        (&["abc/**"], "abc/def", true),
        (&["abc/**"], "abc/def/ghi", true),
        (&["**/.foo"], ".foo", true),
        (&["**/.foo"], "bar.foo", false),
        (&["a(b)c/def"], "a(b)c/def", true),
        (&["a(b)c/def"], "a(b)c/xyz", false),
        (&["a.|)$(}+{bc"], "a.|)$(}+{bc", true),
        (
            &["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            &["dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (&["a\\\\"], "a\\", true),
        (&["a\\*b"], "a*b", true),
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        // --- patternmatcher TestMatch (Go filepath.Match table)
        (&["abc"], "abc", true),
        (&["*"], "abc", true),
        (&["*c"], "abc", true),
        (&["a*"], "a", true),
        (&["a*"], "abc", true),
        (&["a*"], "ab/c", true),
        (&["a*/b"], "abc/b", true),
        (&["a*/b"], "a/c/b", false),
        (&["a*b*c*d*e*/f"], "axbxcxdxe/f", true),
        (&["a*b*c*d*e*/f"], "axbxcxdxexxx/f", true),
        (&["a*b*c*d*e*/f"], "axbxcxdxe/xxx/f", false),
        (&["a*b*c*d*e*/f"], "axbxcxdxexxx/fff", false),
        (&["a*b?c*x"], "abxbbxdbxebxczzx", true),
        (&["a*b?c*x"], "abxbbxdbxebxczzy", false),
        (&["ab[c]"], "abc", true),
        (&["ab[b-d]"], "abc", true),
        (&["ab[e-g]"], "abc", false),
        (&["ab[^c]"], "abc", false),
        (&["ab[^b-d]"], "abc", false),
        (&["ab[^e-g]"], "abc", true),
        (&["a\\*b"], "ab", false),
        (&["a?b"], "a☺b", true),
        (&["a[^a]b"], "a☺b", true),
        (&["a???b"], "a☺b", false),
        (&["a[^a][^a][^a]b"], "a☺b", false),
        (&["[a-ζ]*"], "α", true),
        (&["*[a-ζ]"], "A", false),
        (&["a?b"], "a/b", false),
        (&["a*b"], "a/b", false),
        (&["[\\]a]"], "]", true),
        (&["[\\-]"], "-", true),
        (&["[x\\-]"], "x", true),
        (&["[x\\-]"], "-", true),
        (&["[x\\-]"], "z", false),
        (&["[\\-x]"], "x", true),
        (&["[\\-x]"], "-", true),
        (&["[\\-x]"], "a", false),
        (&["*x"], "xxx", true),
        (&["*"], "", false),
        (&["*"], ".", false),
        // --- anchoring: no gitignore-style floating names
        (&["foo"], "foo", true),
        (&["foo"], "a/foo", false),
        (&["foo"], "foo/bar/baz", true),
        (&["foo"], "foobar", false),
        (&["*.md"], "README.md", true),
        (&["*.md"], "docs/README.md", false),
        (&["*/*.md"], "docs/README.md", true),
        (&["*/*.md"], "a/b/README.md", false),
        (&["*/temp*"], "somedir/temporary.txt", true),
        (&["*/temp*"], "somedir/temp", true),
        (&["*/*/temp*"], "somedir/subdir/temporary.txt", true),
        (&["temp?"], "tempa", true),
        (&["temp?"], "temp", false),
        (&["temp?"], "tempab", false),
        // --- `**` in every position
        (&["**/x"], "x", true),
        (&["**/x"], "a/b/x", true),
        (&["**/x"], "a/bx", false),
        (&["**/x"], "x/y", true),
        (&["a/**/b"], "a/b", true),
        (&["a/**/b"], "a/x/b", true),
        (&["a/**/b"], "a/x/y/b", true),
        (&["a/**/b"], "a/xb", false),
        (&["a/**/b"], "b", false),
        (&["a/**"], "a", false),
        (&["a/**"], "a/x/y", true),
        (&["a**"], "abc/def", true),
        (&["a**"], "b", false),
        (&["**/*.go"], "main.go", true),
        (&["**/*.go"], "cmd/app/main.go", true),
        (&["**/*.go"], "cmd/app/main.gox", false),
        (&["**/a/**"], "x/a/y", true),
        (&["**/a/**"], "a/y", true),
        (&["**/a/**"], "a", false),
        (&["***"], "a/b/c", true),
        // leading `**` without `/` is a plain suffix test in Docker
        (&["**foo"], "barfoo", true),
        (&["**foo"], "x/barfoo", true),
        (&["**foo"], "foox", false),
        // --- classes
        (&["[abc]"], "b", true),
        (&["[abc]"], "d", false),
        (&["[a-c]x"], "bx", true),
        (&["[^a-c]x"], "dx", true),
        (&["[^a-c]x"], "ax", false),
        (&["[^a]"], "/", false),
        (&["[!a]x"], "!x", true),
        (&["[!a]x"], "ax", true),
        (&["[!a]x"], "bx", false),
        (&["b[a/]x"], "b/x", true), // a class may match `/`
        (&["[[]"], "[", true),
        (&["x]"], "x]", true),
        (&["[.]x"], ".x", true),
        (&["[.]x"], "ax", false),
        // --- escapes
        (&["\\[a\\]"], "[a]", true),
        (&["\\?"], "?", true),
        (&["\\?"], "a", false),
        (&["\\.x"], ".x", true),
        (&["\\.x"], "ax", false),
        (&["a\\b"], "ab", false),
        (&["a\\b"], "a", true), // Go regexp `\b`: word boundary
        // --- regex quirks Docker really has (Go regexp leaks through)
        (&["\\d"], "5", true),
        (&["\\d"], "d", false),
        (&["[\\d]x"], "5x", true),
        (&["\\x41"], "A", true),
        (&["\\x41"], "x41", false),
        (&["\\Qa.b"], "a\\.b$", true),
        (&["[[:digit:]]"], "5", true),
        (&["[[:digit:]]"], "d", false),
        (&["[*]"], "*", false),
        (&["[*]"], "]", true),
        (&["a|b"], "a|b", true),
        (&["a|b"], "a", false),
        (&["*|x"], "deep/path/file", true),
        // unescaped `|` splits the regexp; the second branch is unanchored at the start
        (&["a*|x"], "abc/def", true),
        (&["a*|x"], "z/yx", true),
        (&["a*|x"], "zy", false),
        (&["x*{"], "xab{", true),
        (&["x*{"], "xab", false),
        (&["a?{2}b"], "axyb", true),
        (&["a?{2}b"], "axb", false),
        (&["a^b"], "a^b", true),
        (&["*^b"], "b", true),
        (&["*^b"], "ab", false),
        // --- cleaning of patterns
        (&["./a"], "a", true),
        (&["a/"], "a/b", true),
        (&["a/../b"], "b", true),
        (&["a/../b"], "a", false),
        (&["//a"], "a", true),
        (&["/a/b"], "a/b", true),
        (&["a/./b"], "a/b", true),
        (&["a//b"], "a/b", true),
        (&["../a"], "a", false),
        (&["  a  "], "a", true),
        // --- cleaning of queried paths
        (&["a/b"], "./a/b", true),
        (&["a/b"], "/a/b", true),
        (&["a/b"], "a//b", true),
        (&["a/b"], "a/x/../b", true),
        (&["a"], "./a/", true),
        (&["a"], "/", false),
        // --- parent directories
        (&["docs"], "docs/README.md", true),
        (&["docs/*"], "docs/a/b/c", true),
        (&["*/b"], "a/b/c/d", true),
        (&["?"], "a/b", true),
        (&["a/b"], "a", false),
        // --- exceptions, in order, last match wins
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README-secret.md",
            true,
        ),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README.md",
            false,
        ),
        (&["*.md", "!README*.md", "README-secret.md"], "x.md", true),
        (&["a", "!a/b", "a/b/c"], "a/b/c/d", true),
        (&["a", "!a/b", "a/b/c"], "a/b/x", false),
        (&["!a"], "a", false),
        (&["a", "!a"], "a/b", false),
        (&["a", "!a", "a"], "a/b", true),
        // `!` followed by spaces; trimmed
        (&["a", "!   a/b"], "a/b", false),
        // re-cleaning quirk: `!../../a` becomes the *exclusion* `a`
        (&["!../../a"], "a", true),
    ];

    #[test]
    fn table() {
        assert!(CASES.len() >= 100, "only {} cases", CASES.len());
        let mut failures = Vec::new();
        for (patterns, path, want) in CASES {
            let got = ignore(patterns).is_excluded(path);
            if got != *want {
                failures.push(format!("{patterns:?} on {path:?}: got {got}, want {want}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn compile_matches_patternmatcher_compile_table() {
        use MatchType::*;
        let cases: &[(&str, MatchType, &str)] = &[
            ("*", Regexp, "^[^/]*$"),
            ("file*", Regexp, "^file[^/]*$"),
            ("*file", Regexp, "^[^/]*file$"),
            ("a*/b", Regexp, "^a[^/]*/b$"),
            ("**", Suffix, ""),
            ("**/**", Regexp, "^(.*/)?.*$"),
            ("dir/**", Prefix, ""),
            ("**/dir", Suffix, ""),
            ("**/dir2/*", Regexp, "^(.*/)?dir2/[^/]*$"),
            ("**/dir2/**", Regexp, "^(.*/)?dir2/.*$"),
            ("**file", Suffix, ""),
            ("**/file*txt", Regexp, "^(.*/)?file[^/]*txt$"),
            ("**/**/*.txt", Regexp, "^(.*/)?(.*/)?[^/]*\\.txt$"),
            ("a[b-d]e", Regexp, "^a[b-d]e$"),
            (".*", Regexp, "^\\.[^/]*$"),
            ("abc.def", Exact, ""),
            ("abc?def", Regexp, "^abc[^/]def$"),
            ("**/foo/bar", Suffix, ""),
            ("a(b)c/def", Exact, ""),
            ("a.|)$(}+{bc", Exact, ""),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                Exact,
                "",
            ),
            // `|`, `{`, `}` are not escaped (patternmatcher's bitmap bug).
            ("*|{}", Regexp, "^[^/]*|{}$"),
        ];
        for (pattern, kind, source) in cases {
            let (got_kind, got_source) = go_regex_source(pattern);
            assert_eq!(got_kind, *kind, "{pattern}");
            if *kind == Regexp {
                assert_eq!(got_source, *source, "{pattern}");
            }
        }
    }

    #[test]
    fn invalid_patterns_are_errors() {
        let bad = [
            "[]a]",
            "[-]",
            "[x-]",
            "[-x]",
            "\\",
            "[a-b-c]",
            "[",
            "[^",
            "[^bc",
            "a[",
            "[a",
            "a\\",
            "*[",
            "[\\", // filepath.Match syntax errors
            "[z-a]",
            "[Local-Only]/",
            "\\q",
            "\\é",
            "*{2}",
            "x\\1",
            "\\pL",
            "[[:foo:]]",
            "a**{2}",
            "\\C",
        ];
        for p in bad {
            assert!(
                matches!(
                    DockerIgnore::from_patterns([p]),
                    Err(IgnoreError::BadPattern { .. })
                ),
                "{p:?} should be rejected"
            );
        }
        for p in ["!", "  !  ", "!/"] {
            assert!(
                matches!(
                    DockerIgnore::from_patterns([p]),
                    Err(IgnoreError::BareExclamation { line: None })
                ),
                "{p:?} should be a bare exclamation"
            );
        }
        // Valid oddities that must not be rejected.
        for p in [
            "x]", "[[]", "[!a]", "a|b", "x{", "}", "[a*]", "\\d", "[^/]", "\\x41",
        ] {
            assert!(
                DockerIgnore::from_patterns([p]).is_ok(),
                "{p:?} should be accepted"
            );
        }
    }

    #[test]
    fn error_messages_name_line_and_pattern() {
        let err = DockerIgnore::parse("a\n\n[a\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: invalid pattern \"[a\": unclosed character class"
        );
        match err {
            IgnoreError::BadPattern { pattern, line, .. } => {
                assert_eq!(pattern, "[a");
                assert_eq!(line, Some(3));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = DockerIgnore::parse("# c\nok\n  !  \n").unwrap_err();
        assert_eq!(err.to_string(), "line 3: illegal exclusion pattern: \"!\"");
        let err = DockerIgnore::parse("x\n!a\\").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: invalid pattern \"!a\\\\\": trailing backslash"
        );
        let err = DockerIgnore::from_patterns(["!"]).unwrap_err();
        assert_eq!(err.to_string(), "illegal exclusion pattern: \"!\"");
        let err = DockerIgnore::from_patterns(["[z-a]"]).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid pattern \"[z-a]\": "),
            "{err}"
        );
        assert!(err.to_string().contains("range"), "{err}");
    }

    #[test]
    fn file_parsing() {
        let text = "\u{FEFF}# comment\r\n\r\nfoo\r\n  #bar  \n\t/baz/ \n# another\n!  ./qux\nlast";
        let ig = DockerIgnore::parse(text).unwrap();
        let got: Vec<(&str, bool, Option<usize>)> = ig
            .patterns()
            .iter()
            .map(|p| (p.as_str(), p.is_exception(), p.line()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("foo", false, Some(3)),
                ("#bar", false, Some(4)),
                ("baz", false, Some(5)),
                ("qux", true, Some(7)),
                ("last", false, Some(8)),
            ]
        );
        assert!(ig.is_excluded("#bar"));
        assert!(!ig.is_excluded("qux"));
        // ignorefile_test.go's content
        let ig = DockerIgnore::parse(
            "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n",
        )
        .unwrap();
        let got: Vec<String> = ig
            .patterns()
            .iter()
            .map(|p| format!("{}{}", if p.is_exception() { "!" } else { "" }, p.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path"
            ]
        );
        // BOM only on the first line; a later one stays part of the pattern.
        let ig = DockerIgnore::parse("a\n\u{FEFF}b").unwrap();
        assert_eq!(ig.patterns()[1].as_str(), "\u{FEFF}b");
        // Only comment lines / blank lines: empty, nothing excluded.
        let ig = DockerIgnore::parse("# x\n\n   \n").unwrap();
        assert!(ig.is_empty());
        assert!(!ig.is_excluded("anything"));
        assert!(DockerIgnore::parse("").unwrap().is_empty());
        assert!(!DockerIgnore::parse("x").unwrap().is_empty());
        // `#` is only a comment at the very start of a line.
        let ig = DockerIgnore::parse(" # not a comment").unwrap();
        assert_eq!(ig.patterns()[0].as_str(), "# not a comment");
    }

    #[test]
    fn pattern_cleaning() {
        let cases: &[(&str, &str, bool)] = &[
            ("./a", "a", false),
            ("a/", "a", false),
            ("a/../b", "b", false),
            ("//a", "a", false),
            ("/", "/", false),
            ("/a/b/", "a/b", false),
            ("..", "..", false),
            ("../a/..", "..", false),
            ("a/b/../../..", "..", false),
            (".", ".", false),
            ("!./a", "a", true),
            ("! /a", "a", true),
            ("!../a", "../a", true),
            ("!a/../..", "..", true),
            // patternmatcher cleans `!`+pattern again: `!..` + `..` cancel out.
            ("!../..", ".", false),
            ("!../../a", "a", false),
        ];
        for (input, text, exception) in cases {
            let ig = DockerIgnore::from_patterns([*input]).unwrap();
            let p = &ig.patterns()[0];
            assert_eq!(
                (p.as_str(), p.is_exception()),
                (*text, *exception),
                "{input:?}"
            );
            assert_eq!(p.line(), None);
        }
        assert!(DockerIgnore::from_patterns(["", "   "]).unwrap().is_empty());
    }

    #[test]
    fn go_clean_matches_go() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "/"),
            ("/..", "/"),
            ("/../a", "/a"),
            ("a/b/../..", "."),
            ("a/b/../../..", ".."),
            ("../../a/../b", "../../b"),
            ("./a/./b/", "a/b"),
            ("a//b", "a/b"),
            ("abc/def/../ghi", "abc/ghi"),
        ];
        for (input, want) in cases {
            assert_eq!(go_clean(input), want, "{input:?}");
            assert_eq!(is_clean(input), input == want, "is_clean({input:?})");
        }
    }

    #[test]
    fn must_descend_cases() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["node_modules"], "node_modules", false),
            (&["node_modules"], "node_modules/x", false),
            (&["node_modules"], "src", true),
            (
                &["node_modules", "!node_modules/keep"],
                "node_modules",
                true,
            ),
            (
                &["node_modules", "!node_modules/keep"],
                "node_modules/other",
                false,
            ),
            (&["node_modules", "!**/keep"], "node_modules", true),
            (&["node_modules", "!*/keep"], "node_modules", true),
            (&["node_modules", "!src/keep"], "node_modules", false),
            (&["node_modules", "!node_modules"], "node_modules", true),
            (
                &["!node_modules/keep", "node_modules"],
                "node_modules",
                false,
            ),
            (&["build", "!build/**/*.txt"], "build", true),
            (&["build", "!build/**/*.txt"], "build/sub", true),
            (&["build", "!build/**/*.txt"], "buildx", true),
            (&["build", "!buildx/*.txt"], "build", false),
            (&["build", "!build/a**"], "build", true),
            (&["build", "!b**"], "build", true),
            (&["build", "!c**"], "build", false),
            (&["*.log"], "x.log", false),
            (&["**"], "a", false),
            (&["**", "!a/b/c"], "a", true),
            (&["**", "!a/b/c"], "a/b", true),
            (&["**", "!a/b/c"], "a/x", false),
            (&[], "a", true),
            (&["a"], ".", true),
            (&["a"], "", true),
            (&["a"], "./a/", false),
        ];
        for (patterns, dir, want) in cases {
            assert_eq!(
                ignore(patterns).must_descend(dir),
                *want,
                "{patterns:?} {dir:?}"
            );
        }
    }

    #[test]
    fn ignore_file_precedence() {
        let has = |files: &'static [&'static str]| {
            move |p: &Path| files.iter().any(|f| Path::new(f) == p)
        };
        let df = Path::new("Dockerfile");
        let ctx = Path::new("ctx");
        assert_eq!(
            ignore_file_for(
                df,
                ctx,
                has(&["Dockerfile.dockerignore", "ctx/.dockerignore"])
            ),
            Some(PathBuf::from("Dockerfile.dockerignore"))
        );
        assert_eq!(
            ignore_file_for(df, ctx, has(&["ctx/.dockerignore"])),
            Some(PathBuf::from("ctx/.dockerignore"))
        );
        assert_eq!(ignore_file_for(df, ctx, has(&[])), None);
        let api = Path::new("build/api.Dockerfile");
        assert_eq!(
            ignore_file_for(
                api,
                Path::new("."),
                has(&["build/api.Dockerfile.dockerignore", "./.dockerignore"])
            ),
            Some(PathBuf::from("build/api.Dockerfile.dockerignore"))
        );
        assert_eq!(
            ignore_file_for(
                api,
                Path::new("."),
                has(&["./.dockerignore", "build/.dockerignore"])
            ),
            Some(PathBuf::from("./.dockerignore"))
        );
        // A `Dockerfile.dockerignore` in the context does not apply to another Dockerfile.
        assert_eq!(
            ignore_file_for(api, Path::new("."), has(&["Dockerfile.dockerignore"])),
            None
        );
        // No file name: only the context file is considered.
        assert_eq!(
            ignore_file_for(Path::new(".."), ctx, has(&["ctx/.dockerignore"])),
            Some(PathBuf::from("ctx/.dockerignore"))
        );
    }

    #[test]
    fn exact_prefix_suffix_agree_with_regex_where_go_does() {
        // For these shapes patternmatcher's fast path and its regexp agree, so
        // compare our fast path with a forced regexp compilation.
        let shapes = ["**/foo", "**/a/b", "dir/**", "a.b**", "abc"];
        let paths = [
            "foo", "x/foo", "xfoo", "a/b", "z/a/b", "dir/x", "dir", "a.bc", "abc", "abcd",
        ];
        for shape in shapes {
            let fast = compile(shape).unwrap();
            let forced_source = match go_regex_source(shape).0 {
                MatchType::Suffix => format!("^(.*/)?{}$", regex_escape(&shape[3..])),
                MatchType::Prefix => format!("^{}.*$", regex_escape(&shape[..shape.len() - 2])),
                _ => format!("^{}$", regex_escape(shape)),
            };
            let ast = GoRegexParser::new(&forced_source).parse().unwrap();
            let mut rust = String::new();
            emit_alternation(&ast, &mut rust);
            let re = Regex::new(&rust).unwrap();
            for path in paths {
                assert_eq!(fast.matches(path), re.is_match(path), "{shape} on {path}");
            }
        }
    }

    fn regex_escape(s: &str) -> String {
        s.chars()
            .flat_map(|c| {
                if c.is_ascii_alphanumeric() || c == '/' {
                    vec![c]
                } else {
                    vec!['\\', c]
                }
            })
            .collect()
    }

    /// xorshift64*: tiny deterministic PRNG.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn string(&mut self, alphabet: &[&str], max_len: usize) -> String {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    #[test]
    fn fuzz_never_panics_and_must_descend_is_conservative() {
        let pattern_alphabet = [
            "a",
            "b",
            "/",
            "*",
            "**",
            "?",
            "[",
            "]",
            "^",
            "!",
            "-",
            "\\",
            ".",
            "..",
            "{",
            "}",
            "|",
            "$",
            "(",
            ")",
            ":",
            "d",
            "1",
            " ",
            "#",
            "é",
            "\u{FEFF}",
            "\n",
            "\r",
            "x",
            "Q",
            "E",
            "p",
            "[:alpha:]",
            ",",
        ];
        let path_alphabet = ["a", "b", "/", ".", "x", "é", "ab", "!", "]", "*", "d", "1"];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut compiled = 0;
        for _ in 0..3000 {
            let count = rng.below(4);
            let patterns: Vec<String> = (0..count)
                .map(|_| rng.string(&pattern_alphabet, 8))
                .collect();
            let text = patterns.join("\n");
            let _ = DockerIgnore::parse(&text).map(|ig| ig.patterns().len());
            let Ok(ig) = DockerIgnore::from_patterns(&patterns) else {
                continue;
            };
            compiled += 1;
            for _ in 0..20 {
                let path = rng.string(&path_alphabet, 10);
                let excluded = ig.is_excluded(&path);
                let _ = ig.must_descend(&path);
                // Whenever a walker would be allowed to skip a parent
                // directory, the path must indeed be excluded.
                let clean = clean_query(&path).into_owned();
                if !excluded {
                    for (idx, _) in clean.match_indices('/') {
                        let dir = &clean[..idx];
                        assert!(
                            ig.must_descend(dir),
                            "patterns {patterns:?}: must_descend({dir:?}) is false but {clean:?} is included"
                        );
                    }
                }
            }
        }
        assert!(compiled > 1000, "only {compiled} pattern sets compiled");
    }

    #[test]
    fn many_paths_are_fast_enough_and_consistent() {
        let ig = DockerIgnore::parse(
            "node_modules\n**/*.log\n!important.log\ntarget/**\n**/.git\n*.tmp\ndocs/[a-c]*\n",
        )
        .unwrap();
        let mut excluded = 0;
        for i in 0..20_000 {
            let path = format!(
                "src/mod{}/file{}.{}",
                i % 50,
                i,
                if i % 7 == 0 { "log" } else { "rs" }
            );
            if ig.is_excluded(&path) {
                excluded += 1;
            }
        }
        assert_eq!(excluded, (0..20_000).filter(|i| i % 7 == 0).count());
        assert!(!ig.is_excluded("important.log"));
        assert!(ig.is_excluded("a/important.log"));
        assert!(ig.is_excluded("docs/b.md"));
        assert!(!ig.is_excluded("docs/d.md"));
    }
}
