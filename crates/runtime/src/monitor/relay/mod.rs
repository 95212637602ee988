//! The monitor's relay: one `ppoll` loop over the command's stdio (pipes or a pty master),
//! the log (CRI lines), the attach socket and its clients, in fixed-size buffers on the
//! monitor's stack, until the init has exited and its output is drained.
//!
//! - [`output`]: the command's output, to the log and to the clients that want it;
//! - [`clients`]: accepting, greeting, reading and dropping clients;
//! - [`input`]: clients' input to the command, the terminal's master and size.

use std::io::IoSlice;
use std::os::fd::RawFd;

use libc::c_int;

use super::proto;
use crate::sys::{self};

mod clients;
mod input;
mod output;

/// What the monitor relays, prepared before the first clone (a descriptor is -1 when absent).
#[derive(Debug)]
pub(crate) struct RelayPlan {
    /// The container's log (`O_APPEND`), written in the CRI format.
    pub(crate) log_fd: RawFd,
    /// `-i` without a terminal: the write end of the command's stdin pipe (non-blocking).
    pub(crate) stdin: RawFd,
    /// Without a terminal: the read ends of the command's stdout and stderr (non-blocking).
    pub(crate) stdout: RawFd,
    pub(crate) stderr: RawFd,
    /// With a terminal: the socket on which the command's pty master arrives.
    pub(crate) terminal: RawFd,
    /// `-i`: clients' input goes to the command (its stdin pipe or the pty master).
    pub(crate) interactive: bool,
    /// Docker's `StdinOnce`: a client closing its stdin (or going away) closes the command's.
    pub(crate) stdin_once: bool,
    /// The listening attach socket (non-blocking).
    pub(crate) listen: RawFd,
    /// A client connected before the start (`start_attached`), and what it wants.
    pub(crate) first: RawFd,
    pub(crate) first_wants: u8,
}

/// Output is read in pieces of this size (one frame's payload at most).
const OUT_BUF: usize = 16 << 10;
/// Client input is read in pieces of this size, and at most this much waits for the command.
const IN_BUF: usize = 4 << 10;
/// CRI lines written with one `writev`, at most.
const LOG_LINES: usize = 64;
/// After the init has exited: the output is drained until it ends, or nothing came for this
/// long, or this long after the exit at most (a process outside a PID namespace may keep a
/// pipe open).
const DRAIN_IDLE_NS: i64 = 2_000_000_000;
const DRAIN_MAX_NS: i64 = 10_000_000_000;
/// The poll set's fixed entries: pidfd, listen, terminal, stdout, stderr, master, stdin,
/// owner.
const FIXED: usize = 8;

/// One attach client.
#[derive(Clone, Copy)]
struct Client {
    /// -1: a free slot.
    fd: RawFd,
    /// Its `ATTACH` frame came (or it was connected before the start).
    attached: bool,
    /// `proto::WANT_*`.
    wants: u8,
    /// Bytes queued on its socket above which it is dropped (it does not keep up).
    limit: u32,
    /// The frame being read: header, kind, payload bytes left, a control payload's start.
    hdr: [u8; proto::HEADER],
    hdr_len: usize,
    kind: u8,
    remaining: u32,
    ctl: [u8; 8],
    ctl_len: usize,
}

const FREE: Client = Client {
    fd: -1,
    attached: false,
    wants: 0,
    limit: 0,
    hdr: [0; proto::HEADER],
    hdr_len: 0,
    kind: 0,
    remaining: 0,
    ctl: [0; 8],
    ctl_len: 0,
};

/// Which output descriptor.
#[derive(Clone, Copy)]
enum Out {
    Stdout,
    Stderr,
    Master,
}

/// The relay's state, on the monitor's stack.
pub(crate) struct Relay<'a> {
    p: &'a RelayPlan,
    tty: bool,
    clients: [Client; proto::MAX_CLIENTS],
    listen: RawFd,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    terminal: RawFd,
    master: RawFd,
    /// Input is still taken (`-i`, and not closed by a stdin-once client).
    input_open: bool,
    /// Close the command's stdin once `pending` is written.
    close_when_flushed: bool,
    /// Input read from a client, not yet taken by the command.
    pending: [u8; IN_BUF],
    pending_at: usize,
    pending_len: usize,
    /// A resize asked for before the pty master arrived.
    winsize: Option<(u16, u16)>,
}

/// Sends one frame without blocking; true when all of it was queued.
fn send_frame(fd: RawFd, kind: u8, payload: &[u8]) -> bool {
    let hdr = proto::header(kind, payload.len() as u32);
    let iov = [IoSlice::new(&hdr), IoSlice::new(payload)];
    let sent = sys::io::send(fd, &iov, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
    sent == Ok(hdr.len() + payload.len())
}

fn ready(f: &libc::pollfd) -> bool {
    f.fd >= 0 && f.revents != 0
}

impl<'a> Relay<'a> {
    /// The relay of `p`, nothing read yet.
    pub(crate) fn new(p: &'a RelayPlan) -> Self {
        Relay {
            p,
            tty: p.terminal >= 0,
            clients: [FREE; proto::MAX_CLIENTS],
            listen: p.listen,
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
            terminal: p.terminal,
            master: -1,
            input_open: p.interactive,
            close_when_flushed: false,
            pending: [0; IN_BUF],
            pending_at: 0,
            pending_len: 0,
            winsize: None,
        }
    }

    /// Relays until the init (`pidfd`) has exited and its output is drained. When `owner`
    /// (a pidfd, or -1) becomes readable — the process the container is tied to has ended —
    /// the init is sent `SIGKILL` (the relay goes on until it has exited); returns whether
    /// that happened.
    pub(crate) fn run(&mut self, pidfd: RawFd, owner: RawFd) -> bool {
        if self.p.first >= 0 {
            self.clients[0] = self.new_client(self.p.first);
            self.clients[0].wants = self.p.first_wants;
            self.attach(0);
        }
        let mut pidfd = pidfd;
        let mut owner = owner;
        let mut owner_ended = false;
        let mut exited_at: Option<i64> = None;
        let mut buf = [0u8; OUT_BUF];
        loop {
            let timeout = match exited_at {
                Some(at) => match self.drain_timeout(at) {
                    Some(left) => Some(left),
                    None => return owner_ended,
                },
                None => None,
            };
            let mut fds = self.poll_set(pidfd, owner);
            match sys::io::ppoll(&mut fds, timeout) {
                Err(libc::EINTR) => continue,
                // Cannot poll (should not happen): the caller's waitid still reaps the init.
                Err(_) => return owner_ended,
                // Drained: nothing more came for a while after the exit.
                Ok(0) => return owner_ended,
                Ok(_) => {}
            }
            self.dispatch(&fds, &mut buf);
            if ready(&fds[7]) {
                // The owner has ended: so does the container (its PID namespace goes with
                // its init). The pidfd is not polled again; the caller closes it.
                if pidfd >= 0 {
                    let _ = sys::signal::pidfd_send_signal(pidfd, libc::SIGKILL);
                }
                owner = -1;
                owner_ended = true;
            }
            if ready(&fds[0]) {
                // Exited (the caller closes the pidfd and reaps it); an owner ending now no
                // longer concerns this run.
                pidfd = -1;
                owner = -1;
                exited_at = Some(sys::time::monotonic_ns());
            }
        }
    }

    /// After the exit at `at`: how long to wait for more output, or `None` when the drain is
    /// over (every output closed, or the longest drain reached).
    fn drain_timeout(&self, at: i64) -> Option<i64> {
        let outputs_open =
            self.stdout >= 0 || self.stderr >= 0 || self.master >= 0 || self.terminal >= 0;
        if !outputs_open {
            return None;
        }
        let left = DRAIN_MAX_NS - (sys::time::monotonic_ns() - at);
        if left <= 0 {
            return None;
        }
        Some(left.min(DRAIN_IDLE_NS))
    }

    /// The descriptors to poll: the fixed ones (absent ones are -1, which `ppoll` skips),
    /// then the clients.
    fn poll_set(&self, pidfd: RawFd, owner: RawFd) -> [libc::pollfd; FIXED + proto::MAX_CLIENTS] {
        let none = libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        };
        let mut fds = [none; FIXED + proto::MAX_CLIENTS];
        let poll_in = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let waiting_input = self.pending_len > 0;
        fds[0] = poll_in(pidfd);
        fds[1] = poll_in(self.listen);
        fds[2] = poll_in(self.terminal);
        fds[3] = poll_in(self.stdout);
        fds[4] = poll_in(self.stderr);
        fds[5] = poll_in(self.master);
        fds[7] = poll_in(owner);
        if waiting_input && self.tty {
            fds[5].events |= libc::POLLOUT;
        }
        if waiting_input && !self.tty {
            fds[6] = libc::pollfd {
                fd: self.stdin,
                events: libc::POLLOUT,
                revents: 0,
            };
        }
        // While input waits for the command, clients are not read (their input would have
        // nowhere to go); their output still flows.
        if !waiting_input {
            for (i, c) in self.clients.iter().enumerate() {
                fds[FIXED + i] = poll_in(c.fd);
            }
        }
        fds
    }

    /// Handles what `ppoll` found ready (all but the pidfd).
    fn dispatch(&mut self, fds: &[libc::pollfd], buf: &mut [u8; OUT_BUF]) {
        // Output first, so that it reaches clients before anything that follows it.
        if ready(&fds[3]) {
            self.pump(Out::Stdout, buf);
        }
        if ready(&fds[4]) {
            self.pump(Out::Stderr, buf);
        }
        if ready(&fds[5]) {
            if fds[5].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                self.pump(Out::Master, buf);
            }
            if fds[5].revents & libc::POLLOUT != 0 {
                self.flush_input();
            }
        }
        if ready(&fds[6]) {
            self.flush_input();
        }
        if ready(&fds[2]) {
            self.receive_master();
        }
        for i in 0..proto::MAX_CLIENTS {
            // Input that waits for the command stops the reading (the rest is read later).
            if self.pending_len > 0 {
                break;
            }
            if ready(&fds[FIXED + i]) && self.clients[i].fd == fds[FIXED + i].fd {
                self.client_input(i);
            }
        }
        if ready(&fds[1]) {
            self.accept();
        }
    }

    /// The end: no new client can connect; each attached one gets the exit (`kind` and
    /// `value` as in the `exit` file) and is closed.
    pub(crate) fn finish(&mut self, dir_fd: RawFd, kind: u8, value: c_int) {
        let _ = sys::fs::unlinkat(dir_fd, proto::SOCKET_NAME, 0);
        sys::io::close(self.listen);
        self.listen = -1;
        let mut exit = [0u8; 8];
        exit[0] = kind;
        exit[4..8].copy_from_slice(&value.to_le_bytes());
        for i in 0..proto::MAX_CLIENTS {
            let c = self.clients[i];
            if c.fd < 0 {
                continue;
            }
            if c.attached {
                send_frame(c.fd, proto::EXIT, &exit);
            }
            sys::io::close(c.fd);
            self.clients[i] = FREE;
        }
        for fd in [
            self.stdin,
            self.stdout,
            self.stderr,
            self.master,
            self.terminal,
        ] {
            if fd >= 0 {
                sys::io::close(fd);
            }
        }
    }
}
