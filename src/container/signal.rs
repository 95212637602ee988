//! Signal names and numbers as `docker kill --signal` and `STOPSIGNAL` take them.

use crate::error::{Error, Result};

/// Linux's signal numbers (x86, arm and the generic table), by name without `SIG`.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// The first real-time signal as glibc numbers it (`SIGRTMIN`).
const RTMIN: i32 = 34;
/// The last real-time signal (`SIGRTMAX`).
const RTMAX: i32 = 64;

/// Parses a signal as Docker does (`--signal`, `STOPSIGNAL`): a number (`9`), a name with or
/// without `SIG` in any case (`SIGKILL`, `kill`), or `RTMIN+N` / `RTMAX-N`.
///
/// ```
/// assert_eq!(boxwright::parse_signal("SIGTERM")?, 15);
/// assert_eq!(boxwright::parse_signal("kill")?, 9);
/// assert_eq!(boxwright::parse_signal("10")?, 10);
/// assert!(boxwright::parse_signal("SIGNOPE").is_err());
/// # Ok::<(), boxwright::Error>(())
/// ```
pub fn parse_signal(text: &str) -> Result<i32> {
    let bad = || Error::invalid("signal", text, "not a signal name or number");
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(*n);
    }
    let offset = |rest: &str| -> Option<i32> {
        if rest.is_empty() {
            Some(0)
        } else {
            rest.parse().ok()
        }
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        offset(rest.trim_start_matches('+')).map(|o| RTMIN + o)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        offset(rest.trim_start_matches('-')).map(|o| RTMAX - o)
    } else {
        None
    };
    match n {
        Some(n) if (RTMIN..=RTMAX).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!(parse_signal("SIGHUP").ok(), Some(1));
        assert_eq!(parse_signal("usr1").ok(), Some(10));
        assert_eq!(parse_signal("SIGRTMIN+3").ok(), Some(37));
        assert_eq!(parse_signal("RTMAX-1").ok(), Some(63));
        assert_eq!(parse_signal("RTMAX").ok(), Some(64));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("").is_err());
        assert!(parse_signal("SIGRTMIN+40").is_err());
    }
}
