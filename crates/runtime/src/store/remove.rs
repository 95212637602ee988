//! `docker rm [-f] [-v]`.

use std::fs;

use crate::error::Error;
use crate::sandbox::volumes::{self, VolumeMount};
use crate::store::record::{RemoveOptions, Status, VolumeRecord};
use crate::store::{Containers, Stored};

impl Containers {
    /// Removes the container (`docker rm`): refused while it runs unless `force`, which kills
    /// it first (`docker rm -f`). Its directory, log and read-write layer are deleted, and it
    /// stops using its volumes (which are kept; see [`Containers::remove_with`]).
    pub async fn remove(&self, query: &str, force: bool) -> Result<(), Error> {
        self.remove_with(
            query,
            RemoveOptions {
                force,
                volumes: false,
            },
        )
        .await
    }

    /// Removes the container as [`Containers::remove`] does, and with
    /// [`RemoveOptions::volumes`] its anonymous volumes too (`docker rm -v`); named volumes
    /// always outlive it.
    pub async fn remove_with(&self, query: &str, opts: RemoveOptions) -> Result<(), Error> {
        let force = opts.force;
        let query = query.to_owned();
        let (e, st) = self
            .blocking(move |store| {
                let e = store.entry(&query)?;
                let st = store.state(&e)?;
                Ok((e, st))
            })
            .await?;
        let id = e.record.id.clone();
        if st.status == Status::Running {
            if !force {
                return Err(Error::Running {
                    action: "remove",
                    id,
                });
            }
            let killed = {
                let id = id.clone();
                self.blocking(move |store| store.kill(&id, libc::SIGKILL))
                    .await
            };
            match killed {
                Ok(()) | Err(Error::NotRunning { .. }) => {}
                Err(err) => return Err(err),
            }
            self.wait(&id).await?;
        }
        self.blocking(move |store| store.discard(e, opts.volumes))
            .await
    }

    /// Releases a stopped container's volumes (removing its anonymous ones with
    /// `remove_volumes`), frees its name and moves its directory to the trash, under the
    /// store lock; then empties the trash.
    pub(crate) fn discard(&self, e: Stored, remove_volumes: bool) -> Result<(), Error> {
        let id = e.record.id.clone();
        let _store = self.lock_store()?;
        let mounts: Vec<VolumeMount> = e.record.volumes.iter().map(VolumeRecord::mount).collect();
        volumes::release(&mounts, &id, remove_volumes)?;
        let link = self.names_dir().join(&e.record.name);
        if fs::read_link(&link).is_ok_and(|t| t.as_os_str() == id.as_str()) {
            let _ = fs::remove_file(&link);
        }
        let trash = self.trash_dir().join(&id);
        match fs::rename(&e.dir, &trash) {
            Ok(()) => {}
            // Removed meanwhile (`--rm`, another process).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::io("removing", &e.dir, err)),
        }
        self.collect_trash();
        Ok(())
    }
}
