//! The delayed-label feature store: the features of an event kept until its label may arrive
//! (a sign-up is found abusive days later, when the account sends spam), so that the label
//! teaches the model what the event looked like when it was decided. Events are named by kind
//! and id, and kept under a keyed hash of both: the store cannot say which account it holds.
//!
//! Size: an event takes [`KeptFeatures::stored_bytes`] bytes of keys and values — 64, and 8 a
//! feature — plus what redb's B-trees add around them (not measured here). A sign-up's
//! hundred-odd features make some 1 KB; a mail message's two thousand, 16 KB. Retention is the
//! caller's: [`Desk::expire_features`] forgets events decided before a time.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::{Desk, DeskError};
use warden_store::redbfile::write_txn;
use warden_store::seal::{seal, unseal};

/// Kept events: keyed hash of (kind, id) → sealed (time, extractor, features).
pub(super) const KEPT: TableDefinition<u128, &[u8]> = TableDefinition::new("kept_features");
/// The same events by time, for expiry oldest first: (time, key) → ().
pub(super) const KEPT_BY_TIME: TableDefinition<(u64, u128), ()> =
    TableDefinition::new("kept_features_by_time");

/// An event's features as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFeatures {
    /// When the event was decided, Unix seconds (expiry counts from it).
    pub at: u64,
    /// Fingerprint of the extractor that made the features: a model with another extractor
    /// cannot learn them.
    pub extractor: u64,
    /// The feature hashes.
    pub features: Vec<u64>,
}

impl KeptFeatures {
    /// The bytes of keys and values an event with `features` features takes: the keyed hash
    /// (16), time and extractor (16), the checksum (8), the features (8 each) and the time
    /// index's key (24).
    pub const fn stored_bytes(features: usize) -> usize {
        16 + 16 + 8 + 8 * features + 24
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * self.features.len());
        out.extend_from_slice(&self.at.to_le_bytes());
        out.extend_from_slice(&self.extractor.to_le_bytes());
        for f in &self.features {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    pub(super) fn decode(b: &[u8]) -> Option<KeptFeatures> {
        if b.len() < 16 || !(b.len() - 16).is_multiple_of(8) {
            return None;
        }
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
        Some(KeptFeatures {
            at: word(&b[..8]),
            extractor: word(&b[8..16]),
            features: b[16..].chunks_exact(8).map(word).collect(),
        })
    }
}

fn open(key: u128, v: &[u8]) -> Option<KeptFeatures> {
    unseal("kept_features", &key.to_be_bytes(), v).and_then(KeptFeatures::decode)
}

impl Desk {
    /// The key an event is kept under: a keyed hash of its kind and id.
    pub(super) fn kept_key(&self, kind: &str, id: &str) -> u128 {
        self.keyed_id("kept_features", kind, id)
    }

    /// Keeps the features of `events` of `kind` (each by its id; an id kept before is
    /// replaced), durably, in one transaction.
    pub fn keep_features(&self, kind: &str, events: &[(&str, KeptFeatures)]) -> Result<(), DeskError> {
        self.flush_decisions();
        let txn = write_txn(&self.db)?;
        for (id, f) in events {
            self.keep_in(&txn, kind, id, f)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Keeps one event's features in `txn`, replacing what was kept for it.
    pub(super) fn keep_in(
        &self,
        txn: &redb::WriteTransaction,
        kind: &str,
        id: &str,
        f: &KeptFeatures,
    ) -> Result<(), DeskError> {
        let mut kept = txn.open_table(KEPT)?;
        let mut by_time = txn.open_table(KEPT_BY_TIME)?;
        let key = self.kept_key(kind, id);
        let before = kept.get(key)?.and_then(|v| open(key, v.value()));
        if let Some(before) = before {
            by_time.remove((before.at, key))?;
        }
        kept.insert(key, seal("kept_features", &key.to_be_bytes(), &f.encode()).as_slice())?;
        by_time.insert((f.at, key), ())?;
        Ok(())
    }

    /// The kept features of one event, if kept; a damaged record is counted and taken as
    /// absent.
    pub fn kept_features(&self, kind: &str, id: &str) -> Result<Option<KeptFeatures>, DeskError> {
        self.flush_decisions();
        let key = self.kept_key(kind, id);
        let txn = self.db.begin_read()?;
        let Some(v) = txn.open_table(KEPT)?.get(key)? else { return Ok(None) };
        let read = open(key, v.value());
        if read.is_none() {
            self.damage.found(format!("kept_features {key:032x}"), "fails its checksum");
        }
        Ok(read)
    }

    /// Forgets one event's features (its label was learned, or the entity is erased); `false`
    /// when none were kept.
    pub fn forget_features(&self, kind: &str, id: &str) -> Result<bool, DeskError> {
        self.flush_decisions();
        let key = self.kept_key(kind, id);
        let txn = write_txn(&self.db)?;
        let found = remove_kept(&txn, key)?;
        txn.commit()?;
        Ok(found)
    }

    /// Forgets the features of events decided before `before` (Unix seconds); returns how many.
    pub fn expire_features(&self, before: u64) -> Result<u64, DeskError> {
        self.flush_decisions();
        let txn = write_txn(&self.db)?;
        let n = {
            let mut kept = txn.open_table(KEPT)?;
            let mut by_time = txn.open_table(KEPT_BY_TIME)?;
            let old: Vec<(u64, u128)> =
                by_time.range(..(before, 0))?.map(|e| e.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
            for &(at, key) in &old {
                by_time.remove((at, key))?;
                // Kept again since, at another time, the record stays (a damaged one goes).
                let current = kept.get(key)?.map(|v| open(key, v.value()));
                let stays = matches!(&current, Some(Some(c)) if c.at != at);
                if current.is_some() && !stays {
                    kept.remove(key)?;
                }
            }
            old.len() as u64
        };
        txn.commit()?;
        Ok(n)
    }

    /// Events whose features are kept.
    pub fn kept_events(&self) -> Result<u64, DeskError> {
        self.flush_decisions();
        Ok(self.db.begin_read()?.open_table(KEPT)?.len()?)
    }
}

/// Removes the features kept under `key`, with their time index entry; `false` when none were.
pub(super) fn remove_kept(txn: &redb::WriteTransaction, key: u128) -> Result<bool, DeskError> {
    let removed = txn.open_table(KEPT)?.remove(key)?.map(|v| open(key, v.value()));
    let mut by_time = txn.open_table(KEPT_BY_TIME)?;
    match removed {
        None => return Ok(false),
        Some(Some(before)) => {
            by_time.remove((before.at, key))?;
        }
        // A damaged record's time is unknown: its index entry is found by key.
        Some(None) => {
            let stale: Vec<(u64, u128)> = by_time
                .iter()?
                .filter_map(|e| e.ok().map(|(k, _)| k.value()))
                .filter(|&(_, k)| k == key)
                .collect();
            for k in stale {
                by_time.remove(k)?;
            }
        }
    }
    Ok(true)
}

/// Removes kept features that fail their checksums, with their time index entries (a repair).
pub(super) fn scrub_kept(txn: &redb::WriteTransaction) -> Result<u64, DeskError> {
    let mut kept = txn.open_table(KEPT)?;
    let mut bad = Vec::new();
    for entry in kept.iter()? {
        let (k, v) = entry?;
        if open(k.value(), v.value()).is_none() {
            bad.push(k.value());
        }
    }
    for &k in &bad {
        kept.remove(k)?;
    }
    let mut by_time = txn.open_table(KEPT_BY_TIME)?;
    let mut orphans = Vec::new();
    for entry in by_time.iter()? {
        let (at, key) = entry?.0.value();
        if kept.get(key)?.is_none() {
            orphans.push((at, key));
        }
    }
    for k in orphans {
        by_time.remove(k)?;
    }
    Ok(bad.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_event_takes_the_bytes_the_documentation_says() {
        for n in [0, 1, 120, 2_000] {
            let f = KeptFeatures { at: 7, extractor: 8, features: (0..n as u64).collect() };
            let value = seal("kept_features", &1u128.to_be_bytes(), &f.encode());
            // The hash (16 bytes) and the time index's (time, hash) key (8 and 16).
            let keys = 16 + 8 + 16;
            assert_eq!(KeptFeatures::stored_bytes(n), keys + value.len(), "{n} features");
            assert_eq!(KeptFeatures::decode(&f.encode()), Some(f));
        }
        assert_eq!(KeptFeatures::stored_bytes(120), 1_024, "a sign-up's features, about 1 KB");
        assert_eq!(KeptFeatures::decode(&[0; 17]), None, "a torn record is not read");
    }
}
