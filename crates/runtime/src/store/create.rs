//! `docker create`: a container recorded in the store, and its name claimed.

use std::fs;
use std::os::unix::fs::symlink;

use crate::error::Error;
use crate::process::net::find_slirp4netns;
use crate::process::proc::proc_stat;
use crate::process::volumes::claim;
use crate::sandbox::container::Container;
use crate::sandbox::rootfs::RootFs;
use crate::store::names::{generated_name, random_u64, valid_name};
use crate::store::record::{
    now_ns, write_json, ContainerRecord, CreateOptions, OwnerRecord, RootFsRecord, State,
    VolumeRecord, DEFAULT_STOP_TIMEOUT,
};
use crate::store::Containers;

impl Containers {
    /// Records a container (`docker create`): its spec, root file system and options. Returns
    /// its ID (the container's own). A [`RootFs::Overlay`] whose `upper` is empty gets `upper/`
    /// and `work/` in the container's directory, removed with it.
    pub fn create(&self, container: &Container, opts: &CreateOptions) -> Result<String, Error> {
        let tty = opts.tty
            || container
                .spec()
                .process()
                .as_ref()
                .and_then(|p| p.terminal())
                == Some(true);
        let net = container.net_config();
        let slirp = net.slirp.then(find_slirp4netns).flatten();
        if !net.ports.is_empty() && find_slirp4netns().is_none() {
            return Err(Error::Unsupported {
                what: "published ports for a detached container without slirp4netns, which \
                       forwards them once the caller has gone (install slirp4netns)"
                    .into(),
            });
        }
        let owner = opts
            .owner
            .map(|pid| owner_record(pid, container.id()))
            .transpose()?;
        let _store = self.lock_store()?;
        self.collect_trash();
        let id = container.id().to_owned();
        let dir = self.containers_dir().join(&id);
        fs::create_dir(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let name = match self.claim_name(&id, opts.name.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let written = (|| {
            let mut rootfs = container.rootfs().clone();
            let mut spec = container.spec().clone();
            if let Some(p) = spec.process_mut() {
                p.set_terminal(Some(tty));
            }
            if let RootFs::Overlay { upper, work, .. } = &mut rootfs {
                if upper.as_os_str().is_empty() {
                    *upper = dir.join("upper");
                    *work = dir.join("work");
                    for d in [&*upper, &*work] {
                        fs::create_dir(d).map_err(|e| Error::io("creating", d, e))?;
                    }
                    if let Some(root) = spec.root_mut() {
                        root.set_path(upper.clone());
                    }
                }
            }
            write_json(&dir.join("config.json"), &spec)?;
            if let Some(etc) = container.etc_spec() {
                etc.files(slirp.is_some()).write(&dir)?;
            }
            let record = ContainerRecord {
                id: id.clone(),
                name: name.clone(),
                created: now_ns(),
                rootfs: RootFsRecord::from_rootfs(&rootfs),
                auto_remove: opts.auto_remove,
                stop_signal: opts.stop_signal.unwrap_or(libc::SIGTERM),
                stop_timeout_ms: opts
                    .stop_timeout
                    .unwrap_or(DEFAULT_STOP_TIMEOUT)
                    .as_millis() as u64,
                init: opts.init || container.has_init(),
                ports: net.ports.iter().map(ToString::to_string).collect(),
                outbound: net.slirp,
                volumes: container.volumes().iter().map(VolumeRecord::of).collect(),
                etc: container.etc_spec().is_some(),
                overlay: container.overlay_mode(),
                interactive: opts.interactive,
                tty,
                stdin_once: opts.stdin_once,
                owner,
            };
            write_json(&dir.join("container.json"), &record)?;
            write_json(&dir.join("state.json"), &State::created())?;
            let log = dir.join("container.log");
            fs::File::create(&log).map_err(|e| Error::io("creating", &log, e))?;
            // A created container uses its volumes (Docker counts it): they are created,
            // claimed and seeded now (and claimed again at each start).
            claim(container.volumes(), &id, &rootfs)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(self.names_dir().join(&name));
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::debug!(%id, %name, "container created");
        Ok(id)
    }

    /// Takes a name (given or generated) for `id`: a symlink `names/NAME -> ID`, which exists
    /// once. Called under the store lock.
    pub(crate) fn claim_name(&self, id: &str, name: Option<&str>) -> Result<String, Error> {
        if let Some(n) = name {
            let n = n.trim_start_matches('/');
            if !valid_name(n) {
                return Err(Error::InvalidName { name: n.to_owned() });
            }
            let link = self.names_dir().join(n);
            return match symlink(id, &link) {
                Ok(()) => Ok(n.to_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_link(&link)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Err(Error::NameInUse {
                        name: n.to_owned(),
                        id: owner,
                    })
                }
                Err(e) => Err(Error::io("creating", link, e)),
            };
        }
        for attempt in 0..64 {
            let mut n = generated_name();
            if attempt >= 8 {
                n = format!("{n}{}", random_u64() % 1000);
            }
            match symlink(id, self.names_dir().join(&n)) {
                Ok(()) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("creating", self.names_dir().join(&n), e)),
            }
        }
        Err(Error::InvalidName {
            name: "(no free generated name)".into(),
        })
    }
}

/// The live process `pid` with its start time, for a container tied to it.
fn owner_record(pid: u32, id: &str) -> Result<OwnerRecord, Error> {
    let gone = || Error::OwnerGone {
        id: id.to_owned(),
        pid,
    };
    let raw = i32::try_from(pid).map_err(|_| gone())?;
    match proc_stat(raw) {
        Some(p) if p.state != 'Z' && p.state != 'X' => Ok(OwnerRecord {
            pid: raw,
            start: p.start,
        }),
        _ => Err(gone()),
    }
}
