//! The attach clients: accepting (or refusing) a connection, `HELLO`, reading a client's
//! frames, and dropping a client.

use std::os::fd::RawFd;

use super::{proto, send_frame, Client, Relay, FREE, IN_BUF, OUT_BUF};
use crate::sys::{self};

impl Relay<'_> {
    /// A client slot for a connected socket: a large send buffer, and the limit of what may
    /// queue in it before the client counts as not keeping up (room is left for a last
    /// frame saying so).
    pub(super) fn new_client(&self, fd: RawFd) -> Client {
        let _ = sys::net::set_send_buffer(fd, 1 << 20);
        let size = sys::net::send_buffer(fd).unwrap_or(0).max(0) as u32;
        let margin = 2 * (OUT_BUF as u32 + 4096);
        Client {
            fd,
            limit: if size > 2 * margin {
                size - margin
            } else {
                size / 2
            },
            ..FREE
        }
    }

    /// Accepts a connection, or refuses it when every slot is taken.
    pub(super) fn accept(&mut self) {
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        let Ok(fd) = sys::net::accept(self.listen, flags) else {
            return;
        };
        match self.clients.iter().position(|c| c.fd < 0) {
            Some(i) => self.clients[i] = self.new_client(fd),
            None => {
                send_frame(fd, proto::REFUSED, &[proto::REFUSED_TOO_MANY]);
                sys::io::close(fd);
            }
        }
    }

    /// Marks client `i` attached and sends it `HELLO`.
    pub(super) fn attach(&mut self, i: usize) {
        self.clients[i].attached = true;
        // The log is O_APPEND: its end is where the next line goes.
        let end = sys::fs::seek_end(self.p.log_fd).unwrap_or(0);
        let mut hello = [0u8; 16];
        hello[0] = proto::VERSION;
        hello[1] = (if self.tty { proto::HELLO_TTY } else { 0 })
            | (if self.input_open {
                proto::HELLO_STDIN
            } else {
                0
            })
            | (if self.p.stdin_once {
                proto::HELLO_STDIN_ONCE
            } else {
                0
            });
        hello[8..16].copy_from_slice(&end.to_le_bytes());
        if !send_frame(self.clients[i].fd, proto::HELLO, &hello) {
            self.drop_client(i, 0);
        }
    }

    /// Closes client `i` (after a last frame `notice`, unless 0). A stdin-once container's
    /// stdin closes with a client that had it.
    pub(super) fn drop_client(&mut self, i: usize, notice: u8) {
        let c = self.clients[i];
        if c.fd < 0 {
            return;
        }
        if notice != 0 {
            send_frame(c.fd, notice, &[]);
        }
        sys::io::close(c.fd);
        self.clients[i] = FREE;
        if c.attached && c.wants & proto::WANT_STDIN != 0 && self.p.stdin_once && !self.tty {
            self.close_input();
        }
    }

    /// Reads what client `i` sent.
    pub(super) fn client_input(&mut self, i: usize) {
        let mut buf = [0u8; IN_BUF];
        let n = match sys::io::read(self.clients[i].fd, &mut buf) {
            Err(libc::EAGAIN | libc::EINTR) => return,
            Ok(n) if n > 0 => n,
            _ => {
                // Gone (or an error): as if it had closed its stdin.
                self.drop_client(i, 0);
                return;
            }
        };
        let data = &buf[..n];
        let mut at = 0;
        while at < data.len() && self.clients[i].fd >= 0 {
            let c = &mut self.clients[i];
            if c.hdr_len < proto::HEADER {
                let take = (proto::HEADER - c.hdr_len).min(data.len() - at);
                c.hdr[c.hdr_len..c.hdr_len + take].copy_from_slice(&data[at..at + take]);
                c.hdr_len += take;
                at += take;
                if c.hdr_len == proto::HEADER {
                    c.kind = c.hdr[0];
                    c.remaining = proto::payload_len(&c.hdr);
                    c.ctl_len = 0;
                    if c.remaining == 0 {
                        self.frame(i);
                    }
                }
                continue;
            }
            let take = (c.remaining as usize).min(data.len() - at);
            let piece = &data[at..at + take];
            c.remaining -= take as u32;
            at += take;
            if c.kind == proto::STDIN {
                let takes_input = c.attached && c.wants & proto::WANT_STDIN != 0;
                if takes_input && self.input_open {
                    self.push_input(piece);
                }
            } else {
                let room = c.ctl.len() - c.ctl_len;
                let n = room.min(piece.len());
                c.ctl[c.ctl_len..c.ctl_len + n].copy_from_slice(&piece[..n]);
                c.ctl_len += n;
            }
            if self.clients[i].remaining == 0 {
                self.frame(i);
            }
        }
        self.flush_input();
    }

    /// Client `i`'s frame is complete (its header, and a control frame's first bytes).
    fn frame(&mut self, i: usize) {
        let c = self.clients[i];
        self.clients[i].hdr_len = 0;
        match c.kind {
            proto::ATTACH => {
                self.clients[i].wants = if c.ctl_len > 0 { c.ctl[0] } else { 0 };
                if !c.attached {
                    self.attach(i);
                }
            }
            proto::CLOSE_STDIN if c.wants & proto::WANT_STDIN != 0 => {
                if self.p.stdin_once && !self.tty {
                    self.close_input();
                } else {
                    // Docker: the client's stdin ending ends its attachment.
                    self.drop_client(i, proto::DETACHED);
                }
            }
            proto::RESIZE if c.ctl_len >= 4 => {
                let rows = u16::from_le_bytes([c.ctl[0], c.ctl[1]]);
                let cols = u16::from_le_bytes([c.ctl[2], c.ctl[3]]);
                self.winsize = Some((rows, cols));
                self.resize();
            }
            _ => {}
        }
    }
}
