//! Clocks and sleeping.

use std::ptr;

use libc::c_long;

fn clock(id: libc::clockid_t) -> libc::timespec {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills a timespec on this stack.
    unsafe {
        libc::syscall(libc::SYS_clock_gettime, id as c_long, ptr::addr_of_mut!(t));
    }
    t
}

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`; 0 before 1970).
pub(crate) fn realtime_ns() -> u64 {
    let t = clock(libc::CLOCK_REALTIME);
    (t.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec.max(0) as u64)
}

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub(crate) fn monotonic_ns() -> i64 {
    let t = clock(libc::CLOCK_MONOTONIC);
    t.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec)
}

/// `nanosleep` for `ns` nanoseconds (less when a signal interrupts it).
pub(crate) fn sleep_ns(ns: i64) {
    let pause = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as _,
    };
    // SAFETY: a timespec on this stack; the remainder pointer is NULL.
    unsafe {
        libc::syscall(
            libc::SYS_nanosleep,
            ptr::addr_of!(pause),
            ptr::null_mut::<libc::timespec>(),
        );
    }
}
