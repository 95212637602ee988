//! `COPY/ADD --chmod`: an octal mode, or a symbolic one (`u+x,g-w`, `a=rX`) applied to each
//! copied entry's own mode, as BuildKit's `ModeStr` is.

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chmod {
    /// An octal mode given to every entry.
    Octal(u32),
    /// Symbolic clauses applied in order to each entry's mode.
    Symbolic(Vec<Clause>),
}

/// One `who op perms` action of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    /// The bits `who` covers (`u`, `g`, `o`, `a`; none means all).
    who: u32,
    /// `+`, `-` or `=`.
    op: char,
    /// The permission letters (`rwxXst`) or a copied class (`u`, `g`, `o`).
    perms: String,
}

/// The `--chmod` value is neither octal nor a valid symbolic mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadMode;

impl Chmod {
    /// Parses `spec`: octal digits (at most `7777`) or comma-separated symbolic clauses.
    pub(crate) fn parse(spec: &str) -> Result<Chmod, BadMode> {
        if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
            return u32::from_str_radix(spec, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(Chmod::Octal)
                .ok_or(BadMode);
        }
        let mut clauses = Vec::new();
        for part in spec.split(',') {
            let who_len = part.find(['+', '-', '=']).ok_or(BadMode)?;
            let mut who = 0;
            for c in part[..who_len].chars() {
                who |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => return Err(BadMode),
                };
            }
            if who == 0 {
                who = 0o7777;
            }
            let mut rest = &part[who_len..];
            while let Some(op) = rest.chars().next().filter(|c| matches!(c, '+' | '-' | '=')) {
                rest = &rest[1..];
                let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
                let perms = &rest[..end];
                let ok =
                    perms.chars().all(|c| "rwxXst".contains(c)) || matches!(perms, "u" | "g" | "o");
                if !ok {
                    return Err(BadMode);
                }
                clauses.push(Clause {
                    who,
                    op,
                    perms: perms.to_string(),
                });
                rest = &rest[end..];
            }
            if !rest.is_empty() {
                return Err(BadMode);
            }
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The mode an entry whose mode is `old` (permission bits) gets; `is_dir` makes `X` mean
    /// execute (it otherwise means execute only when some execute bit is already set).
    pub(crate) fn apply(&self, old: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(mode) => return *mode,
            Chmod::Symbolic(clauses) => clauses,
        };
        let mut mode = old & 0o7777;
        for c in clauses {
            let bits = c.bits(mode, is_dir) & c.who;
            mode = match c.op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !(c.who & !special_unless_named(c))) | bits,
            };
        }
        mode
    }
}

/// `=` clears the rwx bits of `who` and, only when named, setuid/setgid/sticky (as GNU chmod
/// keeps a directory's setgid bit on `=`).
fn special_unless_named(c: &Clause) -> u32 {
    let mut keep = 0o7000;
    if c.perms.contains('s') {
        keep &= !0o6000;
    }
    if c.perms.contains('t') {
        keep &= !0o1000;
    }
    keep
}

impl Clause {
    /// The bits the clause's letters stand for, before masking by `who`.
    fn bits(&self, mode: u32, is_dir: bool) -> u32 {
        let class = |shift: u32| {
            let v = (mode >> shift) & 0o7;
            v | (v << 3) | (v << 6)
        };
        match self.perms.as_str() {
            "u" => return class(6),
            "g" => return class(3),
            "o" => return class(0),
            _ => {}
        }
        let mut bits = 0;
        for c in self.perms.chars() {
            bits |= match c {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                'X' if is_dir || mode & 0o111 != 0 => 0o111,
                's' => 0o6000,
                't' => 0o1000,
                _ => 0,
            };
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(spec: &str, old: u32, is_dir: bool) -> u32 {
        Chmod::parse(spec)
            .unwrap_or(Chmod::Octal(0))
            .apply(old, is_dir)
    }

    #[test]
    fn symbolic_modes_as_chmod_applies_them() {
        assert_eq!(apply("u+x", 0o644, false), 0o744);
        assert_eq!(apply("g-w,o-r", 0o664, false), 0o640);
        assert_eq!(apply("a=r", 0o755, false), 0o444);
        assert_eq!(apply("=rw", 0o700, false), 0o666);
        assert_eq!(apply("a+X", 0o644, false), 0o644, "X skips a plain file");
        assert_eq!(apply("a+X", 0o744, false), 0o755);
        assert_eq!(apply("a+X", 0o700, true), 0o711, "X gives a directory x");
        assert_eq!(apply("go=u", 0o750, false), 0o777);
        assert_eq!(apply("u+s", 0o755, false), 0o4755);
        assert_eq!(apply("+t", 0o755, true), 0o1755);
        assert_eq!(apply("u=rwx,g=rx,o=", 0o600, false), 0o750);
        assert_eq!(apply("0755", 0o600, true), 0o755);
    }

    #[test]
    fn bad_modes_are_refused() {
        for bad in [
            "", "8", "17777", "u", "z+x", "u+q", "u+x,", "u+x,,g+w", "+ug",
        ] {
            assert_eq!(Chmod::parse(bad), Err(BadMode), "{bad}");
        }
    }
}
