//! A readiness probe for a running container: whether a TCP port is listening in its network
//! namespace, asked of the kernel with one `NETLINK_SOCK_DIAG` dump of listening sockets (what
//! `ss -lt` does) from a socket opened in that namespace.

use std::fs::File;
use std::os::fd::OwnedFd;

use rustix::net::{netlink, AddressFamily, RecvFlags, SendFlags, SocketType};

use crate::error::Error;
use crate::process::proc::alive;
use crate::store::Containers;

/// `SOCK_DIAG_BY_FAMILY`, and the generic `NLMSG_ERROR` and `NLMSG_DONE`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// `TCP_LISTEN`, as a bit of `idiag_states`.
const TCPF_LISTEN: u32 = 1 << 10;

impl Containers {
    /// Whether something in the running container listens on TCP `port` (a port inside the
    /// container, on any of its addresses, IPv4 or IPv6): the kernel's listening sockets of
    /// the container's network namespace, dumped through `NETLINK_SOCK_DIAG` — no process
    /// started, nothing sent to the port, and not `/proc/PID/net/tcp`, whose read walks the
    /// host's whole connection table (tens of milliseconds on a large host). A harness polls
    /// it to know that a published port will answer: a connection to the host side of a port
    /// that slirp4netns forwards is accepted even before the container listens (and then
    /// closed), so a successful `connect` proves nothing.
    ///
    /// [`Error::NotRunning`] when the container is not running (also when it ended while it
    /// was asked).
    pub fn is_listening(&self, query: &str, port: u16) -> Result<bool, Error> {
        let init = self.running(query)?;
        let not_running = || Error::NotRunning {
            id: init.id.clone(),
        };
        let path = format!("/proc/{}/ns/net", init.pid);
        let netns = File::open(&path).map_err(|_| not_running())?;
        // The namespace was the init's, not a recycled PID's.
        if !alive(Some(init.pid), Some(init.start)) {
            return Err(not_running());
        }
        let sock = diag_socket_in(netns)?;
        let mut found = false;
        for family in [AddressFamily::INET, AddressFamily::INET6] {
            found |= listening(&sock, family, port)?;
        }
        Ok(found)
    }
}

/// A `NETLINK_SOCK_DIAG` socket in the network namespace `netns`: opened by a short-lived
/// thread that joins it (a thread's namespace is its own; the socket keeps the namespace it
/// was made in).
fn diag_socket_in(netns: File) -> Result<OwnedFd, Error> {
    let opened = std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&netns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| Error::sys("setns (the container's network namespace)", e))?;
        rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            rustix::net::SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )
        .map_err(|e| Error::sys("socket(NETLINK_SOCK_DIAG)", e))
    })
    .join();
    opened.map_err(|_| {
        Error::sys(
            "a thread joining the container's network namespace",
            std::io::Error::other("panicked"),
        )
    })?
}

/// Whether a dump of the listening TCP sockets of `family` has one on `port`.
fn listening(sock: &OwnedFd, family: AddressFamily, port: u16) -> Result<bool, Error> {
    rustix::net::send(sock, &request(family.as_raw() as u8), SendFlags::empty())
        .map_err(|e| Error::sys("send(SOCK_DIAG_BY_FAMILY)", e))?;
    let mut buf = vec![0u8; 32 << 10];
    let mut found = false;
    loop {
        let (n, _) = rustix::net::recv(sock, &mut buf[..], RecvFlags::empty())
            .map_err(|e| Error::sys("recv(SOCK_DIAG_BY_FAMILY)", e))?;
        match scan(&buf[..n], port) {
            Scan::More(f) => found |= f,
            Scan::Done(f) => return Ok(found || f),
            Scan::Failed(errno) => {
                // No IPv6 in the kernel: no sockets of that family.
                if family == AddressFamily::INET6 && errno == libc::ENOENT {
                    return Ok(found);
                }
                return Err(Error::sys(
                    "SOCK_DIAG_BY_FAMILY",
                    std::io::Error::from_raw_os_error(errno),
                ));
            }
        }
    }
}

/// An `inet_diag_req_v2` dump request for the listening TCP sockets of `family`, in its
/// `nlmsghdr`.
fn request(family: u8) -> [u8; 72] {
    let mut m = [0u8; 72];
    m[0..4].copy_from_slice(&72u32.to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&DUMP_REQUEST.to_ne_bytes());
    // inet_diag_req_v2: family, protocol, extensions, pad, states, then a zero socket id.
    m[16] = family;
    m[17] = libc::IPPROTO_TCP as u8;
    m[20..24].copy_from_slice(&TCPF_LISTEN.to_ne_bytes());
    m
}

/// What one datagram of the dump said.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Sockets (one on the port, or not); more datagrams follow.
    More(bool),
    /// The dump's end (after sockets of this datagram, one on the port or not).
    Done(bool),
    /// The kernel's error.
    Failed(i32),
}

/// Reads the messages of one datagram: `inet_diag_msg`s (family, state, timer, retransmits,
/// then the source port, big-endian), `NLMSG_DONE` or `NLMSG_ERROR`.
fn scan(mut data: &[u8], port: u16) -> Scan {
    let mut found = false;
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        if len < 16 || len > data.len() {
            break;
        }
        let body = &data[16..len];
        match kind {
            NLMSG_DONE => return Scan::Done(found),
            NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                return if errno == 0 {
                    Scan::Done(found)
                } else {
                    Scan::Failed(-errno)
                };
            }
            SOCK_DIAG_BY_FAMILY if body.len() >= 6 => {
                found |= u16::from_be_bytes([body[4], body[5]]) == port;
            }
            _ => {}
        }
        // Messages are aligned to 4 bytes.
        let next = (len + 3) & !3;
        data = data.get(next..).unwrap_or(&[]);
    }
    Scan::More(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn dumps_are_scanned_for_the_port() {
        let listen_80 = msg(SOCK_DIAG_BY_FAMILY, &[2, 10, 0, 0, 0, 80, 0, 0]);
        let listen_8080 = msg(SOCK_DIAG_BY_FAMILY, &[2, 10, 0, 0, 0x1f, 0x90, 0, 0]);
        let done = msg(NLMSG_DONE, &[0, 0, 0, 0]);
        let two = [listen_8080.clone(), listen_80].concat();
        assert_eq!(scan(&two, 80), Scan::More(true));
        assert_eq!(scan(&listen_8080, 80), Scan::More(false));
        assert_eq!(
            scan(&[listen_8080, done.clone()].concat(), 8080),
            Scan::Done(true)
        );
        assert_eq!(scan(&done, 80), Scan::Done(false));
        let err = msg(NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes());
        assert_eq!(scan(&err, 80), Scan::Failed(libc::EPERM));
        let req = request(libc::AF_INET as u8);
        assert_eq!(u32::from_ne_bytes([req[0], req[1], req[2], req[3]]), 72);
        assert_eq!(
            (req[16], req[17]),
            (libc::AF_INET as u8, libc::IPPROTO_TCP as u8)
        );
    }
}
