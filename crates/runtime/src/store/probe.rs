//! A readiness probe for a running container: whether a TCP port is listening in its network
//! namespace, read from the kernel's socket table as the container sees it.

use std::fs;

use crate::error::Error;
use crate::process::proc::alive;
use crate::store::Containers;

/// The TCP state `LISTEN` in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

impl Containers {
    /// Whether something in the running container listens on TCP `port` (a port inside the
    /// container, on any of its addresses): the kernel's table of the container's network
    /// namespace (`/proc/PID/net/tcp` and `tcp6` of its init), no process started, nothing
    /// sent. A harness polls it to know that a published port will answer: a connection to
    /// the host side of a port that slirp4netns forwards is accepted even before the
    /// container listens (and then closed), so a successful `connect` proves nothing.
    ///
    /// [`Error::NotRunning`] when the container is not running (also when it ended while the
    /// table was read).
    pub fn is_listening(&self, query: &str, port: u16) -> Result<bool, Error> {
        let init = self.running(query)?;
        let not_running = || Error::NotRunning {
            id: init.id.clone(),
        };
        let mut found = false;
        for table in ["tcp", "tcp6"] {
            let path = format!("/proc/{}/net/{table}", init.pid);
            match fs::read_to_string(&path) {
                Ok(text) => found |= listens(&text, port),
                // No IPv6 in the kernel: no `tcp6`.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && table == "tcp6" => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_running()),
                Err(e) => return Err(Error::io("reading", path, e)),
            }
        }
        // The table was the init's, not a recycled PID's.
        if !alive(Some(init.pid), Some(init.start)) {
            return Err(not_running());
        }
        Ok(found)
    }
}

/// Whether a socket table (`/proc/net/tcp` or `tcp6`) has a socket listening on `port`:
/// lines of `sl local_address rem_address st …`, the local address `HEXIP:HEXPORT`.
fn listens(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut f = line.split_whitespace();
        let local = f.nth(1);
        let state = f.nth(1);
        let local_port = local
            .and_then(|l| l.rsplit_once(':'))
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        state == Some(TCP_LISTEN) && local_port == Some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 343 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:E87A 01 00000000:00000000 03:00000A88 00000000     0        0 0 3 0
";
        assert!(listens(table, 80));
        // Established, not listening.
        assert!(!listens(table, 8080));
        assert!(!listens(table, 443));
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
";
        assert!(listens(v6, 5432));
    }
}
