//! Descriptors and data: read, write, `writev`, `sendmsg` (of frames, or of a descriptor with
//! `SCM_RIGHTS`), `recvmsg` of a descriptor, `ppoll`, `dup3`, `close`, `close_range`, `fcntl`.

use std::ffi::c_void;
use std::io::IoSlice;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_int, c_long, c_uint, c_ulong};

use super::{result, Errno};

/// `close_range`'s flag that marks the range close-on-exec instead of closing it.
pub(crate) const CLOSE_RANGE_CLOEXEC: c_uint = 4;

/// `read(fd, buf)`.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: a buffer of the caller's, of the length passed.
    result(unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len() as c_ulong) })
        .map(|n| n as usize)
}

/// `write(fd, buf)`.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: a buffer of the caller's, of the length passed.
    result(unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len() as c_ulong) })
        .map(|n| n as usize)
}

/// `writev(fd, slices)`.
pub(crate) fn writev(fd: RawFd, slices: &[IoSlice<'_>]) -> Result<usize, Errno> {
    // SAFETY: IoSlice is ABI-compatible with `struct iovec`; the slices point at buffers the
    // caller keeps alive for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_writev,
            fd,
            slices.as_ptr(),
            slices.len() as c_long,
        )
    })
    .map(|n| n as usize)
}

/// `sendmsg(fd, slices, flags)` without an address or control data.
pub(crate) fn send(fd: RawFd, slices: &[IoSlice<'_>], flags: c_int) -> Result<usize, Errno> {
    // SAFETY: a zeroed msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // The kernel only reads the iovecs (IoSlice is ABI-compatible with `struct iovec`).
    msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = slices.len();
    // SAFETY: `msg` and the buffers it points at are alive for the call.
    result(unsafe { libc::syscall(libc::SYS_sendmsg, fd, ptr::addr_of!(msg), flags as c_long) })
        .map(|n| n as usize)
}

/// Sends descriptor `fd` (with one zero byte) on the Unix socket `sock` (`SCM_RIGHTS`,
/// `MSG_NOSIGNAL`).
pub(crate) fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), Errno> {
    let byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut c_void,
        iov_len: 1,
    };
    // CMSG_SPACE(sizeof(int)) is 24 bytes on 64-bit; u64s keep it aligned.
    let mut control = [0u64; 4];
    // SAFETY: a zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = ptr::addr_of_mut!(iov);
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
    // SAFETY: CMSG_FIRSTHDR reads `msg`'s control fields, which point at `control` above.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::addr_of!(msg)) };
    if cmsg.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: `cmsg` is the first header inside `control` (24 bytes: room for the header and
    // one int), so these writes and CMSG_DATA stay within it.
    unsafe {
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        ptr::copy_nonoverlapping(ptr::addr_of!(fd).cast::<u8>(), libc::CMSG_DATA(cmsg), 4);
    }
    // SAFETY: `msg`, its iovec and its control buffer live on this stack for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_sendmsg,
            sock,
            ptr::addr_of!(msg),
            libc::MSG_NOSIGNAL as c_long,
        )
    })
    .map(drop)
}

/// Receives one message on the Unix socket `sock` (`recvmsg` with `flags`) and the
/// descriptor it carries (`SCM_RIGHTS`), if any; `Ok(None)` at the end or without one.
pub(crate) fn recv_fd(sock: RawFd, flags: c_int) -> Result<Option<RawFd>, Errno> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // CMSG_SPACE(sizeof(int)) is 24 bytes on 64-bit; u64s keep it aligned.
    let mut control = [0u64; 4];
    // SAFETY: a zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = ptr::addr_of_mut!(iov);
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at the iovec and control buffer on this stack, alive for the call.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_recvmsg,
            sock,
            ptr::addr_of_mut!(msg),
            flags as c_long,
        )
    })?;
    // SAFETY: CMSG_FIRSTHDR reads `msg`'s control fields, which the kernel set within
    // `control`.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::addr_of!(msg)) };
    if r == 0 || cmsg.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-NULL first header lies within `control`, whose length the kernel reports.
    let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
    if level != libc::SOL_SOCKET || kind != libc::SCM_RIGHTS {
        return Ok(None);
    }
    let mut fd: c_int = -1;
    // SAFETY: an SCM_RIGHTS header's data holds at least one int, within `control`.
    unsafe {
        ptr::copy_nonoverlapping(libc::CMSG_DATA(cmsg), ptr::addr_of_mut!(fd).cast(), 4);
    }
    Ok(Some(fd))
}

/// `ppoll(fds, timeout)` (`None`: no timeout) with the signal mask unchanged; returns how many
/// entries have events.
pub(crate) fn ppoll(fds: &mut [libc::pollfd], timeout_ns: Option<i64>) -> Result<usize, Errno> {
    let ts = timeout_ns.map(|ns| libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as _,
    });
    // SAFETY: `fds` and `ts` live for the duration of the call; no signal mask.
    result(unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds.as_mut_ptr(),
            fds.len() as c_ulong,
            ts.as_ref().map_or(ptr::null(), ptr::from_ref),
            ptr::null::<u64>(),
            8 as c_ulong,
        )
    })
    .map(|n| n as usize)
}

/// Bytes queued on a socket, not yet sent (`ioctl(SIOCOUTQ)`).
pub(crate) fn queued(fd: RawFd) -> Result<c_int, Errno> {
    let mut queued: c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) stores an int on this stack.
    result(unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            fd,
            libc::TIOCOUTQ as c_ulong,
            ptr::addr_of_mut!(queued),
        )
    })?;
    Ok(queued)
}

/// `dup3(src, dst, 0)`: `dst` becomes a copy of `src` (inherited across `execve`).
pub(crate) fn dup3(src: RawFd, dst: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only; the caller owns `dst`'s slot.
    result(unsafe { libc::syscall(libc::SYS_dup3, src, dst, 0 as c_int) }).map(drop)
}

/// `close(fd)`; errors are ignored (the descriptor is gone either way).
pub(crate) fn close(fd: RawFd) {
    // SAFETY: closing a descriptor the caller owns and no longer uses.
    unsafe {
        libc::syscall(libc::SYS_close, fd);
    }
}

/// `close_range(first, last, flags)`: closes (or, with [`CLOSE_RANGE_CLOEXEC`], marks
/// close-on-exec) every descriptor of the range.
pub(crate) fn close_range(first: c_uint, last: c_uint, flags: c_uint) -> Result<(), Errno> {
    // SAFETY: integer arguments only; the caller owns the descriptors of the range.
    result(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Closes every descriptor from 3 up except those in `keep` (sorted ascending).
pub(crate) fn close_except(keep: &[RawFd]) {
    let mut next: c_uint = 3;
    for &k in keep {
        let k = k as c_uint;
        if k < next {
            continue;
        }
        if k > next {
            let _ = close_range(next, k - 1, 0);
        }
        next = k + 1;
    }
    let _ = close_range(next, c_uint::MAX, 0);
}

/// Adds `O_NONBLOCK` to the descriptor's file status flags (`fcntl`).
pub(crate) fn set_nonblocking(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    let fl = result(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL as c_long) })?;
    // SAFETY: as above.
    result(unsafe {
        libc::syscall(
            libc::SYS_fcntl,
            fd,
            libc::F_SETFL as c_long,
            fl | libc::O_NONBLOCK as c_long,
        )
    })
    .map(drop)
}
