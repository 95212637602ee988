//! A container: a runtime spec over a root file system, and how its streams are connected.
//! Made by the builder (`builder.rs`) or from a spec as it is; started by `process::spawn`.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::Error;
use crate::sandbox::etc_files::EtcSpec;
use crate::sandbox::ids::new_id;
use crate::sandbox::network::NetConfig;
use crate::sandbox::rootfs::{OverlayMode, RootFs};
use crate::sandbox::volumes::{self, VolumeMount};

/// Where one of the command's standard streams goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// The caller's own descriptor.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A pipe to the caller, as an async stream on [`Child`](crate::Child).
    Piped,
}

/// A container ready to start: a runtime [`Spec`] over a [`RootFs`], plus how its standard
/// streams are connected.
#[derive(Debug, Clone)]
pub struct Container {
    pub(crate) id: String,
    pub(crate) spec: Spec,
    pub(crate) rootfs: RootFs,
    pub(crate) stdin: Stdio,
    pub(crate) stdout: Stdio,
    pub(crate) stderr: Stdio,
    pub(crate) net: NetConfig,
    pub(crate) volumes: Vec<VolumeMount>,
    pub(crate) init: bool,
    /// Docker's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` (builder containers).
    pub(crate) etc: Option<EtcSpec>,
    pub(crate) overlay: OverlayMode,
}

impl Container {
    /// A container from a runtime spec as it is (nothing of Docker's is added), over `rootfs`.
    ///
    /// What is honoured: `process` (args, env, cwd, user, capabilities, rlimits,
    /// noNewPrivileges), `hostname`, `root.readonly`, `mounts`, `linux.namespaces` (new ones
    /// only), `linux.resources` (memory, pids, cpu), `linux.maskedPaths`,
    /// `linux.readonlyPaths`, `linux.seccomp`, `linux.uidMappings`/`gidMappings` (rootful user
    /// namespaces). Joining existing namespaces (`path`) is refused; hooks, devices and sysctls
    /// are not supported yet. `process.terminal` gives the command a pty (see [`Child::pty`](crate::Child::pty)).
    pub fn new(spec: Spec, rootfs: RootFs) -> Result<Container, Error> {
        let process = spec.process().as_ref().ok_or(Error::NoCommand)?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::NoCommand);
        }
        for ns in spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
        {
            if ns.path().is_some() {
                return Err(Error::Unsupported {
                    what: format!("joining an existing {} namespace", ns.typ()),
                });
            }
        }
        Ok(Container {
            id: new_id(),
            spec,
            rootfs,
            stdin: Stdio::Null,
            stdout: Stdio::Piped,
            stderr: Stdio::Piped,
            net: NetConfig::default(),
            volumes: Vec::new(),
            init: false,
            etc: None,
            overlay: OverlayMode::Auto,
        })
    }

    /// The container's ID (64 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime spec the container runs with.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The root file system.
    pub fn rootfs(&self) -> &RootFs {
        &self.rootfs
    }

    /// The same container under another ID (the store keeps the ID it recorded).
    pub(crate) fn with_id(mut self, id: String) -> Self {
        self.id = id;
        self
    }

    /// Changes where stdin, stdout and stderr go for the next start.
    pub fn set_stdio(&mut self, stdin: Stdio, stdout: Stdio, stderr: Stdio) {
        self.stdin = stdin;
        self.stdout = stdout;
        self.stderr = stderr;
    }

    /// Whether the container runs under our init (`docker run --init`).
    ///
    /// The init is no separate binary: it is the container's first process itself, which
    /// instead of executing the command clones it as PID 2 (the command's setup and `execve`
    /// are unchanged), makes itself non-dumpable (it is a copy of the caller's memory: no
    /// `ptrace` and no `/proc/1/mem` from inside) and shows `init` as its command line rather
    /// than the caller's (`PR_SET_MM_MAP`), takes the command's user, capabilities,
    /// `no_new_privs` and seccomp filter, closes every descriptor, and then only waits for
    /// signals with every signal blocked: `SIGCHLD` reaps every exited child (orphans are
    /// re-parented to it), any other signal is forwarded to the command. When the command
    /// ends, the init exits with its status (128 + the signal when it was killed), and the
    /// kernel kills what is left in the container.
    pub fn has_init(&self) -> bool {
        self.init
    }

    /// How an overlay root is run ([`ContainerBuilder::overlay`](crate::ContainerBuilder::overlay)).
    pub fn overlay_mode(&self) -> OverlayMode {
        self.overlay
    }

    /// Changes how an overlay root is run, for the next start.
    pub fn set_overlay_mode(&mut self, mode: OverlayMode) {
        self.overlay = mode;
    }

    /// Turns our init on or off for the next start (see [`Container::has_init`]).
    pub fn set_init(&mut self, yes: bool) {
        self.init = yes;
    }

    /// The ports and outbound access asked for.
    pub(crate) fn net_config(&self) -> &NetConfig {
        &self.net
    }

    /// Replaces the network setup (a stored container, started again).
    pub(crate) fn set_net_config(&mut self, net: NetConfig) {
        self.net = net;
    }

    /// The volumes the container was built with.
    pub fn volumes(&self) -> &[VolumeMount] {
        &self.volumes
    }

    /// Stops counting this container as a user of its volumes (`docker rm`), and removes its
    /// anonymous volumes when `remove_anonymous` (`docker rm -v`). Named volumes are kept.
    pub fn release_volumes(&self, remove_anonymous: bool) -> Result<(), Error> {
        volumes::release(&self.volumes, &self.id, remove_anonymous)
    }

    pub(crate) fn namespaces(&self) -> Vec<LinuxNamespaceType> {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .map(|n| n.iter().map(|ns| ns.typ()).collect())
            .unwrap_or_default()
    }

    /// Whether the container runs in a user namespace of its own (always for a rootless caller).
    pub(crate) fn user_ns(&self) -> bool {
        !rustix::process::geteuid().is_root()
            || self.namespaces().contains(&LinuxNamespaceType::User)
    }

    /// What Docker's `/etc` files of this container say, when it was built with the builder.
    pub(crate) fn etc_spec(&self) -> Option<&EtcSpec> {
        self.etc.as_ref()
    }

    /// The stdio settings for the next start.
    pub(crate) fn stdio(&self) -> [Stdio; 3] {
        [self.stdin, self.stdout, self.stderr]
    }
}
