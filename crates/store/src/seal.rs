//! Checksums on stored records.
//!
//! Every value Warden keeps in a redb table carries, after it, an xxh3-64 of the table's name,
//! the record's key and the value. A flipped byte, a value copied under another key, or a
//! record cut short is then found when the record is read, instead of being taken as data.
//! redb checks its own pages only when asked to verify a whole file
//! (`Database::check_integrity`), which reads everything: the per-record sums are what make a
//! single read trustworthy. The counter journal has its own framing with the same sum
//! (`journal.rs`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::Xxh3;

/// Bytes the checksum adds to each value.
pub const SUM_BYTES: usize = 8;

fn sum(table: &str, key: &[u8], payload: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(table.as_bytes());
    h.update(&[0]);
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(payload);
    h.digest()
}

/// `payload` followed by its checksum, for the record `key` of `table`.
pub fn seal(table: &str, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + SUM_BYTES);
    out.extend_from_slice(payload);
    out.extend_from_slice(&sum(table, key, payload).to_le_bytes());
    out
}

/// The payload of a sealed value, or `None` when the value does not match its checksum.
pub fn unseal<'a>(table: &str, key: &[u8], value: &'a [u8]) -> Option<&'a [u8]> {
    let (payload, tail) = value.split_at_checked(value.len().checked_sub(SUM_BYTES)?)?;
    let stored = u64::from_le_bytes(tail.try_into().ok()?);
    (stored == sum(table, key, payload)).then_some(payload)
}

/// The damaged records a file's readers have met: each is logged once, with its place and
/// `--repair` as the way out, and counted once (`warden_damaged_records{file}`).
#[derive(Debug)]
pub struct DamageLog {
    file: &'static str,
    seen: Mutex<HashSet<String>>,
    repaired: AtomicU64,
}

/// Damaged records remembered, at most (a file that is damaged all over is counted up to it).
const REMEMBERED: usize = 100_000;

impl DamageLog {
    /// The log of `file`'s damaged records (the name it reports them under).
    pub fn new(file: &'static str) -> Self {
        DamageLog { file, seen: Mutex::new(HashSet::new()), repaired: AtomicU64::new(0) }
    }

    /// A read met a damaged record, `place` (table and key), and skipped it.
    pub fn found(&self, place: String, what: &str) {
        let mut seen = self.seen.lock().expect("not poisoned");
        if seen.len() < REMEMBERED && seen.insert(place.clone()) {
            tracing::error!(
                file = self.file,
                record = %place,
                what,
                "a damaged record was skipped; `warden serve --repair` removes it and keeps the rest"
            );
        }
    }

    /// Damaged records met since start.
    pub fn found_count(&self) -> u64 {
        self.seen.lock().expect("not poisoned").len() as u64
    }

    /// A repair removed `n` damaged records.
    pub fn repaired(&self, n: u64) {
        self.repaired.fetch_add(n, Ordering::Relaxed);
    }

    /// Damaged records removed by a repair since start.
    pub fn repaired_count(&self) -> u64 {
        self.repaired.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_where_it_was_sealed_and_as_it_was() {
        let v = seal("review", &7u64.to_be_bytes(), b"{\"subject\":\"hi\"}");
        assert_eq!(unseal("review", &7u64.to_be_bytes(), &v), Some(&b"{\"subject\":\"hi\"}"[..]));
        assert_eq!(unseal("review", &8u64.to_be_bytes(), &v), None, "another key");
        assert_eq!(unseal("labels", &7u64.to_be_bytes(), &v), None, "another table");
        for i in 0..v.len() {
            for bit in 0..8 {
                let mut flipped = v.clone();
                flipped[i] ^= 1 << bit;
                assert_eq!(unseal("review", &7u64.to_be_bytes(), &flipped), None, "byte {i} bit {bit}");
            }
        }
        for cut in 0..v.len() {
            assert_eq!(unseal("review", &7u64.to_be_bytes(), &v[..cut]), None, "cut at {cut}");
        }
        assert_eq!(unseal("t", b"", &seal("t", b"", b"")), Some(&b""[..]), "an empty payload");
    }
}
