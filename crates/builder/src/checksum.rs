//! A checksum of COPY/ADD sources: one blake3 digest plus the per-path hashes it was made from.

use std::cmp::Ordering;
use std::fmt;

/// What a COPY/ADD layer depends on in the build context, as one blake3 digest.
///
/// It also keeps, per matched path (context-relative, sorted), the hash of that entry's kind,
/// mode, content or link target, so that two checksums can say which paths differ
/// ([`Checksum::changed_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    digest: [u8; 32],
    entries: Vec<(String, [u8; 32])>,
}

impl Checksum {
    /// Build from entries sorted by path with no duplicates.
    pub(crate) fn from_sorted(entries: Vec<(String, [u8; 32])>) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"boxwright context checksum v1\0");
        h.update(&(entries.len() as u64).to_le_bytes());
        for (path, hash) in &entries {
            h.update(&(path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            h.update(hash);
        }
        Checksum {
            digest: *h.finalize().as_bytes(),
            entries,
        }
    }

    /// The blake3 digest over every matched entry.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The digest as 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from(self.digest).to_hex().to_string()
    }

    /// The matched paths, context-relative and `/`-separated, sorted, each with the hash of
    /// its kind, mode and content (or link target).
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&str, &[u8; 32])> {
        self.entries.iter().map(|(p, h)| (p.as_str(), h))
    }

    /// How many paths the sources matched.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the sources matched nothing (an empty wildcard).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The paths that were added, removed or changed since `old`, sorted.
    pub fn changed_since(&self, old: &Checksum) -> Vec<String> {
        let (mut a, mut b) = (
            old.entries.iter().peekable(),
            self.entries.iter().peekable(),
        );
        let mut out = Vec::new();
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((pa, _)), Some((pb, _))) => pa.cmp(pb),
            };
            match order {
                Ordering::Less => out.extend(a.next().map(|(p, _)| p.clone())),
                Ordering::Greater => out.extend(b.next().map(|(p, _)| p.clone())),
                Ordering::Equal => {
                    if let (Some((p, ha)), Some((_, hb))) = (a.next(), b.next()) {
                        if ha != hb {
                            out.push(p.clone());
                        }
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blake3:{}", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(e: &[(&str, u8)]) -> Checksum {
        Checksum::from_sorted(
            e.iter()
                .map(|(p, b)| ((*p).to_string(), [*b; 32]))
                .collect(),
        )
    }

    #[test]
    fn changed_since_names_added_removed_and_changed() {
        let old = c(&[("a", 1), ("b", 2), ("d", 4)]);
        let new = c(&[("a", 1), ("b", 9), ("c", 3)]);
        assert_eq!(new.changed_since(&old), ["b", "c", "d"]);
        assert!(old.changed_since(&old).is_empty());
        assert_ne!(old.digest(), new.digest());
        assert_eq!(old.to_string().len(), "blake3:".len() + 64);
    }
}
