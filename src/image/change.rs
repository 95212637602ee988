//! Docker's `--change` (of `docker import` and `docker commit`): Dockerfile instructions
//! applied to an image config's `config` section.

use std::collections::BTreeMap;

use boxwright_dockerfile_parser::{self as dockerfile, expand, Command, InstructionKind};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// The instructions `--change` accepts, as Docker lists them.
const ACCEPTED: &str =
    "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";

/// Applies `changes` (each one Dockerfile instruction: `CMD ["sh"]`, `ENV A=1`,
/// `WORKDIR /app`…) in order to `config`, the `config` section of an image config, as
/// `docker import --change` and `docker commit --change` do: variables in values expand
/// with the config's `Env`; `ENTRYPOINT` clears the inherited `Cmd` unless a `CMD` came
/// before it in `changes`; a shell-form command runs with the config's `Shell` (default
/// `/bin/sh -c`).
pub(crate) fn apply_changes(config: &mut Value, changes: &[String]) -> Result<()> {
    if !config.is_object() {
        *config = json!({});
    }
    let mut cmd_set = false;
    for change in changes {
        apply(config, change, &mut cmd_set)?;
    }
    Ok(())
}

fn apply(config: &mut Value, change: &str, cmd_set: &mut bool) -> Result<()> {
    let invalid = |reason: String| Error::invalid("--change", change, reason);
    // The parser wants a build stage: the change is the second line of one.
    let parsed = dockerfile::parse(&format!("FROM scratch\n{change}\n")).map_err(|e| {
        let text = e.to_string();
        invalid(text.strip_prefix("line 2: ").unwrap_or(&text).to_owned())
    })?;
    let [_from, instruction] = parsed.instructions.as_slice() else {
        return Err(invalid("one instruction per change".into()));
    };
    let env = env_of(config);
    let vars: Vec<(String, String)> = env.into_iter().collect();
    let expand = |word: &str| expand::expand(word, &vars).map_err(|e| invalid(e.to_string()));
    let obj = config
        .as_object_mut()
        .ok_or_else(|| invalid("the config is not an object".into()))?;
    match &instruction.kind {
        InstructionKind::Cmd { command } => {
            obj.insert("Cmd".into(), json!(argv(obj, command)));
            *cmd_set = true;
        }
        InstructionKind::Entrypoint { command } => {
            obj.insert("Entrypoint".into(), json!(argv(obj, command)));
            if !*cmd_set {
                obj.insert("Cmd".into(), Value::Null);
            }
        }
        InstructionKind::Env { pairs, .. } => {
            let mut list = take_array(obj, "Env");
            for pair in pairs {
                let (key, value) = (expand(&pair.key)?, expand(&pair.value)?);
                list.retain(|v| {
                    v.as_str()
                        .is_none_or(|s| s.split_once('=').map_or(s, |(k, _)| k) != key)
                });
                list.push(json!(format!("{key}={value}")));
            }
            obj.insert("Env".into(), Value::Array(list));
        }
        InstructionKind::Label { pairs, .. } => {
            let mut labels = take_object(obj, "Labels");
            for pair in pairs {
                labels.insert(expand(&pair.key)?, json!(expand(&pair.value)?));
            }
            obj.insert("Labels".into(), Value::Object(labels));
        }
        InstructionKind::Expose { ports } => {
            let mut exposed = take_object(obj, "ExposedPorts");
            for port in ports {
                let port = expand(port)?;
                let key = if port.contains('/') {
                    port.to_ascii_lowercase()
                } else {
                    format!("{port}/tcp")
                };
                exposed.insert(key, json!({}));
            }
            obj.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        InstructionKind::Volume { paths } => {
            let mut volumes = take_object(obj, "Volumes");
            for path in paths {
                volumes.insert(expand(path)?, json!({}));
            }
            obj.insert("Volumes".into(), Value::Object(volumes));
        }
        InstructionKind::Workdir { path } => {
            let path = expand(path)?;
            let joined = match obj.get("WorkingDir").and_then(Value::as_str) {
                Some(base) if !path.starts_with('/') && !base.is_empty() => {
                    format!("{}/{path}", base.trim_end_matches('/'))
                }
                _ => path,
            };
            obj.insert("WorkingDir".into(), json!(joined));
        }
        InstructionKind::User { user } => {
            obj.insert("User".into(), json!(expand(user)?));
        }
        InstructionKind::Stopsignal { signal } => {
            obj.insert("StopSignal".into(), json!(expand(signal)?));
        }
        InstructionKind::Onbuild { expression, .. } => {
            let mut triggers = take_array(obj, "OnBuild");
            triggers.push(json!(expression));
            obj.insert("OnBuild".into(), Value::Array(triggers));
        }
        _ => {
            return Err(invalid(format!(
                "{} cannot be applied to an image config (accepted: {ACCEPTED})",
                instruction.keyword.as_str()
            )))
        }
    }
    Ok(())
}

/// The config's `Env` as variables (`K=V` entries; later ones win).
fn env_of(config: &Value) -> BTreeMap<String, String> {
    config
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A command's argument vector: exec form as is, shell form under the config's `Shell`.
fn argv(config: &Map<String, Value>, command: &Command) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(text) => {
            let mut shell: Vec<String> = config
                .get("Shell")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .filter(|v: &Vec<String>| !v.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            shell.push(text.clone());
            shell
        }
    }
}

/// Takes the array `key` out of `obj` (empty when missing or not an array): put it back
/// with `obj.insert`.
fn take_array(obj: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match obj.remove(key) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// Takes the object `key` out of `obj` (empty when missing or not an object).
fn take_object(obj: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match obj.remove(key) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn changed(base: Value, changes: &[&str]) -> Result<Value> {
        let mut config = base;
        let changes: Vec<String> = changes.iter().map(|s| (*s).to_owned()).collect();
        apply_changes(&mut config, &changes)?;
        Ok(config)
    }

    #[test]
    fn changes_apply_as_dockers() {
        let c = changed(
            json!({"Env": ["PATH=/bin", "HOME=/root"], "Cmd": ["sh"], "WorkingDir": "/srv"}),
            &[
                "ENV A=1 HOME=/home/app",
                r#"ENV B="$A two""#,
                "WORKDIR app",
                "EXPOSE 80 53/UDP",
                "LABEL org.example=yes",
                "VOLUME /data",
                "USER app:app",
                "STOPSIGNAL SIGINT",
                "CMD echo $HOME",
            ],
        )
        .unwrap();
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=1", "HOME=/home/app", "B=1 two"])
        );
        assert_eq!(c["WorkingDir"], "/srv/app");
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"]["org.example"], "yes");
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["User"], "app:app");
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
    }

    #[test]
    fn entrypoint_clears_the_inherited_cmd_unless_a_cmd_came_first() {
        let base = json!({"Cmd": ["sh"]});
        let c = changed(base.clone(), &[r#"ENTRYPOINT ["/app"]"#]).unwrap();
        assert_eq!(c["Entrypoint"], json!(["/app"]));
        assert_eq!(c["Cmd"], Value::Null);
        let c = changed(base, &[r#"CMD ["--help"]"#, r#"ENTRYPOINT ["/app"]"#]).unwrap();
        assert_eq!(c["Cmd"], json!(["--help"]));
    }

    #[test]
    fn other_instructions_are_refused_by_name() {
        let err = changed(json!({}), &["RUN echo no"]).unwrap_err();
        assert!(err.to_string().contains("RUN cannot be applied"), "{err}");
        let err = changed(json!({}), &["FROMM x"]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    what: "--change",
                    ..
                }
            ),
            "{err}"
        );
    }
}
