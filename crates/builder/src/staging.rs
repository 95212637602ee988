//! Staging directories under the store's `tmp/` that are removed when dropped (a cancelled
//! build leaves none behind).

use std::fs::{self, File};
use std::path::PathBuf;

use boxwright_layer_store::Store;

use crate::error::BuildError;

/// A fresh directory under `ROOT/tmp`, removed with everything in it when dropped. It is
/// locked while alive so that the store's `clean_tmp` in another process leaves it alone.
#[derive(Debug)]
pub(crate) struct Staging {
    path: PathBuf,
    _lock: File,
}

impl Staging {
    /// Creates `ROOT/tmp/build-<what>-<pid>-<n>`.
    pub(crate) fn new(store: &Store, what: &str) -> Result<Staging, BuildError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = store
            .blobs()
            .tmp_dir()
            .join(format!("build-{what}-{}-{n}-{nanos}", std::process::id()));
        // Created and locked under tmp's shared lock, so the store's clean_tmp in another
        // process (its open, its gc) never takes it between the two.
        let guard = store.blobs().stage_guard().map_err(|e| BuildError::Store {
            doing: format!("staging {}", path.display()),
            source: Box::new(e),
        })?;
        fs::create_dir_all(&path).map_err(BuildError::io("create", &path))?;
        let lock = File::open(&path).map_err(BuildError::io("open", &path))?;
        lock.lock().map_err(BuildError::io("lock", &path))?;
        drop(guard);
        Ok(Staging { path, _lock: lock })
    }

    /// A subdirectory, created.
    pub(crate) fn subdir(&self, name: &str) -> Result<PathBuf, BuildError> {
        let p = self.path.join(name);
        fs::create_dir_all(&p).map_err(BuildError::io("create", &p))?;
        Ok(p)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "staging not removed");
        }
    }
}
