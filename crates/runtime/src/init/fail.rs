//! A failure of the child: the step, the errno and an index, written on the error pipe (12
//! bytes) before the child exits with 127; the parent decodes it into a typed error.

use std::os::fd::RawFd;

use crate::plan::Step;
use crate::sys::{self, Errno};

/// A failure in the child: the step, the errno, and which mount/exec candidate (or 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fail {
    pub(crate) step: Step,
    pub(crate) errno: i32,
    pub(crate) index: u32,
}

impl Fail {
    /// The 12 bytes written on the error pipe.
    pub(crate) const LEN: usize = 12;

    /// The report of a failed system call of `step`.
    pub(crate) fn at(step: Step, index: u32) -> impl FnOnce(Errno) -> Fail {
        move |errno| Fail { step, errno, index }
    }

    /// The bytes written on the error pipe.
    fn encode(self) -> [u8; Self::LEN] {
        let mut buf = [0u8; Self::LEN];
        buf[0..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        buf[4..8].copy_from_slice(&self.errno.to_ne_bytes());
        buf[8..12].copy_from_slice(&self.index.to_ne_bytes());
        buf
    }

    /// The failure the child wrote (`None`: not a step).
    pub(crate) fn decode(b: &[u8; Self::LEN]) -> Option<Fail> {
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Fail {
            step: Step::from_u32(word(0))?,
            errno: word(4) as i32,
            index: word(8),
        })
    }
}

/// Writes a failure on the error pipe and leaves with 127 (no destructor runs).
pub(crate) fn fail_exit(error_fd: RawFd, fail: Fail) -> ! {
    let _ = sys::io::write(error_fd, &fail.encode());
    sys::process::exit_now(127)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_decodes() {
        let mut b = [0u8; Fail::LEN];
        b[0..4].copy_from_slice(&(Step::Exec as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&2i32.to_ne_bytes());
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        let f = Fail::decode(&b).unwrap();
        assert_eq!((f.step, f.errno, f.index), (Step::Exec, 2, 7));
        assert_eq!(f.encode(), b);
    }
}
