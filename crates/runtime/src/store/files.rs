//! `docker cp`'s side of the store: a stored container's files, running or not.

use crate::error::Error;
use crate::process::copy::ContainerRoot;
use crate::store::Containers;

impl Containers {
    /// The root of a container, by name or ID prefix, for `docker cp` ([`ContainerRoot::copy_in`],
    /// [`ContainerRoot::copy_out`]): while it runs, its whole mount tree as its processes see
    /// it (`/proc/PID/root`, volumes included); otherwise its files
    /// ([`ContainerRoot::stopped`]).
    ///
    /// A running container's root is opened through its init, or through a child of the init
    /// when a rootless caller may not open the init's (our non-dumpable `--init`); the process
    /// is checked still alive after the root is opened, so a recycled PID is never used.
    pub fn files(&self, query: &str) -> Result<ContainerRoot, Error> {
        let init = match self.running(query) {
            Ok(init) => init,
            Err(Error::NotRunning { .. }) => {
                return ContainerRoot::stopped(&self.inspect(query)?.rootfs.to_rootfs())
            }
            Err(e) => return Err(e),
        };
        let (pid, pidfd) = init.anchor()?;
        let root = ContainerRoot::of_pid(pid)?;
        // A pidfd polls readable once its process has exited: not readable now means the
        // process lived all along, so /proc/PID/root was its own.
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        let now = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match rustix::event::poll(&mut fds, Some(&now)) {
            Ok(0) => Ok(root),
            Ok(_) => Err(Error::NotRunning { id: init.id }),
            Err(e) => Err(Error::sys("polling the pidfd", e)),
        }
    }
}
