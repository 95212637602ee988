//! Go `filepath.Match` for one path component, as BuildKit matches COPY/ADD sources.

/// Characters that make a COPY source a wildcard pattern (Go's `hasMeta`).
pub(crate) fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// The pattern is malformed (an unclosed or empty class, a bad range, a trailing `\`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Whether `name` (one path component, no `/`) matches `pattern` with Go's
/// `filepath.Match` rules: `*` any run of characters, `?` one character,
/// `[...]` a class (`^` negates, `a-z` ranges), `\` escapes the next character.
pub(crate) fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validate the whole pattern first, as Go reports syntax errors even after a mismatch.
    validate(&p)?;
    Ok(match_from(&p, &n))
}

/// Check every class and escape of the pattern.
fn validate(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class(p, i, None)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Backtracking match of the rest of the pattern against the rest of the name.
fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('\\') => (p.get(pi + 1) == Some(&n[ni])).then_some(pi + 2),
            Some('[') => match class(p, pi, Some(n[ni])) {
                Ok((true, next)) => Some(next),
                _ => None,
            },
            Some(c) => (*c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Parse the class starting at `p[start] == '['`; with `c`, say whether it
/// matches `c`. Returns the index after the closing `]`.
fn class(p: &[char], start: usize, c: Option<char>) -> Result<(bool, usize), BadPattern> {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => break,
            _ => {}
        }
        first = false;
        let (lo, next) = escaped(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = escaped(p, i + 1)?;
            if h < lo {
                return Err(BadPattern);
            }
            hi = h;
            i = next;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    Ok((matched != negated, i + 1))
}

/// Go's `getEsc`: one character of a class, `\` escaping the next; a bare
/// `-` or `]` here, or the end of the pattern, is an error.
fn escaped(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err(BadPattern),
        Some('\\') => p.get(i + 1).map(|c| (*c, i + 2)).ok_or(BadPattern),
        Some(c) => Ok((*c, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(p, n).unwrap_or(false)
    }

    #[test]
    fn go_match_table() {
        // Cases from Go's path/filepath match_test.go.
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*", "a"));
        assert!(m("a*b*c*d*e*", "axbxcxdxe"));
        assert!(!m("a*b?c*x", "abxbbxdbxebxczzy"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(!m("ab[^b-d]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("[\\]a]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "x"));
        assert!(m("*x", "xxx"));
        assert!(m(".*", ".hidden"));
        assert!(m("*", ".hidden"), "Go's * matches a leading dot");
    }

    #[test]
    fn go_syntax_errors() {
        for bad in [
            "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "[z-a]", "a\\",
        ] {
            assert_eq!(matches(bad, "a"), Err(BadPattern), "{bad}");
        }
        assert!(has_meta("a*") && has_meta("[a]") && !has_meta("dir/file.txt"));
    }
}
