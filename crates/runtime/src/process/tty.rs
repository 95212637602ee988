//! Terminals (`docker run -t`): the master side of a container's pty.
//!
//! The pty is opened by the container's init (or an `exec`'d process) in the container's own
//! `/dev/ptmx` — a `devpts` instance of its own — so the command sees `/dev/pts/0` as Docker's
//! containers do, and the host's `/dev/pts` is never shown to it. The init makes the slave its
//! controlling terminal (`setsid`, `TIOCSCTTY`) and its stdin, stdout and stderr, and sends the
//! master to the caller over a Unix socket (`SCM_RIGHTS`), where it becomes a [`Pty`].

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Error;

/// The master side of a container's terminal: what the command writes on its terminal is read
/// here, what is written here is the command's keyboard input. Reading ends (EOF) once every
/// process holding the terminal has exited.
#[derive(Debug)]
pub struct Pty {
    fd: AsyncFd<OwnedFd>,
}

impl Pty {
    fn new(fd: OwnedFd) -> Result<Self, Error> {
        rustix::io::ioctl_fionbio(&fd, true).map_err(|e| Error::sys("ioctl(FIONBIO)", e))?;
        let fd = crate::sys::register_rw(fd).map_err(|e| Error::sys("registering the pty", e))?;
        Ok(Pty { fd })
    }

    /// Sets the terminal's size (`TIOCSWINSZ`); the command's foreground process group gets
    /// `SIGWINCH`, as when a terminal window is resized.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(self.fd.get_ref(), size)
            .map_err(|e| Error::sys("ioctl(TIOCSWINSZ)", e))
    }

    /// The terminal's size as `(rows, cols)`.
    pub fn size(&self) -> Result<(u16, u16), Error> {
        let s = rustix::termios::tcgetwinsize(self.fd.get_ref())
            .map_err(|e| Error::sys("ioctl(TIOCGWINSZ)", e))?;
        Ok((s.ws_row, s.ws_col))
    }
}

impl AsFd for Pty {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard
                .try_io(|fd| rustix::io::read(fd.get_ref(), &mut *unfilled).map_err(Into::into))
            {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // The slave side is closed everywhere: the end of the stream.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(Into::into)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Receives the pty master the child sent (it was sent before `execve`, so it is queued).
pub(crate) fn receive_master(sock: &OwnedFd) -> Result<Pty, Error> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    rustix::io::ioctl_fionbio(sock, true).map_err(|e| Error::sys("ioctl(FIONBIO)", e))?;
    rustix::net::recvmsg(
        sock,
        &mut [io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("recvmsg (the pty master)", e))?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Pty::new(fd);
            }
        }
    }
    Err(Error::sys(
        "recvmsg (the pty master)",
        io::Error::from_raw_os_error(libc::EBADMSG),
    ))
}
