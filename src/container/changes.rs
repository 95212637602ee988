//! `docker commit --change`: Dockerfile lines (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`,
//! `ONBUILD`, `USER`, `VOLUME`, `WORKDIR`, `STOPSIGNAL`, `HEALTHCHECK`) applied to an image
//! config's `config` section, parsed by the Dockerfile parser.

use std::collections::BTreeMap;

use boxwright_dockerfile_parser::{
    expand::expand, Command, ExposedPort, Healthcheck, Instruction, InstructionKind,
};
use serde_json::{json, Map, Value};

use crate::container::config::set_env;
use crate::error::{Error, Result};

/// Applies `changes` (one Dockerfile instruction each) to `config` (an image config's
/// `config` object) in order, as `docker commit --change` and `docker import --change` do:
/// words are expanded with the config's `Env`; shell-form commands run through its `Shell`
/// (`/bin/sh -c` by default); an `ENTRYPOINT` clears `Cmd` unless a `CMD` change came before.
pub(crate) fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let bad = |reason: String| Error::invalid("--change", change.clone(), reason);
        // A change is a stage's instruction: the parser wants the stage's FROM before it.
        let file = boxwright_dockerfile_parser::parse(&format!("FROM scratch\n{change}"))
            .map_err(|e| bad(e.kind().to_string()))?;
        for ins in file.instructions.iter().skip(1) {
            apply_one(config, ins, &mut cmd_set).map_err(bad)?;
        }
    }
    Ok(())
}

/// Applies one instruction; the reason it is refused.
fn apply_one(
    config: &mut Map<String, Value>,
    ins: &Instruction,
    cmd_set: &mut bool,
) -> std::result::Result<(), String> {
    let vars = env_vars(config);
    let word = |w: &str| expand(w, &vars).map_err(|e| format!("{w}: {e}"));
    match &ins.kind {
        InstructionKind::Env { pairs, .. } => {
            let mut env = strings(config.get("Env"));
            for p in pairs {
                set_env(&mut env, format!("{}={}", word(&p.key)?, word(&p.value)?));
            }
            config.insert("Env".into(), json!(env));
        }
        InstructionKind::Label { pairs, .. } => {
            let mut labels = take_object(config, "Labels");
            for p in pairs {
                labels.insert(word(&p.key)?, json!(word(&p.value)?));
            }
            config.insert("Labels".into(), Value::Object(labels));
        }
        InstructionKind::Workdir { path } => {
            let p = word(path)?;
            let dir = if p.starts_with('/') {
                p
            } else {
                let cur = config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("/");
                format!("{}/{p}", cur.trim_end_matches('/'))
            };
            config.insert("WorkingDir".into(), json!(dir));
        }
        InstructionKind::User { user } => {
            config.insert("User".into(), json!(word(user)?));
        }
        InstructionKind::Expose { ports } => {
            let mut exposed = take_object(config, "ExposedPorts");
            for p in ports {
                let p = word(p)?;
                let port = ExposedPort::parse(&p).map_err(|e| format!("EXPOSE {p}: {e}"))?;
                for n in port.start..=port.end {
                    exposed.insert(format!("{n}/{}", port.protocol.as_str()), json!({}));
                }
            }
            config.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        InstructionKind::Volume { paths } => {
            let mut volumes = take_object(config, "Volumes");
            for p in paths {
                volumes.insert(word(p)?, json!({}));
            }
            config.insert("Volumes".into(), Value::Object(volumes));
        }
        InstructionKind::Stopsignal { signal } => {
            config.insert("StopSignal".into(), json!(word(signal)?));
        }
        InstructionKind::Cmd { command } => {
            let v = vector(command, config);
            config.insert("Cmd".into(), json!(v));
            *cmd_set = true;
        }
        InstructionKind::Entrypoint { command } => {
            let v = vector(command, config);
            config.insert("Entrypoint".into(), json!(v));
            if !*cmd_set {
                config.insert("Cmd".into(), Value::Null);
            }
        }
        InstructionKind::Healthcheck(hc) => {
            config.insert("Healthcheck".into(), healthcheck(hc));
        }
        InstructionKind::Onbuild { expression, .. } => {
            let mut triggers = strings(config.get("OnBuild"));
            triggers.push(expression.clone());
            config.insert("OnBuild".into(), json!(triggers));
        }
        _ => {
            return Err(format!(
                "{} is not a valid change command",
                ins.keyword.as_str()
            ))
        }
    }
    Ok(())
}

/// The config's `Env` as variables for expansion.
fn env_vars(config: &Map<String, Value>) -> BTreeMap<String, String> {
    strings(config.get("Env"))
        .into_iter()
        .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// A JSON array of strings (anything else is empty).
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The object at `key`, taken out (empty when missing or not an object): put it back.
fn take_object(config: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match config.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A command as the config stores it (shell form through the config's `Shell`).
fn vector(command: &Command, config: &Map<String, Value>) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = strings(config.get("Shell"));
            if v.is_empty() {
                v = vec!["/bin/sh".into(), "-c".into()];
            }
            v.push(s.clone());
            v
        }
    }
}

/// Docker's `Healthcheck` object.
fn healthcheck(hc: &Healthcheck) -> Value {
    match hc {
        Healthcheck::None => json!({"Test": ["NONE"]}),
        Healthcheck::Cmd {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test: Vec<String> = match command {
                Command::Exec(v) => std::iter::once("CMD".to_owned())
                    .chain(v.iter().cloned())
                    .collect(),
                Command::Shell(s) => vec!["CMD-SHELL".to_owned(), s.clone()],
            };
            let mut o = Map::new();
            o.insert("Test".into(), json!(test));
            for (k, d) in [
                ("Interval", interval),
                ("Timeout", timeout),
                ("StartPeriod", start_period),
                ("StartInterval", start_interval),
            ] {
                if let Some(d) = d.filter(|d| !d.is_zero()) {
                    o.insert(k.into(), json!(d.as_nanos() as u64));
                }
            }
            if let Some(r) = retries.filter(|r| *r > 0) {
                o.insert("Retries".into(), json!(r));
            }
            Value::Object(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::apply_changes;

    fn apply(changes: &[&str]) -> Map<String, Value> {
        let mut c = json!({"Env": ["PATH=/bin", "APP=/srv"], "Cmd": ["sh"], "WorkingDir": "/srv"})
            .as_object()
            .cloned()
            .unwrap();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &changes).unwrap();
        c
    }

    #[test]
    fn each_kind_of_change() {
        let c = apply(&[
            "ENV MODE=prod DIR=$APP/data",
            "LABEL a=b",
            "EXPOSE 80 53/udp",
            "VOLUME /data",
            "WORKDIR web",
            "USER nobody",
            "STOPSIGNAL SIGQUIT",
            "CMD echo hi",
            "HEALTHCHECK --interval=5s CMD true",
        ]);
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "APP=/srv", "MODE=prod", "DIR=/srv/data"])
        );
        assert_eq!(c["Labels"], json!({"a": "b"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["WorkingDir"], json!("/srv/web"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["StopSignal"], json!("SIGQUIT"));
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(
            c["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64})
        );
    }

    #[test]
    fn entrypoint_resets_cmd_unless_cmd_came_first() {
        let c = apply(&["ENTRYPOINT [\"/entry\"]"]);
        assert_eq!(c["Cmd"], Value::Null);
        let c = apply(&["CMD [\"x\"]", "ENTRYPOINT [\"/entry\"]"]);
        assert_eq!(c["Cmd"], json!(["x"]));
    }

    #[test]
    fn build_instructions_are_refused() {
        let mut c = Map::new();
        for change in ["RUN true", "COPY a b", "FROM busybox", "NOPE x"] {
            let err = apply_changes(&mut c, &[change.to_owned()]).unwrap_err();
            assert!(err.to_string().contains("--change"), "{err}");
        }
    }
}
