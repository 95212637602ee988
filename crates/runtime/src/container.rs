//! Containers: the builder, the spec they are made of, and starting one attached.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxCpu, LinuxMemory, LinuxNamespace,
    LinuxNamespaceType, LinuxPids, LinuxResources, LinuxSeccomp, Mount, PosixRlimit,
    PosixRlimitType, Spec,
};
use rustix::fs::{Mode, OFlags};
use rustix::pipe::PipeFlags;

use crate::caps;
use crate::cgroup::{Cgroup, Limits};
use crate::child::{Child, Stdio};
use crate::error::Error;
use crate::plan::{cpath, cstring, ChildPlan, InRoot, MountStep, Rlimit, Step};
use crate::rootfs::{mount_steps, resolve_user, MountContext, OverlayMode, RootFs};
use crate::seccomp;
use crate::sys;

/// Docker's default `$PATH`, set when the image and the caller set none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's masked paths: hidden behind `/dev/null` (files) or an empty read-only tmpfs (dirs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The container's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// A network namespace with only the loopback interface (`docker run --network none`).
    #[default]
    None,
    /// The host's network namespace (`--network host`).
    Host,
    /// A network namespace of its own, with loopback, published ports
    /// ([`ContainerBuilder::publish`]) and, when `slirp4netns` is installed, outbound access
    /// (see [Networks](crate#networks)).
    Private,
}

/// A container ready to start: a runtime [`Spec`] over a [`RootFs`], plus how its standard
/// streams are connected.
#[derive(Debug, Clone)]
pub struct Container {
    id: String,
    spec: Spec,
    rootfs: RootFs,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    net: crate::net::NetConfig,
    volumes: Vec<crate::volume::VolumeMount>,
    init: bool,
    /// Docker's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` (builder containers).
    etc: Option<crate::etc::EtcFiles>,
    overlay: OverlayMode,
}

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
    ports: Vec<crate::net::PortMapping>,
    volumes: Vec<crate::volume::VolumeRequest>,
    outbound: bool,
    tty: bool,
    init: bool,
    overlay: OverlayMode,
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.into());
    m.set_typ(Some(typ.into()));
    m.set_source(Some(source.into()));
    m.set_options(Some(options.iter().map(|s| (*s).to_owned()).collect()));
    m
}

/// Docker's default mounts, in order.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

/// A random container ID: 64 hex digits, as Docker's.
pub(crate) fn new_id() -> String {
    let mut b = [0u8; 32];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        // getrandom cannot fail on Linux >= 3.17 with a sized buffer; fall back to time + pid.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&t.to_le_bytes());
        b[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl ContainerBuilder {
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
    /// Reads the image's `/etc/passwd` and `/etc/group` when a user is named.
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
        let net = crate::net::NetConfig {
            ports: self.ports.clone(),
            // A rootless caller's published ports are forwarded by slirp4netns too.
            slirp: (self.network == Network::Private
                && (self.outbound
                    || (!self.ports.is_empty() && !rustix::process::geteuid().is_root())))
            .then(crate::net::find_slirp4netns)
            .flatten(),
        };
        let (volume_mounts, volumes) = crate::volume::attach(&self.volumes, &id, &self.rootfs)?;
        mounts.extend(volume_mounts);

        let mut root = oci_spec::runtime::Root::default();
        root.set_path(match &self.rootfs {
            RootFs::Dir(d) => d.clone(),
            RootFs::Overlay { upper, .. } => upper.clone(),
        });
        root.set_readonly(Some(self.read_only));

        let etc = crate::etc::EtcFiles::new(&hostname, self.network, net.slirp.is_some());
        let mut spec = Spec::default();
        spec.set_hostname(Some(hostname));
        spec.set_process(Some(process));
        spec.set_root(Some(root));
        spec.set_mounts(Some(mounts));
        spec.set_linux(Some(linux));
        spec.set_annotations(None);

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
        self.publish_port(crate::net::PortMapping::tcp(host_port, container_port))
    }

    /// Publishes a port as [`PortMapping`](crate::PortMapping) says (`-p IP:HOST:CONTAINER/udp`;
    /// parse Docker's syntax with `str::parse`). Needs [`Network::Private`].
    pub fn publish_port(mut self, mapping: crate::net::PortMapping) -> Self {
        self.ports.push(mapping);
        self
    }

    /// Mounts the named volume `name` of `volumes` at `dest` (`-v NAME:DST[:ro]`), creating it
    /// if needed and seeding it with the image's content at `dest` when it is empty.
    pub fn volume(
        mut self,
        volumes: &crate::volume::Volumes,
        name: impl Into<String>,
        dest: impl Into<PathBuf>,
        read_only: bool,
    ) -> Self {
        self.volumes.push(crate::volume::VolumeRequest {
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
    pub fn anonymous_volume(
        mut self,
        volumes: &crate::volume::Volumes,
        dest: impl Into<PathBuf>,
    ) -> Self {
        self.volumes.push(crate::volume::VolumeRequest {
            store: volumes.clone(),
            name: None,
            dest: dest.into(),
            read_only: false,
        });
        self
    }

    /// Gives the command a terminal (`docker run -t`): a pty opened in the container's own
    /// `/dev/pts`, whose slave is the command's controlling terminal and its stdin, stdout and
    /// stderr. The master is [`Child::pty`]; the stdio settings are then ignored. Started
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

/// Everything prepared in the parent: the plan and the descriptors it names.
pub(crate) struct Prepared {
    pub(crate) plan: ChildPlan,
    pub(crate) flags: u64,
    pub(crate) rootless: bool,
    /// Parent ends, kept.
    pub(crate) error_r: OwnedFd,
    pub(crate) sync_w: Option<OwnedFd>,
    pub(crate) stdin_w: Option<OwnedFd>,
    pub(crate) stdout_r: Option<OwnedFd>,
    pub(crate) stderr_r: Option<OwnedFd>,
    /// Child ends and cgroup files, closed in the parent right after the clone.
    pub(crate) child_fds: Vec<OwnedFd>,
    pub(crate) cgroup: Option<Cgroup>,
    /// With a terminal: the socket on which the child sends the pty master.
    pub(crate) terminal: Option<OwnedFd>,
}

/// A descriptor at 3 or above, so installing it as 0, 1 or 2 never clobbers another.
fn high(fd: OwnedFd) -> Result<OwnedFd, Error> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| Error::sys("fcntl", e))
}

pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
    Ok((high(r)?, high(w)?))
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
        }
    }

    /// A container from a runtime spec as it is (nothing of Docker's is added), over `rootfs`.
    ///
    /// What is honoured: `process` (args, env, cwd, user, capabilities, rlimits,
    /// noNewPrivileges), `hostname`, `root.readonly`, `mounts`, `linux.namespaces` (new ones
    /// only), `linux.resources` (memory, pids, cpu), `linux.maskedPaths`,
    /// `linux.readonlyPaths`, `linux.seccomp`, `linux.uidMappings`/`gidMappings` (rootful user
    /// namespaces). Joining existing namespaces (`path`) is refused; hooks, devices and sysctls
    /// are not supported yet. `process.terminal` gives the command a pty (see [`Child::pty`]).
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
            net: crate::net::NetConfig::default(),
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

    /// How an overlay root is run ([`ContainerBuilder::overlay`]).
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
    pub(crate) fn net_config(&self) -> &crate::net::NetConfig {
        &self.net
    }

    /// Replaces the network setup (a stored container, started again).
    pub(crate) fn set_net_config(&mut self, net: crate::net::NetConfig) {
        self.net = net;
    }

    /// The volumes the container was built with.
    pub fn volumes(&self) -> &[crate::volume::VolumeMount] {
        &self.volumes
    }

    /// Stops counting this container as a user of its volumes (`docker rm`), and removes its
    /// anonymous volumes when `remove_anonymous` (`docker rm -v`). Named volumes are kept.
    pub fn release_volumes(&self, remove_anonymous: bool) -> Result<(), Error> {
        crate::volume::release(&self.volumes, &self.id, remove_anonymous)
    }

    fn namespaces(&self) -> Vec<LinuxNamespaceType> {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .map(|n| n.iter().map(|ns| ns.typ()).collect())
            .unwrap_or_default()
    }

    /// Whether the container runs in a user namespace of its own (always for a rootless caller).
    fn user_ns(&self) -> bool {
        !rustix::process::geteuid().is_root()
            || self.namespaces().contains(&LinuxNamespaceType::User)
    }

    /// Docker's `/etc` files for this container, when it was built with the builder.
    pub(crate) fn etc_files(&self) -> Option<&crate::etc::EtcFiles> {
        self.etc.as_ref()
    }

    /// Builds the child's plan and opens every descriptor it needs; `etc_dir` holds the
    /// container's `/etc` files to bind (see [`crate::etc`]).
    pub(crate) fn prepare(&self, etc_dir: Option<&Path>) -> Result<Prepared, Error> {
        let process = self.spec.process().as_ref().ok_or(Error::NoCommand)?;
        let linux = self.spec.linux().clone().unwrap_or_default();
        let namespaces = self.namespaces();
        let rootless = !rustix::process::geteuid().is_root();
        let user_ns = self.user_ns();
        let has = |t: LinuxNamespaceType| namespaces.contains(&t);

        let mut flags = 0u64;
        for (t, f) in [
            (LinuxNamespaceType::Mount, libc::CLONE_NEWNS),
            (LinuxNamespaceType::Pid, libc::CLONE_NEWPID),
            (LinuxNamespaceType::Uts, libc::CLONE_NEWUTS),
            (LinuxNamespaceType::Ipc, libc::CLONE_NEWIPC),
            (LinuxNamespaceType::Network, libc::CLONE_NEWNET),
        ] {
            if has(t) {
                flags |= f as u64;
            }
        }
        // Without a mount namespace there is no private root to pivot into.
        flags |= libc::CLONE_NEWNS as u64;
        if user_ns {
            flags |= libc::CLONE_NEWUSER as u64;
        }

        // Pipes: errors (child writes), sync (rootless: parent writes after the id maps).
        let mut child_fds = Vec::new();
        let (error_r, error_w) = pipe()?;
        let (sync_fd, sync_w) = if user_ns || self.net.needs_sync() {
            let (r, w) = pipe()?;
            let raw = r.as_raw_fd();
            child_fds.push(r);
            (Some(raw), Some(w))
        } else {
            (None, None)
        };

        let mut stdio = [None; 3];
        let mut stdin_w = None;
        let mut stdout_r = None;
        let mut stderr_r = None;
        // With a terminal the pty's slave is 0, 1 and 2.
        let streams = if process.terminal() == Some(true) {
            [Stdio::Inherit; 3]
        } else {
            [self.stdin, self.stdout, self.stderr]
        };
        for (i, how) in streams.into_iter().enumerate() {
            let child_end = match how {
                Stdio::Inherit => continue,
                Stdio::Null => {
                    let flags = if i == 0 {
                        OFlags::RDONLY
                    } else {
                        OFlags::WRONLY
                    };
                    let fd = rustix::fs::open("/dev/null", flags | OFlags::CLOEXEC, Mode::empty())
                        .map_err(|e| Error::io("opening", "/dev/null", e.into()))?;
                    high(fd)?
                }
                Stdio::Piped => {
                    let (r, w) = pipe()?;
                    match i {
                        0 => {
                            stdin_w = Some(w);
                            r
                        }
                        1 => {
                            stdout_r = Some(r);
                            w
                        }
                        _ => {
                            stderr_r = Some(r);
                            w
                        }
                    }
                }
            };
            stdio[i] = Some(child_end.as_raw_fd());
            child_fds.push(child_end);
        }

        // cgroups.
        let limits = linux
            .resources()
            .as_ref()
            .map(Limits::from_resources)
            .unwrap_or_default();
        let (cgroup, cgroup_procs) = match Cgroup::create(&self.id, &limits)? {
            Some((cg, fds)) => {
                let raw = fds.iter().map(AsRawFd::as_raw_fd).collect();
                child_fds.extend(fds);
                (Some(cg), raw)
            }
            None => (None, Vec::new()),
        };

        // File system.
        let (root_path, root) = self.rootfs.effective().root_mount()?;
        let ctx = MountContext {
            rootless: user_ns,
            host_network: !has(LinuxNamespaceType::Network),
            cgroup: cgroup.as_ref(),
            cgroupns: has(LinuxNamespaceType::Cgroup),
        };
        let spec_mounts = self.spec.mounts().as_deref().unwrap_or(&[]);
        let mut mounts = mount_steps(spec_mounts, &ctx)?;
        if let Some(dir) = etc_dir {
            let taken: Vec<PathBuf> = spec_mounts
                .iter()
                .map(|m| m.destination().clone())
                .collect();
            mounts.extend(crate::etc::mount_steps(dir, &taken)?);
        }
        for p in linux.masked_paths().iter().flatten() {
            mounts.push(MountStep::Mask {
                dest: InRoot::new(Path::new(p))?,
            });
        }
        for p in linux.readonly_paths().iter().flatten() {
            mounts.push(MountStep::ReadOnly {
                dest: InRoot::new(Path::new(p))?,
            });
        }
        let readonly_root = self
            .spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false);

        // Process.
        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let argv = args
            .iter()
            .map(|a| cstring(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = env
            .iter()
            .map(|e| cstring(e))
            .collect::<Result<Vec<_>, _>>()?;
        let exec = exec_candidates(&args[0], &env)?;

        let cwd = process.cwd();
        if !cwd.is_absolute() {
            return Err(Error::InvalidPath {
                path: cwd.clone(),
                reason: "the working directory must be absolute",
            });
        }
        if cwd != Path::new("/") {
            // Created like a mount destination, so a missing workdir exists as in Docker.
            mounts.push(MountStep::Mkdir {
                dest: InRoot::new(cwd)?,
            });
        }

        let rlimits = process
            .rlimits()
            .iter()
            .flatten()
            .map(|r| {
                let resource = rlimit_resource(r.typ());
                let current = rustix::process::getrlimit(rlimit_kind(r.typ()));
                let cap = current.maximum.unwrap_or(u64::MAX);
                let hard = r.hard().min(cap);
                Rlimit {
                    resource,
                    soft: r.soft().min(hard),
                    hard,
                }
            })
            .collect();

        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        let caps = process
            .capabilities()
            .as_ref()
            .map(|c| caps::plan(c, last_cap));

        let user = process.user();
        let seccomp = match linux.seccomp() {
            Some(p) => seccomp::compile(p)?,
            None => Vec::new(),
        };

        let (terminal, terminal_child) = if process.terminal() == Some(true) {
            let (a, b) = crate::tty::socketpair()?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let plan = ChildPlan {
            sync_fd,
            error_fd: error_w.as_raw_fd(),
            stdio,
            cgroup_procs,
            new_cgroupns: has(LinuxNamespaceType::Cgroup),
            hostname: match (self.spec.hostname(), has(LinuxNamespaceType::Uts)) {
                (Some(h), true) => Some(cstring(h)?),
                _ => None,
            },
            loopback_up: has(LinuxNamespaceType::Network),
            root_path,
            root,
            mounts,
            readonly_root,
            rlimits,
            uid: user.uid(),
            gid: user.gid(),
            groups: if user_ns && rootless {
                None
            } else {
                Some(user.additional_gids().clone().unwrap_or_default())
            },
            caps,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            umask: user.umask(),
            cwd: cpath(cwd)?,
            seccomp,
            exec,
            argv,
            envp,
            terminal: terminal_child.as_ref().map(AsRawFd::as_raw_fd),
            init: self.init,
            init_mm: if self.init {
                crate::plan::MmLayout::current()
            } else {
                None
            },
        };
        child_fds.push(error_w);
        child_fds.extend(terminal_child);
        Ok(Prepared {
            plan,
            flags,
            rootless: user_ns,
            error_r,
            sync_w,
            stdin_w,
            stdout_r,
            stderr_r,
            child_fds,
            cgroup,
            terminal,
        })
    }

    /// Starts the container attached: its command runs as PID 1 of a new PID namespace; piped
    /// streams are on the returned [`Child`].
    ///
    /// Returns once the command has been `execve`d — or with the error the container's init
    /// reported (for example [`Error::ExecutableNotFound`]). Must be called within a tokio
    /// runtime (any flavour); the only blocking part is the `clone3` itself.
    pub async fn spawn(&self) -> Result<Child, Error> {
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
        // In a user namespace slirp4netns binds them (crate::net::start), once the init —
        // which would hold a copy of sockets bound now until it executes the command — exists.
        let bound = if self.user_ns() {
            Vec::new()
        } else {
            crate::net::bind(&self.net.ports)?
        };
        let etc = self
            .etc
            .as_ref()
            .map(|f| crate::etc::TempEtc::create(&self.id, f))
            .transpose()?;
        let p = self.prepare(etc.as_ref().map(crate::etc::TempEtc::path))?;
        let spawned = sys::spawn(&p.plan, p.flags).map_err(|e| Error::sys("clone3", e))?;
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
        match crate::net::start(&self.net, bound, spawned.pid, rootless).await {
            Ok(net) => child.set_net(net),
            Err(e) => {
                child.kill_now();
                return Err(e);
            }
        }
        if let Some(sync_w) = sync_w {
            rustix::io::write(&sync_w, &[1]).map_err(|e| Error::sys("write", e))?;
        }

        // EOF: the command was executed. 12 bytes: the step that failed.
        let mut buf = [0u8; sys::Fail::LEN];
        let n = read_all(error_r, &mut buf).await?;
        if n == 0 {
            if let Some(sock) = terminal {
                match crate::tty::receive_master(&sock) {
                    Ok(pty) => child.pty = Some(pty),
                    Err(e) => {
                        child.kill_now();
                        return Err(e);
                    }
                }
            }
            return Ok(child);
        }
        // Reap the init, which has exited with 127.
        let _ = child.wait().await;
        let Some(fail) = (n == buf.len()).then(|| sys::Fail::decode(&buf)).flatten() else {
            return Err(Error::InitDied);
        };
        Err(setup_error(&plan, fail))
    }

    /// Runs the container to completion with stdout and stderr collected (stdin is null).
    pub async fn output(&self) -> Result<crate::child::Output, Error> {
        let mut c = self.clone();
        c.set_stdio(Stdio::Null, Stdio::Piped, Stdio::Piped);
        c.spawn().await?.wait_with_output().await
    }
}

/// Whether the init failed because the kernel refused the overlay mount.
pub(crate) fn overlay_refused(e: &Error) -> bool {
    matches!(e, Error::Setup { step: Step::MountRoot, source, .. }
        if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EINVAL | libc::ENODEV)))
}

/// Reads the error pipe to EOF (or until `buf` is full).
pub(crate) async fn read_all(fd: OwnedFd, buf: &mut [u8]) -> Result<usize, Error> {
    use tokio::io::AsyncReadExt;
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
        .map_err(|e| Error::sys("registering the error pipe", e))?;
    let mut n = 0;
    while n < buf.len() {
        match rx.read(&mut buf[n..]).await {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::sys("read", e)),
        }
    }
    Ok(n)
}

/// Writes `uid_map`/`gid_map` for a user namespace: the spec's maps, or the caller's own ids as
/// root (rootless).
pub(crate) fn write_id_maps(pid: i32, rootless: bool, spec: &Spec) -> Result<(), Error> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.filter(|m| !m.is_empty()).map(|m| {
            m.iter()
                .map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size()))
                .collect::<String>()
        })
    };
    let uid_map = fmt(linux.and_then(|l| l.uid_mappings().as_ref()))
        .unwrap_or_else(|| format!("0 {} 1\n", rustix::process::geteuid().as_raw()));
    let gid_map = fmt(linux.and_then(|l| l.gid_mappings().as_ref()))
        .unwrap_or_else(|| format!("0 {} 1\n", rustix::process::getegid().as_raw()));
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |name: &str, text: &str| {
        let path = proc.join(name);
        std::fs::write(&path, text).map_err(|source| Error::UserNamespace { path, source })
    };
    if rootless {
        write("setgroups", "deny")?;
    }
    write("uid_map", &uid_map)?;
    write("gid_map", &gid_map)
}

/// The paths `execve` tries: the command itself when it has a slash, else each `$PATH` entry.
fn exec_candidates(cmd: &str, env: &[String]) -> Result<Vec<std::ffi::CString>, Error> {
    if cmd.contains('/') {
        return Ok(vec![cstring(cmd)?]);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| if d.is_empty() { "." } else { d })
        .map(|d| cstring(&format!("{}/{cmd}", d.trim_end_matches('/'))))
        .collect()
}

/// The typed error for a failure the child reported.
pub(crate) fn setup_error(plan: &ChildPlan, fail: sys::Fail) -> Error {
    let source = std::io::Error::from_raw_os_error(fail.errno);
    let index = fail.index as usize;
    match fail.step {
        Step::Exec => {
            let name = plan.argv[0].to_string_lossy().into_owned();
            if !name.contains('/') && fail.errno == libc::ENOENT {
                Error::ExecutableNotFound { name }
            } else {
                let path = plan
                    .exec
                    .get(index)
                    .map_or(name, |p| p.to_string_lossy().into_owned());
                Error::Exec { path, source }
            }
        }
        Step::Mount => Error::Setup {
            step: fail.step,
            detail: plan.mounts.get(index).map(|m| m.dest().to_owned()),
            source,
        },
        Step::Chdir => Error::Setup {
            step: fail.step,
            detail: Some(plan.cwd.to_string_lossy().into_owned()),
            source,
        },
        step => Error::Setup {
            step,
            detail: None,
            source,
        },
    }
}

fn rlimit_resource(t: PosixRlimitType) -> u32 {
    rlimit_kind(t) as u32
}

fn rlimit_kind(t: PosixRlimitType) -> rustix::process::Resource {
    use rustix::process::Resource as R;
    match t {
        PosixRlimitType::RlimitCpu => R::Cpu,
        PosixRlimitType::RlimitFsize => R::Fsize,
        PosixRlimitType::RlimitData => R::Data,
        PosixRlimitType::RlimitStack => R::Stack,
        PosixRlimitType::RlimitCore => R::Core,
        PosixRlimitType::RlimitRss => R::Rss,
        PosixRlimitType::RlimitNproc => R::Nproc,
        PosixRlimitType::RlimitNofile => R::Nofile,
        PosixRlimitType::RlimitMemlock => R::Memlock,
        PosixRlimitType::RlimitAs => R::As,
        PosixRlimitType::RlimitLocks => R::Locks,
        PosixRlimitType::RlimitSigpending => R::Sigpending,
        PosixRlimitType::RlimitMsgqueue => R::Msgqueue,
        PosixRlimitType::RlimitNice => R::Nice,
        PosixRlimitType::RlimitRtprio => R::Rtprio,
        PosixRlimitType::RlimitRttime => R::Rttime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search_candidates() {
        let env = vec!["PATH=/usr/bin:/bin/".to_owned()];
        let c = exec_candidates("sh", &env).unwrap();
        assert_eq!(c, [c"/usr/bin/sh".to_owned(), c"/bin/sh".to_owned()]);
        assert_eq!(exec_candidates("./x", &env).unwrap(), [c"./x".to_owned()]);
        assert_eq!(exec_candidates("true", &[]).unwrap().len(), 6);
    }

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
}
