//! Descriptors passed to a `std::process::Command` at fixed numbers (its `pre_exec` hook).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;

/// Makes a process started from `cmd` receive each `fd` as descriptor `target` (above 2).
///
/// The sources are first duplicated above every target, so no `dup2` clobbers another source;
/// the duplicates are returned and must be kept until `cmd` has been spawned.
pub(crate) fn pass_fds(
    cmd: &mut std::process::Command,
    fds: &[(&OwnedFd, RawFd)],
) -> io::Result<Vec<OwnedFd>> {
    let above = fds.iter().map(|f| f.1).max().unwrap_or(2) + 1;
    let mut keep = Vec::with_capacity(fds.len());
    let mut pairs = Vec::with_capacity(fds.len());
    for (fd, target) in fds {
        let high = rustix::io::fcntl_dupfd_cloexec(fd, above)?;
        pairs.push((high.as_raw_fd(), *target));
        keep.push(high);
    }
    // SAFETY: the closure runs in the forked child before exec; it only calls dup2, which is
    // async-signal-safe, on descriptors kept open by the caller until spawn returns, and reads
    // a vector allocated before the fork (no allocation, no lock). dup2 clears close-on-exec on
    // the target, so exactly these descriptors are inherited.
    unsafe {
        cmd.pre_exec(move || {
            for &(src, dst) in &pairs {
                if libc::dup2(src, dst) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(keep)
}
