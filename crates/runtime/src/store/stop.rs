//! `docker kill`, `docker stop` and `docker restart`.

use std::time::Duration;

use rustix::process::Signal;

use crate::error::Error;
use crate::process::proc::verified_pidfd;
use crate::store::record::Status;
use crate::store::Containers;

impl Containers {
    /// Sends a signal to the container's command (`docker kill -s`).
    pub fn kill(&self, query: &str, signal: i32) -> Result<(), Error> {
        let e = self.entry(query)?;
        let st = self.state(&e)?;
        let not_running = || Error::NotRunning {
            id: e.record.id.clone(),
        };
        if st.status != Status::Running {
            return Err(not_running());
        }
        let sig = Signal::from_named_raw(signal).ok_or_else(|| {
            Error::sys(
                "pidfd_send_signal",
                std::io::Error::from_raw_os_error(libc::EINVAL),
            )
        })?;
        let fd = verified_pidfd(st.pid, st.pid_start).ok_or_else(not_running)?;
        match rustix::process::pidfd_send_signal(&fd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(err) => Err(Error::sys("pidfd_send_signal", err)),
        }
    }

    /// Stops the container (`docker stop`): its stop signal (`SIGTERM` unless configured), then
    /// `SIGKILL` after `timeout` (the container's stop timeout when `None`). Returns the exit
    /// code; a container that is not running is left as it is.
    pub async fn stop(&self, query: &str, timeout: Option<Duration>) -> Result<i32, Error> {
        let query = query.to_owned();
        let e = self.blocking(move |store| store.entry(&query)).await?;
        let id = e.record.id.clone();
        let timeout = timeout.unwrap_or(Duration::from_millis(e.record.stop_timeout_ms));
        let signal = e.record.stop_signal;
        let sent = {
            let id = id.clone();
            self.blocking(move |store| store.kill(&id, signal)).await
        };
        match sent {
            Ok(()) => {}
            Err(Error::NotRunning { .. }) => return self.wait(&id).await,
            Err(err) => return Err(err),
        }
        if let Ok(code) = tokio::time::timeout(timeout, self.wait(&id)).await {
            return code;
        }
        tracing::debug!(%id, "stop timeout: sending SIGKILL");
        let killed = {
            let id = id.clone();
            self.blocking(move |store| store.kill(&id, libc::SIGKILL))
                .await
        };
        match killed {
            Ok(()) | Err(Error::NotRunning { .. }) => {}
            Err(err) => return Err(err),
        }
        self.wait(&id).await
    }

    /// Stops (if running) and starts the container again (`docker restart`).
    pub async fn restart(&self, query: &str, timeout: Option<Duration>) -> Result<(), Error> {
        let id = self.resolve(query)?;
        self.stop(&id, timeout).await?;
        self.start(&id).await
    }
}
