//! Platforms (`linux/arm64/v8`) as oci-spec's [`Platform`], the type every boxwright crate
//! speaks: [`parse`] from Docker's `--platform` text, the [`host`]'s, and the choice of an
//! index entry for one ([`matches()`], [`choose`]).
//!
//! ```
//! use boxwright_registry_client::platform;
//!
//! let p = platform::parse("linux/arm64/v8").unwrap();
//! assert_eq!((p.os().to_string(), p.architecture().to_string()), ("linux".into(), "arm64".into()));
//! assert_eq!(platform::name(&p), "linux/arm64/v8");
//! // An index entry for arm64 without a variant is arm64/v8.
//! assert!(platform::matches(&p, &platform::parse("linux/arm64").unwrap()));
//! assert!(platform::parse("linux").is_err());
//! ```

use oci_spec::image::{Arch, Descriptor, Os, Platform};

/// A platform string that is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant]")]
pub struct PlatformError(pub String);

/// Parses `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`), names as Go has them.
pub fn parse(text: &str) -> Result<Platform, PlatformError> {
    let parts: Vec<&str> = text.split('/').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Err(PlatformError(text.to_string()));
    }
    Ok(make(parts[0], parts[1], parts.get(2).copied()))
}

/// The platform of this machine, named as Go does (`x86_64` is `amd64`).
pub fn host() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    make(std::env::consts::OS, architecture, None)
}

/// A platform of `os`, `architecture` and `variant`, nothing else.
fn make(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    let mut p = Platform::default();
    p.set_os(Os::from(os));
    p.set_architecture(Arch::from(architecture));
    p.set_variant(variant.map(str::to_string));
    p
}

/// `os/arch[/variant]`, as [`parse`] reads it.
pub fn name(p: &Platform) -> String {
    let mut s = format!("{}/{}", p.os(), p.architecture());
    if let Some(v) = p.variant() {
        s.push('/');
        s.push_str(v);
    }
    s
}

/// Whether an index entry's platform `have` is the platform `want`. A `want` without a
/// variant matches any variant; `arm64` without a variant is `arm64/v8`.
pub fn matches(want: &Platform, have: &Platform) -> bool {
    let arch = want.architecture().to_string();
    if have.os().to_string() != want.os().to_string() || have.architecture().to_string() != arch {
        return false;
    }
    let norm = |v: Option<&str>| match (arch.as_str(), v) {
        ("arm64", None) => Some("v8".to_string()),
        (_, v) => v.map(str::to_string),
    };
    match want.variant() {
        None => true,
        Some(v) => norm(have.variant().as_deref()) == norm(Some(v)),
    }
}

/// The entry of an index's `manifests` for `want`: among those that [`matches()`], one with an
/// explicit variant beats one without.
pub fn choose<'a>(want: &Platform, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
    manifests
        .iter()
        .filter(|d| d.platform().as_ref().is_some_and(|p| matches(want, p)))
        .max_by_key(|d| {
            d.platform()
                .as_ref()
                .and_then(|p| p.variant().clone())
                .is_some()
        })
}
