//! The builder: `docker run`'s options and Docker's defaults into an oci-spec [`Spec`]. Pure:
//! volumes are claimed and seeded, and slirp4netns looked for, when the container starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxCpu, LinuxMemory, LinuxNamespace,
    LinuxNamespaceType, LinuxPids, LinuxResources, LinuxSeccomp, Mount, PosixRlimit,
    PosixRlimitType, Spec,
};

use crate::error::Error;
use crate::sandbox::caps;
use crate::sandbox::container::{Container, Stdio};
use crate::sandbox::defaults::{default_mounts, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS};
use crate::sandbox::etc_files::EtcSpec;
use crate::sandbox::ids::new_id;
use crate::sandbox::network::{NetConfig, Network, PortMapping};
use crate::sandbox::rootfs::{resolve_user, OverlayMode, RootFs};
use crate::sandbox::seccomp;
use crate::sandbox::volumes::{self, VolumeRequest, Volumes};

/// Builds a [`Container`] the way `docker run` options do; see [`Container::builder`].
#[derive(Debug, Clone)]
pub struct ContainerBuilder {
    rootfs: RootFs,
    cmd: Vec<String>,
    env: BTreeMap<String, String>,
    workdir: Option<PathBuf>,
    user: Option<String>,
    hostname: Option<String>,
    network: Network,
    memory: Option<i64>,
    memory_swap: Option<i64>,
    pids: Option<i64>,
    cpus: Option<f64>,
    read_only: bool,
    mounts: Vec<Mount>,
    cap_add: Vec<Capability>,
    cap_drop: Vec<Capability>,
    seccomp: Option<LinuxSeccomp>,
    rlimits: Vec<PosixRlimit>,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    ports: Vec<PortMapping>,
    volumes: Vec<VolumeRequest>,
    outbound: bool,
    tty: bool,
    init: bool,
    overlay: OverlayMode,
    annotations: BTreeMap<String, String>,
}

impl ContainerBuilder {
    /// An annotation in the container's spec (OCI `annotations`, as `docker run --annotation`):
    /// kept in `config.json` and reported by [`Containers::inspect`](crate::Containers::inspect)
    /// in [`ContainerInfo::spec`](crate::ContainerInfo::spec). Callers record there what the
    /// runtime does not know, such as the image a container was made from.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The command and its arguments (`docker run IMAGE CMD...`).
    pub fn cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = cmd.into_iter().map(Into::into).collect();
        self
    }

    /// Sets an environment variable (`-e K=V`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// The working directory (`-w`); created if missing. Default `/`.
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// The user (`-u`): `name`, `uid`, `name:group` or `uid:gid`, looked up in the image.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The hostname (`-h`). Default: the first 12 digits of the container ID.
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = Some(name.into());
        self
    }

    /// The network (`--network`).
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Memory limit in bytes (`--memory`); without [`memory_swap`](Self::memory_swap) the
    /// container gets no swap.
    pub fn memory(mut self, bytes: i64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Memory plus swap in bytes (`--memory-swap`); `-1` for unlimited swap.
    pub fn memory_swap(mut self, bytes: i64) -> Self {
        self.memory_swap = Some(bytes);
        self
    }

    /// Maximum number of processes (`--pids-limit`).
    pub fn pids_limit(mut self, n: i64) -> Self {
        self.pids = Some(n);
        self
    }

    /// CPU quota in CPUs (`--cpus 1.5`).
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// Mounts the root file system read-only (`--read-only`).
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Binds a host path into the container (`-v SRC:DST[:ro]`), with the mounts beneath it;
    /// read-only, they are all read-only (as Docker does since 25; on Linux older than 5.12,
    /// which lacks `mount_setattr`, only the top one is).
    pub fn mount_bind(
        mut self,
        source: impl Into<PathBuf>,
        dest: impl Into<PathBuf>,
        read_only: bool,
    ) -> Self {
        let mut m = Mount::default();
        m.set_destination(dest.into());
        m.set_typ(Some("bind".into()));
        m.set_source(Some(source.into()));
        m.set_options(Some(vec![
            "rbind".into(),
            if read_only { "ro" } else { "rw" }.into(),
        ]));
        self.mounts.push(m);
        self
    }

    /// Mounts an empty tmpfs (`--tmpfs DST`).
    pub fn tmpfs(mut self, dest: impl Into<PathBuf>) -> Self {
        let mut m = Mount::default();
        m.set_destination(dest.into());
        m.set_typ(Some("tmpfs".into()));
        m.set_source(Some("tmpfs".into()));
        m.set_options(Some(vec![
            "nosuid".into(),
            "nodev".into(),
            "mode=1777".into(),
        ]));
        self.mounts.push(m);
        self
    }

    /// Adds a capability to Docker's default set (`--cap-add`).
    pub fn cap_add(mut self, cap: Capability) -> Self {
        self.cap_add.push(cap);
        self
    }

    /// Removes a capability from Docker's default set (`--cap-drop`).
    pub fn cap_drop(mut self, cap: Capability) -> Self {
        self.cap_drop.push(cap);
        self
    }

    /// Replaces Docker's default seccomp profile (`None`: unconfined, `--security-opt
    /// seccomp=unconfined`).
    pub fn seccomp(mut self, profile: Option<LinuxSeccomp>) -> Self {
        self.seccomp = profile;
        self
    }

    /// Sets a resource limit (`--ulimit`). A hard limit above the caller's is lowered to it:
    /// raising a hard limit is never attempted.
    pub fn rlimit(mut self, typ: PosixRlimitType, soft: u64, hard: u64) -> Self {
        // Cannot fail: every field of the builder has a default.
        let r = oci_spec::runtime::PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap_or_default();
        self.rlimits.push(r);
        self
    }

    /// Where the command's stdin comes from. Default [`Stdio::Null`].
    pub fn stdin(mut self, s: Stdio) -> Self {
        self.stdin = s;
        self
    }

    /// Where its stdout goes. Default [`Stdio::Piped`].
    pub fn stdout(mut self, s: Stdio) -> Self {
        self.stdout = s;
        self
    }

    /// Where its stderr goes. Default [`Stdio::Piped`].
    pub fn stderr(mut self, s: Stdio) -> Self {
        self.stderr = s;
        self
    }

    /// Builds the runtime spec (Docker's defaults plus the options) and the container.
    ///
    /// Reads the image's `/etc/passwd` and `/etc/group` when a user is named; nothing else is
    /// touched: volumes are created, claimed and seeded, and slirp4netns is looked for, when
    /// the container starts ([`Container::spawn`], [`Containers::create`](crate::Containers::create)).
    pub fn build(self) -> Result<Container, Error> {
        if self.cmd.is_empty() {
            return Err(Error::NoCommand);
        }
        let id = new_id();
        let hostname = self.hostname.clone().unwrap_or_else(|| id[..12].to_owned());

        let (uid, gid, groups, home) = match &self.user {
            Some(u) => resolve_user(&self.rootfs, u)?,
            None => (0, 0, Vec::new(), "/root".to_owned()),
        };
        let mut env = self.env.clone();
        env.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.into());
        env.entry("HOSTNAME".into())
            .or_insert_with(|| hostname.clone());
        env.entry("HOME".into()).or_insert(home);

        let mut user = oci_spec::runtime::User::default();
        user.set_uid(uid);
        user.set_gid(gid);
        user.set_additional_gids((!groups.is_empty()).then_some(groups));

        let mut set: Capabilities = caps::docker_default();
        for c in &self.cap_add {
            set.insert(*c);
        }
        for c in &self.cap_drop {
            set.remove(c);
        }
        let mut capabilities = LinuxCapabilities::default();
        capabilities.set_bounding(Some(set.clone()));
        capabilities.set_permitted(Some(set.clone()));
        capabilities.set_effective(Some(set.clone()));
        capabilities.set_inheritable(Some(Capabilities::new()));
        capabilities.set_ambient(Some(Capabilities::new()));

        let mut process = oci_spec::runtime::Process::default();
        process.set_terminal(Some(self.tty));
        process.set_args(Some(self.cmd.clone()));
        process.set_env(Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()));
        process.set_cwd(self.workdir.clone().unwrap_or_else(|| "/".into()));
        process.set_user(user);
        process.set_capabilities(Some(capabilities));
        process.set_no_new_privileges(Some(true));
        process.set_rlimits((!self.rlimits.is_empty()).then(|| self.rlimits.clone()));

        let mut namespaces = Vec::new();
        for typ in [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Cgroup,
        ] {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(typ);
            namespaces.push(ns);
        }
        if self.network != Network::Host {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(LinuxNamespaceType::Network);
            namespaces.push(ns);
        }

        let mut resources = LinuxResources::default();
        if let Some(m) = self.memory {
            let mut mem = LinuxMemory::default();
            mem.set_limit(Some(m));
            mem.set_swap(Some(self.memory_swap.unwrap_or(m)));
            resources.set_memory(Some(mem));
        }
        if let Some(p) = self.pids {
            let mut pids = LinuxPids::default();
            pids.set_limit(p);
            resources.set_pids(Some(pids));
        }
        if let Some(c) = self.cpus {
            let mut cpu = LinuxCpu::default();
            cpu.set_period(Some(100_000));
            cpu.set_quota(Some((c * 100_000.0).round() as i64));
            resources.set_cpu(Some(cpu));
        }

        let mut linux = oci_spec::runtime::Linux::default();
        linux.set_namespaces(Some(namespaces));
        linux.set_resources(Some(resources));
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|s| (*s).to_owned()).collect()));
        linux.set_readonly_paths(Some(
            READONLY_PATHS.iter().map(|s| (*s).to_owned()).collect(),
        ));
        linux.set_seccomp(self.seccomp.clone());
        linux.set_uid_mappings(None);
        linux.set_gid_mappings(None);
        linux.set_devices(None);
        linux.set_cgroups_path(None);

        let mut mounts = default_mounts();
        mounts.extend(self.mounts.iter().cloned());

        if !self.ports.is_empty() && self.network != Network::Private {
            return Err(Error::Unsupported {
                what: "published ports without a private network (Network::Private)".into(),
            });
        }
        let net = NetConfig {
            ports: self.ports.clone(),
            // A rootless caller's published ports are forwarded by slirp4netns too.
            slirp: self.network == Network::Private
                && (self.outbound
                    || (!self.ports.is_empty() && !rustix::process::geteuid().is_root())),
        };
        let (volume_mounts, volumes) = volumes::plan(&self.volumes)?;
        mounts.extend(volume_mounts);

        let mut root = oci_spec::runtime::Root::default();
        root.set_path(match &self.rootfs {
            RootFs::Dir(d) => d.clone(),
            RootFs::Overlay { upper, .. } => upper.clone(),
        });
        root.set_readonly(Some(self.read_only));

        let etc = EtcSpec {
            hostname: hostname.clone(),
            network: self.network,
        };
        let mut spec = Spec::default();
        spec.set_hostname(Some(hostname));
        spec.set_process(Some(process));
        spec.set_root(Some(root));
        spec.set_mounts(Some(mounts));
        spec.set_linux(Some(linux));
        spec.set_annotations(
            (!self.annotations.is_empty()).then(|| self.annotations.into_iter().collect()),
        );

        let mut c = Container::new(spec, self.rootfs)?;
        c.id = id;
        c.stdin = self.stdin;
        c.stdout = self.stdout;
        c.stderr = self.stderr;
        c.net = net;
        c.volumes = volumes;
        c.init = self.init;
        c.etc = Some(etc);
        c.overlay = self.overlay;
        Ok(c)
    }

    /// Publishes `container_port` on `host_port` of every host address, TCP (`-p HOST:CONTAINER`;
    /// host port 0 picks a free one). Needs [`Network::Private`].
    pub fn publish(self, host_port: u16, container_port: u16) -> Self {
        self.publish_port(PortMapping::tcp(host_port, container_port))
    }

    /// Publishes a port as [`PortMapping`](crate::PortMapping) says (`-p IP:HOST:CONTAINER/udp`;
    /// parse Docker's syntax with `str::parse`). Needs [`Network::Private`].
    pub fn publish_port(mut self, mapping: PortMapping) -> Self {
        self.ports.push(mapping);
        self
    }

    /// Mounts the named volume `name` of `volumes` at `dest` (`-v NAME:DST[:ro]`), creating it
    /// if needed and seeding it with the image's content at `dest` when it is empty.
    pub fn volume(
        mut self,
        volumes: &Volumes,
        name: impl Into<String>,
        dest: impl Into<PathBuf>,
        read_only: bool,
    ) -> Self {
        self.volumes.push(VolumeRequest {
            store: volumes.clone(),
            name: Some(name.into()),
            dest: dest.into(),
            read_only,
        });
        self
    }

    /// Whether a [`Network::Private`] container gets outbound access through `slirp4netns`
    /// when it is installed (default `true`). `false` keeps it to loopback and published ports,
    /// and saves slirp4netns' start (some tens of milliseconds).
    pub fn outbound(mut self, yes: bool) -> Self {
        self.outbound = yes;
        self
    }

    /// Mounts a new anonymous volume of `volumes` at `dest` (`-v DST`, and each `VOLUME` of the
    /// image), seeded with the image's content at `dest`.
    pub fn anonymous_volume(mut self, volumes: &Volumes, dest: impl Into<PathBuf>) -> Self {
        self.volumes.push(VolumeRequest {
            store: volumes.clone(),
            name: None,
            dest: dest.into(),
            read_only: false,
        });
        self
    }

    /// Gives the command a terminal (`docker run -t`): a pty opened in the container's own
    /// `/dev/pts`, whose slave is the command's controlling terminal and its stdin, stdout and
    /// stderr. The master is [`Child::pty`](crate::Child::pty); the stdio settings are then ignored. Started
    /// detached ([`Containers::run`](crate::Containers::run)), the monitor holds the master
    /// and clients attach to it (see [`CreateOptions::tty`](crate::CreateOptions::tty)).
    pub fn tty(mut self, yes: bool) -> Self {
        self.tty = yes;
        self
    }

    /// Runs a tiny init of ours as PID 1 (`docker run --init`): it starts the command as PID 2,
    /// forwards every signal it receives to it, reaps every zombie of the container and exits
    /// with the command's status (128 + the signal when the command was killed, as tini).
    /// See [`Container::set_init`].
    pub fn init(mut self, yes: bool) -> Self {
        self.init = yes;
        self
    }

    /// Whether an overlay root runs on overlayfs or on a materialized copy of its merged view
    /// (default [`OverlayMode::Auto`]: overlayfs, the copy when the kernel refuses it); see
    /// [Overlay fallback](crate#overlay-fallback).
    pub fn overlay(mut self, mode: OverlayMode) -> Self {
        self.overlay = mode;
        self
    }
}

impl Container {
    /// Starts building a container over `rootfs` with Docker's defaults: the namespaces,
    /// mounts, masked and read-only paths, capabilities, seccomp profile and `no_new_privs` of
    /// `docker run`.
    pub fn builder(rootfs: impl Into<RootFs>) -> ContainerBuilder {
        ContainerBuilder {
            rootfs: rootfs.into(),
            cmd: Vec::new(),
            env: BTreeMap::new(),
            workdir: None,
            user: None,
            hostname: None,
            network: Network::None,
            memory: None,
            memory_swap: None,
            pids: None,
            cpus: None,
            read_only: false,
            mounts: Vec::new(),
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            seccomp: Some(seccomp::docker_default()),
            rlimits: Vec::new(),
            stdin: Stdio::Null,
            stdout: Stdio::Piped,
            stderr: Stdio::Piped,
            ports: Vec::new(),
            volumes: Vec::new(),
            outbound: true,
            tty: false,
            init: false,
            overlay: OverlayMode::Auto,
            annotations: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_makes_a_docker_like_spec() {
        let c = Container::builder("/nonexistent")
            .cmd(["echo", "hi"])
            .env("A", "1")
            .memory(64 << 20)
            .build()
            .unwrap();
        let spec = c.spec();
        let process = spec.process().as_ref().unwrap();
        let env = process.env().as_ref().unwrap();
        assert!(env.contains(&"A=1".to_owned()));
        assert!(env.iter().any(|e| e.starts_with("PATH=")));
        assert_eq!(spec.hostname().as_deref(), Some(&c.id()[..12]));
        let caps = process.capabilities().as_ref().unwrap();
        assert_eq!(caps::mask(caps.bounding().as_ref().unwrap()), 0xa80425fb);
        assert!(matches!(
            Container::builder("/x").build(),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn a_built_container_that_never_runs_claims_no_volume() {
        let state = tempfile::tempdir().unwrap();
        let vols = Volumes::open(state.path()).unwrap();
        let c = Container::builder("/nonexistent")
            .cmd(["true"])
            .volume(&vols, "named", "/named", false)
            .anonymous_volume(&vols, "/anon")
            .build()
            .unwrap();
        assert_eq!(c.volumes().len(), 2);
        drop(c);
        // Nothing was created, so nothing is claimed (nor left to prune).
        assert!(vols.list().unwrap().is_empty());
        assert!(matches!(
            vols.inspect("named"),
            Err(Error::NoSuchVolume { .. })
        ));
        // An invalid volume name is still refused when building.
        assert!(matches!(
            Container::builder("/nonexistent")
                .cmd(["true"])
                .volume(&vols, "../x", "/x", false)
                .build(),
            Err(Error::InvalidVolumeName { .. })
        ));
    }
}
