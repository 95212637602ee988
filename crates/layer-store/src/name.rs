//! Image names as Docker reads them: `busybox` is `docker.io/library/busybox:latest`.
//!
//! The type is `oci_spec::distribution::Reference`, the vocabulary shared with the registry
//! client; this module adds errors that say *why* a name is refused, Docker's short
//! ("familiar") form for display, and glob matching for `images 'w*'`.

use oci_spec::distribution::Reference;

/// A name that is not a valid image reference, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {reason}")]
pub struct NameError {
    /// The text given.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

const MAX_NAME: usize = 255;

/// Parses and normalizes an image reference the way Docker does.
///
/// ```
/// let r = boxwright_layer_store::name::parse("busybox").unwrap();
/// assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
/// let r = boxwright_layer_store::name::parse("localhost:5000/team/app:v1").unwrap();
/// assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "team/app", Some("v1")));
/// let e = boxwright_layer_store::name::parse("Busybox").unwrap_err();
/// assert!(e.reason.contains("lowercase"));
/// ```
pub fn parse(input: &str) -> Result<Reference, NameError> {
    let fail = |reason: &str| NameError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    if input.is_empty() {
        return Err(fail("the name is empty"));
    }
    if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(&format!(
            "it contains {c:?}; names have no spaces or control characters"
        )));
    }
    let (name_tag, digest) = match input.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (input, None),
    };
    // The tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if name.is_empty() {
        return Err(fail("the repository name is empty"));
    }
    // The first component is a registry host when it has '.' or ':' or is localhost; hosts
    // may have capitals, repository paths may not.
    let (host, path) = match name.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
            (Some(host), rest)
        }
        _ => (None, name),
    };
    if host.is_some_and(|host| !valid_host(host)) {
        return Err(fail(
            "the registry is not a hostname or a bracketed IPv6 address, with an optional :port",
        ));
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(fail("repository name must be lowercase"));
    }
    if path.split('/').any(str::is_empty) {
        return Err(fail("a path component of the repository is empty"));
    }
    if name.len() > MAX_NAME {
        return Err(fail(&format!(
            "the repository name is longer than {MAX_NAME} characters"
        )));
    }
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(fail(
                "a tag is 1 to 128 of [A-Za-z0-9_.-] and does not start with '.' or '-'",
            ));
        }
    }
    if let Some(digest) = digest {
        let ok = digest.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if !ok {
            return Err(fail(
                "a digest is sha256: followed by 64 lowercase hex digits",
            ));
        }
    }
    // Docker's path grammar, checked by hand: oci-spec's parser compiles a large Unicode regex
    // on first use (half a second in a debug build), which every short-lived program that
    // names an image (`bw run`, a test harness) would pay.
    if let Some(bad) = path.split('/').find(|c| !is_path_component(c)) {
        return Err(fail(&format!(
            "{bad:?} is not a valid path component (path components are [a-z0-9] separated by '.', '_', '__' or '-')"
        )));
    }
    let (registry, repository) = match host {
        Some("index.docker.io") | Some("docker.io") | None => (
            "docker.io".to_owned(),
            if path.contains('/') {
                path.to_owned()
            } else {
                format!("library/{path}")
            },
        ),
        Some(host) => (host.to_owned(), path.to_owned()),
    };
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    })
}

/// `[a-z0-9]+` runs separated by exactly one of `.`, `_`, `__` or any number of `-` (Docker's
/// path-component grammar).
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.first().is_none_or(|&x| !alnum(x)) || b.last().is_none_or(|&x| !alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// Docker's registry host: a hostname (components of `[A-Za-z0-9-]`, not starting or ending
/// with `-`, joined by `.`) or a bracketed IPv6 address (`[` hex digits and `:` `]`), either
/// with an optional `:port`.
fn valid_host(host: &str) -> bool {
    let (address, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, after)) => {
                if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                    return false;
                }
                match after {
                    "" => return true,
                    _ => (None, after.strip_prefix(':')),
                }
            }
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        },
    };
    let port_ok = |port: Option<&str>| {
        port.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let hostname_ok = |name: &str| {
        name.split('.').all(|c| {
            !c.is_empty()
                && !c.starts_with('-')
                && !c.ends_with('-')
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    };
    match address {
        // `[ipv6]` followed by something: it must be `:port`.
        None => port_ok(port),
        Some(name) => hostname_ok(name) && (port.is_none() || port_ok(port)),
    }
}

/// The full normalized form of a name: `busybox` -> `docker.io/library/busybox:latest`.
pub fn normalize(input: &str) -> Result<String, NameError> {
    Ok(parse(input)?.to_string())
}

/// Docker's short form for display: `docker.io/library/busybox:latest` -> `busybox:latest`,
/// `docker.io/user/app:v1` -> `user/app:v1`; other registries keep their host.
pub fn familiar(reference: &Reference) -> String {
    let full = reference.to_string();
    familiar_str(&full).to_string()
}

/// [`familiar`] on a normalized name held as text.
pub fn familiar_str(full: &str) -> &str {
    let short = full.strip_prefix("docker.io/").unwrap_or(full);
    if short.len() == full.len() {
        return full;
    }
    short
        .strip_prefix("library/")
        .filter(|rest| !rest.split([':', '@']).next().unwrap_or("").contains('/'))
        .unwrap_or(short)
}

/// Matches `text` against a shell glob as Go's `path.Match` does: `*` and `?` do not cross
/// `/`; `[abc]`, `[a-z]`, `[^a]` classes; `\` escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> Option<bool> {
        let (mut pi, mut ti) = (0, 0);
        let (mut star_p, mut star_t) = (None, 0);
        while ti < t.len() {
            if pi < p.len() {
                match p[pi] {
                    '*' => {
                        star_p = Some(pi);
                        star_t = ti;
                        pi += 1;
                        continue;
                    }
                    '?' if t[ti] != '/' => {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                    '[' => {
                        let (matched, next) = class(p, pi, t[ti])?;
                        if matched && t[ti] != '/' {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    }
                    '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                    c if c == t[ti] && c != '?' => {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            // Backtrack: let the last '*' swallow one more character, never a '/'.
            match star_p {
                Some(sp) if t[star_t] != '/' => {
                    star_t += 1;
                    ti = star_t;
                    pi = sp + 1;
                }
                _ => return Some(false),
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        Some(pi == p.len())
    }
    fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
        let mut i = start + 1;
        let negate = matches!(p.get(i), Some('^' | '!'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let lo = *p.get(i)?;
            if lo == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let lo = if lo == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                lo
            };
            i += 1;
            if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&h| h != ']') {
                let hi = *p.get(i + 1)?;
                i += 2;
                matched |= lo <= c && c <= hi;
            } else {
                matched |= lo == c;
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written path grammar gives what oci-spec's regex gives, accepted or refused.
    #[test]
    fn agrees_with_oci_spec() {
        let d = format!("sha256:{}", "0a".repeat(32));
        for input in [
            "busybox".to_string(),
            "a/b/c:v-1.2_x".into(),
            "localhost:5000/x".into(),
            "my.reg.example:443/team/app-x__y.z:latest".into(),
            "docker.io/u/r".into(),
            format!("x@{d}"),
            format!("reg.io/x:t@{d}"),
            "a-----b/c".into(),
            "x/a.b_c__d-e".into(),
        ] {
            let ours = parse(&input).unwrap();
            let theirs: Reference = input.parse().unwrap();
            assert_eq!(ours, theirs, "{input}");
        }
        for input in ["a..b", "a/-b", "a/b-", "a/b_/c", "a___b", "a/.b", "a._b"] {
            assert!(parse(input).is_err(), "{input}");
            assert!(input.parse::<Reference>().is_err(), "{input}");
        }
    }

    #[test]
    fn normalizes_like_docker() {
        for (input, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("user/repo:tag", "docker.io/user/repo:tag"),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1"),
            (
                "Registry.Example.com/app",
                "Registry.Example.com/app:latest",
            ),
            ("127.0.0.1:5000/app:x", "127.0.0.1:5000/app:x"),
        ] {
            assert_eq!(normalize(input).unwrap(), want, "{input}");
        }
        let d = format!("app@sha256:{}", "a".repeat(64));
        assert_eq!(normalize(&d).unwrap(), format!("docker.io/library/{d}"));
    }

    #[test]
    fn says_why() {
        for (input, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("a b", "spaces"),
            ("app:-x", "tag"),
            ("app@sha256:abc", "64"),
            ("a//b", "empty"),
            ("app:", "tag"),
            ("-app", "path components"),
        ] {
            let e = parse(input).unwrap_err();
            assert!(e.reason.contains(why), "{input}: {e}");
        }
    }

    #[test]
    fn familiar_forms() {
        assert_eq!(
            familiar_str("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar_str("docker.io/user/app:v1"), "user/app:v1");
        assert_eq!(familiar_str("ghcr.io/library/x:1"), "ghcr.io/library/x:1");
    }

    #[test]
    fn globs() {
        assert!(glob_match("w*", "web"));
        assert!(!glob_match("w*", "team/web"));
        assert!(glob_match("*/web", "team/web"));
        assert!(glob_match("b?sy[a-z]ox", "busybox"));
        assert!(glob_match("[^a]*", "busybox"));
        assert!(!glob_match("[", "["));
        assert!(glob_match("a\\*", "a*"));
        assert!(glob_match("*", ""));
    }
}
