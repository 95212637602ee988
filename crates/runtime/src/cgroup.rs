//! cgroup limits for memory, pids and cpu, on cgroup v2 and on v1 (including the hybrid layout:
//! v1 controllers under `/sys/fs/cgroup/<controller>` beside a v2 mount that has none of them).
//!
//! A container gets a cgroup only when it asks for a limit: `boxwright/<id>` at the top of each
//! hierarchy (`/sys/fs/cgroup/<controller>/boxwright/<id>` on v1, `/sys/fs/cgroup/boxwright/<id>`
//! on v2), as Docker's cgroupfs driver uses `/docker/<id>`. The child joins by writing `0` to the
//! `cgroup.procs` files opened here, then creates its cgroup namespace, so inside the container
//! its cgroup is `/`. The directories are removed when the container has been waited for.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxResources;
use rustix::fs::{Mode, OFlags};

use crate::error::Error;

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

impl Cgroup {
    /// Creates the cgroup and applies the limits; returns it with the `cgroup.procs` files the
    /// child writes to. `None` when no limit is asked for.
    pub(crate) fn create(
        id: &str,
        limits: &Limits,
    ) -> Result<Option<(Cgroup, Vec<OwnedFd>)>, Error> {
        if !limits.any() {
            return Ok(None);
        }
        let mut cg = Cgroup { dirs: Vec::new() };
        let mut procs = Vec::new();
        match layout() {
            Layout::V2 => {
                let base = Path::new(CGROUP_ROOT).join("boxwright");
                fs::create_dir_all(&base).map_err(|e| unavailable("memory", &e, &base))?;
                let wanted: Vec<&str> = ["memory", "pids", "cpu"]
                    .into_iter()
                    .filter(|c| limits.wants(c))
                    .collect();
                let enable: String = wanted.iter().map(|c| format!("+{c} ")).collect();
                // The root normally delegates these already; enabling is idempotent.
                let _ = fs::write(
                    Path::new(CGROUP_ROOT).join("cgroup.subtree_control"),
                    &enable,
                );
                write(&base, "cgroup.subtree_control", enable.trim_end())?;
                let dir = base.join(id);
                fs::create_dir(&dir).map_err(|e| unavailable("memory", &e, &dir))?;
                cg.dirs.push(dir.clone());
                if let Some(m) = limits.memory {
                    write(&dir, "memory.max", &m.to_string())?;
                    let swap =
                        limits
                            .memory_swap
                            .map_or(0, |s| if s < 0 { -1 } else { (s - m).max(0) });
                    let swap = if swap < 0 {
                        "max".to_owned()
                    } else {
                        swap.to_string()
                    };
                    if dir.join("memory.swap.max").exists() {
                        write(&dir, "memory.swap.max", &swap)?;
                    }
                }
                if let Some(p) = limits.pids {
                    write(&dir, "pids.max", &p.to_string())?;
                }
                if let Some(q) = limits.cpu_quota {
                    write(
                        &dir,
                        "cpu.max",
                        &format!("{q} {}", limits.cpu_period.unwrap_or(100_000)),
                    )?;
                }
                if let Some(s) = limits.cpu_shares {
                    let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
                    write(&dir, "cpu.weight", &weight.to_string())?;
                }
                procs.push(open_procs(&dir)?);
            }
            Layout::V1(controllers) => {
                for controller in ["memory", "pids", "cpu"]
                    .into_iter()
                    .filter(|c| limits.wants(c))
                {
                    let Some((name, mount)) = controllers.iter().find(|(c, _)| *c == controller)
                    else {
                        return Err(Error::CgroupUnavailable {
                            controller: match controller {
                                "memory" => "memory",
                                "pids" => "pids",
                                _ => "cpu",
                            },
                            reason: "no v1 hierarchy mounted for it".into(),
                        });
                    };
                    let dir = mount.join("boxwright").join(id);
                    if let Err(e) = fs::create_dir_all(&dir) {
                        cg.remove();
                        return Err(unavailable(name, &e, &dir));
                    }
                    cg.dirs.push(dir.clone());
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
                    if let Err(e) = applied {
                        cg.remove();
                        return Err(e);
                    }
                    procs.push(open_procs(&dir)?);
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

fn open_procs(dir: &Path) -> Result<OwnedFd, Error> {
    let path = dir.join("cgroup.procs");
    rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("opening", path, e.into()))
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
    fn layout_is_detected() {
        // Either layout is fine; v1 must name its controllers' mounts.
        if let Layout::V1(list) = layout() {
            for (_, mount) in list {
                assert!(mount.starts_with(CGROUP_ROOT));
            }
        }
    }
}
