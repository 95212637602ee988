//! An image's config made a container's: Docker's `Config` of a container (env, command,
//! working dir, user, ports, volumes, stop signal, health check, labels), from the image's
//! with the caller's [`RunOptions`] applied by Docker's override rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::container::options::RunOptions;

/// The spec annotation that records a container's [`ContainerConfig`] as JSON (what
/// `Engine::commit` starts from, as Docker commits a container's
/// `Config`).
pub const ANNOTATION_CONFIG: &str = "org.boxwright.config";

/// A container's config, as Docker's `Config` of `docker inspect` (and an image config's
/// `config` section, whose field names it keeps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ContainerConfig {
    /// `KEY=VALUE` entries, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The command (after the entrypoint).
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// The entrypoint.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// The working directory (empty: `/`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// The user (empty: root).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Exposed ports (`80/tcp` → `{}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Value>,
    /// Volume mount points (`/data` → `{}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Value>,
    /// The stop signal, as written (`SIGQUIT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// The health check, as the image has it (recorded; not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The hostname.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// `-t`.
    #[serde(default)]
    pub tty: bool,
    /// `-i`.
    #[serde(default)]
    pub open_stdin: bool,
}

impl ContainerConfig {
    /// The `config` section of an image config document (`None` or malformed fields are
    /// empty, as Docker reads them).
    pub fn from_image(config: Option<&Value>) -> ContainerConfig {
        config
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default()
    }

    /// The image's config with `opts` applied as `docker create` does: `-e` adds or overrides
    /// (`KEY` alone takes `caller_env(KEY)`, and is left out when that is `None`);
    /// `--entrypoint` replaces the entrypoint and clears the image's `Cmd`; a command replaces
    /// `Cmd`; `-w`, `-u`, `-h`, `--stop-signal` replace; labels are added over the image's.
    pub fn with_options(
        mut self,
        opts: &RunOptions,
        caller_env: impl Fn(&str) -> Option<String>,
    ) -> ContainerConfig {
        for var in &opts.env {
            let entry = match var.split_once('=') {
                Some(_) => var.clone(),
                None => match caller_env(var) {
                    Some(value) => format!("{var}={value}"),
                    None => continue,
                },
            };
            set_env(&mut self.env, entry);
        }
        if let Some(entrypoint) = &opts.entrypoint {
            self.entrypoint = (!entrypoint.is_empty()).then(|| entrypoint.clone());
            self.cmd = None;
        }
        if let Some(cmd) = &opts.cmd {
            self.cmd = Some(cmd.clone());
        }
        if let Some(dir) = &opts.workdir {
            self.working_dir = dir.clone();
        }
        if let Some(user) = &opts.user {
            self.user = user.clone();
        }
        if let Some(hostname) = &opts.hostname {
            self.hostname = hostname.clone();
        }
        if let Some(signal) = &opts.stop_signal {
            self.stop_signal = Some(signal.clone());
        }
        for port in &opts.publish {
            self.exposed_ports
                .entry(format!("{}/{}", port.container_port, port.protocol))
                .or_insert_with(|| Value::Object(Default::default()));
        }
        self.labels
            .extend(opts.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.tty = opts.tty;
        self.open_stdin = opts.interactive;
        self
    }

    /// The argv the container runs: the entrypoint, then the command.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.entrypoint.clone().unwrap_or_default();
        argv.extend(self.cmd.iter().flatten().cloned());
        argv
    }

    /// The environment as pairs (an entry without `=` has an empty value).
    pub fn env_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env
            .iter()
            .map(|e| e.split_once('=').unwrap_or((e.as_str(), "")))
    }
}

/// Sets `entry` (`KEY=VALUE`) in `env`, replacing an entry of the same key in place.
pub(crate) fn set_env(env: &mut Vec<String>, entry: String) {
    let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ContainerConfig;
    use crate::container::options::RunOptions;

    fn image() -> ContainerConfig {
        ContainerConfig::from_image(Some(&json!({
            "Env": ["PATH=/usr/bin:/bin", "MODE=prod"],
            "Entrypoint": ["/entry.sh"],
            "Cmd": ["serve", "--port", "80"],
            "WorkingDir": "/app",
            "User": "app",
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/data": {}},
            "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"]},
            "Labels": {"a": "1"}
        })))
    }

    #[test]
    fn the_image_config_as_it_is() {
        let c = image().with_options(&RunOptions::new(), |_| None);
        assert_eq!(c.argv(), ["/entry.sh", "serve", "--port", "80"]);
        assert_eq!(c.working_dir, "/app");
        assert_eq!(c.user, "app");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert!(c.volumes.contains_key("/data"));
        assert!(c.healthcheck.is_some());
    }

    #[test]
    fn docker_override_rules() {
        let opts = RunOptions::new()
            .env("MODE=dev")
            .env("EXTRA=1")
            .env("FROM_CALLER")
            .env("UNSET_IN_CALLER")
            .cmd(["debug"])
            .workdir("/tmp")
            .user("0:0")
            .label("b", "2");
        let c = image().with_options(&opts, |k| (k == "FROM_CALLER").then(|| "yes".into()));
        assert_eq!(
            c.env,
            [
                "PATH=/usr/bin:/bin",
                "MODE=dev",
                "EXTRA=1",
                "FROM_CALLER=yes"
            ]
        );
        assert_eq!(c.argv(), ["/entry.sh", "debug"]);
        assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/tmp", "0:0"));
        assert_eq!(c.labels.len(), 2);
    }

    #[test]
    fn entrypoint_clears_the_image_cmd() {
        let c = image().with_options(&RunOptions::new().entrypoint(["sh"]), |_| None);
        assert_eq!(c.argv(), ["sh"]);
        let c = image().with_options(
            &RunOptions::new().entrypoint(["sh"]).cmd(["-c", "true"]),
            |_| None,
        );
        assert_eq!(c.argv(), ["sh", "-c", "true"]);
        let none: [&str; 0] = [];
        let c = image().with_options(&RunOptions::new().entrypoint(none), |_| None);
        assert!(c.argv().is_empty());
    }
}
