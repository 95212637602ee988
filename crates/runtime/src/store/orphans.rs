//! Tied containers that no monitor watches: `ROOT/tied`, the index of containers tied to an
//! owner, and the sweep that removes those whose owner has ended while they were not running
//! (created and never started, or exited before their owner).

use std::fs;
use std::os::unix::fs::symlink;

use crate::error::Error;
use crate::process::proc::alive;
use crate::store::record::{read_json, ContainerRecord, OwnerRecord, Status};
use crate::store::{Containers, Stored};

impl Containers {
    /// Records that `id` is tied to `owner`: `ROOT/tied/ID`, a symlink to `PID.START`. Called
    /// under the store lock.
    pub(crate) fn record_tie(&self, id: &str, owner: OwnerRecord) -> Result<(), Error> {
        let link = self.tied_dir().join(id);
        symlink(format!("{}.{}", owner.pid, owner.start), &link)
            .map_err(|e| Error::io("creating", link, e))
    }

    /// Removes the tied containers whose owner has ended and which are not running (a
    /// running one is removed by its monitor), as `rm` does, their anonymous volumes
    /// included; drops index entries whose container is gone. Called under the store lock;
    /// a failure is logged and the container left for the next sweep.
    pub(crate) fn sweep_orphans(&self) {
        let Ok(entries) = fs::read_dir(self.tied_dir()) else {
            return;
        };
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let owner = fs::read_link(e.path()).ok().and_then(|t| {
                let t = t.to_str()?.to_owned();
                let (pid, start) = t.split_once('.')?;
                Some((pid.parse().ok()?, start.parse().ok()?))
            });
            if let Some((pid, start)) = owner {
                if alive(Some(pid), Some(start)) {
                    continue;
                }
            }
            let dir = self.containers_dir().join(&id);
            if !dir.is_dir() {
                let _ = fs::remove_file(e.path());
                continue;
            }
            match Self::refresh(&dir, false) {
                Ok(st) if st.status == Status::Running => continue,
                _ => {}
            }
            let removed = read_json::<ContainerRecord>(&dir.join("container.json"))
                .and_then(|record| self.discard_locked(Stored { dir, record }, true));
            match removed {
                Ok(()) => tracing::debug!(%id, "removed: the process it was tied to has ended"),
                Err(err) => {
                    tracing::warn!(%id, error = %err, "cannot remove a container whose owner has ended")
                }
            }
        }
    }
}
