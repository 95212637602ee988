//! `bw inspect [-f TEMPLATE]` over containers, images and volumes: Docker's JSON (its field
//! names, so `{{.State.Status}}` and `{{.Config.Env}}` read as with Docker), as an indented
//! array or through the template.

use boxwright::runtime::Error as RuntimeError;
use boxwright::store::StoreError;
use boxwright::{ContainerDetails, Engine, Error};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::cli::InspectArgs;
use crate::containers::{command_of, image_of};
use crate::format::{self, rfc3339_ns};
use crate::template::Template;
use crate::{Failure, Outcome};

/// What `--type` (or the command: `image inspect`…) restricts the lookup to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A container.
    Container,
    /// An image.
    Image,
    /// A volume.
    Volume,
}

/// `bw inspect`, `bw image inspect`, `bw container inspect`, `bw volume inspect`.
pub(crate) async fn inspect(engine: &Engine, args: InspectArgs, kind: Option<Kind>) -> Outcome {
    let kind = match (kind, args.kind.as_deref()) {
        (Some(k), _) => Some(k),
        (None, None) => None,
        (None, Some("container")) => Some(Kind::Container),
        (None, Some("image")) => Some(Kind::Image),
        (None, Some("volume")) => Some(Kind::Volume),
        (None, Some(other)) => {
            return Err(Failure::usage(format!(
                "\"{other}\" is not a valid value for --type"
            )))
        }
    };
    let template = match &args.format {
        Some(t) => Some(
            Template::parse(t)
                .map_err(|e| Failure::usage(format!("template parsing error: {e}")))?,
        ),
        None => None,
    };
    let mut found = Vec::new();
    let mut failed = None;
    for what in &args.objects {
        match lookup(engine, what, kind).await {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("bw: {}", e.message);
                failed = Some(e);
            }
        }
    }
    match template {
        Some(t) => {
            for v in &found {
                let text = t.render(v).map_err(Failure::from_error)?;
                format::println(&text);
            }
        }
        None => format::println(&indented(&Value::Array(found))),
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// JSON indented by four spaces, as Docker prints `inspect`.
fn indented(value: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    if value.serialize(&mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The object `what` names: a container, an image or a volume, in Docker's order.
async fn lookup(engine: &Engine, what: &str, kind: Option<Kind>) -> Result<Value, Failure> {
    if kind.is_none() || kind == Some(Kind::Container) {
        match engine.container_inspect(what).await {
            Ok(details) => return Ok(container_json(&details)),
            Err(Error::Runtime(RuntimeError::NoSuchContainer { .. })) if kind.is_none() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if kind.is_none() || kind == Some(Kind::Image) {
        match engine.inspect_image(what).await {
            Ok(image) => return serde_json::to_value(&image).map_err(Failure::from_error),
            Err(Error::Store(StoreError::NotFound { .. }))
            | Err(Error::Store(StoreError::Name(_)))
                if kind.is_none() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if kind.is_none() || kind == Some(Kind::Volume) {
        match engine.volume_inspect(what).await {
            Ok(v) => return Ok(crate::volumes::volume_json(&v)),
            Err(e) if kind == Some(Kind::Volume) => return Err(e.into()),
            Err(_) => {}
        }
    }
    Err(Failure::msg(format!("no such object: {what}")))
}

/// A container as `docker container inspect` shows it.
pub(crate) fn container_json(details: &ContainerDetails) -> Value {
    let c = &details.info;
    let args = command_of(details);
    let mut config = serde_json::to_value(&details.config).unwrap_or_else(|_| json!({}));
    if let Some(map) = config.as_object_mut() {
        map.insert("Image".into(), json!(image_of(details)));
        map.insert("StdinOnce".into(), json!(c.stdin_once));
        map.insert("StopTimeout".into(), json!(c.stop_timeout_ms / 1000));
        map.entry("Env").or_insert_with(|| json!([]));
        map.entry("WorkingDir").or_insert_with(|| json!(""));
        map.entry("User").or_insert_with(|| json!(""));
        map.entry("Hostname")
            .or_insert_with(|| json!(c.spec.hostname().clone().unwrap_or_default()));
    }
    let mut ports = Map::new();
    for p in &c.ports {
        let key = format!(
            "{}/{}",
            p.container_port,
            match p.protocol {
                boxwright::runtime::Protocol::Udp => "udp",
                _ => "tcp",
            }
        );
        let binding =
            json!({"HostIp": p.host.ip().to_string(), "HostPort": p.host.port().to_string()});
        match ports.get_mut(&key).and_then(Value::as_array_mut) {
            Some(list) => list.push(binding),
            None => {
                ports.insert(key, json!([binding]));
            }
        }
    }
    let mounts: Vec<Value> = c
        .spec
        .mounts()
        .as_ref()
        .map(|ms| {
            ms.iter()
                .filter(|m| m.typ().as_deref() == Some("bind") || m.options().as_ref().is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind")))
                .filter(|m| !m.destination().starts_with("/etc/") && !m.destination().starts_with("/sys") && !m.destination().starts_with("/dev") && !m.destination().starts_with("/proc"))
                .map(|m| json!({
                    "Type": "bind",
                    "Source": m.source().as_ref().map(|s| s.display().to_string()).unwrap_or_default(),
                    "Destination": m.destination().display().to_string(),
                    "RW": !m.options().as_ref().is_some_and(|o| o.iter().any(|x| x == "ro")),
                }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "Id": c.id,
        "Created": rfc3339_ns(c.created),
        "Path": args.first().cloned().unwrap_or_default(),
        "Args": args.get(1..).unwrap_or_default(),
        "State": {
            "Status": c.status.to_string(),
            "Running": c.is_running(),
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": c.pid.unwrap_or(0),
            "ExitCode": c.exit_code.unwrap_or(0),
            "Error": c.error.clone().unwrap_or_default(),
            "StartedAt": c.started_at.map(rfc3339_ns).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": c.finished_at.map(rfc3339_ns).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": details.image_id.clone().unwrap_or_default(),
        "LogPath": c.log_path,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "HostConfig": {
            "AutoRemove": c.auto_remove,
            "Init": c.init,
        },
        "Mounts": mounts,
        "Config": config,
        "NetworkSettings": {"Ports": ports},
    })
}
