//! Config-only instructions (ENV, LABEL, ARG, WORKDIR, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT,
//! SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER): their change to the image config and
//! their history text as BuildKit writes it.

use serde_json::{json, Map, Value};

use crate::image::ImageState;

/// A change to the image config, with every value already expanded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConfigChange {
    /// `ENV`: pairs in order.
    Env(Vec<(String, String)>),
    /// `LABEL`: pairs in order.
    Label(Vec<(String, String)>),
    /// `ARG`: only a history entry.
    Arg,
    /// `WORKDIR`: the absolute directory.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `EXPOSE`: `port/proto` keys.
    Expose(Vec<String>),
    /// `VOLUME`: paths.
    Volume(Vec<String>),
    /// `CMD`: the command vector.
    Cmd(Vec<String>),
    /// `ENTRYPOINT`: the vector, and whether an inherited `CMD` is reset (Docker's rule: when
    /// no `CMD` came earlier in this stage).
    Entrypoint(Vec<String>, bool),
    /// `SHELL`.
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    Stopsignal(String),
    /// `HEALTHCHECK`: Docker's `Healthcheck` object.
    Healthcheck(Value),
    /// `ONBUILD`: the trigger's text.
    Onbuild(String),
    /// `MAINTAINER`.
    Maintainer(String),
    /// Extra labels of the request on the final image (no history entry).
    ExtraLabels(Vec<(String, String)>),
}

impl ConfigChange {
    /// Applies the change to `state`'s config.
    pub(crate) fn apply(&self, state: &mut ImageState) {
        match self {
            ConfigChange::Env(pairs) => {
                for (k, v) in pairs {
                    state.set_env(k, v);
                }
            }
            ConfigChange::Label(pairs) | ConfigChange::ExtraLabels(pairs) => {
                let labels = object(state.cfg_mut(), "Labels");
                for (k, v) in pairs {
                    labels.insert(k.clone(), Value::String(v.clone()));
                }
            }
            ConfigChange::Arg => {}
            ConfigChange::Workdir(dir) => set(state, "WorkingDir", json!(dir)),
            ConfigChange::User(user) => set(state, "User", json!(user)),
            ConfigChange::Expose(ports) => {
                let map = object(state.cfg_mut(), "ExposedPorts");
                for p in ports {
                    map.insert(p.clone(), json!({}));
                }
            }
            ConfigChange::Volume(paths) => {
                let map = object(state.cfg_mut(), "Volumes");
                for p in paths {
                    map.insert(p.clone(), json!({}));
                }
            }
            ConfigChange::Cmd(cmd) => set(state, "Cmd", json!(cmd)),
            ConfigChange::Entrypoint(ep, reset_cmd) => {
                set(state, "Entrypoint", json!(ep));
                if *reset_cmd {
                    state.cfg_mut().remove("Cmd");
                }
            }
            ConfigChange::Shell(shell) => set(state, "Shell", json!(shell)),
            ConfigChange::Stopsignal(sig) => set(state, "StopSignal", json!(sig)),
            ConfigChange::Healthcheck(hc) => set(state, "Healthcheck", hc.clone()),
            ConfigChange::Onbuild(trigger) => {
                let list = state
                    .cfg_mut()
                    .entry("OnBuild")
                    .or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(trigger));
                }
            }
            ConfigChange::Maintainer(name) => {
                if let Some(doc) = state.config.as_object_mut() {
                    doc.insert("author".into(), json!(name));
                }
            }
        }
    }

    /// The history text (`created_by`) BuildKit writes for this change.
    pub(crate) fn created_by(&self, arg_text: &str) -> String {
        match self {
            ConfigChange::Env(pairs) => format!("ENV {}", kv(pairs)),
            ConfigChange::Label(pairs) | ConfigChange::ExtraLabels(pairs) => {
                format!("LABEL {}", kv(pairs))
            }
            ConfigChange::Arg => format!("ARG {arg_text}"),
            ConfigChange::Workdir(d) => format!("WORKDIR {d}"),
            ConfigChange::User(u) => format!("USER {u}"),
            ConfigChange::Expose(ports) => {
                let mut p: Vec<String> = ports.iter().map(|p| format!("{p}:{{}}")).collect();
                p.sort();
                p.dedup();
                format!("EXPOSE map[{}]", p.join(" "))
            }
            ConfigChange::Volume(paths) => format!("VOLUME [{}]", paths.join(" ")),
            ConfigChange::Cmd(cmd) => format!("CMD {}", go_quoted(cmd)),
            ConfigChange::Entrypoint(ep, _) => format!("ENTRYPOINT {}", go_quoted(ep)),
            ConfigChange::Shell(s) => format!("SHELL [{}]", s.join(" ")),
            ConfigChange::Stopsignal(s) => format!("STOPSIGNAL {s}"),
            ConfigChange::Healthcheck(hc) => format!("HEALTHCHECK {}", go_health(hc)),
            ConfigChange::Onbuild(t) => format!("ONBUILD {t}"),
            ConfigChange::Maintainer(m) => format!("MAINTAINER {m}"),
        }
    }
}

/// `a=1 b=2`.
fn kv(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `%q` of Docker 20.10's `*HealthConfig` (what BuildKit's history shows):
/// `&{["CMD-SHELL" "curl x"] "5s" "3s" "0s" '\x02'}` — the test, the interval, timeout and
/// start period as Go durations, the retries as a quoted rune.
fn go_health(hc: &Value) -> String {
    let test: Vec<String> = hc["Test"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let dur = |k: &str| go_duration(hc[k].as_u64().unwrap_or(0));
    let retries = hc["Retries"].as_u64().unwrap_or(0);
    format!(
        "&{{{} \"{}\" \"{}\" \"{}\" {}}}",
        go_quoted(&test),
        dur("Interval"),
        dur("Timeout"),
        dur("StartPeriod"),
        go_rune(retries)
    )
}

/// Go's `time.Duration.String()` of `ns` nanoseconds: `0s`, `1.5s`, `2m0s`, `1h0m5s`, `250ms`.
fn go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(ns / div, ns % div, div));
    }
    let (h, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let secs = fraction(rest / 1_000_000_000, rest % 1_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// `whole.frac` with the fraction's trailing zeros (and a bare point) left out.
fn fraction(whole: u64, frac: u64, div: u64) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let digits = div.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Go's `%q` of an integer: a quoted rune (`'\x02'`, `'\n'`, `'A'`).
fn go_rune(n: u64) -> String {
    let inner = match n {
        7 => "\\a".to_string(),
        8 => "\\b".to_string(),
        9 => "\\t".to_string(),
        10 => "\\n".to_string(),
        11 => "\\v".to_string(),
        12 => "\\f".to_string(),
        13 => "\\r".to_string(),
        39 => "\\'".to_string(),
        92 => "\\\\".to_string(),
        0..=31 | 127 => format!("\\x{n:02x}"),
        32..=126 => char::from(n as u8).to_string(),
        n => match char::from_u32(n as u32) {
            Some(c) if !c.is_control() => c.to_string(),
            _ if n <= 0xffff => format!("\\u{n:04x}"),
            _ => format!("\\U{n:08x}"),
        },
    };
    format!("'{inner}'")
}

/// Go's `%q` of a `[]string`: `["a" "b c"]`.
pub(crate) fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// Sets a field of the config section.
fn set(state: &mut ImageState, key: &str, value: Value) {
    state.cfg_mut().insert(key.to_string(), value);
}

/// The object at `key` in `map`, created (or replaced, when not an object).
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_history_is_docker_20_10_go_formatting() {
        // As `docker history` shows BuildKit's images (Docker 20.10).
        let hc = json!({"Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
            "Interval": 5_000_000_000u64, "Timeout": 3_000_000_000u64,
            "StartPeriod": 2_000_000_000u64, "Retries": 2});
        assert_eq!(
            go_health(&hc),
            r#"&{["CMD-SHELL" "wget -q localhost || exit 1"] "5s" "3s" "2s" '\x02'}"#
        );
        assert_eq!(
            go_health(&json!({"Test": ["NONE"]})),
            r#"&{["NONE"] "0s" "0s" "0s" '\x00'}"#
        );
    }

    #[test]
    fn go_durations_and_runes() {
        let s = 1_000_000_000;
        assert_eq!(go_duration(90 * s), "1m30s");
        assert_eq!(go_duration(3600 * s + 5 * s), "1h0m5s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(1_500), "1.5\u{b5}s");
        assert_eq!(go_rune(10), r"'\n'");
        assert_eq!(go_rune(65), "'A'");
        assert_eq!(go_rune(39), r"'\''");
    }
}
