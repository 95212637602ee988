//! [`TestContainer`]: a running container owned by a test, removed when it is dropped — or,
//! should the test process die without running `Drop` (`SIGKILL`), by its monitor.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use boxwright_runtime::{
    Containers, ExecOptions, LogOptions, Output, PublishedPort, RemoveOptions,
};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::harness::wait::published;

/// How long `Drop` waits for the removal before it lets the test go on (the removal goes on
/// in its thread). It takes milliseconds; this bounds a store lock held by another process.
const DROP_PATIENCE: Duration = Duration::from_secs(10);

/// `SIGKILL` (Linux's number).
const SIGKILL: i32 = 9;

/// A container started by [`Harness::start`](crate::Harness::start), ready, and tied to this
/// process. Dropping it kills and removes it.
///
/// **How it goes away.** Three ways, so nothing outlives the test:
///
/// - [`TestContainer::remove`]`.await`: the container is killed (`SIGKILL`: a test container
///   is not stopped gracefully), waited for and removed with its anonymous volumes, without
///   blocking the async runtime.
/// - `Drop` (the usual way: the test returns or panics): `Drop` cannot `.await`, so it sends
///   `SIGKILL` at once (one `pidfd_send_signal`), then runs the removal on a thread of its own
///   with a small current-thread tokio runtime — not on the test's runtime, which may be
///   single-threaded and is busy dropping this very value, so waiting on it would deadlock —
///   and waits for that thread for at most 10 s. The removal takes milliseconds (the monitor
///   notices the exit, the directory is renamed to the store's trash and deleted), during
///   which the test's thread is blocked; a removal that takes longer (another process holding
///   the store's lock) goes on in its thread and the test goes on.
/// - The test process dies without running `Drop` (a CI timeout's `SIGKILL`, an abort): the
///   container is tied to the process ([`RunOptions::tied_to_caller`](crate::RunOptions::tied_to_caller)),
///   so its monitor, which watches the process's pidfd, kills and removes it. No reaper
///   process or container is involved.
#[derive(Debug)]
#[must_use = "the container is removed when this value is dropped"]
pub struct TestContainer {
    engine: Engine,
    id: String,
    name: String,
    ports: Vec<PublishedPort>,
    /// Set once removed (by [`TestContainer::remove`]), so `Drop` has nothing left to do.
    removed: bool,
}

impl TestContainer {
    /// The guard of the running container `id`.
    pub(crate) fn new(engine: Engine, id: String, name: String, ports: Vec<PublishedPort>) -> Self {
        TestContainer {
            engine,
            id,
            name,
            ports,
            removed: false,
        }
    }

    /// The container's 64-digit ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's name (generated).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine it runs in (for any other verb: `cp`, `commit`, `inspect`…).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Its published ports, as bound on the host.
    pub fn ports(&self) -> &[PublishedPort] {
        &self.ports
    }

    /// The address a client connects to for the container's TCP `port`: `127.0.0.1:N` (the
    /// [`PublishedPort::connect_addr`] of the host port it is published on).
    ///
    /// An error when the port is not published (see [`Harness::expose`](crate::Harness::expose)).
    pub fn addr(&self, port: u16) -> Result<SocketAddr> {
        published(&self.ports, port).ok_or_else(|| {
            Error::invalid(
                "container port",
                port.to_string(),
                "not published: expose it with Harness::expose",
            )
        })
    }

    /// `docker exec CONTAINER CMD…`, waited for: its exit status and output.
    pub async fn exec<I, S>(&self, cmd: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let child = self
            .engine
            .exec(&self.id, cmd, &ExecOptions::default())
            .await?;
        Ok(child.wait_with_output().await?)
    }

    /// `docker logs CONTAINER`: its output so far (stdout and stderr as logged, interleaved),
    /// as text (invalid UTF-8 replaced).
    pub async fn logs(&self) -> Result<String> {
        output(&self.engine, &self.id, None).await
    }

    /// Kills and removes the container now, with its anonymous volumes (`docker rm -f -v`),
    /// without blocking the runtime as `Drop` does.
    pub async fn remove(mut self) -> Result<()> {
        self.removed = true;
        Ok(self
            .engine
            .containers()
            .remove_with(&self.id, force_remove())
            .await?)
    }
}

/// `docker rm -f -v`.
fn force_remove() -> RemoveOptions {
    RemoveOptions {
        force: true,
        volumes: true,
    }
}

/// The container's logged output, its last `tail` lines when given, as text.
pub(crate) async fn output(engine: &Engine, id: &str, tail: Option<usize>) -> Result<String> {
    let opts = LogOptions {
        tail,
        ..LogOptions::default()
    };
    let mut logs = engine.logs(id, &opts).await?;
    let mut out = Vec::new();
    while let Some(chunk) = logs.next_chunk().await? {
        out.extend_from_slice(&chunk.data);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let containers = self.engine.containers().clone();
        // Dead at once, whatever happens next (a container that ended already is no error).
        let _ = containers.kill(&self.id, SIGKILL);
        let id = self.id.clone();
        let (done, finished) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("boxwright-rm".into())
            .spawn(move || {
                let _ = done.send(remove_blocking(&containers, &id));
            });
        if let Err(e) = spawned {
            tracing::warn!(id = %self.id, error = %e, "no thread to remove a test container: it goes when this process ends");
            return;
        }
        match finished.recv_timeout(DROP_PATIENCE) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(id = %self.id, error = %crate::error::Report(&e), "removing a test container");
            }
            Err(_) => {
                tracing::warn!(id = %self.id, "removing a test container takes long: it goes on in the background");
            }
        }
    }
}

/// `docker rm -f -v`, on a current-thread runtime of the calling thread's own.
fn remove_blocking(containers: &Containers, id: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            let dir = containers.root().join("containers").join(id);
            Error::io("starting a tokio runtime to remove", dir, e)
        })?;
    Ok(runtime.block_on(containers.remove_with(id, force_remove()))?)
}
