//! Per-entity histories: an entity's recent events as its kind records them (a login's network,
//! country, device and hour, say), newest kept, so that the next event is scored against the
//! entity's own past. Entities are named by a keyed hash of kind and id; a record is the kind's
//! own bytes, sealed. Each entity keeps at most a set number of records; expiry and erasure
//! remove them.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Desk, DeskError};
use warden_store::redbfile::write_txn;
use warden_store::seal::{seal, unseal};

/// Records: (keyed hash of kind and entity, time, number within the second) → sealed bytes.
pub(super) const HISTORY: TableDefinition<(u128, u64, u32), &[u8]> = TableDefinition::new("history");
/// The same records by time, for expiry oldest first.
pub(super) const HISTORY_BY_TIME: TableDefinition<(u64, u128, u32), ()> =
    TableDefinition::new("history_by_time");

/// One record of an entity's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// When the event happened, Unix seconds.
    pub at: u64,
    /// What the kind recorded of it.
    pub data: Vec<u8>,
}

fn seal_key(key: u128, at: u64, n: u32) -> Vec<u8> {
    let mut k = key.to_be_bytes().to_vec();
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(&n.to_be_bytes());
    k
}

impl Desk {
    pub(super) fn history_key(&self, kind: &str, entity: &str) -> u128 {
        self.keyed_id("history", kind, entity)
    }

    /// Appends a record to `kind`/`entity`'s history, durably; past `keep` records the oldest
    /// go.
    pub fn history_append(
        &self,
        kind: &str,
        entity: &str,
        record: &HistoryRecord,
        keep: usize,
    ) -> Result<(), DeskError> {
        let key = self.history_key(kind, entity);
        let txn = write_txn(&self.db)?;
        {
            let mut history = txn.open_table(HISTORY)?;
            let mut by_time = txn.open_table(HISTORY_BY_TIME)?;
            let n = history
                .range((key, record.at, 0)..=(key, record.at, u32::MAX))?
                .next_back()
                .transpose()?
                .map_or(0, |(k, _)| k.value().2 + 1);
            history.insert(
                (key, record.at, n),
                seal("history", &seal_key(key, record.at, n), &record.data).as_slice(),
            )?;
            by_time.insert((record.at, key, n), ())?;
            let held: Vec<(u128, u64, u32)> = history
                .range((key, 0, 0)..=(key, u64::MAX, u32::MAX))?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for &(k, at, n) in held.iter().take(held.len().saturating_sub(keep.max(1))) {
                history.remove((k, at, n))?;
                by_time.remove((at, k, n))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The newest `limit` records of `kind`/`entity`, newest first; a damaged one is counted and
    /// skipped.
    pub fn history_recent(
        &self,
        kind: &str,
        entity: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>, DeskError> {
        let key = self.history_key(kind, entity);
        let txn = self.db.begin_read()?;
        let history = txn.open_table(HISTORY)?;
        let mut out = Vec::new();
        for entry in history.range((key, 0, 0)..=(key, u64::MAX, u32::MAX))?.rev() {
            let (k, v) = entry?;
            let (_, at, n) = k.value();
            match unseal("history", &seal_key(key, at, n), v.value()) {
                Some(data) => out.push(HistoryRecord { at, data: data.to_vec() }),
                None => self.damage.found(format!("history {key:032x} at {at}"), "fails its checksum"),
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// How many records of `kind`/`entity` are kept (keys only: nothing is unsealed).
    pub fn history_len(&self, kind: &str, entity: &str) -> Result<u64, DeskError> {
        let key = self.history_key(kind, entity);
        let txn = self.db.begin_read()?;
        let history = txn.open_table(HISTORY)?;
        Ok(history.range((key, 0, 0)..=(key, u64::MAX, u32::MAX))?.count() as u64)
    }

    /// Forgets records older than `before` (Unix seconds); returns how many.
    pub fn history_expire(&self, before: u64) -> Result<u64, DeskError> {
        let txn = write_txn(&self.db)?;
        let n = {
            let mut history = txn.open_table(HISTORY)?;
            let mut by_time = txn.open_table(HISTORY_BY_TIME)?;
            let old: Vec<(u64, u128, u32)> = by_time
                .range(..(before, 0, 0))?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for &(at, key, n) in &old {
                by_time.remove((at, key, n))?;
                history.remove((key, at, n))?;
            }
            old.len() as u64
        };
        txn.commit()?;
        Ok(n)
    }
}

/// Removes every record of the entity hashed to `key` in `txn`; returns how many.
pub(super) fn remove_history(txn: &redb::WriteTransaction, key: u128) -> Result<u64, DeskError> {
    let mut history = txn.open_table(HISTORY)?;
    let mut by_time = txn.open_table(HISTORY_BY_TIME)?;
    let held: Vec<(u128, u64, u32)> = history
        .range((key, 0, 0)..=(key, u64::MAX, u32::MAX))?
        .map(|e| e.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for &(k, at, n) in &held {
        history.remove((k, at, n))?;
        by_time.remove((at, k, n))?;
    }
    Ok(held.len() as u64)
}

/// Removes history records that fail their checksums, with their time index entries (a
/// repair); returns how many.
pub(super) fn scrub_history(txn: &redb::WriteTransaction) -> Result<u64, DeskError> {
    let mut history = txn.open_table(HISTORY)?;
    let mut bad = Vec::new();
    for entry in history.iter()? {
        let (k, v) = entry?;
        let (key, at, n) = k.value();
        if unseal("history", &seal_key(key, at, n), v.value()).is_none() {
            bad.push((key, at, n));
        }
    }
    let mut by_time = txn.open_table(HISTORY_BY_TIME)?;
    for &(key, at, n) in &bad {
        history.remove((key, at, n))?;
        by_time.remove((at, key, n))?;
    }
    Ok(bad.len() as u64)
}
