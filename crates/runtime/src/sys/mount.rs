//! Mounts: `mount`, `umount2`, `pivot_root`, `mount_setattr`, and the overlay probe.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_char, c_long, c_uint, c_ulong};

use super::{result, Errno};

/// `struct mount_attr` for `mount_setattr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn ptr_or_null(s: Option<&CStr>) -> *const c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

/// `mount(source, target, fstype, flags, data)`, as a raw system call.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    // SAFETY: NUL-terminated strings (or NULL) alive for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_mount,
            ptr_or_null(source),
            target.as_ptr(),
            ptr_or_null(fstype),
            flags,
            ptr_or_null(data),
        )
    })
    .map(drop)
}

/// `umount2(target, flags)`.
pub(crate) fn umount2(target: &CStr, flags: libc::c_int) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path alive for the call.
    result(unsafe { libc::syscall(libc::SYS_umount2, target.as_ptr(), flags as c_long) }).map(drop)
}

/// `pivot_root(new_root, put_old)`.
pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: two NUL-terminated paths alive for the call.
    result(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// Makes the mount at `fd` and every mount beneath it read-only (`mount_setattr` with
/// `AT_RECURSIVE`, Linux 5.12).
pub(crate) fn readonly_recursive(fd: RawFd) -> Result<(), Errno> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an empty path on a descriptor of the caller's (AT_EMPTY_PATH) and a pointer to
    // `attr` on this stack, with its size.
    result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as c_uint,
            ptr::addr_of!(attr),
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Whether the kernel mounts overlayfs with `data` on `target` for us: tried in a private
/// mount namespace of a short-lived thread of its own (the mount goes with the thread's
/// namespace when it ends). Rootful only: a thread of a multi-threaded process cannot enter a
/// user namespace. An ordinary thread, not a clone: the rules for the container's init do not
/// apply here.
pub(crate) fn probe_overlay(target: CString, data: CString) -> io::Result<()> {
    let probe = move || -> io::Result<()> {
        // SAFETY: `CLONE_NEWNS` (which implies `CLONE_FS`) only gives this thread its own
        // mount namespace, root and working directory; no descriptor table is unshared, so
        // no descriptor of the process changes meaning, and the thread ends right after.
        unsafe {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
        }
        // Nothing done below may propagate to the host's mounts.
        rustix::mount::mount_change(
            c"/",
            rustix::mount::MountPropagationFlags::PRIVATE
                | rustix::mount::MountPropagationFlags::REC,
        )?;
        rustix::mount::mount(
            c"overlay",
            target.as_c_str(),
            c"overlay",
            rustix::mount::MountFlags::empty(),
            data.as_c_str(),
        )?;
        let _ = rustix::mount::unmount(target.as_c_str(), rustix::mount::UnmountFlags::DETACH);
        Ok(())
    };
    std::thread::Builder::new()
        .name("overlay-probe".into())
        .spawn(probe)?
        .join()
        .map_err(|_| io::Error::other("the overlay probe panicked"))?
}
