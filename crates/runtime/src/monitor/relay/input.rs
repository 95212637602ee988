//! Clients' input to the command (its stdin pipe or the pty master), the pty master's arrival
//! and the terminal's size.

use super::{Relay, IN_BUF};
use crate::sys::{self};

impl Relay<'_> {
    /// Queues input for the command (what does not fit is dropped; a client is not read
    /// while input waits).
    pub(super) fn push_input(&mut self, piece: &[u8]) {
        if self.pending_len == 0 {
            self.pending_at = 0;
        }
        let start = self.pending_at + self.pending_len;
        let n = piece.len().min(IN_BUF - start);
        self.pending[start..start + n].copy_from_slice(&piece[..n]);
        self.pending_len += n;
    }

    /// Writes waiting input to the command as far as it takes it without blocking.
    pub(super) fn flush_input(&mut self) {
        let target = if self.tty { self.master } else { self.stdin };
        if target < 0 {
            // A terminal whose master is still to come keeps the input; else it is lost.
            if !(self.tty && self.terminal >= 0) {
                self.pending_len = 0;
            }
        }
        while self.pending_len > 0 && target >= 0 {
            let at = self.pending_at;
            match sys::io::write(target, &self.pending[at..at + self.pending_len]) {
                Ok(n) if n > 0 => {
                    self.pending_at += n;
                    self.pending_len -= n;
                }
                Err(libc::EINTR) => {}
                Ok(_) | Err(libc::EAGAIN) => break,
                Err(_) => {
                    // The command no longer reads (EPIPE), or the terminal is gone.
                    self.pending_len = 0;
                    if !self.tty {
                        self.close_input();
                    }
                }
            }
        }
        if self.pending_len == 0 && self.close_when_flushed {
            self.close_when_flushed = false;
            if self.stdin >= 0 {
                sys::io::close(self.stdin);
                self.stdin = -1;
            }
        }
    }

    /// Closes the command's stdin (once what waits is written): it reads EOF.
    pub(super) fn close_input(&mut self) {
        self.input_open = false;
        self.close_when_flushed = true;
        if self.pending_len == 0 {
            self.flush_input();
        }
    }

    /// Applies the last size asked for to the terminal (`TIOCSWINSZ`: the command's
    /// foreground process group gets `SIGWINCH`).
    pub(super) fn resize(&mut self) {
        let Some((rows, cols)) = self.winsize else {
            return;
        };
        if self.master < 0 {
            return;
        }
        let _ = sys::tty::set_window_size(self.master, rows, cols);
    }

    /// Takes the pty master the command sends (`SCM_RIGHTS`), or notes that none will come.
    pub(super) fn receive_master(&mut self) {
        let flags = libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT;
        match sys::io::recv_fd(self.terminal, flags) {
            Err(libc::EAGAIN | libc::EINTR) => return,
            Ok(Some(fd)) => {
                let _ = sys::io::set_nonblocking(fd);
                self.master = fd;
                self.resize();
            }
            Ok(None) | Err(_) => {}
        }
        sys::io::close(self.terminal);
        self.terminal = -1;
        self.flush_input();
    }
}
