//! The verbs of a container that exists: start, stop, restart, kill, wait, attach, logs, rm,
//! inspect and prune — the runtime's, by name or ID prefix, with the image recorded beside.

use std::time::Duration;

use boxwright_runtime::{
    AttachOptions, Attached, ContainerInfo, LogOptions, Logs, RemoveOptions, Status,
};
use serde::Serialize;

use crate::container::config::{ContainerConfig, ANNOTATION_CONFIG};
use crate::container::signal::parse_signal;
use crate::engine::{Engine, ANNOTATION_IMAGE_ID, ANNOTATION_IMAGE_NAME};
use crate::error::Result;

/// What `docker inspect CONTAINER` shows: the runtime's record, the image it was made from and
/// its config.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ContainerDetails {
    /// The runtime's record: ID, name, state, PID, exit code, ports, root file system, spec.
    pub info: ContainerInfo,
    /// The image's ID (`sha256:…`), when the container was made by the facade.
    pub image_id: Option<String>,
    /// The image as it was named at create (`busybox`, an ID prefix…).
    pub image_name: Option<String>,
    /// Its config: the image's with the create options applied (empty for a container the
    /// facade did not make).
    pub config: ContainerConfig,
}

impl ContainerDetails {
    /// The details of a runtime record, read from its spec's annotations.
    pub(crate) fn of(info: ContainerInfo) -> ContainerDetails {
        let note = |key: &str| {
            info.spec
                .annotations()
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
        };
        let image_id = note(ANNOTATION_IMAGE_ID);
        let image_name = note(ANNOTATION_IMAGE_NAME);
        let config = note(ANNOTATION_CONFIG)
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default();
        ContainerDetails {
            info,
            image_id,
            image_name,
            config,
        }
    }

    /// The ID.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.info.name
    }
}

impl Engine {
    /// `docker start CONTAINER`: starts a created or exited container, detached (its output
    /// goes to its log). Starting a running container does nothing.
    pub async fn start(&self, container: &str) -> Result<()> {
        Ok(self.containers().start(container).await?)
    }

    /// `docker start -a [-i] CONTAINER`: starts it with this client attached before the
    /// command runs.
    pub async fn start_attached(&self, container: &str, attach: AttachOptions) -> Result<Attached> {
        Ok(self.containers().start_attached(container, &attach).await?)
    }

    /// `docker stop [-t N] CONTAINER`: the stop signal (the image's `StopSignal`, else
    /// `SIGTERM`), then `SIGKILL` after `timeout` (the container's, 10 s by default); returns
    /// the exit code.
    pub async fn stop(&self, container: &str, timeout: Option<Duration>) -> Result<i32> {
        Ok(self.containers().stop(container, timeout).await?)
    }

    /// `docker restart [-t N] CONTAINER`: stops it (if running) and starts it again.
    pub async fn restart(&self, container: &str, timeout: Option<Duration>) -> Result<()> {
        Ok(self.containers().restart(container, timeout).await?)
    }

    /// `docker kill [-s SIGNAL] CONTAINER`: sends `signal`, a name (`SIGHUP`, `hup`) or a
    /// number (see [`parse_signal`](crate::parse_signal)); `docker kill`'s default is `KILL`.
    pub async fn kill(&self, container: &str, signal: &str) -> Result<()> {
        let signal = parse_signal(signal)?;
        let container = container.to_owned();
        self.blocking(move |e| Ok(e.containers().kill(&container, signal)?))
            .await
    }

    /// `docker wait CONTAINER`: waits for its command to end; returns the exit code.
    pub async fn wait(&self, container: &str) -> Result<i32> {
        Ok(self.containers().wait(container).await?)
    }

    /// `docker attach CONTAINER`: its output (and, with `-i`, its stdin) from now on.
    pub async fn attach(&self, container: &str, attach: AttachOptions) -> Result<Attached> {
        Ok(self.containers().attach(container, &attach).await?)
    }

    /// `docker logs [-f] [-t] [--tail N] [--since] [--until] CONTAINER`: its logged output
    /// ([`Logs::next_chunk`] tells stdout from stderr).
    pub async fn logs(&self, container: &str, opts: &LogOptions) -> Result<Logs> {
        let container = container.to_owned();
        let opts = opts.clone();
        self.blocking(move |e| Ok(e.containers().logs_with(&container, &opts)?))
            .await
    }

    /// `docker rm [-f] [-v] CONTAINER`: removes it (a running one only with `force`, which
    /// kills it first); `volumes` removes its anonymous volumes too.
    pub async fn rm(&self, container: &str, opts: RemoveOptions) -> Result<()> {
        Ok(self.containers().remove_with(container, opts).await?)
    }

    /// `docker container inspect CONTAINER`.
    pub async fn container_inspect(&self, container: &str) -> Result<ContainerDetails> {
        let container = container.to_owned();
        self.blocking(move |e| Ok(ContainerDetails::of(e.containers().inspect(&container)?)))
            .await
    }

    /// `docker container prune`: removes every container that is not running (created and
    /// exited ones) with its anonymous volumes' claims released (the volumes stay, as in
    /// Docker; `volume_prune` removes them); returns their IDs.
    pub async fn container_prune(&self) -> Result<Vec<String>> {
        let stopped: Vec<String> = self
            .blocking(|e| Ok(e.containers().list(true)?))
            .await?
            .into_iter()
            .filter(|c| c.status != Status::Running)
            .map(|c| c.id)
            .collect();
        let mut removed = Vec::with_capacity(stopped.len());
        for id in stopped {
            match self
                .containers()
                .remove_with(&id, RemoveOptions::default())
                .await
            {
                Ok(()) => removed.push(id),
                // Started or removed meanwhile by another process: not ours to prune.
                Err(e) => tracing::debug!(%id, error = %crate::error::Report(&e), "not pruned"),
            }
        }
        Ok(removed)
    }
}
