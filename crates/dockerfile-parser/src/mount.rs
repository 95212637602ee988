//! `RUN --mount=…` values: BuildKit's CSV option list turned into a typed [`Mount`].

use std::borrow::Cow;

use serde::Serialize;

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A read-only view of the context, a stage or an image (the default).
    #[default]
    Bind,
    /// A persistent cache directory shared between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A build secret as a file (or an environment variable).
    Secret,
    /// An SSH agent socket.
    Ssh,
}

impl MountType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return None,
        })
    }
}

/// How a cache mount is shared between concurrent builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    /// Concurrent writers share one directory (the default).
    Shared,
    /// Each concurrent writer gets its own copy.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One `RUN --mount` flag, typed.
///
/// Values are kept raw: a mount whose text holds `$` is checked only as far as it can be before
/// expansion, and a builder parses the expanded text again with [`Mount::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// The flag value as written (after the flag's own quote removal).
    pub raw: String,
    /// `type=` (default `bind`).
    #[serde(rename = "type")]
    pub kind: MountType,
    /// `target=` / `dst=` / `destination=`: the path inside the build container.
    pub target: Option<String>,
    /// `source=` / `src=`: the path in `from` (or the context), or the secret's source.
    pub source: Option<String>,
    /// `from=`: the stage or image to mount from.
    pub from: Option<String>,
    /// `ro`/`readonly`/`rw`/`readwrite`, when given (see [`Mount::is_readonly`] for defaults).
    pub readonly: Option<bool>,
    /// `id=` of a cache, secret or ssh mount.
    pub id: Option<String>,
    /// `sharing=` of a cache mount.
    pub sharing: Option<Sharing>,
    /// `size=` of a tmpfs, raw (`64m`).
    pub size: Option<String>,
    /// `mode=` (octal) of a cache, secret or ssh mount.
    pub mode: Option<u32>,
    /// `uid=` of a cache, secret or ssh mount.
    pub uid: Option<u32>,
    /// `gid=` of a cache, secret or ssh mount.
    pub gid: Option<u32>,
    /// `required` of a secret or ssh mount.
    pub required: Option<bool>,
    /// `env=` of a secret mount: expose the secret as this environment variable.
    pub env: Option<String>,
}

impl Mount {
    /// Whether the mount is read-only: as given, or by its type's default (bind, secret and ssh
    /// are read-only; cache and tmpfs are writable).
    pub fn is_readonly(&self) -> bool {
        self.readonly.unwrap_or(matches!(
            self.kind,
            MountType::Bind | MountType::Secret | MountType::Ssh
        ))
    }

    /// Parses and fully checks an (expanded) `--mount` value.
    ///
    /// ```
    /// use boxwright_dockerfile_parser::{Mount, MountType};
    /// let m = Mount::parse("type=cache,target=/root/.cargo,sharing=locked").unwrap();
    /// assert_eq!(m.kind, MountType::Cache);
    /// assert_eq!(m.target.as_deref(), Some("/root/.cargo"));
    /// assert!(!m.is_readonly());
    /// assert!(Mount::parse("type=volume").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Mount, String> {
        parse_mount(value, true)
    }

    /// Parse-time reading: a value holding `$` is only checked where it can be before expansion.
    pub(crate) fn parse_unexpanded(value: &str) -> Result<Mount, String> {
        let m = parse_mount(value, !value.contains('$'))?;
        if let Some(from) = &m.from {
            if from.find('$').is_some_and(|i| i + 1 != from.len()) {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead"
                        .to_string(),
                );
            }
        }
        Ok(m)
    }
}

/// Splits one CSV record the way Go's `encoding/csv` reads it (comma separated, `"` quoting with
/// `""` for a quote, no bare quotes in unquoted fields). Unquoted fields are borrowed.
fn split_csv(value: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::new();
    let mut rest = value;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut field = String::new();
            let mut chars = quoted.char_indices();
            let after = loop {
                match chars.next() {
                    None => return Err("extraneous or missing \" in quoted-field".to_string()),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            chars.next();
                            field.push('"');
                        } else {
                            break &quoted[i + 1..];
                        }
                    }
                    Some((_, c)) => field.push(c),
                }
            };
            fields.push(Cow::Owned(field));
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(fields),
                None => return Err("extraneous or missing \" in quoted-field".to_string()),
            }
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains('"') {
                return Err("bare \" in non-quoted-field".to_string());
            }
            fields.push(Cow::Borrowed(field));
            match rest.get(end + 1..) {
                Some(next) => rest = next,
                None => return Ok(fields),
            }
        }
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

fn parse_mount(value: &str, strict: bool) -> Result<Mount, String> {
    let fields = match split_csv(value) {
        Ok(f) => f,
        Err(e) if strict => return Err(e),
        Err(_) => Vec::new(),
    };
    let mut m = Mount {
        raw: value.to_string(),
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        readonly: None,
        id: None,
        sharing: None,
        size: None,
        mode: None,
        uid: None,
        gid: None,
        required: None,
        env: None,
    };
    // The type decides what else is allowed, so it is read first wherever it stands.
    for f in &fields {
        if let Some((k, v)) = f.split_once('=') {
            if k.eq_ignore_ascii_case("type") {
                match MountType::parse(v) {
                    Some(t) => m.kind = t,
                    None if strict => return Err(format!("unsupported mount type {v:?}")),
                    None => {}
                }
            }
        }
    }
    let ty = m.kind;
    let only = |key: &str, allowed: &[MountType]| -> Result<(), String> {
        if strict && !allowed.contains(&ty) {
            return Err(format!(
                "unexpected key '{key}' for mount type '{}'",
                format!("{ty:?}").to_ascii_lowercase()
            ));
        }
        Ok(())
    };
    for f in &fields {
        let (key, val) = match f.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (f.to_ascii_lowercase(), None),
        };
        let Some(v) = val else {
            match key.as_str() {
                "ro" | "readonly" => m.readonly = Some(true),
                "rw" | "readwrite" => m.readonly = Some(false),
                "required" => {
                    only("required", &[MountType::Secret, MountType::Ssh])?;
                    m.required = Some(true)
                }
                _ if strict => return Err(format!("invalid field '{f}' must be a key=value pair")),
                _ => {}
            }
            continue;
        };
        let number = |radix: u32| -> Result<Option<u32>, String> {
            match u32::from_str_radix(v, radix) {
                Ok(n) => Ok(Some(n)),
                Err(_) if strict => Err(format!("invalid value for {key}: {v}")),
                Err(_) => Ok(None),
            }
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = Some(v.to_string()),
            "source" | "src" => m.source = Some(v.to_string()),
            "from" => {
                only("from", &[MountType::Bind, MountType::Cache])?;
                m.from = Some(v.to_string())
            }
            "ro" | "readonly" => m.readonly = bool_field(strict, &key, v)?.or(m.readonly),
            "rw" | "readwrite" => {
                m.readonly = bool_field(strict, &key, v)?.map(|b| !b).or(m.readonly)
            }
            "id" => {
                only("id", &[MountType::Cache, MountType::Secret, MountType::Ssh])?;
                m.id = Some(v.to_string())
            }
            "sharing" => {
                only("sharing", &[MountType::Cache])?;
                m.sharing = match v.to_ascii_lowercase().as_str() {
                    "shared" => Some(Sharing::Shared),
                    "private" => Some(Sharing::Private),
                    "locked" => Some(Sharing::Locked),
                    _ if strict => return Err(format!("unsupported sharing value {v:?}")),
                    _ => None,
                }
            }
            "size" => {
                only("size", &[MountType::Tmpfs])?;
                if strict && !valid_size(v) {
                    return Err(format!("invalid value for size: {v}"));
                }
                m.size = Some(v.to_string())
            }
            "mode" => {
                only(
                    "mode",
                    &[MountType::Cache, MountType::Secret, MountType::Ssh],
                )?;
                m.mode = number(8)?
            }
            "uid" => {
                only(
                    "uid",
                    &[MountType::Cache, MountType::Secret, MountType::Ssh],
                )?;
                m.uid = number(10)?
            }
            "gid" => {
                only(
                    "gid",
                    &[MountType::Cache, MountType::Secret, MountType::Ssh],
                )?;
                m.gid = number(10)?
            }
            "required" => {
                only("required", &[MountType::Secret, MountType::Ssh])?;
                m.required = bool_field(strict, &key, v)?
            }
            "env" => {
                only("env", &[MountType::Secret])?;
                m.env = Some(v.to_string())
            }
            _ if strict => return Err(format!("unexpected key '{key}' in '{f}'")),
            _ => {}
        }
    }
    if strict && m.kind == MountType::Secret {
        if m.source.is_some() && m.id.is_some() {
            return Err("secret mount cannot set both source and id".to_string());
        }
        if m.source.is_none() && m.id.is_none() && m.target.is_none() && m.env.is_none() {
            return Err("secret mount needs an id, a source, a target or an env".to_string());
        }
    }
    Ok(m)
}

/// A boolean option; before expansion a value that is not a boolean yet is left unset.
fn bool_field(strict: bool, key: &str, v: &str) -> Result<Option<bool>, String> {
    match parse_bool(key, v) {
        Ok(b) => Ok(Some(b)),
        Err(e) if strict => Err(e),
        Err(_) => Ok(None),
    }
}

/// `64m`, `1g`, `1024`, `512k`, `1.5gb`… as Docker's `units.RAMInBytes` accepts.
fn valid_size(v: &str) -> bool {
    let lower = v.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let unit = unit.trim();
    !num.is_empty()
        && num.parse::<f64>().is_ok()
        && matches!(
            unit,
            "" | "b"
                | "k"
                | "kb"
                | "kib"
                | "m"
                | "mb"
                | "mib"
                | "g"
                | "gb"
                | "gib"
                | "t"
                | "tb"
                | "tib"
                | "p"
                | "pb"
                | "pib"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_types() {
        let m = Mount::parse("target=/src").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.is_readonly());
        let m = Mount::parse("type=bind,source=.,target=/src,rw").unwrap();
        assert!(!m.is_readonly());
        let m = Mount::parse("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!(m.size.as_deref(), Some("64m"));
        assert!(!m.is_readonly());
        let m = Mount::parse("type=secret,id=npm,target=/root/.npmrc,mode=0400,uid=1000,required")
            .unwrap();
        assert_eq!(m.mode, Some(0o400));
        assert_eq!(m.uid, Some(1000));
        assert_eq!(m.required, Some(true));
        let m = Mount::parse("type=ssh,id=default,required=false").unwrap();
        assert_eq!(m.required, Some(false));
        let m = Mount::parse("type=cache,id=apt,target=/var/cache/apt,sharing=locked,from=base")
            .unwrap();
        assert_eq!(m.sharing, Some(Sharing::Locked));
        let m = Mount::parse("TYPE=secret,ID=tok,env=TOKEN").unwrap();
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        let m = Mount::parse("\"type=bind\",\"target=/a,b\"").unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn rejections() {
        for bad in [
            "type=volume",
            "type=cache,sharing=sometimes",
            "type=bind,size=1m",
            "type=bind,foo=bar",
            "type=bind,target",
            "type=secret,id=a,source=b",
            "type=secret,from=x,id=a",
            "type=cache,sharing=locked,mode=9",
            "type=tmpfs,size=lots",
            "type=bind,ro=maybe",
            "ta\"rget=/x",
            "\"target=/x",
        ] {
            assert!(Mount::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn unexpanded_values_are_checked_only_where_they_can_be() {
        assert!(Mount::parse_unexpanded("type=$T,target=/x").is_ok());
        assert!(Mount::parse_unexpanded("type=cache,target=$DIR,uid=$UID").is_ok());
        assert!(Mount::parse_unexpanded("from=base$,target=/x").is_ok());
        let e = Mount::parse_unexpanded("from=$STAGE,target=/x").unwrap_err();
        assert!(e.contains("'from' doesn't support variable expansion"));
        assert!(Mount::parse_unexpanded("type=volume").is_err());
    }
}
