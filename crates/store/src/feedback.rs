//! The feedback store: every acknowledged label, durable before it is acknowledged.
//!
//! A redb database in the data directory (`feedback.redb`). A record keeps what learning
//! needs and nothing that identifies a person: the message's feature hashes, its label, a
//! keyed hash of its bytes (to find the same message again), the extractor settings'
//! fingerprint and the time. Message bodies are never stored. Each commit is one redb write
//! transaction with immediate durability (fsync); the caller batches several records into
//! one commit (group commit).
//!
//! The key of the keyed hashes (`secret.key`, 32 random bytes, mode 0600) is made at first
//! start; without it a record's message hash cannot be matched against a candidate message.
//!
//! Every record and kept body carries a checksum (`seal.rs`); the message index is trusted
//! only when the record it names agrees. A read at start that meets a damaged record stops
//! (the server refuses to start on it); one at run time skips and counts it; a repair removes
//! it ([`FeedbackStore::scrub`]). The data directory module opens the database and checks
//! whose it is before it becomes a store here.

use std::path::{Path, PathBuf};

use crate::seal::{seal, unseal};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

/// Records by sequence number (1, 2, …).
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("feedback");
/// The latest record of each message: keyed message hash → (sequence number, abusive).
const BY_MESSAGE: TableDefinition<u128, (u64, bool)> = TableDefinition::new("by_message");
/// Message bodies, by record, for installations that keep them (`[feedback] keep_bodies`).
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
/// The store's identity and other facts about it.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the data directory cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused an operation.
    #[error("feedback store: {0}")]
    Db(String),
    /// A record does not decode (damaged, or written by a newer Warden).
    #[error("feedback store: record {seq} is damaged: {what}")]
    Corrupt {
        /// The record.
        seq: u64,
        /// What is wrong.
        what: &'static str,
    },
}

/// `From` every redb error an operation can give, for an error type, by way of the message
/// (`$wrap` makes the type's value from it).
#[macro_export]
macro_rules! from_redb_errors {
    ($target:ty, $wrap:expr) => {
        $crate::from_redb_errors!(@each $target, $wrap;
            $crate::redb::DatabaseError, $crate::redb::TransactionError, $crate::redb::TableError,
            $crate::redb::StorageError, $crate::redb::CommitError);
    };
    (@each $target:ty, $wrap:expr; $($t:ty),*) => {$(
        impl From<$t> for $target {
            fn from(e: $t) -> Self {
                ($wrap)(e.to_string())
            }
        }
    )*};
}

from_redb_errors!(StoreError, StoreError::Db);

/// A label to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedback {
    /// Keyed hash of the message's bytes.
    pub message: u128,
    /// The label, in the kind's words when shown (mail: spam or ham).
    pub label: warden_core::Label,
    /// The message's feature hashes.
    pub features: Vec<u64>,
    /// Fingerprint of the extractor settings that made `features`.
    pub extractor: u64,
    /// Unix time, seconds.
    pub at: u64,
    /// The message itself, kept only when configured (`[feedback] keep_bodies`), so that a
    /// model with other extractor settings can still learn it.
    pub body: Option<Vec<u8>>,
    /// Learn it as a correction even when the message had no label before: an analyst
    /// overturning Warden's decision.
    pub correction: bool,
}

/// A stored label.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRecord {
    /// Its place in the store (1, 2, …): the order it was learned in.
    pub seq: u64,
    /// It contradicts an earlier label of the same message.
    pub correction: bool,
    /// What was stored.
    pub feedback: NewFeedback,
}

/// What became of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as record `seq`; the message had no label before.
    New {
        /// The record.
        seq: u64,
    },
    /// Stored as record `seq`; the message had the other label before.
    Correction {
        /// The record.
        seq: u64,
    },
    /// The message already has this label (record `seq`); nothing stored.
    Duplicate {
        /// The earlier record.
        seq: u64,
    },
}

/// Counts of what the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records held.
    pub records: u64,
    /// The newest record's sequence number (0 when none was ever stored).
    pub last_seq: u64,
}

/// What damaged records do to a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDamage {
    /// Stop with [`StoreError::Corrupt`] (at start: the server refuses to start on it).
    Fail,
    /// Skip the record and count it (at run time).
    Skip,
}

/// The feedback store of one data directory.
pub struct FeedbackStore {
    db: Database,
    key: [u8; 32],
    id: String,
    damage: crate::seal::DamageLog,
}

impl std::fmt::Debug for FeedbackStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedbackStore").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The store's file name in a data directory.
pub const FILE: &str = "feedback.redb";

/// The table names records are sealed under (`seal.rs`).
const SEAL_RECORDS: &str = "feedback";
const SEAL_BODIES: &str = "bodies";

/// The format of the store's values: 2 has a checksum on every record and body.
const FORMAT: &str = "2";

impl FeedbackStore {
    /// A store over `db` (made or opened by the data directory, which has checked whose it
    /// is), hashing messages under `key`. Its tables are made when absent; records of the
    /// first format (no checksums) are written again with their checksums.
    pub fn from_db(db: Database, key: [u8; 32]) -> Result<Self, StoreError> {
        let txn = crate::redbfile::write_txn(&db)?;
        let id = {
            txn.open_table(RECORDS)?;
            txn.open_table(BY_MESSAGE)?;
            txn.open_table(BODIES)?;
            let mut meta = txn.open_table(META)?;
            let existing = meta.get("store_id")?.map(|v| v.value().to_owned());
            match existing {
                Some(id) => id,
                None => {
                    let id = hex(&random_bytes::<16>().map_err(|e| StoreError::Db(e.to_string()))?);
                    meta.insert("store_id", id.as_str())?;
                    id
                }
            }
        };
        let format = txn.open_table(META)?.get("format")?.map(|v| v.value().to_owned());
        if format.as_deref() != Some(FORMAT) {
            seal_legacy(&txn)?;
            txn.open_table(META)?.insert("format", FORMAT)?;
        }
        txn.commit()?;
        Ok(FeedbackStore { db, key, id, damage: crate::seal::DamageLog::new(FILE) })
    }

    /// The store's identity: a model checkpoint names the store and the last record it learned.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Damaged records met by reads since the store was opened.
    pub fn damaged(&self) -> u64 {
        self.damage.found_count()
    }

    /// Damaged records a repair removed since the store was opened.
    pub fn repaired(&self) -> u64 {
        self.damage.repaired_count()
    }

    fn count_damage(&self, seq: u64, what: &str) {
        self.damage.found(format!("record {seq}"), what);
    }

    /// The keyed hash of a message's bytes.
    pub fn message_key(&self, raw: &[u8]) -> u128 {
        let h = blake3::keyed_hash(&self.key, raw);
        u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 of 32 bytes"))
    }

    /// Stores a batch of labels in one durable transaction and says what became of each, in
    /// order. When this returns `Ok`, every stored label is on disk.
    pub fn commit(&self, batch: &[NewFeedback]) -> Result<Vec<Outcome>, StoreError> {
        let txn = crate::redbfile::write_txn(&self.db)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut records = txn.open_table(RECORDS)?;
            let mut by_message = txn.open_table(BY_MESSAGE)?;
            let mut bodies = txn.open_table(BODIES)?;
            let mut next = last_seq(&records, &txn.open_table(META)?)? + 1;
            for f in batch {
                let earlier = by_message.get(f.message)?.map(|v| v.value());
                // The index is trusted only when the record it names says the same.
                let earlier = earlier.filter(|&(seq, abusive)| {
                    let holds = records
                        .get(seq)
                        .ok()
                        .flatten()
                        .and_then(|v| decode(seq, v.value()).ok())
                        .is_some_and(|r| {
                            r.feedback.message == f.message && r.feedback.label.is_abusive() == abusive
                        });
                    if !holds {
                        self.count_damage(seq, "the message index names a record that does not match it");
                    }
                    holds
                });
                let outcome = match earlier {
                    Some((seq, abusive)) if abusive == f.label.is_abusive() => Outcome::Duplicate { seq },
                    Some(_) => Outcome::Correction { seq: next },
                    None if f.correction => Outcome::Correction { seq: next },
                    None => Outcome::New { seq: next },
                };
                if !matches!(outcome, Outcome::Duplicate { .. }) {
                    let correction = matches!(outcome, Outcome::Correction { .. });
                    records.insert(next, encode(next, f, correction).as_slice())?;
                    by_message.insert(f.message, (next, f.label.is_abusive()))?;
                    if let Some(body) = &f.body {
                        bodies.insert(next, seal(SEAL_BODIES, &next.to_be_bytes(), body).as_slice())?;
                    }
                    next += 1;
                }
                outcomes.push(outcome);
            }
        }
        txn.commit()?;
        Ok(outcomes)
    }

    /// Calls `each` with every record after `seq`, in order. A damaged record stops the read
    /// or is skipped and counted, as `on_damage` says; a damaged body is left out and counted.
    pub fn for_each_after(
        &self,
        seq: u64,
        on_damage: OnDamage,
        mut each: impl FnMut(FeedbackRecord),
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let bodies = txn.open_table(BODIES)?;
        for entry in records.range(seq.saturating_add(1)..)? {
            let (k, v) = entry?;
            let mut r = match decode(k.value(), v.value()) {
                Ok(r) => r,
                Err(e) if on_damage == OnDamage::Fail => return Err(e),
                Err(e) => {
                    self.count_damage(k.value(), &e.to_string());
                    continue;
                }
            };
            r.feedback.body = match bodies.get(r.seq)? {
                None => None,
                Some(b) => match unseal(SEAL_BODIES, &r.seq.to_be_bytes(), b.value()) {
                    Some(body) => Some(body.to_vec()),
                    None if on_damage == OnDamage::Fail => {
                        return Err(StoreError::Corrupt {
                            seq: r.seq,
                            what: "its kept message fails its checksum",
                        });
                    }
                    None => {
                        self.count_damage(r.seq, "its kept message fails its checksum");
                        None
                    }
                },
            };
            each(r);
        }
        Ok(())
    }

    /// What the store holds.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        Ok(StoreStats { records: records.len()?, last_seq: last_seq(&records, &txn.open_table(META)?)? })
    }

    /// Records that a model checkpoint holding the records up to `seq` was written: from then
    /// on, a data directory without its `model.wdm` is missing something.
    pub fn record_checkpoint(&self, seq: u64) -> Result<(), StoreError> {
        let txn = crate::redbfile::write_txn(&self.db)?;
        txn.open_table(META)?.insert("checkpoint", seq.to_string().as_str())?;
        txn.commit()?;
        Ok(())
    }

    /// The last record a written checkpoint held, if one was ever written.
    pub fn checkpoint_recorded(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get("checkpoint")?.and_then(|v| v.value().parse().ok()))
    }

    /// Deletes the records stored before `before` (Unix seconds) and forgets their messages;
    /// returns how many were deleted. The newest record is always kept, so that sequence
    /// numbers never restart. Damaged records are skipped (a repair removes them).
    pub fn expire(&self, before: u64) -> Result<u64, StoreError> {
        let txn = crate::redbfile::write_txn(&self.db)?;
        let mut gone = Vec::new();
        {
            let mut records = txn.open_table(RECORDS)?;
            let last = records.last()?.map_or(0, |(k, _)| k.value());
            for entry in records.range(..last)? {
                let (k, v) = entry?;
                let Ok(r) = decode(k.value(), v.value()) else { continue };
                if r.feedback.at >= before {
                    // Records are stored in time order: the rest are newer.
                    break;
                }
                gone.push((r.seq, r.feedback.message));
            }
            let mut by_message = txn.open_table(BY_MESSAGE)?;
            let mut bodies = txn.open_table(BODIES)?;
            for &(seq, message) in &gone {
                records.remove(seq)?;
                bodies.remove(seq)?;
                if by_message.get(message)?.is_some_and(|v| v.value().0 == seq) {
                    by_message.remove(message)?;
                }
            }
        }
        txn.commit()?;
        Ok(gone.len() as u64)
    }

    /// Deletes the kept bodies of records stored before `before` (Unix seconds); the records
    /// stay. Returns how many bodies were deleted.
    pub fn expire_bodies(&self, before: u64) -> Result<u64, StoreError> {
        let txn = crate::redbfile::write_txn(&self.db)?;
        let mut n = 0;
        {
            let records = txn.open_table(RECORDS)?;
            let mut bodies = txn.open_table(BODIES)?;
            let mut old = Vec::new();
            for entry in bodies.iter()? {
                let (k, _) = entry?;
                let seq = k.value();
                let at = match records.get(seq)? {
                    Some(v) => match decode(seq, v.value()) {
                        Ok(r) => r.feedback.at,
                        Err(_) => continue,
                    },
                    None => 0,
                };
                if at >= before {
                    break; // bodies are in record order, and records in time order
                }
                old.push(seq);
            }
            for seq in old {
                bodies.remove(seq)?;
                n += 1;
            }
        }
        txn.commit()?;
        Ok(n)
    }

    /// Reads every record and body, deletes those that fail their checksums, and builds the
    /// message index again from the records: what `warden serve --repair` does to the store.
    /// Returns how many records and bodies were deleted.
    pub fn scrub(&self) -> Result<u64, StoreError> {
        let txn = crate::redbfile::write_txn(&self.db)?;
        let removed;
        {
            let mut records = txn.open_table(RECORDS)?;
            let mut bodies = txn.open_table(BODIES)?;
            let mut by_message = txn.open_table(BY_MESSAGE)?;
            let mut bad = Vec::new();
            let mut index = Vec::new();
            for entry in records.iter()? {
                let (k, v) = entry?;
                match decode(k.value(), v.value()) {
                    Ok(r) => index.push((r.feedback.message, r.seq, r.feedback.label.is_abusive())),
                    Err(_) => bad.push(k.value()),
                }
            }
            let last = records.last()?.map(|(k, _)| k.value());
            for seq in &bad {
                records.remove(*seq)?;
                bodies.remove(*seq)?;
            }
            if let Some(last) = last.filter(|l| bad.contains(l)) {
                // Sequence numbers never restart: the newest number taken is kept aside.
                txn.open_table(META)?.insert("seq_floor", last.to_string().as_str())?;
            }
            let mut bad_bodies = Vec::new();
            for entry in bodies.iter()? {
                let (k, v) = entry?;
                if unseal(SEAL_BODIES, &k.value().to_be_bytes(), v.value()).is_none() {
                    bad_bodies.push(k.value());
                }
            }
            for seq in &bad_bodies {
                bodies.remove(*seq)?;
            }
            by_message.retain(|_, _| false)?;
            for (message, seq, abusive) in index {
                by_message.insert(message, (seq, abusive))?;
            }
            removed = (bad.len() + bad_bodies.len()) as u64;
        }
        txn.commit()?;
        self.damage.repaired(removed);
        Ok(removed)
    }
}

/// The newest sequence number taken: the newest record's, or the one a repair kept aside when
/// it removed the newest record.
fn last_seq(
    records: &impl ReadableTable<u64, &'static [u8]>,
    meta: &impl ReadableTable<&'static str, &'static str>,
) -> Result<u64, StoreError> {
    let floor = meta.get("seq_floor")?.and_then(|v| v.value().parse().ok()).unwrap_or(0);
    Ok(records.last()?.map_or(0, |(k, _)| k.value()).max(floor))
}

/// Writes every record and body of the first format again with its checksum.
fn seal_legacy(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut records = txn.open_table(RECORDS)?;
    let mut old = Vec::new();
    for entry in records.iter()? {
        let (k, v) = entry?;
        old.push((k.value(), v.value().to_vec()));
    }
    for (seq, bytes) in old {
        // A first-format record that does not decode is kept as it is: it fails its checksum
        // at its first read, and a repair removes it.
        if let Ok(r) = decode_payload(seq, &bytes, LEGACY_VERSION) {
            records.insert(seq, encode(seq, &r.feedback, r.correction).as_slice())?;
        }
    }
    let mut bodies = txn.open_table(BODIES)?;
    let mut old = Vec::new();
    for entry in bodies.iter()? {
        let (k, v) = entry?;
        old.push((k.value(), v.value().to_vec()));
    }
    for (seq, body) in old {
        bodies.insert(seq, seal(SEAL_BODIES, &seq.to_be_bytes(), &body).as_slice())?;
    }
    Ok(())
}

/// The first format's record version (no checksum).
const LEGACY_VERSION: u8 = 1;
const RECORD_VERSION: u8 = 2;

/// version, flags (bit 0 abusive, bit 1 correction), at, message, extractor, count, features;
/// sealed under its sequence number.
fn encode(seq: u64, f: &NewFeedback, correction: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 1 + 8 + 16 + 8 + 4 + 8 * f.features.len());
    out.push(RECORD_VERSION);
    out.push(u8::from(f.label.is_abusive()) | u8::from(correction) << 1);
    out.extend_from_slice(&f.at.to_le_bytes());
    out.extend_from_slice(&f.message.to_le_bytes());
    out.extend_from_slice(&f.extractor.to_le_bytes());
    out.extend_from_slice(&(f.features.len() as u32).to_le_bytes());
    for h in &f.features {
        out.extend_from_slice(&h.to_le_bytes());
    }
    seal(SEAL_RECORDS, &seq.to_be_bytes(), &out)
}

fn decode(seq: u64, bytes: &[u8]) -> Result<FeedbackRecord, StoreError> {
    let payload = unseal(SEAL_RECORDS, &seq.to_be_bytes(), bytes)
        .ok_or(StoreError::Corrupt { seq, what: "it fails its checksum" })?;
    decode_payload(seq, payload, RECORD_VERSION)
}

fn decode_payload(seq: u64, bytes: &[u8], version: u8) -> Result<FeedbackRecord, StoreError> {
    let corrupt = |what| StoreError::Corrupt { seq, what };
    const HEAD: usize = 1 + 1 + 8 + 16 + 8 + 4;
    if bytes.len() < HEAD {
        return Err(corrupt("shorter than its header"));
    }
    if bytes[0] != version {
        return Err(corrupt("unknown record version"));
    }
    let flags = bytes[1];
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let at = u64_at(2);
    let message = u128::from_le_bytes(bytes[10..26].try_into().expect("16 bytes"));
    let extractor = u64_at(26);
    let n = u32::from_le_bytes(bytes[34..38].try_into().expect("4 bytes")) as usize;
    if bytes.len() != HEAD + 8 * n {
        return Err(corrupt("feature count does not match its length"));
    }
    let features =
        bytes[HEAD..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect();
    Ok(FeedbackRecord {
        seq,
        correction: flags & 2 != 0,
        feedback: NewFeedback {
            message,
            label: warden_core::Label::of(flags & 1 != 0),
            features,
            extractor,
            at,
            body: None,
            correction: flags & 2 != 0,
        },
    })
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b)
}

/// Writes a new file readable by its owner only, durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(message: u128, spam: bool, at: u64) -> NewFeedback {
        NewFeedback {
            message,
            label: warden_core::Label::of(spam),
            features: vec![1, 2, message as u64],
            extractor: 7,
            at,
            body: None,
            correction: false,
        }
    }

    /// The store of a data directory at `dir` (the data directory's key checks are
    /// `warden-desk`'s), under a fixed key.
    fn store_in(dir: &std::path::Path) -> FeedbackStore {
        let db = Database::create(dir.join(FILE)).unwrap();
        FeedbackStore::from_db(db, [7; 32]).unwrap()
    }

    #[test]
    fn kept_bodies_read_back_with_their_records_and_expire_on_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let with = |m, at| NewFeedback { body: Some(format!("message {m}").into_bytes()), ..fb(m, true, at) };
        store.commit(&[with(1, 10), fb(2, true, 20), with(3, 30)]).unwrap();
        let bodies = |s: &FeedbackStore| all(s).into_iter().map(|r| r.feedback.body).collect::<Vec<_>>();
        assert_eq!(bodies(&store), [Some(b"message 1".to_vec()), None, Some(b"message 3".to_vec())]);
        assert_eq!(store.expire_bodies(25).unwrap(), 1);
        assert_eq!(bodies(&store), [None, None, Some(b"message 3".to_vec())]);
        assert_eq!(all(&store).len(), 3, "the records stay");
        assert_eq!(store.expire(100).unwrap(), 2);
        assert_eq!(bodies(&store), [Some(b"message 3".to_vec())]);
    }

    fn all(store: &FeedbackStore) -> Vec<FeedbackRecord> {
        let mut v = Vec::new();
        store.for_each_after(0, OnDamage::Fail, |r| v.push(r)).unwrap();
        v
    }

    #[test]
    fn labels_are_stored_in_order_and_repeats_and_corrections_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let out = store.commit(&[fb(10, true, 1), fb(11, false, 1), fb(10, true, 2)]).unwrap();
        assert_eq!(out, [Outcome::New { seq: 1 }, Outcome::New { seq: 2 }, Outcome::Duplicate { seq: 1 }]);
        let out = store.commit(&[fb(10, false, 3), fb(10, false, 3)]).unwrap();
        assert_eq!(out, [Outcome::Correction { seq: 3 }, Outcome::Duplicate { seq: 3 }]);
        let records = all(&store);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(records[2].correction && !records[2].feedback.label.is_abusive());
        assert_eq!(records[1].feedback, fb(11, false, 1), "a record reads back as it was written");
        let mut after = Vec::new();
        store.for_each_after(2, OnDamage::Fail, |r| after.push(r.seq)).unwrap();
        assert_eq!(after, [3]);
        assert_eq!(store.stats().unwrap(), StoreStats { records: 3, last_seq: 3 });
    }

    #[test]
    fn the_store_and_its_identity_survive_reopening_and_its_key_decides_message_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (id, key) = {
            let store = store_in(dir.path());
            store.commit(&[fb(1, true, 1)]).unwrap();
            (store.id().to_owned(), store.message_key(b"hello"))
        };
        let store = store_in(dir.path());
        assert_eq!(store.id(), id);
        assert_eq!(store.message_key(b"hello"), key);
        assert_ne!(store.message_key(b"hello!"), key);
        assert_eq!(all(&store).len(), 1);
        assert_eq!(store.commit(&[fb(1, true, 2)]).unwrap(), [Outcome::Duplicate { seq: 1 }]);

        let other = tempfile::tempdir().unwrap();
        let elsewhere = store_in(other.path());
        assert_ne!(elsewhere.id(), id);
        let db = Database::create(other.path().join("other.redb")).unwrap();
        let other_key = FeedbackStore::from_db(db, [8; 32]).unwrap();
        assert_ne!(other_key.message_key(b"hello"), key, "keys differ between installations");
    }

    #[test]
    fn expiry_deletes_old_records_but_never_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.commit(&[fb(1, true, 10), fb(2, true, 20), fb(3, false, 30)]).unwrap();
        assert_eq!(store.expire(25).unwrap(), 2);
        assert_eq!(all(&store).iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
        assert_eq!(store.commit(&[fb(1, true, 40)]).unwrap(), [Outcome::New { seq: 4 }], "forgotten");
        assert_eq!(store.expire(100).unwrap(), 1);
        assert_eq!(store.stats().unwrap(), StoreStats { records: 1, last_seq: 4 });
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let f = fb(5, true, 9);
        let good = encode(1, &f, false);
        assert_eq!(decode(1, &good).unwrap().feedback, f);
        assert!(decode(2, &good).is_err(), "a record read under another number is damaged");
        for cut in 0..good.len() {
            assert!(decode(1, &good[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            let mut v = good.clone();
            v[i] ^= 0x04;
            assert!(decode(1, &v).unwrap_err().to_string().contains("checksum"), "flip at {i}");
        }
        let payload = unseal(SEAL_RECORDS, &1u64.to_be_bytes(), &good).unwrap();
        let mut v = payload.to_vec();
        v[0] = 9;
        assert!(decode_payload(1, &v, RECORD_VERSION).unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn a_damaged_record_stops_a_strict_read_is_skipped_at_run_time_and_a_scrub_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.commit(&[fb(1, true, 1), fb(2, false, 2), fb(3, true, 3)]).unwrap();
        // Damage record 2 in place, as a flipped byte on disk would.
        let txn = store.db.begin_write().unwrap();
        {
            let mut records = txn.open_table(RECORDS).unwrap();
            let mut v = records.get(2).unwrap().unwrap().value().to_vec();
            v[12] ^= 0x40;
            records.insert(2, v.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let e = store.for_each_after(0, OnDamage::Fail, |_| {}).unwrap_err().to_string();
        assert!(e.contains("record 2") && e.contains("checksum"), "{e}");
        let mut seen = Vec::new();
        store.for_each_after(0, OnDamage::Skip, |r| seen.push(r.seq)).unwrap();
        assert_eq!((seen, store.damaged()), (vec![1, 3], 1));
        assert_eq!(store.scrub().unwrap(), 1);
        assert_eq!(all(&store).iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3], "every valid record kept");
        assert_eq!(
            store.commit(&[fb(2, false, 4)]).unwrap(),
            [Outcome::New { seq: 4 }],
            "its message is forgotten"
        );
        assert_eq!(
            store.commit(&[fb(1, true, 5)]).unwrap(),
            [Outcome::Duplicate { seq: 1 }],
            "the index rebuilt"
        );
    }

    #[test]
    fn removing_the_newest_record_in_a_repair_never_reuses_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.commit(&[fb(1, true, 1), fb(2, false, 2)]).unwrap();
        let txn = store.db.begin_write().unwrap();
        txn.open_table(RECORDS).unwrap().insert(2, &b"garbage"[..]).unwrap();
        txn.commit().unwrap();
        assert_eq!(store.scrub().unwrap(), 1);
        assert_eq!(store.stats().unwrap(), StoreStats { records: 1, last_seq: 2 });
        assert_eq!(store.commit(&[fb(9, true, 3)]).unwrap(), [Outcome::New { seq: 3 }]);
    }
}
