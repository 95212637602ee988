//! Starting a container attached: its volumes claimed, its ports bound, its `/etc` files
//! written, then one `clone3` of its init, its network set up, and the init's report.

use crate::error::Error;
use crate::process::handshake::{executed, overlay_refused, write_id_maps};
use crate::process::net::{self, find_slirp4netns};
use crate::process::running::{Child, Output};
use crate::process::volumes;
use crate::sandbox::container::{Container, Stdio};
use crate::sandbox::etc_files::TempEtc;
use crate::sandbox::prepare::Prepared;
use crate::sandbox::rootfs::{OverlayMode, RootFs};

impl Container {
    /// Starts the container attached: its command runs as PID 1 of a new PID namespace; piped
    /// streams are on the returned [`Child`].
    ///
    /// Its volumes are created, claimed and seeded first (see
    /// [`ContainerBuilder::volume`](crate::ContainerBuilder::volume)).
    ///
    /// Returns once the command has been `execve`d — or with the error the container's init
    /// reported (for example [`Error::ExecutableNotFound`]). Must be called within a tokio
    /// runtime (any flavour); the only blocking part is the `clone3` itself.
    pub async fn spawn(&self) -> Result<Child, Error> {
        if !self.volumes.is_empty() {
            let (mounts, id, rootfs) = (self.volumes.clone(), self.id.clone(), self.rootfs.clone());
            tokio::task::spawn_blocking(move || volumes::claim(&mounts, &id, &rootfs))
                .await
                .map_err(|e| Error::sys("claiming volumes", std::io::Error::other(e)))??;
        }
        if self.overlay == OverlayMode::Never {
            self.rootfs.materialize_async().await?;
        }
        match self.spawn_once().await {
            Err(e)
                if self.overlay == OverlayMode::Auto
                    && overlay_refused(&e)
                    && matches!(self.rootfs.effective(), RootFs::Overlay { .. }) =>
            {
                tracing::warn!(error = %e, "overlayfs refused: running over a materialized copy of the merged view");
                self.rootfs.materialize_async().await?;
                self.spawn_once().await
            }
            r => r,
        }
    }

    async fn spawn_once(&self) -> Result<Child, Error> {
        // Published ports are bound first: one in use fails the start before anything runs.
        // In a user namespace slirp4netns binds them (net::start), once the init — which
        // would hold a copy of sockets bound now until it executes the command — exists.
        let bound = if self.user_ns() {
            Vec::new()
        } else {
            net::bind(&self.net.ports)?
        };
        let slirp = if self.net.slirp {
            find_slirp4netns()
        } else {
            None
        };
        let etc = self
            .etc
            .as_ref()
            .map(|e| TempEtc::create(&self.id, &e.files(slirp.is_some())))
            .transpose()?;
        let p = self.prepare(etc.as_ref().map(TempEtc::path), slirp.is_some())?;
        let spawned = crate::init::spawn(&p.plan, p.flags).map_err(|e| Error::sys("clone3", e))?;
        let Prepared {
            plan,
            rootless,
            error_r,
            sync_w,
            stdin_w,
            stdout_r,
            stderr_r,
            child_fds,
            cgroup,
            terminal,
            ..
        } = p;
        drop(child_fds);
        let mut child = Child::new(
            self.id.clone(),
            spawned.pid,
            spawned.pidfd,
            cgroup,
            stdin_w,
            stdout_r,
            stderr_r,
        )?;
        child.set_etc(etc);

        if rootless {
            if let Err(e) = write_id_maps(spawned.pid, rootless, &self.spec) {
                child.kill_now();
                return Err(e);
            }
        }
        match net::start(
            &self.net.ports,
            slirp.as_ref(),
            bound,
            spawned.pid,
            rootless,
        )
        .await
        {
            Ok(net) => child.set_net(net),
            Err(e) => {
                child.kill_now();
                return Err(e);
            }
        }
        if let Some(sync_w) = sync_w {
            rustix::io::write(&sync_w, &[1]).map_err(|e| Error::sys("write", e))?;
        }
        executed(child, error_r, terminal, &plan).await
    }

    /// Runs the container to completion with stdout and stderr collected (stdin is null).
    pub async fn output(&self) -> Result<Output, Error> {
        let mut c = self.clone();
        c.set_stdio(Stdio::Null, Stdio::Piped, Stdio::Piped);
        c.spawn().await?.wait_with_output().await
    }
}
