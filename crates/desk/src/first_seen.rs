//! When the server first saw mail from each sender domain: a rule field (`mail.from_domain_age`),
//! never a model feature, since it is the server's history and not the message's.
//!
//! Domains are kept as keyed hashes (the data directory's key), with the time first seen. The
//! map lives in memory, loaded from the desk's `first_seen` table at start; a domain seen for the
//! first time is written there with the check's other desk writes. Entries older than the
//! retention are forgotten (a domain then counts as new again), and the map holds at most
//! [`MAX_DOMAINS`]: past that, new domains are answered as new and not remembered.

use std::collections::HashMap;
use std::sync::Mutex;

/// Domains remembered at most (about 48 bytes each in memory).
pub const MAX_DOMAINS: usize = 4_000_000;

/// The first-seen times of sender domains.
#[derive(Debug)]
pub struct FirstSeen {
    key: [u8; 32],
    seen: Mutex<HashMap<u64, u64>>,
}

impl FirstSeen {
    /// The map over `entries` (keyed hash, Unix seconds), hashing under `key`.
    pub fn new(key: [u8; 32], entries: impl IntoIterator<Item = (u64, u64)>) -> Self {
        FirstSeen { key, seen: Mutex::new(entries.into_iter().collect()) }
    }

    /// The keyed hash a domain is kept as (lower case).
    pub fn key_of(&self, domain: &str) -> u64 {
        let h = blake3::keyed_hash(&self.key, domain.to_ascii_lowercase().as_bytes());
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 of 32 bytes"))
    }

    /// The age of `domain` at `now` in seconds, remembering it as first seen now when it is new;
    /// with the entry to store when it is.
    pub fn observe(&self, domain: &str, now: u64) -> (u64, Option<(u64, u64)>) {
        let key = self.key_of(domain);
        let mut seen = self.seen.lock().expect("not poisoned");
        if let Some(&first) = seen.get(&key) {
            return (now.saturating_sub(first), None);
        }
        if seen.len() >= MAX_DOMAINS {
            return (0, None);
        }
        seen.insert(key, now);
        (0, Some((key, now)))
    }

    /// Forgets the domains first seen before `before`; returns how many.
    pub fn forget_before(&self, before: u64) -> usize {
        let mut seen = self.seen.lock().expect("not poisoned");
        let was = seen.len();
        seen.retain(|_, &mut first| first >= before);
        was - seen.len()
    }

    /// Domains remembered.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_new_once_then_ages_and_case_does_not_matter() {
        let f = FirstSeen::new([7; 32], []);
        assert_eq!(f.observe("Shop.Example", 1_000), (0, Some((f.key_of("shop.example"), 1_000))));
        assert_eq!(f.observe("shop.example", 1_060), (60, None));
        assert_eq!(f.observe("other.example", 1_060).0, 0);
        assert_eq!(f.remembered(), 2);
        // Loaded again from what was stored: the same ages.
        let again = FirstSeen::new([7; 32], [(f.key_of("shop.example"), 1_000)]);
        assert_eq!(again.observe("shop.example", 1_100), (100, None));
        // Another key: another hash, nothing recognised.
        let other = FirstSeen::new([8; 32], [(f.key_of("shop.example"), 1_000)]);
        assert_eq!(other.observe("shop.example", 1_100).0, 0);
    }

    #[test]
    fn forgotten_domains_are_new_again() {
        let f = FirstSeen::new([7; 32], []);
        f.observe("old.example", 100);
        f.observe("young.example", 900);
        assert_eq!(f.forget_before(500), 1);
        assert_eq!(f.observe("old.example", 1_000), (0, Some((f.key_of("old.example"), 1_000))));
        assert_eq!(f.observe("young.example", 1_000).0, 100);
    }
}
