//! `docker create` and `docker run`: an image (pulled when missing) and [`RunOptions`] made a
//! container over the image's snapshots, with the image's config applied.

use std::collections::BTreeSet;

use boxwright_layer_store::Image;
use boxwright_runtime::{
    AttachOptions, Attached, Container, CreateOptions, Network, PortMapping, RemoveOptions, RootFs,
};

use crate::container::config::{ContainerConfig, ANNOTATION_CONFIG};
use crate::container::options::{RunOptions, VolumeSpec};
use crate::container::signal::parse_signal;
use crate::engine::{Engine, ANNOTATION_IMAGE_ID, ANNOTATION_IMAGE_NAME};
use crate::error::{Error, Result};

impl Engine {
    /// `docker create IMAGE [CMD…]`: records a container of `image` (a name, an ID or a unique
    /// prefix; a name the store lacks is pulled first, with the `registry` feature) and
    /// returns its 64-digit ID. Nothing runs until [`Engine::start`].
    ///
    /// The container is Docker's: its root is the image's layers (unpacked once as snapshots)
    /// under an overlay whose read-write layer lives in the container's directory; its config is
    /// the image's (`Env`, `Entrypoint`, `Cmd`, `WorkingDir`, `User`, `ExposedPorts`, `Volumes`
    /// — an anonymous volume each —, `StopSignal`, `Healthcheck`, `Labels`) with `opts` applied
    /// by Docker's rules (see [`ContainerConfig::with_options`]). The image's ID and the name
    /// as given are recorded ([`ANNOTATION_IMAGE_ID`], [`ANNOTATION_IMAGE_NAME`]), the config
    /// too ([`ANNOTATION_CONFIG`]).
    ///
    /// Refused before anything is made: an unknown image, no command (neither the image nor
    /// `opts` give one), a bind source that does not exist (Docker's `-v` would create it), a
    /// name in use, ports published on a network other than the default. A health check is
    /// recorded but not run.
    pub async fn create(&self, image: &str, opts: RunOptions) -> Result<String> {
        self.create_with(image, opts, false).await
    }

    /// `docker run -d IMAGE [CMD…]`: [`Engine::create`] then [`Engine::start`]; returns the
    /// ID. Unlike Docker, a start that fails (a port in use, a command not found) removes the
    /// container again, so a failed run leaves nothing behind.
    ///
    /// ```no_run
    /// use boxwright::{Engine, RunOptions};
    ///
    /// # async fn demo() -> boxwright::Result<()> {
    /// let engine = Engine::open_default()?;
    /// // docker run -d --name web -p 127.0.0.1:8080:80 -v site:/www -e MODE=dev busybox httpd -f -h /www
    /// let opts = RunOptions::new()
    ///     .name("web")
    ///     .publish("127.0.0.1:8080:80".parse()?)
    ///     .volume("site:/www".parse()?)
    ///     .env("MODE=dev")
    ///     .cmd(["httpd", "-f", "-h", "/www"]);
    /// let id = engine.run("busybox", opts).await?;
    /// let ports = engine.container_inspect(&id).await?.info.ports;
    /// # let _ = ports;
    /// # Ok(()) }
    /// ```
    pub async fn run(&self, image: &str, opts: RunOptions) -> Result<String> {
        let id = self.create(image, opts).await?;
        if let Err(e) = self.containers().start(&id).await {
            self.discard(&id).await;
            return Err(e.into());
        }
        Ok(id)
    }

    /// `docker run IMAGE [CMD…]` without `-d`: creates the container and starts it attached
    /// (nothing of its output is missed). The [`Attached`] gives its output
    /// ([`Attached::next_chunk`]), its stdin with `-i` ([`Attached::stdin`] — the command reads
    /// EOF when that input ends, Docker's `StdinOnce`), and its exit code
    /// ([`Attached::wait`]). As [`Engine::run`], a failed start removes the container.
    pub async fn run_attached(
        &self,
        image: &str,
        opts: RunOptions,
        attach: AttachOptions,
    ) -> Result<Attached> {
        let stdin_once = opts.interactive && attach.stdin;
        let id = self.create_with(image, opts, stdin_once).await?;
        match self.containers().start_attached(&id, &attach).await {
            Ok(attached) => Ok(attached),
            Err(e) => {
                self.discard(&id).await;
                Err(e.into())
            }
        }
    }

    /// Removes a container whose start failed, with its anonymous volumes.
    async fn discard(&self, id: &str) {
        let opts = RemoveOptions {
            force: true,
            volumes: true,
        };
        if let Err(e) = self.containers().remove_with(id, opts).await {
            tracing::warn!(%id, error = %crate::error::Report(&e), "removing a container whose start failed");
        }
    }

    async fn create_with(&self, image: &str, opts: RunOptions, stdin_once: bool) -> Result<String> {
        let resolved = self.image_or_pull(image).await?;
        let name = image.to_owned();
        self.blocking(move |e| {
            let (container, mut create) = e.container_of(&resolved, &name, &opts)?;
            create.stdin_once = stdin_once;
            Ok(e.containers().create(&container, &create)?)
        })
        .await
    }

    /// The runtime container (not yet recorded) and its create options (blocking: unpacks the
    /// image's snapshots).
    fn container_of(
        &self,
        image: &Image,
        given: &str,
        opts: &RunOptions,
    ) -> Result<(Container, CreateOptions)> {
        let image_config = self.store().config(&image.id)?;
        let config = ContainerConfig::from_image(image_config.json.get("config"))
            .with_options(opts, |k| std::env::var(k).ok());
        for v in &opts.volumes {
            if let VolumeSpec::Bind { source, .. } = v {
                if !source.exists() {
                    return Err(Error::invalid(
                        "bind mount",
                        source.display().to_string(),
                        "bind source path does not exist",
                    ));
                }
            }
        }
        let network = opts.network.unwrap_or(Network::Private);
        let ports = published(opts, &config)?;
        if !ports.is_empty() && network != Network::Private {
            return Err(Error::invalid(
                "port publishing",
                ports[0].to_string(),
                "published ports need the default network (not none or host)",
            ));
        }
        let stop_signal = config
            .stop_signal
            .as_deref()
            .map(parse_signal)
            .transpose()?;
        let lowers: Vec<_> = self
            .store()
            .snapshots(image)?
            .into_iter()
            .map(|s| s.dir)
            .collect();
        let config_json = serde_json::to_string(&config).map_err(|e| {
            Error::invalid("container config", format!("{config:?}"), e.to_string())
        })?;
        let mut b = Container::builder(RootFs::overlay(lowers, "", ""))
            .cmd(config.argv())
            .network(network)
            .read_only(opts.read_only)
            .tty(opts.tty)
            .init(opts.init)
            .overlay(opts.overlay)
            .annotation(ANNOTATION_IMAGE_ID, image.id.to_string())
            .annotation(ANNOTATION_IMAGE_NAME, given)
            .annotation(ANNOTATION_CONFIG, config_json);
        for (k, v) in config.env_pairs() {
            b = b.env(k, v);
        }
        if !config.working_dir.is_empty() {
            b = b.workdir(&config.working_dir);
        }
        if !config.user.is_empty() {
            b = b.user(&config.user);
        }
        if !config.hostname.is_empty() {
            b = b.hostname(&config.hostname);
        }
        for p in ports {
            b = b.publish_port(p);
        }
        if let Some(m) = opts.memory {
            b = b.memory(m);
        }
        if let Some(n) = opts.pids_limit {
            b = b.pids_limit(n);
        }
        if let Some(c) = opts.cpus {
            b = b.cpus(c);
        }
        let mounted: BTreeSet<&str> = opts.volumes.iter().map(VolumeSpec::dest).collect();
        for v in &opts.volumes {
            b = match v {
                VolumeSpec::Named {
                    name,
                    dest,
                    read_only,
                } => b.volume(self.volumes(), name, dest, *read_only),
                VolumeSpec::Anonymous { dest } => b.anonymous_volume(self.volumes(), dest),
                VolumeSpec::Bind {
                    source,
                    dest,
                    read_only,
                } => b.mount_bind(source, dest, *read_only),
            };
        }
        for dest in config.volumes.keys() {
            if !mounted.contains(dest.as_str()) {
                b = b.anonymous_volume(self.volumes(), dest);
            }
        }
        let container = b.build()?;
        let create = CreateOptions {
            name: opts.name.clone(),
            auto_remove: opts.auto_remove,
            stop_signal,
            stop_timeout: opts.stop_timeout,
            init: opts.init,
            interactive: opts.interactive,
            tty: opts.tty,
            owner: opts.owner,
            ..CreateOptions::default()
        };
        Ok((container, create))
    }
}

/// The ports to publish: `-p`, and with `-P` each exposed port on a free host port.
fn published(opts: &RunOptions, config: &ContainerConfig) -> Result<Vec<PortMapping>> {
    let mut ports = opts.publish.clone();
    if opts.publish_all {
        for exposed in config.exposed_ports.keys() {
            let (port, proto) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
            let container_port: u16 = port.parse().map_err(|_| {
                Error::invalid("exposed port", exposed.clone(), "not a port number")
            })?;
            let mapping = match proto {
                "udp" => PortMapping::udp(0, container_port),
                _ => PortMapping::tcp(0, container_port),
            };
            if !ports
                .iter()
                .any(|p| p.container_port == container_port && p.protocol == mapping.protocol)
            {
                ports.push(mapping);
            }
        }
    }
    Ok(ports)
}
