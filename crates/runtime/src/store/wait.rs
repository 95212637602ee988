//! `docker wait`: a container's exit code, from any process.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::process::proc::{exited, verified_pidfd};
use crate::store::lock::lock;
use crate::store::record::Status;
use crate::store::Containers;

impl Containers {
    /// Waits for the container's command to end and returns its exit code (`docker wait`).
    /// Works from any process; for a `--rm` container the code is read before it is deleted.
    pub async fn wait(&self, query: &str) -> Result<i32, Error> {
        // `--rm`: the monitor moves the directory to the trash once the exit is recorded, which
        // may happen before this call; a full ID still finds it there until the trash is emptied.
        let (id, dir) = match self.entry(query) {
            Ok(e) => (e.record.id.clone(), e.dir),
            Err(Error::NoSuchContainer { .. })
                if is_full_id(query) && self.trash_dir().join(query).is_dir() =>
            {
                (query.to_string(), self.trash_dir().join(query))
            }
            Err(err) => return Err(err),
        };
        let trash = self.trash_dir().join(&id);
        // Each look takes the container's lock off the runtime: its holder may be slow.
        let read = |dir: PathBuf| {
            self.blocking(move |_| {
                let _l = lock(&dir.join("lock"))?;
                Self::refresh(&dir, true)
            })
        };
        let mut misses = 0;
        loop {
            let st = match read(dir.clone()).await {
                Ok(st) => Ok(st),
                Err(_) => read(trash.clone()).await,
            };
            let st = match st {
                Ok(st) => st,
                Err(_) if !dir.exists() && !trash.exists() => {
                    return Err(Error::NoSuchContainer { query: id });
                }
                // Caught in the middle of the move: look again.
                Err(_) if misses < 100 => {
                    misses += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            if st.status != Status::Running {
                // The monitor records the exit first, then removes the cgroups and, for
                // `--rm`, the container: like `docker run --rm`, return once that is done.
                if let Some(fd) = verified_pidfd(st.monitor_pid, st.monitor_start) {
                    exited(fd).await?;
                }
                return Ok(st.exit_code.unwrap_or(0));
            }
            let target = verified_pidfd(st.monitor_pid, st.monitor_start)
                .or_else(|| verified_pidfd(st.pid, st.pid_start));
            match target {
                Some(fd) => exited(fd).await?,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// Whether `s` is a whole container ID (64 lowercase hex digits), safe to join to a path.
fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::sandbox::container::Container;
    use crate::store::record::CreateOptions;

    /// Regression: `wait` and `stop` took the container's `flock` on the runtime's thread, so
    /// a slow holder (another process starting it) stalled every task of a current-thread
    /// runtime.
    #[test]
    fn a_slow_lock_holder_does_not_stall_the_runtime() {
        let root = tempfile::tempdir().unwrap();
        let store = Containers::open(root.path()).unwrap();
        let c = Container::builder("/nonexistent")
            .cmd(["true"])
            .build()
            .unwrap();
        let id = store.create(&c, &CreateOptions::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for verb in ["wait", "stop"] {
            let held = lock(&root.path().join("containers").join(&id).join("lock")).unwrap();
            let holder = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                drop(held);
            });
            let ticks = Arc::new(AtomicU32::new(0));
            let code = rt.block_on(async {
                let counter = ticks.clone();
                let ticker = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                });
                tokio::task::yield_now().await;
                let code = match verb {
                    "wait" => store.wait(&id).await,
                    _ => store.stop(&id, None).await,
                };
                ticker.abort();
                code
            });
            holder.join().unwrap();
            assert_eq!(code.unwrap(), 0, "{verb}");
            let n = ticks.load(Ordering::Relaxed);
            assert!(n >= 10, "{verb}: the other task ran {n} times in 400 ms");
        }
    }
}
