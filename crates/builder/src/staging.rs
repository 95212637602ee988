//! Staging directories under the store's `tmp/` that are removed when dropped (a cancelled
//! build leaves none behind).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

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
    pub(crate) fn new(root: &Path, what: &str) -> Result<Staging, BuildError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = root
            .join("tmp")
            .join(format!("build-{what}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).map_err(BuildError::io("create", &path))?;
        let lock = File::open(&path).map_err(BuildError::io("open", &path))?;
        lock.lock().map_err(BuildError::io("lock", &path))?;
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
