//! The attach socket's wire format and the CRI log's timestamps: the one definition both the
//! monitor (which writes them) and its clients (`attach`, `logs`) read.
//!
//! Plain constants and integer arithmetic only: the monitor, a post-clone child, uses them
//! without allocating.

/// The socket's name in the container's directory.
pub(crate) const SOCKET_NAME: &std::ffi::CStr = c"attach.sock";
/// A frame's header: the kind (one byte), three zero bytes, the payload's length (`u32`,
/// big-endian).
pub(crate) const HEADER: usize = 8;
/// The protocol's version, in `HELLO`.
pub(crate) const VERSION: u8 = 1;
/// Clients attached at once, at most (another is `REFUSED`).
pub(crate) const MAX_CLIENTS: usize = 16;

/// Frame kinds (see the crate docs' table): client input for the command.
pub(crate) const STDIN: u8 = 0x00;
/// The command's stdout (or its terminal's output).
pub(crate) const STDOUT: u8 = 0x01;
/// The command's stderr.
pub(crate) const STDERR: u8 = 0x02;
/// The monitor's greeting: version, flags, the log's length when the client attached.
pub(crate) const HELLO: u8 = 0x10;
/// The command's exit: `E`, `S` or `U`, then the code or signal.
pub(crate) const EXIT: u8 = 0x11;
/// The attachment ended (its stdin closed without stdin-once).
pub(crate) const DETACHED: u8 = 0x12;
/// The connection is refused (the reason follows).
pub(crate) const REFUSED: u8 = 0x13;
/// The client did not keep up and is dropped.
pub(crate) const DROPPED: u8 = 0x14;
/// What the client wants (`WANT_*` bits).
pub(crate) const ATTACH: u8 = 0x20;
/// The client's input has ended.
pub(crate) const CLOSE_STDIN: u8 = 0x21;
/// Rows and columns for the terminal (`u16` each, little-endian).
pub(crate) const RESIZE: u8 = 0x22;

/// `ATTACH` bits: stdin, stdout, stderr.
pub(crate) const WANT_STDIN: u8 = 1;
pub(crate) const WANT_STDOUT: u8 = 2;
pub(crate) const WANT_STDERR: u8 = 4;

/// `HELLO` flags: a terminal, stdin open, stdin-once.
pub(crate) const HELLO_TTY: u8 = 1;
pub(crate) const HELLO_STDIN: u8 = 2;
pub(crate) const HELLO_STDIN_ONCE: u8 = 4;

/// `REFUSED`'s reason: [`MAX_CLIENTS`] are attached already.
pub(crate) const REFUSED_TOO_MANY: u8 = 1;

/// The header of a frame of `kind` with a payload of `len` bytes.
pub(crate) fn header(kind: u8, len: u32) -> [u8; HEADER] {
    let mut hdr = [0u8; HEADER];
    hdr[0] = kind;
    hdr[4..8].copy_from_slice(&len.to_be_bytes());
    hdr
}

/// The payload length a frame's header announces.
pub(crate) fn payload_len(hdr: &[u8; HEADER]) -> u32 {
    u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]])
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 in UTC with nine fractional digits
/// (`2016-10-06T00:17:09.669794202Z`, 30 bytes): integer arithmetic only, so the monitor can
/// use it.
pub(crate) fn rfc3339_nanos(ns: u64, out: &mut [u8; 30]) {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar, in 400-year
    // eras of 146097 days, with years starting in March).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400 + i64::from(month <= 2)).clamp(0, 9999) as u64;
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    put(20, 9, frac);
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b'T';
    out[13] = b':';
    out[16] = b':';
    out[19] = b'.';
    out[29] = b'Z';
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = header(STDERR, 0x0102_0304);
        assert_eq!(h, [STDERR, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(payload_len(&h), 0x0102_0304);
    }
}
