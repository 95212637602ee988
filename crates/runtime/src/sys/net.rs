//! Sockets: `socket`, `accept4`, the send buffer's size, and an interface's flags.

use std::ffi::c_void;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_int, c_long, c_short, c_ulong};

use super::{result, Errno};

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit).
#[repr(C)]
struct IfReqFlags {
    name: [u8; 16],
    flags: c_short,
    pad: [u8; 22],
}

/// `socket(domain, kind, 0)`.
pub(crate) fn socket(domain: c_int, kind: c_int) -> Result<RawFd, Errno> {
    // SAFETY: integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_socket,
            domain as c_long,
            kind as c_long,
            0 as c_long,
        )
    };
    result(r).map(|fd| fd as RawFd)
}

/// An `ioctl` on an interface request (`SIOCGIFFLAGS`, `SIOCSIFFLAGS`).
fn if_ioctl(sock: RawFd, request: c_ulong, ifr: &mut IfReqFlags) -> Result<(), Errno> {
    // SAFETY: a full-size ifreq on the caller's stack, alive for the call.
    result(unsafe { libc::syscall(libc::SYS_ioctl, sock, request, ptr::from_mut(ifr)) }).map(drop)
}

/// The flags (`IFF_*`) of interface `name` (at most 15 bytes), through the socket `sock`.
pub(crate) fn interface_flags(sock: RawFd, name: &[u8]) -> Result<c_short, Errno> {
    let mut ifr = IfReqFlags {
        name: [0; 16],
        flags: 0,
        pad: [0; 22],
    };
    let n = name.len().min(15);
    ifr.name[..n].copy_from_slice(&name[..n]);
    if_ioctl(sock, libc::SIOCGIFFLAGS as c_ulong, &mut ifr)?;
    Ok(ifr.flags)
}

/// Sets the flags of interface `name` (at most 15 bytes), through the socket `sock`.
pub(crate) fn set_interface_flags(sock: RawFd, name: &[u8], flags: c_short) -> Result<(), Errno> {
    let mut ifr = IfReqFlags {
        name: [0; 16],
        flags,
        pad: [0; 22],
    };
    let n = name.len().min(15);
    ifr.name[..n].copy_from_slice(&name[..n]);
    if_ioctl(sock, libc::SIOCSIFFLAGS as c_ulong, &mut ifr)
}

/// `accept4(listen, NULL, NULL, flags)`.
pub(crate) fn accept(listen: RawFd, flags: c_int) -> Result<RawFd, Errno> {
    // SAFETY: no address is asked for; integers otherwise.
    let r = unsafe {
        libc::syscall(
            libc::SYS_accept4,
            listen,
            ptr::null_mut::<c_void>(),
            ptr::null_mut::<c_void>(),
            flags as c_long,
        )
    };
    result(r).map(|fd| fd as RawFd)
}

/// Asks for a send buffer of `size` bytes (`SO_SNDBUF`; the kernel may grant another size).
pub(crate) fn set_send_buffer(fd: RawFd, size: c_int) -> Result<(), Errno> {
    // SAFETY: an int on this stack and its length.
    result(unsafe {
        libc::syscall(
            libc::SYS_setsockopt,
            fd,
            libc::SOL_SOCKET as c_long,
            libc::SO_SNDBUF as c_long,
            ptr::addr_of!(size),
            std::mem::size_of::<c_int>() as c_long,
        )
    })
    .map(drop)
}

/// The socket's send buffer size (`SO_SNDBUF`).
pub(crate) fn send_buffer(fd: RawFd) -> Result<c_int, Errno> {
    let mut size: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: an int and its length on this stack.
    result(unsafe {
        libc::syscall(
            libc::SYS_getsockopt,
            fd,
            libc::SOL_SOCKET as c_long,
            libc::SO_SNDBUF as c_long,
            ptr::addr_of_mut!(size),
            ptr::addr_of_mut!(len),
        )
    })?;
    Ok(size)
}
