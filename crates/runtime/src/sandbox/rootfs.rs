//! The container's root file system and the mounts inside it.

use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::error::Error;
use crate::plan::{cpath, cstring, InRoot, Kind, MountStep, RootMount};

/// Where a container's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFs {
    /// One directory, used as it is: the container writes into it (unless read-only).
    Dir(PathBuf),
    /// Kernel overlayfs: read-only `lower` layers and the container's own `upper` (its
    /// read-write layer) with `work`, an empty directory on the same file system as `upper`.
    Overlay {
        /// Lower layers, **bottom first** (the order of an image's layers).
        lower: Vec<PathBuf>,
        /// The container's read-write layer.
        upper: PathBuf,
        /// Overlayfs' work directory.
        work: PathBuf,
    },
}

/// Whether a [`RootFs::Overlay`] runs on the kernel's overlayfs or on a copy of its merged
/// view (see [Overlay fallback](crate#overlay-fallback)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlayMode {
    /// Overlayfs; when the kernel refuses the mount (`EPERM`, `EINVAL` or `ENODEV`), the
    /// merged view is materialized and the container runs over that.
    #[default]
    Auto,
    /// Overlayfs only: a refusal is an error.
    Always,
    /// Never overlayfs: always the materialized merged view.
    Never,
}

impl RootFs {
    /// Where an overlay's merged view is materialized when overlayfs is refused or not
    /// wanted: `UPPER.merged`, beside the upper dir (the store's
    /// `ROOT/containers/ID/upper.merged`). `None` for a plain directory.
    ///
    /// Once it exists, the container runs over it rather than over the overlay: its changes
    /// are then the difference between this directory and the lower dirs (the upper dir is
    /// no longer written).
    pub fn materialized_path(&self) -> Option<PathBuf> {
        match self {
            RootFs::Dir(_) => None,
            RootFs::Overlay { upper, .. } => {
                let mut name = upper.file_name()?.to_owned();
                name.push(".merged");
                Some(upper.with_file_name(name))
            }
        }
    }

    /// The root a container starts over: the materialized merged view of an overlay once it
    /// exists, else this.
    pub(crate) fn effective(&self) -> RootFs {
        match self.materialized_path() {
            Some(m) if m.is_dir() => RootFs::Dir(m),
            _ => self.clone(),
        }
    }

    /// Materializes an overlay's merged view (blocking) unless it exists already.
    pub(crate) fn materialize(&self) -> Result<(), Error> {
        let (RootFs::Overlay { lower, upper, .. }, Some(dest)) = (self, self.materialized_path())
        else {
            return Ok(());
        };
        if dest.is_dir() {
            return Ok(());
        }
        crate::sandbox::overlay_copy::materialize(lower, upper, &dest)
    }

    /// [`materialize`](Self::materialize) on tokio's blocking pool.
    pub(crate) async fn materialize_async(&self) -> Result<(), Error> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.materialize())
            .await
            .map_err(|e| Error::sys("materializing the overlay", std::io::Error::other(e)))?
    }

    /// A plain directory.
    pub fn dir(path: impl Into<PathBuf>) -> Self {
        RootFs::Dir(path.into())
    }

    /// An overlay of `lower` (bottom first) under `upper`, with `work`.
    pub fn overlay(
        lower: impl IntoIterator<Item = impl Into<PathBuf>>,
        upper: impl Into<PathBuf>,
        work: impl Into<PathBuf>,
    ) -> Self {
        RootFs::Overlay {
            lower: lower.into_iter().map(Into::into).collect(),
            upper: upper.into(),
            work: work.into(),
        }
    }

    /// The directories whose union is the root, topmost first.
    fn layers(&self) -> Vec<&Path> {
        match self {
            RootFs::Dir(d) => vec![d.as_path()],
            RootFs::Overlay { lower, upper, .. } => std::iter::once(upper.as_path())
                .chain(lower.iter().rev().map(PathBuf::as_path))
                .collect(),
        }
    }

    /// Reads a small file of the image (`/etc/passwd`), resolving symlinks inside each layer,
    /// topmost layer first — or in the materialized merged view once the container runs over
    /// it. `None` when no layer has it.
    pub(crate) fn read_file(&self, path: &str) -> Option<String> {
        let root = self.effective();
        for layer in root.layers() {
            let Ok(dir) = rustix::fs::open(
                layer,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            let Ok(fd) = rustix::fs::openat2(
                &dir,
                path.trim_start_matches('/'),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) else {
                continue;
            };
            let mut text = String::new();
            if std::fs::File::from(fd)
                .take(4 << 20)
                .read_to_string(&mut text)
                .is_ok()
            {
                return Some(text);
            }
        }
        None
    }

    /// The absolute path the root is mounted at in the child, and how.
    pub(crate) fn root_mount(&self) -> Result<(CString, RootMount), Error> {
        let abs = |p: &Path| {
            std::fs::canonicalize(p).map_err(|e| Error::io("opening root file system", p, e))
        };
        match self {
            RootFs::Dir(d) => Ok((cpath(&abs(d)?)?, RootMount::Bind)),
            RootFs::Overlay { lower, upper, work } => {
                if lower.is_empty() {
                    return Err(Error::InvalidPath {
                        path: upper.clone(),
                        reason: "an overlay needs at least one lower dir",
                    });
                }
                let upper = abs(upper)?;
                let work = abs(work)?;
                let mut lowers = Vec::new();
                for l in lower.iter().rev() {
                    lowers.push(overlay_path(&abs(l)?)?);
                }
                let data = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lowers.join(":"),
                    overlay_path(&upper)?,
                    overlay_path(&work)?
                );
                if data.len() > 4095 {
                    return Err(Error::OverlayTooLong { len: data.len() });
                }
                // Mounted on top of its own upper dir: in the child's private mount namespace
                // nobody else sees it, and no extra directory is needed.
                Ok((
                    cpath(&upper)?,
                    RootMount::Overlay {
                        data: cstring(&data)?,
                    },
                ))
            }
        }
    }
}

fn overlay_path(p: &Path) -> Result<String, Error> {
    let s = p.to_str().ok_or(Error::InvalidPath {
        path: p.to_path_buf(),
        reason: "not UTF-8",
    })?;
    if s.contains([',', ':', '\\']) {
        return Err(Error::InvalidPath {
            path: p.to_path_buf(),
            reason: "overlay layer paths may not contain ',', ':' or '\\'",
        });
    }
    Ok(s.to_owned())
}

impl From<PathBuf> for RootFs {
    fn from(p: PathBuf) -> Self {
        RootFs::Dir(p)
    }
}

impl From<&Path> for RootFs {
    fn from(p: &Path) -> Self {
        RootFs::Dir(p.to_path_buf())
    }
}

impl From<&str> for RootFs {
    fn from(p: &str) -> Self {
        RootFs::Dir(p.into())
    }
}

/// Mount flags and the leftover data string for a list of mount options.
#[allow(clippy::unnecessary_cast)] // `c_ulong` is 32-bit on some targets
pub(crate) fn parse_options(options: &[String]) -> (u64, bool, bool, Vec<String>) {
    let mut flags = 0u64;
    let mut bind = false;
    let mut recursive = false;
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "noatime" => (libc::MS_NOATIME, 0),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "bind" => {
                bind = true;
                (0, 0)
            }
            "rbind" => {
                bind = true;
                recursive = true;
                (0, 0)
            }
            "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared" => (0, 0),
            _ => {
                data.push(o.clone());
                (0, 0)
            }
        };
        flags = (flags | set as u64) & !(clear as u64);
    }
    (flags, bind, recursive, data)
}

/// The context a spec mount is turned into steps in.
pub(crate) struct MountContext<'a> {
    /// A user namespace: no `mknod`, no `gid=` for devpts, host device nodes bound instead.
    pub(crate) rootless: bool,
    /// No network namespace: `/sys` is the host's, bound read-only.
    pub(crate) host_network: bool,
    /// The container's own cgroup, if it has one (for its `/sys/fs/cgroup` view).
    pub(crate) cgroup: Option<&'a crate::sandbox::cgroup::Cgroup>,
    /// The container has a cgroup namespace of its own.
    pub(crate) cgroupns: bool,
}

/// Device nodes every container gets (OCI's default devices): name, major, minor.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Turns the spec's mounts into the child's steps, adding the default devices under `/dev`.
#[allow(clippy::unnecessary_cast)] // `c_ulong` is 32-bit on some targets
pub(crate) fn mount_steps(mounts: &[Mount], ctx: &MountContext) -> Result<Vec<MountStep>, Error> {
    let mut steps = Vec::new();
    for m in mounts {
        let dest = InRoot::new(m.destination())?;
        let options = m.options().clone().unwrap_or_default();
        let (flags, bind, recursive, mut data) = parse_options(&options);
        let typ = m.typ().clone().unwrap_or_default();
        if bind || typ == "bind" {
            let source = m.source().clone().ok_or_else(|| Error::InvalidPath {
                path: m.destination().clone(),
                reason: "a bind mount needs a source",
            })?;
            let meta = std::fs::metadata(&source)
                .map_err(|e| Error::io("reading bind mount source", &source, e))?;
            steps.push(MountStep::Bind {
                source: cpath(&source)?,
                dest,
                kind: if meta.is_dir() { Kind::Dir } else { Kind::File },
                recursive,
                readonly: flags & libc::MS_RDONLY as u64 != 0,
            });
            continue;
        }
        if typ == "sysfs" && ctx.host_network {
            steps.push(MountStep::Bind {
                source: c"/sys".into(),
                dest,
                kind: Kind::Dir,
                recursive: true,
                readonly: true,
            });
            continue;
        }
        if typ == "devpts" && ctx.rootless {
            data.retain(|d| !d.starts_with("gid="));
        }
        if typ == "cgroup" || typ == "cgroup2" {
            steps.extend(crate::sandbox::cgroup::view_steps(
                ctx.cgroup,
                m.destination(),
                ctx.cgroupns,
                ctx.host_network,
            )?);
            continue;
        }
        let is_dev = m.destination() == Path::new("/dev");
        steps.push(MountStep::Fs {
            fstype: cstring(&typ)?,
            source: cpath(m.source().as_deref().unwrap_or(Path::new(&typ)))?,
            dest,
            flags,
            data: if data.is_empty() {
                None
            } else {
                Some(cstring(&data.join(","))?)
            },
        });
        if is_dev {
            for (name, major, minor) in DEVICES {
                let dest = InRoot::new(&Path::new("/dev").join(name))?;
                steps.push(if ctx.rootless {
                    MountStep::Bind {
                        source: cstring(&format!("/dev/{name}"))?,
                        dest,
                        kind: Kind::File,
                        recursive: false,
                        readonly: false,
                    }
                } else {
                    MountStep::Mknod {
                        dest,
                        mode: libc::S_IFCHR | 0o666,
                        dev: libc::makedev(major as u32, minor as u32),
                    }
                });
            }
            for (link, target) in [
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
                ("ptmx", "pts/ptmx"),
                ("core", "/proc/kcore"),
            ] {
                steps.push(MountStep::Symlink {
                    target: cstring(target)?,
                    dest: InRoot::new(&Path::new("/dev").join(link))?,
                });
            }
        }
    }
    Ok(steps)
}

/// The user and groups a `user` string (`name`, `uid`, `name:group`, `uid:gid`) means in the
/// image, from its `/etc/passwd` and `/etc/group`: (uid, gid, supplementary gids, home).
pub(crate) fn resolve_user(
    rootfs: &RootFs,
    user: &str,
) -> Result<(u32, u32, Vec<u32>, String), Error> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = rootfs.read_file("/etc/passwd").unwrap_or_default();
    let group = rootfs.read_file("/etc/group").unwrap_or_default();
    // name:x:uid:gid:gecos:home:shell
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| {
            f.len() >= 4
                && (f[0] == u
                    || (u.parse::<u32>().ok() == f[2].parse::<u32>().ok()
                        && u.parse::<u32>().is_ok()))
        });
    let (uid, mut gid, name, home) = match (&entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>().unwrap_or(0),
            f[3].parse::<u32>().unwrap_or(0),
            f[0].to_owned(),
            f.get(5).map_or("/", |h| *h).to_owned(),
        ),
        (None, Ok(uid)) => (uid, uid, String::new(), "/".to_owned()),
        (None, Err(_)) => {
            return Err(Error::UnknownUser {
                user: user.to_owned(),
            })
        }
    };
    if entry.is_none() && g.is_none() {
        // A bare numeric uid that is not in passwd: gid 0, as Docker does.
        gid = 0;
    }
    // name:x:gid:member,member
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 3)
        .collect();
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| Error::UnknownGroup {
                    group: g.to_owned(),
                })?,
        };
    }
    let mut extra: Vec<u32> = groups
        .iter()
        .filter(|f| !name.is_empty() && f.len() >= 4 && f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .filter(|x| *x != gid)
        .collect();
    extra.sort_unstable();
    extra.dedup();
    Ok((uid, gid, extra, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o: Vec<String> = ["nosuid", "ro", "mode=755", "size=65536k", "rbind"]
            .map(String::from)
            .into();
        let (flags, bind, rec, data) = parse_options(&o);
        assert_eq!(flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert!(bind && rec);
        assert_eq!(data, ["mode=755", "size=65536k"]);
    }

    #[test]
    fn users_resolve_from_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:app\n",
        )
        .unwrap();
        let r = RootFs::dir(dir.path());
        assert_eq!(
            resolve_user(&r, "nobody").unwrap(),
            (65534, 65534, vec![], "/nonexistent".into())
        );
        assert_eq!(
            resolve_user(&r, "app").unwrap(),
            (1000, 1000, vec![10], "/home/app".into())
        );
        assert_eq!(resolve_user(&r, "1000:wheel").unwrap().1, 10);
        assert_eq!(
            resolve_user(&r, "4242").unwrap(),
            (4242, 0, vec![], "/".into())
        );
        assert!(matches!(
            resolve_user(&r, "ghost"),
            Err(Error::UnknownUser { .. })
        ));
        assert!(matches!(
            resolve_user(&r, "app:ghosts"),
            Err(Error::UnknownGroup { .. })
        ));
    }
}
