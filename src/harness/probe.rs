//! One attempt of each readiness probe: an HTTP/1.0 `GET`'s status, a TCP connection, a
//! listening TCP socket in a container's network namespace. No HTTP crate: a
//! status line is all a probe reads.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one attempt may take before it counts as failed (a server that accepts and never
/// answers).
const ATTEMPT: Duration = Duration::from_secs(2);

/// The status code of `GET path` on `addr`, or why there is none (for the timeout's message).
///
/// The request is HTTP/1.0 with a `Host` header and `Connection: close`; only the status line
/// is read.
pub(crate) async fn http_status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let attempt = async {
        let mut conn = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending the request to {addr}: {e}"))?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = conn
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading the reply from {addr}: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        status_code(&head).ok_or_else(|| {
            if head.is_empty() {
                format!("{addr} closed the connection without a reply")
            } else {
                let line = String::from_utf8_lossy(&head);
                format!(
                    "{addr} answered {:?}, not an HTTP status line",
                    line.trim_end()
                )
            }
        })
    };
    tokio::time::timeout(ATTEMPT, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no reply from {addr} within {ATTEMPT:?}")))
}

/// The code of an HTTP status line (`HTTP/1.x NNN reason`).
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_ascii_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// Whether a TCP connection to `addr` is accepted (closed again at once).
pub(crate) async fn tcp_connect(addr: SocketAddr) -> Result<(), String> {
    tokio::time::timeout(ATTEMPT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} took over {ATTEMPT:?}"))?
        .map(drop)
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

/// Whether a TCP socket listens on `port` in the network namespace of the process `pid`,
/// read from its `/proc/PID/net/tcp` and `tcp6` (blocking: call it on the blocking pool).
/// With `outside`, a socket bound to a loopback address does not count: a published port is
/// forwarded to the container's own address, which such a socket does not accept on.
pub(crate) fn listening(pid: i32, port: u16, outside: bool) -> Result<bool, String> {
    let mut found = false;
    for table in ["tcp", "tcp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        match std::fs::read_to_string(&path) {
            Ok(text) => found |= listens_on(&text, port, outside),
            // No IPv6 in this kernel: nothing listens there.
            Err(e) if table == "tcp6" && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("reading {path}: {e}")),
        }
    }
    Ok(found)
}

/// Whether a `/proc/net/tcp{,6}` table has a socket in state `LISTEN` (`0A`) on `port` (not
/// on a loopback address, with `outside`).
fn listens_on(table: &str, port: u16, outside: bool) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (Some(_slot), Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let Some((addr, local_port)) = local.rsplit_once(':') else {
            return false;
        };
        state == "0A"
            && u16::from_str_radix(local_port, 16).ok() == Some(port)
            && !(outside && loopback(addr))
    })
}

/// Whether a `/proc/net/tcp{,6}` address (hex, each 32-bit word in host order, which is
/// little-endian on every architecture this runs on) is a loopback address: 127.0.0.0/8,
/// `::1`, or `::ffff:127.x.x.x`.
fn loopback(hex: &str) -> bool {
    match hex.len() {
        8 => hex.ends_with("7F"),
        32 => {
            hex == "00000000000000000000000001000000"
                || (hex.starts_with("0000000000000000FFFF0000") && hex.ends_with("7F"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.0 200 OK\r\nServer: x\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
        assert_eq!(status_code(b"HTTP/1.1 204\r\n"), Some(204));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.0 2000 x\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn listen_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                  0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
                  1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n";
        assert!(listens_on(v4, 80, false));
        assert!(listens_on(v4, 80, true));
        // 8080 is an established connection, not a listener.
        assert!(!listens_on(v4, 8080, false));
        assert!(!listens_on(v4, 443, false));
        let v6 = "  sl  local_address                         remote_address                        st\n\
                  0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n";
        assert!(listens_on(v6, 8080, true));
        // Bound to 127.0.0.1, ::1 and ::ffff:127.0.0.1: listening, but not for a published port.
        let local = "  sl  local_address rem_address   st\n\
                     0: 0100007F:0050 00000000:0000 0A 0\n\
                     1: 00000000000000000000000001000000:0051 00000000000000000000000000000000:0000 0A 0\n\
                     2: 0000000000000000FFFF00000100007F:0052 00000000000000000000000000000000:0000 0A 0\n";
        for port in [80, 81, 82] {
            assert!(listens_on(local, port, false), "{port}");
            assert!(!listens_on(local, port, true), "{port}");
        }
        assert!(!loopback("0100000A"));
        assert!(!loopback("00000000000000000000000000000000"));
    }
}
