//! Processes by PID *and* start time (`/proc/PID/stat`), so a recycled PID is never taken
//! for the process recorded: liveness, verified pidfds, parents and children, exit.

use std::fs;
use std::os::fd::OwnedFd;

use rustix::process::{Pid, PidfdFlags};

use crate::error::Error;
use crate::sys;

/// What this crate reads of `/proc/PID/stat`.
pub(crate) struct ProcStat {
    pub(crate) state: char,
    pub(crate) ppid: i32,
    /// Start time in clock ticks since boot.
    pub(crate) start: u64,
}

pub(crate) fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // After the parent (field 4), field 22 is the 18th.
    let start = fields.nth(17)?.parse().ok()?;
    Some(ProcStat { state, ppid, start })
}

/// True when `pid` is a live (not zombie) process started at `start`.
pub(crate) fn alive(pid: Option<i32>, start: Option<u64>) -> bool {
    match (pid, start) {
        (Some(pid), Some(start)) => {
            matches!(proc_stat(pid), Some(p) if p.start == start && p.state != 'Z' && p.state != 'X')
        }
        _ => false,
    }
}

/// A pidfd of `pid` if it is still the process started at `start` (checked after opening, so
/// the pidfd cannot name a recycled PID).
pub(crate) fn verified_pidfd(pid: Option<i32>, start: Option<u64>) -> Option<OwnedFd> {
    let (pid, start) = (pid?, start?);
    let fd = rustix::process::pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()?;
    match proc_stat(pid) {
        Some(p) if p.start == start && p.state != 'X' => Some(fd),
        _ => None,
    }
}

/// Waits until a pidfd is readable (its process has exited).
pub(crate) async fn exited(fd: OwnedFd) -> Result<(), Error> {
    let fd = sys::register_pidfd(fd).map_err(|e| Error::sys("registering a pidfd", e))?;
    let _guard = fd
        .readable()
        .await
        .map_err(|e| Error::sys("polling a pidfd", e))?;
    Ok(())
}

/// The children of `pid`: `/proc/PID/task/PID/children`, or a scan of `/proc` where the kernel
/// lacks that file.
pub(crate) fn children(pid: i32) -> Vec<i32> {
    if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| parent_of(*p) == Some(pid))
        .collect()
}

/// The parent PID of `pid` (field 4 of `/proc/PID/stat`).
pub(crate) fn parent_of(pid: i32) -> Option<i32> {
    proc_stat(pid).map(|p| p.ppid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_our_start_time() {
        let me = std::process::id() as i32;
        let ProcStat { state, ppid, start } = proc_stat(me).unwrap();
        assert!(state == 'R' || state == 'S', "{state}");
        assert_eq!(
            ppid,
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
        );
        assert!(alive(Some(me), Some(start)));
        assert!(!alive(Some(me), Some(start + 1)));
    }
}
