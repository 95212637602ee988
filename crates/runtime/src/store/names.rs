//! Container names: Docker's rule, and generated `adjective_name`s.

use crate::store::record::now_ns;

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A random number (time and PID if the kernel has none).
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).is_err() {
        return now_ns() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

/// A Docker-style `adjective_name`.
pub(crate) fn generated_name() -> String {
    const LEFT: &[&str] = &[
        "admiring", "brave", "clever", "dreamy", "eager", "focused", "gentle", "happy", "jolly",
        "keen", "lucid", "modest", "nifty", "quirky", "serene", "vibrant",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "jepsen", "knuth",
        "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak",
    ];
    let r = random_u64();
    format!(
        "{}_{}",
        LEFT[(r % LEFT.len() as u64) as usize],
        RIGHT[((r >> 8) % RIGHT.len() as u64) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("web-1.a_b"));
        assert!(valid_name("a1"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("web/1"));
        assert!(!valid_name("wéb"));
        assert!(valid_name(&generated_name()));
    }
}
