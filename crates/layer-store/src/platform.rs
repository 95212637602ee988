//! Platforms as images are chosen by: oci-spec's [`Platform`], parsed from `os/arch[/variant]`
//! (`linux/arm64/v8`), the host's, written back as text, and matched against an index entry.

use oci_spec::image::{Arch, Os, Platform};

/// The platform this program runs on, named as Go does (`linux/amd64` on x86_64 Linux).
pub fn host() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    of(std::env::consts::OS, architecture, None)
}

/// Parses `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`); `None` for anything else.
///
/// ```
/// let p = boxwright_layer_store::platform::parse("linux/arm64/v8").unwrap();
/// assert_eq!(p.variant().as_deref(), Some("v8"));
/// assert_eq!(boxwright_layer_store::platform::to_string(&p), "linux/arm64/v8");
/// assert!(boxwright_layer_store::platform::parse("linux").is_none());
/// ```
pub fn parse(text: &str) -> Option<Platform> {
    let mut parts = text.split('/');
    let os = parts.next().filter(|s| !s.is_empty())?;
    let architecture = parts.next().filter(|s| !s.is_empty())?;
    let variant = parts.next();
    parts
        .next()
        .is_none()
        .then(|| of(os, architecture, variant))
}

/// `os/arch[/variant]`, as [`parse`] reads it.
pub fn to_string(platform: &Platform) -> String {
    let mut text = format!("{}/{}", platform.os(), platform.architecture());
    if let Some(variant) = platform.variant() {
        text.push('/');
        text.push_str(variant);
    }
    text
}

/// Whether an index entry's `have` is the platform `want`: the same OS and architecture, and
/// the same variant when `want` names one, an `arm64` without a variant being `v8` (as
/// containerd normalizes it, and as registry-client's `platform::matches` does).
pub(crate) fn matches(want: &Platform, have: &Platform) -> bool {
    if have.os() != want.os() || have.architecture() != want.architecture() {
        return false;
    }
    let arm64 = want.architecture().to_string() == "arm64";
    let normal = |variant: Option<String>| match variant {
        None if arm64 => Some("v8".to_string()),
        other => other,
    };
    match want.variant() {
        None => true,
        Some(_) => normal(have.variant().clone()) == normal(want.variant().clone()),
    }
}

fn of(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    let mut platform = Platform::default();
    platform.set_os(Os::from(os));
    platform.set_architecture(Arch::from(architecture));
    platform.set_variant(variant.map(str::to_string));
    platform
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arm64_without_variant_is_v8() {
        let want = parse("linux/arm64/v8").unwrap();
        assert!(matches(&want, &parse("linux/arm64").unwrap()));
        assert!(matches(&want, &parse("linux/arm64/v8").unwrap()));
        assert!(!matches(&want, &parse("linux/arm64/v9").unwrap()));
        assert!(!matches(
            &parse("linux/arm/v7").unwrap(),
            &parse("linux/arm").unwrap()
        ));
        assert!(matches(
            &parse("linux/arm").unwrap(),
            &parse("linux/arm/v7").unwrap()
        ));
        assert!(!matches(
            &parse("linux/amd64").unwrap(),
            &parse("linux/arm64").unwrap()
        ));
    }

    #[test]
    fn parses_and_prints() {
        for text in [
            "linux/amd64",
            "linux/arm/v7",
            "windows/amd64",
            "freebsd/riscv64",
        ] {
            let platform = parse(text).unwrap();
            assert_eq!(to_string(&platform), text);
        }
        for bad in ["", "linux", "linux/", "/amd64", "linux/arm/v7/x"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn variants_match_when_asked_for() {
        let arm = parse("linux/arm/v7").unwrap();
        assert!(matches(&parse("linux/arm").unwrap(), &arm));
        assert!(matches(&arm, &arm));
        assert!(!matches(&parse("linux/arm/v6").unwrap(), &arm));
        assert!(!matches(&arm, &parse("linux/arm").unwrap()));
        assert!(!matches(&parse("linux/amd64").unwrap(), &arm));
    }
}
