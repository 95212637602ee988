//! Capabilities (bounding set, `capset`, ambient set) and the seccomp filter.

use std::ptr;

use libc::{c_int, c_long, c_ulong};

use super::process::prctl;
use super::{result, Errno};

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Insn {
    /// The opcode.
    pub(crate) code: u16,
    /// Conditional jumps: how many instructions to skip when the test holds.
    pub(crate) jt: u8,
    /// Conditional jumps: how many instructions to skip when it does not.
    pub(crate) jf: u8,
    /// The constant operand.
    pub(crate) k: u32,
}

/// A seccomp program.
pub(crate) type Program = Vec<Insn>;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const Insn,
}

/// `prctl(PR_CAPBSET_DROP, cap)`: removes a capability from the bounding set.
pub(crate) fn drop_bounding(cap: u32) -> Result<(), Errno> {
    prctl(libc::PR_CAPBSET_DROP, c_ulong::from(cap), 0)
}

/// `capset` of this thread's effective, permitted and inheritable sets (64-bit masks).
pub(crate) fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), Errno> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        CapData {
            effective: lo(effective),
            permitted: lo(permitted),
            inheritable: lo(inheritable),
        },
        CapData {
            effective: hi(effective),
            permitted: hi(permitted),
            inheritable: hi(inheritable),
        },
    ];
    // SAFETY: a version-3 header and the two data structs it implies, on this stack.
    result(unsafe { libc::syscall(libc::SYS_capset, ptr::addr_of!(header), data.as_ptr()) })
        .map(drop)
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
pub(crate) fn clear_ambient() -> Result<(), Errno> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
        0,
    )
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)`.
pub(crate) fn raise_ambient(cap: u32) -> Result<(), Errno> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as c_ulong,
        c_ulong::from(cap),
    )
}

/// `prctl(PR_SET_KEEPCAPS, keep)`: whether permitted capabilities survive a change of user.
pub(crate) fn set_keepcaps(keep: bool) -> Result<(), Errno> {
    prctl(libc::PR_SET_KEEPCAPS, c_ulong::from(keep), 0)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub(crate) fn set_no_new_privs() -> Result<(), Errno> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, program)`: installs a classic BPF filter.
pub(crate) fn set_seccomp_filter(program: &[Insn]) -> Result<(), Errno> {
    let fprog = SockFprog {
        len: program.len() as u16,
        filter: program.as_ptr(),
    };
    // SAFETY: `fprog` points at `program`'s instructions (laid out as `struct sock_filter`),
    // alive for the call; the kernel copies them.
    result(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as c_long,
            0 as c_long,
            ptr::addr_of!(fprog),
        )
    })
    .map(drop)
}
