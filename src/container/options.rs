//! What a caller asks of `docker create` / `docker run`: [`RunOptions`] and the `-v` syntax
//! ([`VolumeSpec`]). Published ports use the runtime's [`PortMapping`] (`"8080:80".parse()`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use boxwright_runtime::{Network, OverlayMode, PortMapping};

use crate::error::{Error, Result};

/// The options of `docker create` and `docker run` (`-e`, `-p`, `-v`, `--entrypoint` …).
///
/// Build it with the methods (`RunOptions::new().name("web").publish("8080:80".parse()?)`) or
/// set the fields of a `RunOptions::default()`. Anything left unset comes from the image's
/// config, with Docker's rules (see [`Engine::create`](crate::Engine::create)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// `--name`; a generated `adjective_name` when `None`.
    pub name: Option<String>,
    /// The command after the image name: replaces the image's `Cmd` (`None`: the image's).
    pub cmd: Option<Vec<String>>,
    /// `--entrypoint`: replaces the image's `Entrypoint` and clears its `Cmd` (an empty vector
    /// is `--entrypoint ""`: no entrypoint).
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE` (adds or overrides the image's), or `-e KEY` (the caller's own value of
    /// `KEY`; left out when the caller has none).
    pub env: Vec<String>,
    /// `-w`: the working directory (absolute), created in the container if missing.
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]` (names or numbers).
    pub user: Option<String>,
    /// `-h`: the hostname (the short ID by default).
    pub hostname: Option<String>,
    /// `--network`: `None` is Docker's default bridge, here [`Network::Private`] (a network
    /// namespace of its own with outbound access); [`Network::None`] is `--network none`,
    /// [`Network::Host`] `--network host`.
    pub network: Option<Network>,
    /// `-p [IP:][HOST:]CONTAINER[/proto]` (host port 0: a free one, see
    /// [`ContainerInfo::ports`](boxwright_runtime::ContainerInfo::ports)).
    pub publish: Vec<PortMapping>,
    /// `-P`: publishes every port the image exposes on a free host port.
    pub publish_all: bool,
    /// `-v` (named, anonymous and bind mounts).
    pub volumes: Vec<VolumeSpec>,
    /// `--rm`: the container is removed when its command ends.
    pub auto_remove: bool,
    /// `-i`: keep stdin open.
    pub interactive: bool,
    /// `-t`: a terminal.
    pub tty: bool,
    /// `--init`: a tiny init runs as PID 1, forwarding signals and reaping zombies.
    pub init: bool,
    /// `--read-only`: the root file system is mounted read-only.
    pub read_only: bool,
    /// `-m`: the memory limit in bytes.
    pub memory: Option<i64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `-l KEY=VALUE`: labels, over the image's.
    pub labels: BTreeMap<String, String>,
    /// `--stop-signal` (a name or a number); the image's `StopSignal`, else `SIGTERM`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout`; 10 s by default.
    pub stop_timeout: Option<Duration>,
    /// How the root is mounted (no Docker flag): overlayfs, falling back to a materialized
    /// copy of the image when the kernel refuses it ([`OverlayMode::Auto`], the default), or
    /// always the copy ([`OverlayMode::Never`]).
    pub overlay: OverlayMode,
    /// The process the container is tied to (no Docker flag): when it ends, even killed by
    /// `SIGKILL`, the container is killed and removed (the runtime's
    /// [`CreateOptions::owner`](boxwright_runtime::CreateOptions::owner)).
    pub owner: Option<u32>,
}

impl RunOptions {
    /// No options: the image's config as it is.
    pub fn new() -> Self {
        Self::default()
    }

    /// `--name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The command (replaces the image's `Cmd`).
    pub fn cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }

    /// `--entrypoint` (replaces the image's `Entrypoint` and clears its `Cmd`).
    pub fn entrypoint<I, S>(mut self, entrypoint: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entrypoint = Some(entrypoint.into_iter().map(Into::into).collect());
        self
    }

    /// `-e KEY=VALUE` or `-e KEY`.
    pub fn env(mut self, var: impl Into<String>) -> Self {
        self.env.push(var.into());
        self
    }

    /// `-w`.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// `-u`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// `-h`.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// `--network`.
    pub fn network(mut self, network: Network) -> Self {
        self.network = Some(network);
        self
    }

    /// `-p` (parse Docker's syntax with `"127.0.0.1:8080:80/tcp".parse()`).
    pub fn publish(mut self, port: PortMapping) -> Self {
        self.publish.push(port);
        self
    }

    /// `-P`.
    pub fn publish_all(mut self, yes: bool) -> Self {
        self.publish_all = yes;
        self
    }

    /// `-v` (parse Docker's syntax with `"data:/var/lib/data:ro".parse()`).
    pub fn volume(mut self, volume: VolumeSpec) -> Self {
        self.volumes.push(volume);
        self
    }

    /// `--rm`.
    pub fn auto_remove(mut self, yes: bool) -> Self {
        self.auto_remove = yes;
        self
    }

    /// `-i`.
    pub fn interactive(mut self, yes: bool) -> Self {
        self.interactive = yes;
        self
    }

    /// `-t`.
    pub fn tty(mut self, yes: bool) -> Self {
        self.tty = yes;
        self
    }

    /// `--init`.
    pub fn init(mut self, yes: bool) -> Self {
        self.init = yes;
        self
    }

    /// `--read-only`.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// `-m` in bytes.
    pub fn memory(mut self, bytes: i64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// `--pids-limit`.
    pub fn pids_limit(mut self, n: i64) -> Self {
        self.pids_limit = Some(n);
        self
    }

    /// `--cpus`.
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// `-l KEY=VALUE`.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// `--stop-signal`.
    pub fn stop_signal(mut self, signal: impl Into<String>) -> Self {
        self.stop_signal = Some(signal.into());
        self
    }

    /// How the root is mounted (see [`RunOptions::overlay`](#structfield.overlay)).
    pub fn overlay(mut self, mode: OverlayMode) -> Self {
        self.overlay = mode;
        self
    }

    /// Ties the container to this process ([`RunOptions::owner`]): when it ends, however it
    /// ends, the container is killed and removed.
    pub fn tied_to_caller(mut self) -> Self {
        self.owner = Some(std::process::id());
        self
    }

    /// `--stop-timeout`.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = Some(timeout);
        self
    }
}

/// One `-v`: a named volume, an anonymous one, or a bind mount of a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeSpec {
    /// `-v NAME:DST[:ro]`: the named volume, created when missing.
    Named {
        /// The volume's name.
        name: String,
        /// Where it is mounted in the container.
        dest: String,
        /// `:ro`.
        read_only: bool,
    },
    /// `-v DST`: a new anonymous volume.
    Anonymous {
        /// Where it is mounted in the container.
        dest: String,
    },
    /// `-v SRC:DST[:ro]` with an absolute (or `./`-relative) `SRC`: a host path. Unlike
    /// Docker's `-v`, which creates a missing source directory, a missing source is refused at
    /// create (as `docker run --mount type=bind` does).
    Bind {
        /// The host path (made absolute when parsed).
        source: PathBuf,
        /// Where it is mounted in the container.
        dest: String,
        /// `:ro`.
        read_only: bool,
    },
}

impl VolumeSpec {
    /// The path in the container.
    pub fn dest(&self) -> &str {
        match self {
            VolumeSpec::Named { dest, .. }
            | VolumeSpec::Anonymous { dest }
            | VolumeSpec::Bind { dest, .. } => dest,
        }
    }
}

impl FromStr for VolumeSpec {
    type Err = Error;

    /// Parses Docker's `-v` syntax: `DST`, `NAME:DST`, `SRC:DST`, each with `:ro` or `:rw`.
    /// A source starting with `/` or `.` is a host path; anything else names a volume.
    fn from_str(spec: &str) -> Result<VolumeSpec> {
        let bad = |reason: &str| Error::invalid("volume", spec, reason);
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, dest, mode) = match parts.as_slice() {
            [dest] => (None, *dest, None),
            [src, dest] => (Some(*src), *dest, None),
            [src, dest, mode] => (Some(*src), *dest, Some(*mode)),
            _ => return Err(bad("too many colons: SRC:DST[:ro|rw]")),
        };
        if !dest.starts_with('/') {
            return Err(bad("the destination must be an absolute path"));
        }
        if dest == "/" {
            return Err(bad("the destination cannot be /"));
        }
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(_) => return Err(bad("the mode must be ro or rw")),
        };
        let dest = dest.to_owned();
        Ok(match source {
            None => VolumeSpec::Anonymous { dest },
            Some("") => return Err(bad("empty source")),
            Some(src) if src.starts_with('/') || src.starts_with('.') => {
                let source = std::path::absolute(src)
                    .map_err(|_| bad("the source path cannot be made absolute"))?;
                VolumeSpec::Bind {
                    source,
                    dest,
                    read_only,
                }
            }
            Some(name) => {
                if !boxwright_runtime::valid_name(name) {
                    return Err(bad(
                        "a volume name has only [a-zA-Z0-9][a-zA-Z0-9_.-] (a host path starts with / or .)",
                    ));
                }
                VolumeSpec::Named {
                    name: name.to_owned(),
                    dest,
                    read_only,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::VolumeSpec;

    #[test]
    fn volume_specs() {
        let v: VolumeSpec = "/data".parse().unwrap();
        assert_eq!(
            v,
            VolumeSpec::Anonymous {
                dest: "/data".into()
            }
        );
        let v: VolumeSpec = "cache:/var/cache:ro".parse().unwrap();
        assert_eq!(
            v,
            VolumeSpec::Named {
                name: "cache".into(),
                dest: "/var/cache".into(),
                read_only: true
            }
        );
        let v: VolumeSpec = "/srv/www:/www".parse().unwrap();
        assert_eq!(
            v,
            VolumeSpec::Bind {
                source: "/srv/www".into(),
                dest: "/www".into(),
                read_only: false
            }
        );
        for bad in ["data", "a:b:c:d", "x:/y:rx", ":/y", "x:/", "bad name:/x"] {
            assert!(bad.parse::<VolumeSpec>().is_err(), "{bad}");
        }
    }
}
