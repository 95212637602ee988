//! The command's output: each piece read goes to the log (CRI lines) and to every attached
//! client that wants it; a client that does not keep up is dropped, never waited for.

use std::io::IoSlice;
use std::os::fd::RawFd;

use super::{proto, send_frame, Out, Relay, LOG_LINES, OUT_BUF};
use crate::monitor::proto::rfc3339_nanos;
use crate::sys::{self};

/// Writes every slice of `iov`, advancing through partial writes; gives up on an error.
fn writev_all(fd: RawFd, mut iov: &mut [IoSlice<'_>]) {
    while !iov.is_empty() {
        match sys::io::writev(fd, iov) {
            Ok(n) => IoSlice::advance_slices(&mut iov, n),
            Err(libc::EINTR) => {}
            Err(_) => return,
        }
    }
}

impl Relay<'_> {
    /// Reads one piece of output: into the log and to each client that wants it.
    pub(super) fn pump(&mut self, which: Out, buf: &mut [u8; OUT_BUF]) {
        let (fd, kind) = match which {
            Out::Stdout => (self.stdout, proto::STDOUT),
            Out::Stderr => (self.stderr, proto::STDERR),
            Out::Master => (self.master, proto::STDOUT),
        };
        match sys::io::read(fd, buf) {
            Ok(n) if n > 0 => {
                let data = &buf[..n];
                self.log(kind, data);
                self.fanout(kind, data);
                return;
            }
            Err(libc::EAGAIN | libc::EINTR) => return,
            _ => {}
        }
        // The end (a pty master reads EIO once no process holds the terminal).
        sys::io::close(fd);
        match which {
            Out::Stdout => self.stdout = -1,
            Out::Stderr => self.stderr = -1,
            Out::Master => {
                self.master = -1;
                self.pending_len = 0;
            }
        }
    }

    /// Appends `data` to the log as CRI lines: `TIMESTAMP STREAM F text` for each complete
    /// line, `TIMESTAMP STREAM P text` for a last piece without its newline.
    fn log(&self, kind: u8, data: &[u8]) {
        let ns = sys::time::realtime_ns();
        // "2016-10-06T00:17:09.669794202Z stdout F "
        let mut full = [0u8; 40];
        let mut stamp = [0u8; 30];
        rfc3339_nanos(ns, &mut stamp);
        full[..30].copy_from_slice(&stamp);
        full[30..38].copy_from_slice(if kind == proto::STDERR {
            b" stderr "
        } else {
            b" stdout "
        });
        full[38] = b'F';
        full[39] = b' ';
        let mut partial = full;
        partial[38] = b'P';
        let newline = b"\n";
        let mut iov = [IoSlice::new(&[]); LOG_LINES * 3];
        let mut n = 0;
        let mut rest = data;
        while !rest.is_empty() {
            if n + 3 > iov.len() {
                writev_all(self.p.log_fd, &mut iov[..n]);
                n = 0;
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    iov[n] = IoSlice::new(&full);
                    iov[n + 1] = IoSlice::new(&rest[..=i]);
                    n += 2;
                    rest = &rest[i + 1..];
                }
                None => {
                    iov[n] = IoSlice::new(&partial);
                    iov[n + 1] = IoSlice::new(rest);
                    iov[n + 2] = IoSlice::new(newline);
                    n += 3;
                    rest = &[];
                }
            }
        }
        writev_all(self.p.log_fd, &mut iov[..n]);
    }

    /// Sends a piece of output to every client that wants it; a client whose socket has too
    /// much queued (it does not read) is dropped, never waited for.
    fn fanout(&mut self, kind: u8, data: &[u8]) {
        let want = if kind == proto::STDERR {
            proto::WANT_STDERR
        } else {
            proto::WANT_STDOUT
        };
        for i in 0..proto::MAX_CLIENTS {
            let c = self.clients[i];
            if c.fd < 0 || !c.attached || c.wants & want == 0 {
                continue;
            }
            if let Ok(queued) = sys::io::queued(c.fd) {
                if queued.max(0) as u32 > c.limit {
                    self.drop_client(i, proto::DROPPED);
                    continue;
                }
            }
            if !send_frame(c.fd, kind, data) {
                self.drop_client(i, 0);
            }
        }
    }
}
