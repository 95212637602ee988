//! The line parser (BuildKit's `parser` package): directives, comments, continuations, heredoc
//! bodies, and the split of each logical line into keyword, flags and arguments.

use std::ops::Range;

use crate::ast::{Directives, Flag, Heredoc};
use crate::error::Warning;
use crate::error::{Error, ErrorKind};

/// BuildKit's scanner refuses physical lines longer than this.
const MAX_LINE: usize = 65535;

/// A logical line split into its parts, before the instruction layer types it.
#[derive(Debug, Clone)]
pub(crate) struct RawNode {
    /// The keyword as written.
    pub(crate) keyword: String,
    /// Flags with their offsets in `logical`.
    pub(crate) flags: Vec<(Flag, usize)>,
    /// The arguments, split by this instruction's rule.
    pub(crate) args: Vec<String>,
    /// The arguments were a JSON array.
    pub(crate) json: bool,
    /// `ENV`/`LABEL` in the legacy `KEY value` form.
    pub(crate) legacy: bool,
    /// Offset of the arguments (after keyword and flags) in the logical line.
    pub(crate) rest_offset: usize,
    /// The ONBUILD trigger, parsed as a line of its own.
    pub(crate) child: Option<Box<RawNode>>,
}

/// One instruction's node with its position.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub(crate) node: RawNode,
    pub(crate) heredocs: Vec<Heredoc>,
    pub(crate) comments: Vec<String>,
    pub(crate) pos: Position,
}

/// Where a logical line came from.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    pub(crate) start_line: usize,
    pub(crate) end_line: usize,
    pub(crate) bytes: Range<usize>,
    /// Offset of the keyword in the logical line.
    pub(crate) keyword_offset: usize,
    /// Source offset of the logical line's first byte.
    pub(crate) first: usize,
    /// (offset in the logical line, offset in the source) of each continuation piece.
    pub(crate) segments: Vec<(usize, usize)>,
}

impl Position {
    /// The source byte offset of an offset in the logical line.
    pub(crate) fn source_offset(&self, logical: usize) -> usize {
        let i = self.segments.partition_point(|&(l, _)| l <= logical);
        match i.checked_sub(1).and_then(|i| self.segments.get(i)) {
            Some(&(l, s)) => s + (logical - l),
            None => self.first + logical,
        }
    }
}

/// The result of the line parser.
pub(crate) struct Parsed {
    pub(crate) directives: Directives,
    pub(crate) warnings: Vec<Warning>,
}

/// 1-based line and column (in characters) of a byte offset of `src`.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut column = before[line_start..].chars().count() + 1;
    if line == 1 && before.starts_with('\u{feff}') {
        column -= 1;
    }
    (line, column)
}

/// Physical lines with their 1-based number and byte offset.
struct Lines<'a> {
    src: &'a str,
    pos: usize,
    number: usize,
}

struct PhysLine<'a> {
    number: usize,
    start: usize,
    /// The line without its `\n`.
    text: &'a str,
}

impl<'a> Lines<'a> {
    /// The next physical line; one longer than BuildKit's scanner takes is an error.
    fn next_line(&mut self) -> Result<Option<PhysLine<'a>>, Error> {
        if self.pos >= self.src.len() {
            return Ok(None);
        }
        let rest = &self.src[self.pos..];
        let (text, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        let line = PhysLine {
            number: self.number + 1,
            start: self.pos,
            text,
        };
        self.pos += advance;
        self.number += 1;
        if line.text.len() > MAX_LINE {
            return Err(Error::new(line.number, 1, ErrorKind::LineTooLong));
        }
        Ok(Some(line))
    }
}

/// BuildKit's `trimNewline`: every trailing `\r` and `\n`.
fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// Removes a continuation escape at the end of `s`: returns the text and whether the logical
/// line ends here.
fn trim_continuation(s: &str, escape: char) -> (&str, bool) {
    let t = s.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before, false);
        }
    }
    (s, true)
}

/// Reads a parser directive from a line, `Ok(None)` when the line is not one.
fn directive(line: &str) -> Option<(String, &str)> {
    let t = line.trim_start().strip_prefix('#')?.trim_start();
    let key_end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(t.len(), |(i, _)| i);
    if key_end == 0 {
        return None;
    }
    let key = &t[..key_end];
    let value = t[key_end..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value))
}

/// Runs the line parser over a whole file.
///
/// Each node goes to `sink` as soon as its lines (and heredoc bodies) are read, with the warnings
/// list; the sink may keep an error of its own, since a line-parser error later in the file must
/// still win over it.
pub(crate) fn parse_lines(
    src: &str,
    mut sink: impl FnMut(Located, &mut Vec<Warning>),
) -> Result<Parsed, Error> {
    let mut parser = LineParser {
        src,
        lines: Lines {
            src,
            pos: 0,
            number: 0,
        },
        directives: Directives::default(),
        directives_done: false,
        escape: '\\',
        warnings: Vec::new(),
        comments: Vec::new(),
        logical: String::new(),
    };
    let mut any_node = false;
    while let Some(line) = parser.lines.next_line()? {
        let (text, line_start) = match line.text.strip_prefix('\u{feff}') {
            Some(t) if line.number == 1 => (t, line.start + '\u{feff}'.len_utf8()),
            _ => (line.text, line.start),
        };
        let text = trim_newline(text);
        if parser.read_directive(text, line.number)? {
            continue;
        }
        let stripped = text.trim_start();
        if parser.read_comment_or_blank(stripped) {
            continue;
        }
        let first = line_start + (text.len() - stripped.len());
        let end = line_start + text.len();
        let located = parser.read_instruction(line.number, first..end, stripped)?;
        any_node = true;
        sink(located, &mut parser.warnings);
    }
    if !any_node {
        return Err(Error::new(
            parser.lines.number.max(1),
            1,
            ErrorKind::NoInstructions,
        ));
    }
    Ok(Parsed {
        directives: parser.directives,
        warnings: parser.warnings,
    })
}

/// The line parser's state while it walks a file, one step per kind of line.
struct LineParser<'a> {
    src: &'a str,
    lines: Lines<'a>,
    directives: Directives,
    /// Set at the first line that is not a directive: later ones are comments.
    directives_done: bool,
    escape: char,
    warnings: Vec<Warning>,
    /// Comments since the last instruction (a blank comment line clears them).
    comments: Vec<String>,
    /// One buffer for every logical line.
    logical: String,
}

impl LineParser<'_> {
    /// Reads `text` as a parser directive while directives may still appear: `Ok(true)` when it
    /// was one. A repeated directive or an escape other than `\` and `` ` `` is an error.
    fn read_directive(&mut self, text: &str, number: usize) -> Result<bool, Error> {
        if self.directives_done {
            return Ok(false);
        }
        let (key, value) = match directive(text) {
            Some((key, value)) if matches!(key.as_str(), "syntax" | "escape" | "check") => {
                (key, value)
            }
            _ => {
                self.directives_done = true;
                return Ok(false);
            }
        };
        let directives = &mut self.directives;
        let slot_taken = match key.as_str() {
            "syntax" => directives.syntax.is_some(),
            "escape" => directives.escape.is_some(),
            _ => directives.check.is_some(),
        };
        if slot_taken {
            return Err(Error::new(number, 1, ErrorKind::DuplicateDirective(key)));
        }
        match key.as_str() {
            "syntax" => directives.syntax = Some(value.to_string()),
            "check" => directives.check = Some(value.to_string()),
            _ => {
                self.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(Error::new(
                            number,
                            1,
                            ErrorKind::InvalidEscape(other.to_string()),
                        ))
                    }
                };
                directives.escape = Some(self.escape);
            }
        }
        Ok(true)
    }

    /// Takes a comment line (kept for the next instruction) or a blank line: `true` when
    /// `stripped` was one.
    fn read_comment_or_blank(&mut self, stripped: &str) -> bool {
        if let Some(c) = stripped.strip_prefix('#') {
            let c = c.trim();
            if c.is_empty() {
                self.comments.clear();
            } else {
                self.comments.push(c.to_string());
            }
            return true;
        }
        stripped.is_empty()
    }

    /// Reads the instruction that starts on line `start_line` (`bytes` in the source, `stripped`
    /// its text): its continuation lines, its node, then its heredoc bodies.
    fn read_instruction(
        &mut self,
        start_line: usize,
        bytes: Range<usize>,
        stripped: &str,
    ) -> Result<Located, Error> {
        let mut pos = self.read_continuations(start_line, bytes, stripped)?;
        let lead = self.logical.len() - self.logical.trim_start().len();
        let node = split_node(&self.logical, lead, self.escape).map_err(|(off, kind)| {
            let (l, c) = line_col(self.src, pos.source_offset(off));
            Error::new(l, c, kind)
        })?;
        let mut heredocs = Vec::new();
        if node.can_contain_heredoc() && self.logical.contains("<<") {
            for doc in heredocs_from_line(&self.logical) {
                heredocs.push(self.read_heredoc_body(doc, &mut pos)?);
            }
        }
        pos.keyword_offset = lead;
        Ok(Located {
            node,
            heredocs,
            comments: std::mem::take(&mut self.comments),
            pos,
        })
    }

    /// Joins the instruction's continuation lines into `self.logical`, skipping comment lines and
    /// blank lines (the latter with a warning), and returns where the logical line came from
    /// (its keyword offset still 0).
    fn read_continuations(
        &mut self,
        start_line: usize,
        bytes: Range<usize>,
        stripped: &str,
    ) -> Result<Position, Error> {
        let mut pos = Position {
            start_line,
            end_line: start_line,
            first: bytes.start,
            bytes,
            keyword_offset: 0,
            segments: Vec::new(),
        };
        let (content, mut eol) = trim_continuation(stripped, self.escape);
        self.logical.clear();
        self.logical.push_str(content);
        let mut empty_continuation = false;
        while !eol {
            let Some(next) = self.lines.next_line()? else {
                break;
            };
            let t = trim_newline(next.text);
            pos.end_line = next.number;
            pos.bytes.end = next.start + t.len();
            if is_comment(t) {
                continue;
            }
            if t.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (c, e) = trim_continuation(t, self.escape);
            pos.segments.push((self.logical.len(), next.start));
            self.logical.push_str(c);
            eol = e;
        }
        if empty_continuation {
            self.warnings.push(Warning {
                line: start_line,
                rule: "NoEmptyContinuation",
                message: format!("Empty continuation line found in: {}", self.logical.trim()),
            });
        }
        Ok(pos)
    }

    /// Reads one heredoc's body up to its delimiter line, extending `pos` over it; running out of
    /// lines first is an error at the instruction's first line.
    fn read_heredoc_body(
        &mut self,
        mut doc: Heredoc,
        pos: &mut Position,
    ) -> Result<Heredoc, Error> {
        while let Some(body) = self.lines.next_line()? {
            pos.end_line = body.number;
            let line = trim_newline(body.text);
            let candidate = if doc.chomp {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if candidate == doc.name {
                pos.bytes.end = body.start + line.len();
                return Ok(doc);
            }
            pos.bytes.end = body.start + body.text.len();
            doc.content.push_str(body.text);
            doc.content.push('\n');
        }
        Err(Error::new(
            pos.start_line,
            1,
            ErrorKind::UnterminatedHeredoc(doc.name),
        ))
    }
}

fn is_split_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

impl RawNode {
    fn empty() -> Self {
        RawNode {
            keyword: String::new(),
            flags: Vec::new(),
            args: Vec::new(),
            json: false,
            legacy: false,
            rest_offset: 0,
            child: None,
        }
    }

    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.child, self.keyword.eq_ignore_ascii_case("onbuild")) {
            (Some(c), true) => c,
            _ => self,
        };
        !node.json
            && ["run", "copy", "add"]
                .iter()
                .any(|k| node.keyword.eq_ignore_ascii_case(k))
    }
}

/// BuildKit's `newNodeFromLine`: keyword, flags, then the arguments by the keyword's rule.
/// `base` is the offset of `line` in the logical line (for error positions).
pub(crate) fn split_node(
    line: &str,
    base: usize,
    escape: char,
) -> Result<RawNode, (usize, ErrorKind)> {
    let lead = line.len() - line.trim_start().len();
    let trimmed = line.trim();
    let (keyword, after) = match trimmed.find(is_split_space) {
        Some(i) => (
            &trimmed[..i],
            trimmed[i..].trim_start_matches(is_split_space),
        ),
        None => (trimmed, ""),
    };
    let after_offset = base + lead + (trimmed.len() - after.len());
    let mut node = RawNode::empty();
    node.keyword = keyword.to_string();
    let (rest_start, flags) = extract_flags(after, escape);
    node.flags = flags
        .into_iter()
        .map(|(f, o)| (f, after_offset + o))
        .collect();
    let rest = &after[rest_start..];
    node.rest_offset = after_offset + rest_start;
    let err_at = |k| (after_offset + rest_start, k);
    match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => match parse_json(rest) {
            Json::Array(a) => {
                node.args = a;
                node.json = true;
            }
            Json::NotStrings => return Err(err_at(ErrorKind::JsonNotStrings)),
            Json::No => node.args = split_whitespace(rest),
        },
        "run" | "cmd" | "entrypoint" | "shell" => {
            parse_maybe_json(rest, &mut node).map_err(err_at)?
        }
        "from" | "expose" => node.args = split_whitespace(rest),
        "user" | "workdir" | "stopsignal" | "maintainer" if !rest.is_empty() => {
            node.args = vec![rest.to_string()];
        }
        "env" | "label" => {
            let key = if keyword.eq_ignore_ascii_case("env") {
                "ENV"
            } else {
                "LABEL"
            };
            parse_name_val(rest, key, escape, &mut node).map_err(err_at)?
        }
        "arg" => node.args = parse_words(rest, escape),
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                let typ = &rest[..sep];
                let cmd = rest[sep..].trim_start();
                let mut sub = RawNode::empty();
                parse_maybe_json(cmd, &mut sub).map_err(err_at)?;
                node.args.push(typ.to_string());
                node.args.extend(sub.args);
                node.json = sub.json;
            }
        }
        "onbuild" if !rest.is_empty() => {
            let child = split_node(rest, node.rest_offset, escape)?;
            node.args = vec![child.keyword.clone(), rest.to_string()];
            node.child = Some(Box::new(child));
        }
        _ => {}
    }
    Ok(node)
}

/// BuildKit's `extractBuilderFlags`: leading `--words`, quotes removed, escapes honoured.
/// Returns where the arguments start in `line` and the flags with their offsets.
fn extract_flags(line: &str, escape: char) -> (usize, Vec<(Flag, usize)>) {
    let mut flags = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        // Skip blanks before a word.
        while let Some(&(_, c)) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else {
                break;
            }
        }
        let Some(&(start, _)) = chars.peek() else {
            return (line.len(), flags);
        };
        if !line[start..].starts_with("--") {
            return (start, flags);
        }
        let mut word = String::new();
        let mut blank_ok = false;
        let mut quote: Option<char> = None;
        let mut ended_by_space = false;
        while let Some((_, c)) = chars.next() {
            match quote {
                None => {
                    if c.is_whitespace() {
                        ended_by_space = true;
                        break;
                    }
                    if c == '\'' || c == '"' {
                        quote = Some(c);
                        blank_ok = true;
                        continue;
                    }
                    if c == escape {
                        match chars.next() {
                            Some((_, n)) => word.push(n),
                            None => break,
                        }
                        continue;
                    }
                    word.push(c);
                }
                Some(q) => {
                    if c == q {
                        quote = None;
                        continue;
                    }
                    if c == escape {
                        match chars.next() {
                            Some((_, n)) => word.push(n),
                            None => break,
                        }
                        continue;
                    }
                    word.push(c);
                }
            }
        }
        if word == "--" {
            let pos = chars.peek().map_or(line.len(), |&(i, _)| i);
            if ended_by_space {
                // BuildKit returns the text from the blank after `--`; it is trimmed later.
                let rest = &line[pos..];
                let skipped = rest.len() - rest.trim_start().len();
                return (pos + skipped, flags);
            }
            return (line.len(), flags);
        }
        if blank_ok || !word.is_empty() {
            let flag = match word.get(2..).unwrap_or("").split_once('=') {
                Some((n, v)) => Flag {
                    name: n.to_string(),
                    value: Some(v.to_string()),
                },
                None => Flag {
                    name: word.get(2..).unwrap_or("").to_string(),
                    value: None,
                },
            };
            flags.push((flag, start));
        }
        if !ended_by_space {
            return (line.len(), flags);
        }
    }
}

enum Json {
    Array(Vec<String>),
    NotStrings,
    No,
}

/// BuildKit's `parseJSON`: the whole text must be a JSON array; a valid array with a non-string
/// element is an error, anything else falls back.
fn parse_json(rest: &str) -> Json {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Json::No;
    }
    match serde_json::from_str::<StringArray>(t) {
        Ok(StringArray(Some(a))) => Json::Array(a),
        Ok(StringArray(None)) => Json::NotStrings,
        Err(_) => Json::No,
    }
}

/// A JSON array read without building a `serde_json::Value`: `None` when an element is valid
/// JSON but not a string.
struct StringArray(Option<Vec<String>>);

impl<'de> serde::Deserialize<'de> for StringArray {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = StringArray;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringArray, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                let mut all_strings = true;
                while let Some(item) = seq.next_element::<MaybeString>()? {
                    match item.0 {
                        Some(s) if all_strings => out.push(s),
                        _ => all_strings = false,
                    }
                }
                Ok(StringArray(all_strings.then_some(out)))
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// One array element: a string, or any other valid JSON value.
struct MaybeString(Option<String>);

impl<'de> serde::Deserialize<'de> for MaybeString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = MaybeString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_unit<E>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<MaybeString, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MaybeString, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(MaybeString(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

fn parse_maybe_json(rest: &str, node: &mut RawNode) -> Result<(), ErrorKind> {
    if rest.is_empty() {
        return Ok(());
    }
    match parse_json(rest) {
        Json::Array(a) => {
            node.args = a;
            node.json = true;
        }
        Json::NotStrings => return Err(ErrorKind::JsonNotStrings),
        Json::No => node.args = vec![rest.to_string()],
    }
    Ok(())
}

fn split_whitespace(rest: &str) -> Vec<String> {
    rest.split(is_split_space)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// BuildKit's `parseWords`: words split on Unicode whitespace outside quotes, quotes and escape
/// pairs kept; single quotes block the escape character.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            if c == escape && q != '\'' {
                match chars.next() {
                    None => {
                        quote = None;
                        continue;
                    }
                    Some(n) => {
                        word.push(c);
                        word.push(n);
                        continue;
                    }
                }
            }
            word.push(c);
            continue;
        }
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        if c.is_whitespace() {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            blank_ok = false;
            in_word = false;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            blank_ok = true;
        }
        if c == escape {
            match chars.next() {
                None => continue,
                Some(n) => {
                    word.push(c);
                    word.push(n);
                    continue;
                }
            }
        }
        word.push(c);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

fn parse_name_val(
    rest: &str,
    key: &'static str,
    escape: char,
    node: &mut RawNode,
) -> Result<(), ErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(());
    };
    if !first.contains('=') {
        let Some((k, v)) = rest.split_once(is_split_space) else {
            return Err(ErrorKind::MissingValue(key));
        };
        let v = v.trim_start_matches(is_split_space);
        node.args = vec![k.to_string(), v.to_string()];
        node.legacy = true;
        return Ok(());
    }
    for w in &words {
        if !w.contains('=') {
            return Err(ErrorKind::MissingEquals(w.clone()));
        }
    }
    node.args = words;
    Ok(())
}

/// Finds the heredocs named on a logical line (BuildKit's `heredocsFromLine`).
pub(crate) fn heredocs_from_line(line: &str) -> Vec<Heredoc> {
    raw_words(line)
        .iter()
        .filter_map(|w| heredoc_from_word(w))
        .collect()
}

/// Splits a line into shell words with quotes and escapes kept raw (escape is always `\`);
/// `<<` followed by blanks stays one unit with the next word, as BuildKit's lexer does.
fn raw_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some('\'') => {
                word.push(c);
                if c == '\'' {
                    quote = None;
                }
            }
            Some(q) => {
                word.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c.is_whitespace() {
                    if !word.is_empty() && !is_heredoc_opener(&word) {
                        words.push(std::mem::take(&mut word));
                    }
                    continue;
                }
                word.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                } else if c == '\'' || c == '"' {
                    quote = Some(c);
                }
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `\d*<<` exactly: blanks after it join it to the next word.
fn is_heredoc_opener(w: &str) -> bool {
    w.trim_start_matches(|c: char| c.is_ascii_digit()) == "<<"
}

/// BuildKit's `ParseHeredoc` on one raw word: `^(\d*)<<(-?)([^<]*)$` with a non-empty tail that
/// is exactly one word.
pub(crate) fn heredoc_from_word(word: &str) -> Option<Heredoc> {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let (digits, after) = word.split_at(digits_end);
    let after = after.strip_prefix("<<")?;
    let (chomp, tail) = match after.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, after),
    };
    let tail = tail.trim_start();
    if tail.is_empty() || tail.contains('<') {
        return None;
    }
    let fd = if digits.is_empty() {
        None
    } else {
        Some(digits.parse::<u32>().ok()?)
    };
    let (name, quoted) = unquote_single_word(tail)?;
    Some(Heredoc {
        name,
        content: String::new(),
        expand: !quoted,
        chomp,
        fd,
    })
}

/// Removes quotes and `\` escapes from a word; `None` when it is not exactly one word.
/// Also says whether any part was quoted.
fn unquote_single_word(w: &str) -> Option<(String, bool)> {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = w.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                } else {
                    out.push(c);
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                } else if c == '\\' {
                    match chars.next() {
                        Some(n) if n == '"' || n == '\\' || n == '$' => out.push(n),
                        Some(n) => {
                            out.push('\\');
                            out.push(n);
                        }
                        None => return None,
                    }
                } else {
                    out.push(c);
                }
            }
            None => {
                if c.is_whitespace() {
                    return None;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    quoted = true;
                } else if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
        }
    }
    if quote.is_some() || out.is_empty() {
        return None;
    }
    Some((out, quoted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", false));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\", true));
        assert_eq!(trim_continuation("a \\\\\\", '\\'), ("a \\\\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }

    #[test]
    fn flags() {
        let line = "--from=build --chown=\"a b\" src dst";
        let (r, f) = extract_flags(line, '\\');
        assert_eq!(&line[r..], "src dst");
        assert_eq!(f[0].0.raw(), "--from=build");
        assert_eq!(f[1].0.raw(), "--chown=a b");
        let (r, f) = extract_flags("-- --x a", '\\');
        assert_eq!(&"-- --x a"[r..], "--x a");
        assert!(f.is_empty());
        let (_, f) = extract_flags("--a=1--b=2 x", '\\');
        assert_eq!(f.len(), 1);
        let (r, f) = extract_flags("--link", '\\');
        assert_eq!(r, 6);
        assert_eq!(f[0].0.value, None);
    }

    #[test]
    fn words() {
        assert_eq!(
            parse_words(r#"a="x y" b='c\ d' e=f\ g"#, '\\'),
            vec![r#"a="x y""#, r"b='c\ d'", r"e=f\ g"]
        );
        assert_eq!(parse_words("a\u{a0}b", '\\'), vec!["a", "b"]);
        assert_eq!(parse_words("  ", '\\'), Vec::<String>::new());
        assert_eq!(parse_words("x\\", '\\'), vec!["x"]);
    }

    #[test]
    fn heredoc_words() {
        let d = heredoc_from_word("<<EOF").unwrap();
        assert_eq!(
            (d.name.as_str(), d.expand, d.chomp, d.fd),
            ("EOF", true, false, None)
        );
        let d = heredoc_from_word("3<<-'END'").unwrap();
        assert_eq!(
            (d.name.as_str(), d.expand, d.chomp, d.fd),
            ("END", false, true, Some(3))
        );
        let d = heredoc_from_word("<<E\"O\"F").unwrap();
        assert_eq!((d.name.as_str(), d.expand), ("EOF", false));
        assert!(heredoc_from_word("<<<EOF").is_none());
        assert!(heredoc_from_word("a<<EOF").is_none());
        assert!(heredoc_from_word("<<").is_none());
        assert_eq!(
            raw_words("cat << EOF > x 'a b'"),
            vec!["cat", "<<EOF", ">", "x", "'a b'"]
        );
        assert_eq!(raw_words("cat <<- EOF"), vec!["cat", "<<-", "EOF"]);
    }
}
