//! Printing a parsed Dockerfile back to text that parses to the same instructions.
//!
//! The printed form is canonical, not the original layout: one line per instruction (no
//! continuations, no comments), flags and arguments as the parser split them, heredoc bodies
//! after their line. [`crate::Instruction::text`] keeps the original text when that is wanted.
//!
//! One shape cannot be written on a single line: an instruction whose last argument ends in an
//! escaped blank (`ARG a\<tab>` followed by a continuation). BuildKit trims blanks from the end
//! of every instruction, so only a continuation can have produced it; the printed line loses
//! that blank. [`Dockerfile::prints_exactly`] tells whether a file is free of it.

use std::fmt::{self, Write};

use crate::ast::{Dockerfile, Flag, Instruction, Keyword};

impl fmt::Display for Dockerfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.directives.syntax {
            writeln!(f, "# syntax={s}")?;
        }
        if let Some(e) = self.directives.escape {
            writeln!(f, "# escape={e}")?;
        }
        if let Some(c) = &self.directives.check {
            writeln!(f, "# check={c}")?;
        }
        let escape = self.directives.escape_char();
        for inst in &self.instructions {
            write_instruction(f, inst, escape)?;
            f.write_char('\n')?;
            write_heredocs(f, inst)?;
        }
        Ok(())
    }
}

impl Dockerfile {
    /// Whether printing this file (its [`Display`](fmt::Display) form) and parsing the text
    /// gives the same instructions ([`Dockerfile::same_as`]). It does unless an instruction's
    /// last argument ends in a blank (see the module docs).
    pub fn prints_exactly(&self) -> bool {
        self.instructions.iter().all(|i| {
            i.json
                || i.args
                    .last()
                    .and_then(|a| a.chars().next_back())
                    .is_none_or(|c| !c.is_whitespace())
        })
    }
}

impl fmt::Display for Instruction {
    /// The instruction on one line (with `\` as escape character), then its heredoc bodies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_instruction(f, self, '\\')?;
        if !self.heredocs.is_empty() {
            f.write_char('\n')?;
            write_heredocs(f, self)?;
        }
        Ok(())
    }
}

fn write_heredocs(f: &mut impl Write, inst: &Instruction) -> fmt::Result {
    for h in &inst.heredocs {
        f.write_str(&h.content)?;
        f.write_str(&h.name)?;
        f.write_char('\n')?;
    }
    Ok(())
}

/// How a flag with blanks, quotes or escape characters in it is written.
#[derive(Clone, Copy)]
enum FlagStyle {
    /// `--"name=a b"`
    Quoted,
    /// `--name=a\ b` (with the file's escape character)
    Escaped,
}

/// A flag word that `extractBuilderFlags` reads back as the same flag.
fn write_flag(f: &mut impl Write, flag: &Flag, escape: char, style: FlagStyle) -> fmt::Result {
    let raw = flag.raw();
    let plain = !raw
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == escape);
    if plain {
        return f.write_str(&raw);
    }
    match style {
        FlagStyle::Quoted => {
            f.write_str("--\"")?;
            for c in raw.chars().skip(2) {
                if c == '"' || c == escape {
                    f.write_char(escape)?;
                }
                f.write_char(c)?;
            }
            f.write_char('"')
        }
        FlagStyle::Escaped => {
            for c in raw.chars() {
                if c.is_whitespace() || c == '"' || c == '\'' || c == escape {
                    f.write_char(escape)?;
                }
                f.write_char(c)?;
            }
            Ok(())
        }
    }
}

fn write_json(f: &mut impl Write, args: &[String]) -> fmt::Result {
    match serde_json::to_string(args) {
        Ok(s) => f.write_str(&s),
        Err(_) => Err(fmt::Error),
    }
}

fn write_instruction(f: &mut impl Write, inst: &Instruction, escape: char) -> fmt::Result {
    let mut line = String::new();
    write_line(&mut line, inst, escape, FlagStyle::Quoted)?;
    // Heredocs are found by lexing the whole line, flags included: write flags so that the
    // printed line names the same heredocs as the original did.
    if !inst.heredocs.is_empty() || line.contains("<<") {
        let names = |l: &str| -> Vec<String> {
            crate::parser::heredocs_from_line(l)
                .into_iter()
                .map(|h| h.name)
                .collect()
        };
        let wanted: Vec<&str> = inst.heredocs.iter().map(|h| h.name.as_str()).collect();
        if names(&line) != wanted {
            let mut escaped = String::new();
            write_line(&mut escaped, inst, escape, FlagStyle::Escaped)?;
            if names(&escaped) == wanted {
                line = escaped;
            }
        }
    }
    f.write_str(&line)?;
    // A line whose text ends in a lone escape character (BuildKit accepts `RUN \` followed by a
    // no-break space) would read as a continuation; a trailing no-break space is trimmed by the
    // parser but keeps the line whole.
    if let Some(before) = line.strip_suffix(escape) {
        if !before.ends_with(escape) {
            f.write_char('\u{a0}')?;
        }
    }
    Ok(())
}

fn write_line(
    f: &mut impl Write,
    inst: &Instruction,
    escape: char,
    style: FlagStyle,
) -> fmt::Result {
    f.write_str(inst.keyword.as_str())?;
    for flag in &inst.flags {
        f.write_char(' ')?;
        write_flag(f, flag, escape, style)?;
    }
    let first_word = match inst.keyword {
        _ if inst.json => None,
        Keyword::Onbuild => inst.args.get(1),
        _ => inst.args.first(),
    };
    if first_word.is_some_and(|w| w.starts_with("--")) {
        // Arguments that look like flags come after an explicit end of flags.
        f.write_str(" --")?;
    }
    match inst.keyword {
        Keyword::Onbuild => {
            if let Some(expr) = inst.args.get(1) {
                f.write_char(' ')?;
                f.write_str(expr)?;
            }
            Ok(())
        }
        Keyword::Healthcheck => {
            if let Some((typ, rest)) = inst.args.split_first() {
                write!(f, " {typ}")?;
                if inst.json {
                    f.write_char(' ')?;
                    write_json(f, rest)?;
                } else if let Some(cmd) = rest.first() {
                    write!(f, " {cmd}")?;
                }
            }
            Ok(())
        }
        _ if inst.json => {
            f.write_char(' ')?;
            write_json(f, &inst.args)
        }
        _ => {
            let mut escaped_blank = false;
            for a in &inst.args {
                // After a word ending in an odd run of `\`, one blank would be escaped and glue
                // the words together for the heredoc lexer; a second blank separates them.
                f.write_str(if escaped_blank { "  " } else { " " })?;
                f.write_str(a)?;
                let trailing = a.len() - a.trim_end_matches('\\').len();
                escaped_blank = trailing % 2 == 1;
            }
            Ok(())
        }
    }
}
