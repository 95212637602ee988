//! Image references as Docker reads them: `busybox` is `docker.io/library/busybox:latest`.
//!
//! The type is [`oci_spec::distribution::Reference`] (the vocabulary shared between boxwright's
//! crates); [`parse`] adds errors that say *why* a name is refused.

use oci_spec::distribution::Reference;

/// A reference that is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    /// The text given.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

/// Parses and normalizes an image reference the way Docker does.
///
/// ```
/// use boxwright_registry_client::reference::parse;
/// let r = parse("busybox").unwrap();
/// assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
/// let r = parse("localhost:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
/// assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "team/app", None));
/// assert!(parse("Team/App").unwrap_err().reason.contains("lowercase"));
/// ```
pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
    let fail = |reason: String| ReferenceError {
        input: input.to_string(),
        reason,
    };
    if input.is_empty() {
        return Err(fail("the reference is empty".into()));
    }
    if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(format!(
            "it contains {c:?}; references have no spaces or control characters"
        )));
    }
    let (name_tag, digest) = match input.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (input, None),
    };
    // The tag follows the last ':' after the last '/' (a ':' before it is a port).
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if name.is_empty() {
        return Err(fail("the repository name is empty".into()));
    }
    let path = match name.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => name,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(fail("repository name must be lowercase".into()));
    }
    if path.split('/').any(str::is_empty) {
        return Err(fail("a path component of the repository is empty".into()));
    }
    if let Some(tag) = tag {
        let ok = (1..=128).contains(&tag.len())
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(fail(
                "a tag is 1 to 128 of [A-Za-z0-9_.-] and does not start with '.' or '-'".into(),
            ));
        }
    }
    if let Some(digest) = digest {
        if !is_sha256_digest(digest) {
            return Err(fail(
                "a digest is sha256: followed by 64 lowercase hex digits".into(),
            ));
        }
    }
    // Docker's grammar, checked by hand: oci-spec's parser compiles a large Unicode regex on
    // first use, which costs a short-lived command (a re-push) more than its network traffic.
    let explicit = name
        .split_once('/')
        .map(|(host, _)| host)
        .filter(|host| host.contains(['.', ':']) || *host == "localhost");
    if let Some(domain) = explicit.filter(|d| !is_domain(d)) {
        return Err(fail(format!(
            "{domain:?} is not a registry host (host names are [A-Za-z0-9-] labels separated by '.', with an optional :port)"
        )));
    }
    let (registry, repository) = split_domain(name);
    if let Some(bad) = repository.split('/').find(|c| !is_path_component(c)) {
        return Err(fail(format!(
            "{bad:?} is not a valid path component (path components are [a-z0-9] separated by '.', '_', '__' or '-')"
        )));
    }
    if repository.len() > 255 {
        return Err(fail(
            "the repository name is longer than 255 characters".into(),
        ));
    }
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t.to_string(), d.to_string())
        }
        (None, Some(d)) => Reference::with_digest(registry, repository, d.to_string()),
        (t, None) => Reference::with_tag(registry, repository, t.unwrap_or("latest").to_string()),
    })
}

/// Splits a name into registry and repository as Docker does: the first component is a
/// registry when it has a '.' or ':' or is `localhost`; otherwise the registry is
/// `docker.io`, where one-component names are in `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((left, right)) if left.contains(['.', ':']) || left == "localhost" => {
            (left.to_string(), right.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = "docker.io".into();
    }
    if domain == "docker.io" && !remainder.contains('/') {
        return (domain, format!("library/{remainder}"));
    }
    (domain, remainder)
}

/// `host[:port]`: labels of `[A-Za-z0-9-]` (not starting or ending with '-') separated by '.',
/// or a bracketed IPv6 address (`[::1]`), as Docker's grammar has them.
fn is_domain(s: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = s.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        return !addr.is_empty()
            && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
            && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    host.split('.').all(label_ok) && port.is_none_or(port_ok)
}

/// `[a-z0-9]+` runs separated by exactly one of '.', '_', '__' or any number of '-'.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
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

/// Whether `s` is `sha256:` and 64 lowercase hex digits.
pub(crate) fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The host that serves a reference's registry API: Docker Hub's `docker.io` is served by
/// `registry-1.docker.io`; every other registry by its own name.
pub fn api_host(reference: &Reference) -> &str {
    registry_host(reference.registry())
}

/// [`api_host`] of a registry named as a reference names it (`docker.io`, `ghcr.io`).
pub(crate) fn registry_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// The same repository as `reference`, naming `digest` instead of a tag.
pub fn with_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.registry().to_string(),
        reference.repository().to_string(),
        digest.to_string(),
    )
}

/// The same repository as `reference`, naming `tag`.
pub fn with_tag(reference: &Reference, tag: &str) -> Reference {
    Reference::with_tag(
        reference.registry().to_string(),
        reference.repository().to_string(),
        tag.to_string(),
    )
}

/// The tag or digest a manifest request names (`/v2/NAME/manifests/<this>`): the digest when
/// there is one, else the tag, else `latest`.
pub fn manifest_ref(reference: &Reference) -> &str {
    reference.digest().or(reference.tag()).unwrap_or("latest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("user/repo:v1", "docker.io/user/repo:v1"),
            ("localhost/app", "localhost/app:latest"),
            ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t"),
            ("ghcr.io/o/r:1.0", "ghcr.io/o/r:1.0"),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("docker.io/x", "docker.io/library/x:latest"),
            ("test.com:5000", "docker.io/library/test.com:5000"),
            ("a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).unwrap().to_string(), want, "{input}");
        }
        assert_eq!(api_host(&parse("busybox").unwrap()), "registry-1.docker.io");
    }

    #[test]
    fn says_why() {
        for (input, why) in [
            ("", "empty"),
            ("a b", "spaces"),
            ("Upper/x", "lowercase"),
            ("a//b", "empty"),
            ("a:-x", "tag"),
            ("a@sha256:12", "digest"),
            ("a@md5:00", "digest"),
            ("-a", "path components"),
            ("a..b", "path components"),
            ("a___b", "path components"),
            ("ex-.com/a", "registry host"),
            ("ex.com:x5/a", "registry host"),
        ] {
            let e = parse(input).unwrap_err();
            assert!(e.reason.contains(why), "{input}: {}", e.reason);
        }
    }

    #[test]
    fn agrees_with_oci_spec() {
        let d = format!("sha256:{}", "0a".repeat(32));
        for input in [
            "busybox".to_string(),
            "a/b/c:v-1.2_x".into(),
            "localhost:5000/x".into(),
            "my.reg.example:443/team/app-x__y.z:latest".into(),
            "index.docker.io/u/r".into(),
            format!("x@{d}"),
            format!("reg.io/x:t@{d}"),
            "a-----b/c".into(),
        ] {
            let ours = parse(&input).unwrap();
            let theirs: Reference = input.parse().unwrap();
            assert_eq!(ours, theirs, "{input}");
        }
        for input in [
            "a..b",
            "a/-b",
            "a/b-",
            "A",
            "a/b:.x",
            "x@sha256:ab",
            "a/b_/c",
        ] {
            assert!(parse(input).is_err(), "{input}");
            assert!(input.parse::<Reference>().is_err(), "{input}");
        }
    }

    /// Every row of the workspace's table of Docker names (`testdata/docker-names.tsv`, read
    /// by layer-store's name parser too): the normalized form, or `!` for a refusal.
    #[test]
    fn docker_names_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/docker-names.tsv"
        );
        let table = std::fs::read_to_string(path).unwrap();
        let mut rows = 0;
        for (n, line) in table.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let (input, want) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("{path}:{}: no tab", n + 1));
            let got = parse(input);
            match want {
                "!" => assert!(
                    got.is_err(),
                    "{path}:{}: {input:?} parsed as {got:?}",
                    n + 1
                ),
                _ => assert_eq!(
                    got.map(|r| r.to_string()).as_deref(),
                    Ok(want),
                    "{path}:{}: {input:?}",
                    n + 1
                ),
            }
            rows += 1;
        }
        assert!(rows > 20, "{path}: only {rows} rows");
    }

    #[test]
    fn manifest_ref_prefers_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("x/y:t@{d}")).unwrap();
        assert_eq!(manifest_ref(&r), d);
        assert_eq!(manifest_ref(&parse("x/y").unwrap()), "latest");
    }
}
