//! The store's file locks (`flock`): the store's own and each container's. Taking one blocks
//! until its holder lets go, so async verbs take them on tokio's blocking pool
//! ([`Containers::blocking`](crate::store::Containers::blocking)).

use std::fs;
use std::path::Path;

use crate::error::Error;

/// A held lock (released on drop).
pub(crate) struct Locked(#[allow(dead_code)] fs::File);

/// Takes the lock file at `path` (blocking until it is free).
pub(crate) fn lock(path: &Path) -> Result<Locked, Error> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("opening lock", path, e))?;
    f.lock().map_err(|e| Error::io("locking", path, e))?;
    Ok(Locked(f))
}
