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
            ConfigChange::Healthcheck(hc) => format!("HEALTHCHECK {hc}"),
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
