//! [`WaitFor`]: what makes a test container ready, and the polls that wait for it — each
//! bounded by a deadline and cut short when the container's command ends.

use std::net::SocketAddr;
use std::time::Duration;

use boxwright_runtime::{ExecOptions, LogOptions, Protocol, PublishedPort, Status};
use tokio::time::Instant;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::harness::probe;

/// What makes a container ready for a test ([`Harness::wait_for`](crate::Harness::wait_for)).
///
/// Each is polled until it holds, the container's command ends, or the harness's timeout
/// passes; several are waited for in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitFor {
    /// The container listens on this TCP port (seen in its network namespace) and, when the
    /// port is published, on an address the published port reaches (not loopback only), and
    /// the host address accepts a connection. Not a bare TCP connect: a published port's
    /// proxy accepts connections before the container listens.
    Port(u16),
    /// `GET path` over HTTP/1.0 on this published container port answers 2xx.
    Http {
        /// The container port (published: see [`Harness::expose`](crate::Harness::expose)).
        port: u16,
        /// The path, `/` or `/health`.
        path: String,
    },
    /// This text appears in the container's output (stdout or stderr), read from its log as
    /// it is written.
    Log(String),
    /// This command, run in the container (`docker exec`), exits 0.
    Exec(Vec<String>),
}

impl WaitFor {
    /// [`WaitFor::Port`].
    pub fn port(port: u16) -> Self {
        WaitFor::Port(port)
    }

    /// [`WaitFor::Http`].
    pub fn http(port: u16, path: impl Into<String>) -> Self {
        WaitFor::Http {
            port,
            path: path.into(),
        }
    }

    /// [`WaitFor::Log`].
    pub fn log(text: impl Into<String>) -> Self {
        WaitFor::Log(text.into())
    }

    /// [`WaitFor::Exec`].
    pub fn exec<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        WaitFor::Exec(cmd.into_iter().map(Into::into).collect())
    }

    /// The container port an HTTP wait needs published.
    pub(crate) fn needs_published(&self) -> Option<u16> {
        match self {
            WaitFor::Http { port, .. } => Some(*port),
            _ => None,
        }
    }

    /// What is waited for, in words, for the timeout's message.
    pub(crate) fn describe(&self, ports: &[PublishedPort]) -> String {
        match self {
            WaitFor::Port(port) => match published(ports, *port) {
                Some(addr) => format!("port {port} to listen and {addr} to accept"),
                None => format!("port {port} to listen"),
            },
            WaitFor::Http { port, path } => match published(ports, *port) {
                Some(addr) => format!("GET {path} on {addr} (port {port}) to answer 2xx"),
                None => format!("GET {path} on port {port} to answer 2xx"),
            },
            WaitFor::Log(text) => format!("{text:?} in its output"),
            WaitFor::Exec(cmd) => format!("`{}` to exit 0", cmd.join(" ")),
        }
    }
}

/// The address a client connects to for the published TCP `port`.
pub(crate) fn published(ports: &[PublishedPort], port: u16) -> Option<SocketAddr> {
    ports
        .iter()
        .find(|p| p.container_port == port && p.protocol == Protocol::Tcp)
        .map(PublishedPort::connect_addr)
}

/// Why a wait ended without the container being ready.
#[derive(Debug)]
pub(crate) enum Unready {
    /// The deadline passed; the last attempt's failure, when there was one.
    TimedOut(Option<String>),
    /// The container's command ended, with this exit code.
    Exited(Option<i32>),
    /// The engine failed (reading the container's state or log, starting an exec).
    Failed(Error),
}

impl From<Error> for Unready {
    fn from(e: Error) -> Self {
        Unready::Failed(e)
    }
}

/// The running container a wait polls.
pub(crate) struct Target<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) id: &'a str,
    /// Its init's host PID (its network namespace is that process's).
    pub(crate) pid: i32,
    pub(crate) ports: &'a [PublishedPort],
}

/// The pause between attempts: short at first (a server starts in milliseconds), then
/// longer, up to 100 ms.
fn pause(attempt: u32) -> Duration {
    Duration::from_millis((2u64 << attempt.min(6)).min(100))
}

impl Target<'_> {
    /// Waits until `wait` holds, the container's command ends, or `deadline` passes.
    pub(crate) async fn until(&self, wait: &WaitFor, deadline: Instant) -> Result<(), Unready> {
        match wait {
            WaitFor::Log(text) => self.log(text, deadline).await,
            _ => self.poll(wait, deadline).await,
        }
    }

    /// Polls a probe, an attempt at a time.
    async fn poll(&self, wait: &WaitFor, deadline: Instant) -> Result<(), Unready> {
        let mut last = None;
        for attempt in 0u32.. {
            match self.attempt(wait).await? {
                Ok(()) => return Ok(()),
                Err(why) => last = Some(why),
            }
            if let Some(code) = self.exited().await? {
                return Err(Unready::Exited(code));
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep_until(deadline.min(Instant::now() + pause(attempt))).await;
        }
        Err(Unready::TimedOut(last))
    }

    /// One attempt of a probe: `Ok(Err(why))` when it does not hold yet.
    async fn attempt(&self, wait: &WaitFor) -> Result<Result<(), String>, Unready> {
        Ok(match wait {
            WaitFor::Port(port) => {
                let (pid, port) = (self.pid, *port);
                let addr = published(self.ports, port);
                let outside = addr.is_some();
                let listening = self
                    .engine
                    .blocking(move |_| Ok(probe::listening(pid, port, outside)))
                    .await?;
                match (listening, addr) {
                    (Ok(true), Some(addr)) => probe::tcp_connect(addr).await,
                    (Ok(true), None) => Ok(()),
                    (Ok(false), Some(_)) => Err(format!(
                        "nothing listens on port {port} on an address its published port reaches (loopback only is not enough)"
                    )),
                    (Ok(false), None) => Err(format!("nothing listens on port {port}")),
                    (Err(why), _) => Err(why),
                }
            }
            WaitFor::Http { port, path } => match published(self.ports, *port) {
                Some(addr) => match probe::http_status(addr, path).await {
                    Ok(code) if (200..300).contains(&code) => Ok(()),
                    Ok(code) => Err(format!("GET {path} answered {code}")),
                    Err(why) => Err(why),
                },
                None => Err(format!("port {port} is not published")),
            },
            WaitFor::Exec(cmd) => self.exec(cmd).await?,
            WaitFor::Log(_) => Err("a log wait is not polled".to_owned()),
        })
    }

    /// Runs `cmd` in the container once: `Ok(Err(why))` unless it exits 0.
    async fn exec(&self, cmd: &[String]) -> Result<Result<(), String>, Unready> {
        let child = match self
            .engine
            .exec(self.id, cmd.iter().cloned(), &ExecOptions::default())
            .await
        {
            Ok(child) => child,
            // The container ended meanwhile: `poll` sees it next.
            Err(e) => return Ok(Err(e.report().to_string())),
        };
        let out = child.wait_with_output().await.map_err(Error::from)?;
        if out.status.success() {
            return Ok(Ok(()));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Ok(Err(format!(
            "`{}` exited {}{}{}",
            cmd.join(" "),
            out.status.code(),
            if stderr.trim().is_empty() { "" } else { ": " },
            stderr.trim()
        )))
    }

    /// `Some(exit code)` once the container's command has ended.
    async fn exited(&self) -> Result<Option<Option<i32>>, Error> {
        let id = self.id.to_owned();
        let info = self
            .engine
            .blocking(move |e| Ok(e.containers().inspect(&id)?))
            .await?;
        Ok((info.status != Status::Running).then_some(info.exit_code))
    }

    /// Follows the container's log until `text` appears in it.
    async fn log(&self, text: &str, deadline: Instant) -> Result<(), Unready> {
        if text.is_empty() {
            return Ok(());
        }
        let opts = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        let mut logs = self.engine.logs(self.id, &opts).await?;
        // The end of what was read, so that text split across chunks is found.
        let mut window: Vec<u8> = Vec::new();
        let needle = text.as_bytes();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, logs.next_chunk()).await {
                Err(_) => return Err(Unready::TimedOut(None)),
                Ok(chunk) => chunk.map_err(Error::from)?,
            };
            let Some(chunk) = chunk else {
                // Following ends once the container has exited and its log is drained.
                let code = self.exited().await?.flatten();
                return Err(Unready::Exited(code));
            };
            window.extend_from_slice(&chunk.data);
            if window.windows(needle.len()).any(|w| w == needle) {
                return Ok(());
            }
            let keep = needle.len().saturating_sub(1);
            if window.len() > keep {
                window.drain(..window.len() - keep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_a_tenth_of_a_second() {
        assert_eq!(pause(0), Duration::from_millis(2));
        assert_eq!(pause(3), Duration::from_millis(16));
        assert_eq!(pause(40), Duration::from_millis(100));
    }
}
