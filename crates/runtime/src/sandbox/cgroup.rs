//! cgroup limits for memory, pids and cpu, on cgroup v2 and on v1 (including the hybrid layout:
//! v1 controllers under `/sys/fs/cgroup/<controller>` beside a v2 mount that has none of them),
//! and the container's read-only view of its cgroup at `/sys/fs/cgroup` ([`view_steps`]).
//!
//! A container gets a cgroup only when it asks for a limit: `boxwright/<id>` at the top of each
//! hierarchy (`/sys/fs/cgroup/<controller>/boxwright/<id>` on v1, `/sys/fs/cgroup/boxwright/<id>`
//! on v2), as Docker's cgroupfs driver uses `/docker/<id>`. It then has every one of the three
//! controllers the host offers, limited or not: on v1 a directory in each of those hierarchies,
//! on v2 the three enabled in `boxwright/cgroup.subtree_control` (and first in the root's, where
//! systemd has normally enabled them already). The child joins by writing `0` to the
//! `cgroup.procs` files opened here (the kernel checks a migration against the cgroup namespace
//! the file was opened in — Linux 5.16, and the stable kernels with the CVE-2021-4197 fix — so
//! an exec'd process joins after entering the container's namespace even under cgroup2's
//! `nsdelegate`), then creates its cgroup namespace, so inside the container its cgroup is
//! `/`. The directories are removed when the container has been waited for.
//!
//! The v2 path is tested in a VM by `tests/vm/cgroup2.sh` (pure v2, mounted as systemd does).
//! Not handled on v2: a caller inside a cgroup namespace whose root holds processes (as in a
//! container of another runtime), where the kernel's "no internal processes" rule refuses to
//! enable controllers below it — that is [`Error::CgroupUnavailable`] naming the controller;
//! and a rootless caller's delegated subtree (systemd's `user@UID.service`), which rootless
//! containers could use for limits but do not yet.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxResources;
use rustix::fs::{Mode, OFlags};

use crate::error::Error;
use crate::plan::{cpath, cstring, InRoot, Kind, MountStep};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// The limits this runtime applies, taken from the spec's `linux.resources`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) memory: Option<i64>,
    /// Memory plus swap (the spec's and Docker's `memory-swap`); `None` with a memory limit
    /// means no swap at all.
    pub(crate) memory_swap: Option<i64>,
    pub(crate) pids: Option<i64>,
    pub(crate) cpu_quota: Option<i64>,
    pub(crate) cpu_period: Option<u64>,
    pub(crate) cpu_shares: Option<u64>,
}

impl Limits {
    pub(crate) fn from_resources(r: &LinuxResources) -> Self {
        let mem = r.memory().as_ref();
        let cpu = r.cpu().as_ref();
        Limits {
            memory: mem.and_then(|m| m.limit()).filter(|l| *l > 0),
            memory_swap: mem.and_then(|m| m.swap()).filter(|l| *l != 0),
            pids: r.pids().as_ref().map(|p| p.limit()).filter(|l| *l > 0),
            cpu_quota: cpu.and_then(|c| c.quota()).filter(|q| *q > 0),
            cpu_period: cpu.and_then(|c| c.period()),
            cpu_shares: cpu.and_then(|c| c.shares()),
        }
    }

    fn wants(&self, controller: &str) -> bool {
        match controller {
            "memory" => self.memory.is_some(),
            "pids" => self.pids.is_some(),
            "cpu" => self.cpu_quota.is_some() || self.cpu_shares.is_some(),
            _ => false,
        }
    }

    pub(crate) fn any(&self) -> bool {
        ["memory", "pids", "cpu"].iter().any(|c| self.wants(c))
    }
}

/// The machine's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Unified hierarchy at `/sys/fs/cgroup`.
    V2,
    /// v1 controllers found: (controller, mount point).
    V1(Vec<(&'static str, PathBuf)>),
}

#[allow(clippy::unnecessary_cast)] // the field is 32-bit on some targets
fn fs_magic(path: &str) -> Option<i64> {
    rustix::fs::statfs(path).ok().map(|s| s.f_type as i64)
}

/// Detects the layout once per process.
pub(crate) fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        if fs_magic(CGROUP_ROOT) == Some(CGROUP2_SUPER_MAGIC) {
            return Layout::V2;
        }
        let mut found = Vec::new();
        for controller in ["memory", "pids", "cpu"] {
            let mount = Path::new(CGROUP_ROOT).join(controller);
            if fs_magic(&mount.to_string_lossy()) != Some(CGROUP_SUPER_MAGIC) {
                continue;
            }
            found.push((controller, mount));
        }
        Layout::V1(found)
    })
}

/// A container's cgroup (one directory per v1 controller, or one v2 directory).
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<PathBuf>,
    /// On v1: the controller of each of `dirs`, in the same order (empty on v2).
    controllers: Vec<&'static str>,
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| Error::io("writing cgroup file", path, e))
}

fn unavailable(controller: &'static str, e: &io::Error, path: &Path) -> Error {
    Error::CgroupUnavailable {
        controller,
        reason: format!("cannot create {}: {e}", path.display()),
    }
}

/// The controllers this runtime manages, in the order it sets them up.
const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

impl Cgroup {
    /// Creates the cgroup and applies the limits; returns it with the `cgroup.procs` files the
    /// child writes to. `None` when no limit is asked for.
    ///
    /// The cgroup has every managed controller the host offers, limited or not (as Docker's
    /// has them all), so the container's view of it is complete: a v1 directory in each of
    /// the memory, pids and cpu hierarchies that are mounted; on v2 all three enabled in
    /// `boxwright/`'s `cgroup.subtree_control`. A controller the limits need but the host does
    /// not offer is [`Error::CgroupUnavailable`]; one they do not need is left out.
    pub(crate) fn create(
        id: &str,
        limits: &Limits,
    ) -> Result<Option<(Cgroup, Vec<OwnedFd>)>, Error> {
        if !limits.any() {
            return Ok(None);
        }
        let mut cg = Cgroup {
            dirs: Vec::new(),
            controllers: Vec::new(),
        };
        let mut procs = Vec::new();
        match layout() {
            Layout::V2 => {
                let root = Path::new(CGROUP_ROOT);
                let base = root.join("boxwright");
                fs::create_dir_all(&base).map_err(|e| unavailable("memory", &e, &base))?;
                enable_v2(root, &base, limits)?;
                let dir = base.join(id);
                fs::create_dir(&dir).map_err(|e| unavailable("memory", &e, &dir))?;
                cg.dirs.push(dir.clone());
                apply_v2(&dir, limits)?;
                procs.push(open_procs(&dir)?);
            }
            Layout::V1(controllers) => {
                for controller in CONTROLLERS {
                    let Some((name, mount)) = controllers.iter().find(|(c, _)| *c == controller)
                    else {
                        if limits.wants(controller) {
                            return Err(Error::CgroupUnavailable {
                                controller,
                                reason: "no v1 hierarchy mounted for it".into(),
                            });
                        }
                        continue;
                    };
                    let dir = mount.join("boxwright").join(id);
                    if let Err(e) = fs::create_dir_all(&dir) {
                        if !limits.wants(controller) {
                            tracing::debug!(path = %dir.display(), error = %e, "cgroup left out");
                            continue;
                        }
                        cg.remove();
                        return Err(unavailable(name, &e, &dir));
                    }
                    cg.dirs.push(dir.clone());
                    cg.controllers.push(name);
                    let applied = match *name {
                        "memory" => limits.memory.map_or(Ok(()), |m| {
                            write(&dir, "memory.limit_in_bytes", &m.to_string())?;
                            if dir.join("memory.memsw.limit_in_bytes").exists() {
                                let total = limits.memory_swap.unwrap_or(m);
                                write(&dir, "memory.memsw.limit_in_bytes", &total.to_string())?;
                            }
                            Ok(())
                        }),
                        "pids" => limits
                            .pids
                            .map_or(Ok(()), |p| write(&dir, "pids.max", &p.to_string())),
                        _ => (|| {
                            if let Some(q) = limits.cpu_quota {
                                let period = limits.cpu_period.unwrap_or(100_000);
                                write(&dir, "cpu.cfs_period_us", &period.to_string())?;
                                write(&dir, "cpu.cfs_quota_us", &q.to_string())?;
                            }
                            if let Some(s) = limits.cpu_shares {
                                write(&dir, "cpu.shares", &s.to_string())?;
                            }
                            Ok(())
                        })(),
                    };
                    match applied.and_then(|()| open_procs(&dir)) {
                        Ok(fd) => procs.push(fd),
                        Err(e) => {
                            cg.remove();
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(Some((cg, procs)))
    }

    /// The cgroup's directories (for messages and tests).
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Hands the directories over to whoever removes them later (a detached container's
    /// monitor); dropping the `Cgroup` then removes nothing.
    pub(crate) fn keep(mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.dirs)
    }

    /// Removes the directories (after the container's processes are gone). Best effort.
    pub(crate) fn remove(&mut self) {
        for dir in self.dirs.drain(..).rev() {
            for attempt in 0..50 {
                match fs::remove_dir(&dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        tracing::warn!(path = %dir.display(), error = %e, "cannot remove cgroup");
                        break;
                    }
                    _ => break,
                }
            }
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Enables the managed controllers for the children of `base` (`/sys/fs/cgroup/boxwright`):
/// each one first in the root's `cgroup.subtree_control` (where systemd normally has enabled
/// it already; best effort), then in `base`'s. A controller the limits need that cannot be
/// enabled is an error naming it; another one is left out.
fn enable_v2(root: &Path, base: &Path, limits: &Limits) -> Result<(), Error> {
    let base_control = base.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&base_control).unwrap_or_default();
    for controller in CONTROLLERS {
        if enabled.split_whitespace().any(|c| c == controller) {
            continue;
        }
        let plus = format!("+{controller}");
        let root_control = root.join("cgroup.subtree_control");
        let in_root = fs::write(&root_control, &plus);
        if let Err(e) = fs::write(&base_control, &plus) {
            if !limits.wants(controller) {
                tracing::debug!(controller, error = %e, "cgroup controller left out");
                continue;
            }
            let offered = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            let mut reason = format!(
                "cannot enable it in {}: {e} ({} offers: {})",
                base_control.display(),
                root.display(),
                offered.trim()
            );
            if let Err(r) = in_root {
                reason.push_str(&format!("; {} refused it: {r}", root_control.display()));
            }
            return Err(Error::CgroupUnavailable { controller, reason });
        }
    }
    Ok(())
}

/// Writes the limits into a v2 cgroup.
fn apply_v2(dir: &Path, limits: &Limits) -> Result<(), Error> {
    if let Some(m) = limits.memory {
        write(dir, "memory.max", &m.to_string())?;
        // `memory.swap.max` is swap alone (v1's memsw is memory plus swap); it exists only
        // where the kernel accounts swap.
        let swap = match limits.memory_swap {
            Some(s) if s < 0 => "max".to_owned(),
            Some(s) => (s - m).max(0).to_string(),
            None => "0".to_owned(),
        };
        if dir.join("memory.swap.max").exists() {
            write(dir, "memory.swap.max", &swap)?;
        }
    }
    if let Some(p) = limits.pids {
        write(dir, "pids.max", &p.to_string())?;
    }
    if let Some(q) = limits.cpu_quota {
        write(
            dir,
            "cpu.max",
            &format!("{q} {}", limits.cpu_period.unwrap_or(100_000)),
        )?;
    }
    if let Some(s) = limits.cpu_shares {
        // runc's conversion of cgroup v1 shares [2, 262144] to v2 weights [1, 10000].
        let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
        write(dir, "cpu.weight", &weight.to_string())?;
    }
    Ok(())
}

fn open_procs(dir: &Path) -> Result<OwnedFd, Error> {
    let path = dir.join("cgroup.procs");
    rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("opening", path, e.into()))
}

/// The steps that build the container's `/sys/fs/cgroup` (at `dest`, the spec's `cgroup`
/// mount), always read-only (a spec's `rw` is not honoured) with nosuid, noexec, nodev:
///
/// - with a cgroup of its own on v2, in a cgroup namespace: `cgroup2` mounted by the
///   container's init after it has joined the cgroup and unshared the namespace, so the
///   container's cgroup is the mount's root (Docker's view on v2). Without a cgroup namespace
///   (a spec without one), a read-only bind of the container's cgroup directory instead:
///   a `cgroup2` mount there would show the host's whole tree;
/// - with a cgroup of its own on v1: a tmpfs with one read-only bind per hierarchy of the
///   container's directory (`/sys/fs/cgroup/memory`, `pids`, `cpu`: the hierarchies this
///   runtime manages), then the tmpfs made read-only (Docker's layout on v1, without the
///   hierarchies it manages and this runtime does not);
/// - without a cgroup of its own (no limit asked for, so the container stays in its
///   caller's cgroup): an empty read-only tmpfs. runc would show the cgroup the container
///   runs in, which is then the caller's — on a host whose callers sit in the root cgroup,
///   as this project's machines do, the host's whole tree. A program that reads its limits
///   there finds none, as it would in Docker's view of a container without limits, and the
///   host's hierarchy is neither visible nor writable.
///
/// It also covers the host's cgroup mounts under [`Network::Host`](crate::Network), whose
/// `/sys` is the host's, bound read-only.
///
/// `host_sys`: the container's `/sys` is the host's, so `dest` may be the host's `cgroup2`
/// mount, on whose root the kernel refuses another mount of the same hierarchy (`EBUSY`): the
/// v2 view then goes on an empty read-only tmpfs.
pub(crate) fn view_steps(
    cgroup: Option<&Cgroup>,
    dest: &Path,
    cgroupns: bool,
    host_sys: bool,
) -> Result<Vec<MountStep>, Error> {
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is 32-bit on some targets
    let ro = (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV) as u64;
    let tmpfs = |flags: u64| -> Result<MountStep, Error> {
        Ok(MountStep::Fs {
            fstype: cstring("tmpfs")?,
            source: cstring("cgroup")?,
            dest: InRoot::new(dest)?,
            flags,
            data: Some(cstring("mode=755")?),
        })
    };
    let Some(cg) = cgroup else {
        return Ok(vec![tmpfs(ro)?]);
    };
    let mut steps = Vec::new();
    if host_sys && *layout() == Layout::V2 {
        steps.push(tmpfs(ro)?);
    }
    match layout() {
        Layout::V2 if cgroupns => steps.push(MountStep::Fs {
            fstype: cstring("cgroup2")?,
            source: cstring("cgroup")?,
            dest: InRoot::new(dest)?,
            flags: ro,
            data: None,
        }),
        Layout::V2 => {
            for dir in &cg.dirs {
                steps.push(MountStep::Bind {
                    source: cpath(dir)?,
                    dest: InRoot::new(dest)?,
                    kind: Kind::Dir,
                    recursive: false,
                    readonly: true,
                });
            }
        }
        Layout::V1(_) => {
            #[allow(clippy::unnecessary_cast)]
            let rw = (libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV) as u64;
            steps.push(tmpfs(rw)?);
            for (dir, controller) in cg.dirs.iter().zip(&cg.controllers) {
                steps.push(MountStep::Bind {
                    source: cpath(dir)?,
                    dest: InRoot::new(&dest.join(controller))?,
                    kind: Kind::Dir,
                    recursive: false,
                    readonly: true,
                });
            }
            steps.push(MountStep::ReadOnly {
                dest: InRoot::new(dest)?,
            });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_resources() {
        let mut r = LinuxResources::default();
        assert!(!Limits::from_resources(&r).any());
        let mut mem = oci_spec::runtime::LinuxMemory::default();
        mem.set_limit(Some(64 << 20));
        r.set_memory(Some(mem));
        let l = Limits::from_resources(&r);
        assert_eq!(l.memory, Some(64 << 20));
        assert!(l.wants("memory") && !l.wants("pids"));
    }

    #[test]
    fn without_a_cgroup_the_view_is_an_empty_read_only_tmpfs() {
        let steps = view_steps(None, Path::new("/sys/fs/cgroup"), true, false).unwrap();
        assert_eq!(steps.len(), 1);
        let MountStep::Fs { fstype, flags, .. } = &steps[0] else {
            panic!("{steps:?}");
        };
        assert_eq!(fstype.to_str().unwrap(), "tmpfs");
        #[allow(clippy::unnecessary_cast)]
        let ro = libc::MS_RDONLY as u64;
        assert_ne!(flags & ro, 0);
    }

    #[test]
    fn layout_is_detected() {
        // Either layout is fine; v1 must name its controllers' mounts.
        if let Layout::V1(list) = layout() {
            for (_, mount) in list {
                assert!(mount.starts_with(CGROUP_ROOT));
            }
        }
    }
}
