//! The test harness (feature `run`): a container inside a `#[tokio::test]`, started, waited
//! for until ready ([`WaitFor`]: a port, an HTTP path, a log line, a command), and removed when
//! its [`TestContainer`] is dropped — or by its monitor when the test process is killed.
//!
//! Layers, top-down: this file ([`Harness`], [`Engine::harness`]) over `guard`
//! ([`TestContainer`]) over `wait` ([`WaitFor`] and its polls) over `probe` (one attempt of
//! each check: a status line over a bare `TcpStream`, no HTTP crate).

mod guard;
mod probe;
mod wait;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use boxwright_runtime::{PortMapping, Protocol};
use tokio::time::Instant;

use crate::container::RunOptions;
use crate::engine::Engine;
use crate::error::{Error, NotReady, Result};

pub use guard::TestContainer;
pub use wait::WaitFor;

use guard::output;
use wait::{Target, Unready};

/// How long a container has to become ready unless [`Harness::timeout`] says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of the container's output a readiness failure shows.
const OUTPUT_LINES: usize = 30;

/// A container for a test, described: its image, its options, what makes it ready. Made by
/// [`Engine::harness`]; [`Harness::start`] runs it.
///
/// The test a user writes, under `#[tokio::test]` (`get` stands for the test's own HTTP
/// client):
///
/// ```no_run
/// # async fn get(addr: std::net::SocketAddr, _path: &str) -> std::io::Result<String> {
/// #     Ok(addr.to_string())
/// # }
/// use boxwright::{Engine, WaitFor};
///
/// async fn homepage_answers() -> Result<(), Box<dyn std::error::Error>> {
///     let engine = Engine::open_default()?;
///     let web = engine
///         .harness("busybox:1.36")
///         .cmd(["sh", "-c", "echo hello > index.html && exec httpd -f -p 80"])
///         .expose(80)
///         .wait_for(WaitFor::http(80, "/"))
///         .start()
///         .await?;
///     assert!(get(web.addr(80)?, "/").await?.ends_with("hello\n"));
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a harness does nothing until started"]
pub struct Harness {
    engine: Engine,
    image: String,
    opts: RunOptions,
    waits: Vec<WaitFor>,
    timeout: Duration,
}

impl Engine {
    /// A test container of `image` (a name — pulled when the store lacks it, with the
    /// `registry` feature —, an ID or a unique prefix), to describe and then
    /// [`start`](Harness::start). Not a Docker verb: what testcontainers does over Docker's.
    pub fn harness(&self, image: &str) -> Harness {
        Harness {
            engine: self.clone(),
            image: image.to_owned(),
            opts: RunOptions::new(),
            waits: Vec::new(),
            timeout: DEFAULT_READY_TIMEOUT,
        }
    }
}

impl Harness {
    /// The command (replaces the image's `Cmd`, as `docker run IMAGE CMD…`).
    pub fn cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opts = self.opts.cmd(cmd);
        self
    }

    /// `-e KEY=VALUE`.
    pub fn env(mut self, var: impl Into<String>) -> Self {
        self.opts = self.opts.env(var);
        self
    }

    /// Publishes the container's TCP `port` on a free port of the host's loopback
    /// (`-p 127.0.0.1::PORT`); [`TestContainer::addr`] gives the address.
    pub fn expose(mut self, port: u16) -> Self {
        let mapping = PortMapping::tcp(0, port).on(IpAddr::V4(Ipv4Addr::LOCALHOST));
        self.opts = self.opts.publish(mapping);
        self
    }

    /// Every other `docker run` option (`-v`, `-w`, `-p` on a chosen port, limits…): replaces
    /// the options set so far. The container is tied to this process whatever they say.
    pub fn options(mut self, opts: RunOptions) -> Self {
        self.opts = opts;
        self
    }

    /// One more readiness condition; several are waited for in order. None: ready once
    /// started.
    pub fn wait_for(mut self, wait: WaitFor) -> Self {
        self.waits.push(wait);
        self
    }

    /// How long the container has, from its start, to become ready (all conditions together);
    /// [`DEFAULT_READY_TIMEOUT`] by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the container detached and tied to this process (`docker run -d`, with
    /// [`RunOptions::tied_to_caller`]), then waits until each [`WaitFor`] holds.
    ///
    /// When it is not ready in time, or its command ends first, the container is removed and
    /// the error is [`Error::NotReady`], with the end of its output. A failure before it runs
    /// (an unknown image, a port in use, an HTTP wait on a port not published) leaves nothing
    /// either.
    pub async fn start(self) -> Result<TestContainer> {
        let Harness {
            engine,
            image,
            opts,
            waits,
            timeout,
        } = self;
        for wait in &waits {
            if let Some(port) = wait.needs_published() {
                let published = opts
                    .publish
                    .iter()
                    .any(|p| p.container_port == port && p.protocol == Protocol::Tcp);
                if !published {
                    return Err(Error::invalid(
                        "readiness check",
                        format!("{wait:?}"),
                        format!("port {port} is not published: add .expose({port})"),
                    ));
                }
            }
        }
        let id = engine.run(&image, opts.tied_to_caller()).await?;
        let deadline = Instant::now() + timeout;
        let details = match engine.container_inspect(&id).await {
            Ok(details) => details,
            Err(e) => {
                discard(TestContainer::new(engine, id, String::new(), Vec::new())).await;
                return Err(e);
            }
        };
        let info = details.info;
        let container = TestContainer::new(engine.clone(), id, info.name, info.ports);
        let target = Target {
            engine: &engine,
            id: container.id(),
            pid: info.pid.unwrap_or_default(),
            ports: container.ports(),
        };
        for wait in &waits {
            let unready = match target.until(wait, deadline).await {
                Ok(()) => continue,
                Err(unready) => unready,
            };
            let (exited, exit_code, last_attempt) = match unready {
                Unready::Exited(code) => (true, code, None),
                Unready::TimedOut(last) => (false, None, last),
                Unready::Failed(e) => {
                    discard(container).await;
                    return Err(e);
                }
            };
            let waited_for = wait.describe(container.ports());
            let output = output(&engine, container.id(), Some(OUTPUT_LINES))
                .await
                .unwrap_or_default();
            let name = container.name().to_owned();
            discard(container).await;
            return Err(Error::NotReady(Box::new(NotReady {
                container: name,
                image,
                waited_for,
                timeout,
                exited,
                exit_code,
                last_attempt,
                output,
            })));
        }
        Ok(container)
    }
}

/// Removes a container that did not become ready; a failure is logged (the error the caller
/// gets is why it was not ready), and the container still goes with this process.
async fn discard(container: TestContainer) {
    let id = container.id().to_owned();
    if let Err(e) = container.remove().await {
        tracing::warn!(%id, error = %crate::error::Report(&e), "removing a test container that was not ready");
    }
}
