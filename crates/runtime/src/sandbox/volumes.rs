//! Volumes: named and anonymous directories that outlive (or die with) containers — the store,
//! and the bind mounts a container's volumes become.
//!
//! # Layout
//!
//! ```text
//! ROOT/volumes/.lock              flock'ed around every change
//! ROOT/volumes/NAME/_data         what containers see (bind-mounted at their destination)
//! ROOT/volumes/NAME/anonymous     present for an anonymous volume (NAME: 64 hex digits)
//! ROOT/volumes/NAME/users/ID      one empty file per container using the volume
//! ```
//!
//! A container *uses* a volume from when it first starts or is created in a store (building it
//! with [`ContainerBuilder::volume`] or [`ContainerBuilder::anonymous_volume`] only names the
//! volume) until [`Container::release_volumes`] — Docker counts a
//! stopped container as a user too. [`Volumes::remove`] refuses a volume in use unless forced;
//! [`Volumes::prune`] removes unused ones. A user entry left by a process that died without
//! releasing stays until the volume is removed with `force` (or the entry is released by
//! container ID).
//!
//! # Seeding
//!
//! As Docker does, an **empty** volume mounted where the image has a directory is first filled
//! with that directory's content (modes, owners, symlinks and times kept, and the directory's own
//! owner and mode given to the volume's root); a named volume that already holds files is used
//! as it is. For an overlay root the image's layers are mounted read-only on a private temporary
//! directory for the copy, which needs root.
//!
//! [`ContainerBuilder::volume`]: crate::ContainerBuilder::volume
//! [`ContainerBuilder::anonymous_volume`]: crate::ContainerBuilder::anonymous_volume
//! [`Container::release_volumes`]: crate::Container::release_volumes

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;
use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::error::Error;
use crate::sandbox::ids::new_id;

/// A store of volumes under a root directory (`ROOT/volumes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volumes {
    dir: PathBuf,
}

/// What [`Volumes::inspect`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// The volume's name (64 hex digits for an anonymous one).
    pub name: String,
    /// The directory containers see (`ROOT/volumes/NAME/_data`).
    pub mountpoint: PathBuf,
    /// Made for one container (`-v /path`, or a `VOLUME` of the image).
    pub anonymous: bool,
    /// IDs of the containers using it.
    pub users: Vec<String>,
}

/// A volume a container was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// The volume's name.
    pub name: String,
    /// Where it is mounted in the container.
    pub destination: PathBuf,
    /// An anonymous volume (removed with the container when asked).
    pub anonymous: bool,
    /// Mounted read-only.
    pub read_only: bool,
    store: Volumes,
}

impl VolumeMount {
    /// A volume of `store`, as recorded by a container store.
    pub(crate) fn recorded(
        store: Volumes,
        name: String,
        destination: PathBuf,
        anonymous: bool,
        read_only: bool,
    ) -> Self {
        VolumeMount {
            name,
            destination,
            anonymous,
            read_only,
            store,
        }
    }

    /// The volume store it belongs to.
    pub fn store(&self) -> &Volumes {
        &self.store
    }
}

/// A volume asked for on the builder.
#[derive(Debug, Clone)]
pub(crate) struct VolumeRequest {
    pub(crate) store: Volumes,
    /// `None`: anonymous.
    pub(crate) name: Option<String>,
    pub(crate) dest: PathBuf,
    pub(crate) read_only: bool,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Volumes {
    /// Opens (creating if needed) the volume store under `root` (`root/volumes`).
    pub fn open(root: impl AsRef<Path>) -> Result<Volumes, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = root.as_ref().join("volumes");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("creating the volume store", &dir, e))?;
        Ok(Volumes { dir })
    }

    /// The store's directory (`ROOT/volumes`).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The store whose directory is `dir` (as recorded from [`Volumes::path`]).
    pub(crate) fn at(dir: PathBuf) -> Volumes {
        Volumes { dir }
    }

    fn lock(&self) -> Result<OwnedFd, Error> {
        let path = self.dir.join(".lock");
        let fd = rustix::fs::open(
            &path,
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::io("opening the volume lock", &path, e.into()))?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)
            .map_err(|e| Error::io("locking", &path, e.into()))?;
        Ok(fd)
    }

    /// `ROOT/volumes/NAME`, for a valid name.
    pub(crate) fn vol_dir(&self, name: &str) -> Result<PathBuf, Error> {
        if !valid_volume_name(name) {
            return Err(Error::InvalidVolumeName {
                name: name.to_owned(),
            });
        }
        Ok(self.dir.join(name))
    }

    /// Creates the volume `name` (idempotent), marked anonymous when `anonymous`.
    pub(crate) fn make(&self, name: &str, anonymous: bool) -> Result<VolumeInfo, Error> {
        let dir = self.vol_dir(name)?;
        let _lock = self.lock()?;
        for d in [dir.join("_data"), dir.join("users")] {
            std::fs::create_dir_all(&d).map_err(|e| Error::io("creating volume", &d, e))?;
        }
        if anonymous {
            let m = dir.join("anonymous");
            std::fs::write(&m, b"").map_err(|e| Error::io("creating volume", &m, e))?;
        }
        self.info(name, &dir)
    }

    /// Creates the named volume, or returns the existing one (`docker volume create NAME`).
    pub fn create(&self, name: &str) -> Result<VolumeInfo, Error> {
        self.make(name, false)
    }

    /// Creates an anonymous volume with a random name.
    pub fn create_anonymous(&self) -> Result<VolumeInfo, Error> {
        self.make(&new_id(), true)
    }

    fn info(&self, name: &str, dir: &Path) -> Result<VolumeInfo, Error> {
        let data = dir.join("_data");
        if !data.is_dir() {
            return Err(Error::NoSuchVolume {
                name: name.to_owned(),
            });
        }
        let users_dir = dir.join("users");
        let mut users = Vec::new();
        match std::fs::read_dir(&users_dir) {
            Ok(rd) => {
                for e in rd {
                    let e = e.map_err(|e| Error::io("reading", &users_dir, e))?;
                    users.push(e.file_name().to_string_lossy().into_owned());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("reading", &users_dir, e)),
        }
        users.sort();
        Ok(VolumeInfo {
            name: name.to_owned(),
            mountpoint: data,
            anonymous: dir.join("anonymous").exists(),
            users,
        })
    }

    /// The volume's details (`docker volume inspect`).
    pub fn inspect(&self, name: &str) -> Result<VolumeInfo, Error> {
        let dir = self.vol_dir(name)?;
        self.info(name, &dir)
    }

    /// Every volume, by name (`docker volume ls`).
    pub fn list(&self) -> Result<Vec<VolumeInfo>, Error> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| Error::io("reading", &self.dir, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io("reading", &self.dir, e))?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !valid_volume_name(&name) {
                continue;
            }
            match self.info(&name, &e.path()) {
                Ok(i) => out.push(i),
                Err(Error::NoSuchVolume { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume and its data (`docker volume rm [-f]`). Refused with
    /// [`Error::VolumeInUse`] while containers use it, unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), Error> {
        let dir = self.vol_dir(name)?;
        let trash = {
            let _lock = self.lock()?;
            let info = self.info(name, &dir)?;
            if !info.users.is_empty() && !force {
                return Err(Error::VolumeInUse {
                    name: name.to_owned(),
                    users: info.users,
                });
            }
            // Renamed under the lock (the name is free at once), deleted outside it.
            let trash = self.dir.join(format!(".trash-{}", &new_id()[..16]));
            std::fs::rename(&dir, &trash).map_err(|e| Error::io("removing volume", &dir, e))?;
            trash
        };
        std::fs::remove_dir_all(&trash).map_err(|e| Error::io("removing volume", &trash, e))
    }

    /// Removes unused volumes: anonymous ones, or all unused ones with `all`
    /// (`docker volume prune [-a]`). Returns the names removed.
    pub fn prune(&self, all: bool) -> Result<Vec<String>, Error> {
        let mut removed = Vec::new();
        for v in self.list()? {
            if v.users.is_empty() && (all || v.anonymous) {
                match self.remove(&v.name, false) {
                    Ok(()) => removed.push(v.name),
                    // Taken by a container meanwhile, or removed by someone else.
                    Err(Error::VolumeInUse { .. } | Error::NoSuchVolume { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// Records `container` as a user of the volume.
    pub fn acquire(&self, name: &str, container: &str) -> Result<(), Error> {
        let dir = self.vol_dir(name)?;
        if !valid_volume_name(container) {
            return Err(Error::InvalidPath {
                path: container.into(),
                reason: "not a container ID",
            });
        }
        let _lock = self.lock()?;
        self.info(name, &dir)?;
        let u = dir.join("users").join(container);
        std::fs::write(&u, b"").map_err(|e| Error::io("recording a volume user", &u, e))
    }

    /// Forgets `container` as a user of the volume (nothing if it was not one).
    pub fn release(&self, name: &str, container: &str) -> Result<(), Error> {
        let dir = self.vol_dir(name)?;
        if !valid_volume_name(container) {
            return Ok(());
        }
        let _lock = self.lock()?;
        let u = dir.join("users").join(container);
        match std::fs::remove_file(&u) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("releasing a volume", &u, e)),
        }
    }
}

/// The bind mounts of the volumes asked for, and what the container records: pure (an
/// anonymous volume gets its random name here; nothing is created until the container starts,
/// see `process::volumes::claim`).
pub(crate) fn plan(reqs: &[VolumeRequest]) -> Result<(Vec<Mount>, Vec<VolumeMount>), Error> {
    let mut mounts = Vec::new();
    let mut planned = Vec::new();
    for r in reqs {
        if !r.dest.is_absolute() {
            return Err(Error::InvalidPath {
                path: r.dest.clone(),
                reason: "a volume destination must be absolute",
            });
        }
        let (name, anonymous) = match &r.name {
            Some(n) => (n.clone(), false),
            None => (new_id(), true),
        };
        let data = r.store.vol_dir(&name)?.join("_data");
        let mut m = Mount::default();
        m.set_destination(r.dest.clone());
        m.set_typ(Some("bind".into()));
        m.set_source(Some(data));
        m.set_options(Some(vec![
            "rbind".into(),
            if r.read_only { "ro" } else { "rw" }.into(),
        ]));
        mounts.push(m);
        planned.push(VolumeMount {
            name,
            destination: r.dest.clone(),
            anonymous,
            read_only: r.read_only,
            store: r.store.clone(),
        });
    }
    Ok((mounts, planned))
}

/// Releases a container's volumes; removes its anonymous ones when `remove_anonymous` (and
/// nobody else uses them).
pub(crate) fn release(
    mounts: &[VolumeMount],
    id: &str,
    remove_anonymous: bool,
) -> Result<(), Error> {
    for m in mounts {
        m.store.release(&m.name, id)?;
        if m.anonymous && remove_anonymous {
            match m.store.remove(&m.name, false) {
                Ok(()) | Err(Error::NoSuchVolume { .. } | Error::VolumeInUse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["data", "a", "my_vol-1.2", "0abc"] {
            assert!(valid_volume_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "-x", "a/b", "..", "a b", "_x"] {
            assert!(!valid_volume_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_inspect_list_remove_prune() {
        let root = tempfile::tempdir().unwrap();
        let v = Volumes::open(root.path()).unwrap();
        let a = v.create("data").unwrap();
        assert_eq!(a.mountpoint, root.path().join("volumes/data/_data"));
        assert!(!a.anonymous && a.users.is_empty());
        std::fs::write(a.mountpoint.join("f"), b"x").unwrap();
        // Idempotent, and the data is kept.
        assert_eq!(v.create("data").unwrap(), a);
        assert!(a.mountpoint.join("f").exists());
        let anon = v.create_anonymous().unwrap();
        assert!(anon.anonymous && anon.name.len() == 64);
        assert_eq!(v.list().unwrap().len(), 2);

        v.acquire("data", "c1").unwrap();
        assert_eq!(v.inspect("data").unwrap().users, ["c1"]);
        assert!(matches!(
            v.remove("data", false),
            Err(Error::VolumeInUse { ref users, .. }) if users == &["c1"]
        ));
        // prune: only the unused anonymous one.
        assert_eq!(v.prune(false).unwrap(), vec![anon.name]);
        v.release("data", "c1").unwrap();
        assert_eq!(v.prune(false).unwrap(), Vec::<String>::new());
        v.acquire("data", "c2").unwrap();
        v.remove("data", true).unwrap();
        assert!(matches!(v.inspect("data"), Err(Error::NoSuchVolume { .. })));
        assert!(matches!(
            v.create("../x"),
            Err(Error::InvalidVolumeName { .. })
        ));
        assert!(v.list().unwrap().is_empty());
    }
}
