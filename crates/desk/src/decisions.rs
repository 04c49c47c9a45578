//! Decisions by event id: an event sent twice (a client's retry, a queue that delivers twice)
//! is answered with the decision it got the first time and counted once. Events are named by a
//! keyed hash of kind and id; the decision is kept as its kind wrote it, for `[events]
//! remember_days`.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::sync::atomic::Ordering;

use crate::{
    AuditEntry, Desk, DeskError, EntityLabel, KeptFeatures, LABELS, NewReview, ReviewTables, SEQUENCES,
    append_audit, next_id, queue_review,
};
use warden_store::journal::{JournaledCount, decode_count, encode_count};
use warden_store::redbfile::write_txn;
use warden_store::seal::{seal, unseal};

/// Decisions: keyed hash of (kind, id) → sealed (time, decision bytes).
pub(super) const DECISIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("decisions");
/// The same by time, for expiry oldest first.
pub(super) const DECISIONS_BY_TIME: TableDefinition<(u64, u128), ()> =
    TableDefinition::new("decisions_by_time");

/// Counter updates written with the decision that made them: (time << 64 | sequence) → sealed
/// [`encode_count`]. Mail's go to the journal, group-committed ahead of its desk writes; a JSON
/// kind's decision is one transaction already, and its counts in it are never lost from a
/// decision that was kept, nor counted twice when its event is sent again.
pub(super) const COUNTS: TableDefinition<u128, &[u8]> = TableDefinition::new("counts");

pub(super) fn count_key(at: u64, seq: u64) -> u128 {
    (u128::from(at) << 64) | u128::from(seq)
}

pub(super) fn decode_stored_count(key: u128, v: &[u8]) -> Option<JournaledCount> {
    decode_count(unseal("counts", &key.to_be_bytes(), v)?)
}

/// What a decision's first recording writes with it, in its transaction.
#[derive(Debug, Default)]
pub struct DecisionEffects<'a> {
    /// Its features, kept for an entity: (entity kind, entity, features).
    pub keep: Option<(&'a str, &'a str, KeptFeatures)>,
    /// Its audit entry.
    pub audit: Option<AuditEntry>,
    /// Its rules' counter updates.
    pub counts: Vec<JournaledCount>,
    /// The label changes its rules made (an analyst's label of the same name stands).
    pub labels: Vec<EntityLabel>,
    /// Its review item (under `[review] max_items`, as mail's).
    pub review: Option<NewReview>,
}

/// A decision waiting to be committed with the others that came at the same time.
pub(crate) struct Recording {
    key: u128,
    at: u64,
    decision: Vec<u8>,
    keep: Option<(String, String, KeptFeatures)>,
    audit: Option<AuditEntry>,
    counts: Vec<JournaledCount>,
    labels: Vec<EntityLabel>,
    review: Option<NewReview>,
}

/// The decisions waiting for a commit, the results of those committed, and whether a commit is
/// under way.
#[derive(Default)]
pub(crate) struct Group {
    next: u64,
    waiting: Vec<(u64, Recording)>,
    done: std::collections::HashMap<u64, Result<Option<Vec<u8>>, String>>,
    writing: bool,
}

fn decode(key: u128, v: &[u8]) -> Option<(u64, Vec<u8>)> {
    let b = unseal("decisions", &key.to_be_bytes(), v)?;
    let (at, rest) = b.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*at), rest.to_vec()))
}

impl Desk {
    fn decision_key(&self, kind: &str, id: &str) -> u128 {
        self.keyed_id("decisions", kind, id)
    }

    /// A keyed hash naming event `id` of `kind` (what its review item's features are filed
    /// under).
    pub fn event_key(&self, kind: &str, id: &str) -> u128 {
        self.decision_key(kind, id)
    }

    /// Keeps `decision` for event `id` of `kind`, decided at `at`, unless one is kept already:
    /// then that one is returned, and nothing changes (the caller answers it and counts
    /// nothing). Durable when it returns. A damaged record is replaced.
    pub fn decision_once(
        &self,
        kind: &str,
        id: &str,
        at: u64,
        decision: &[u8],
    ) -> Result<Option<Vec<u8>>, DeskError> {
        self.record_decision(kind, id, at, decision, DecisionEffects::default())
    }

    /// [`Desk::decision_once`], with the first decision's effects in the same transaction: its
    /// features kept for an entity, its audit entry, its rules' counter updates and label
    /// changes (audited, and posted to the webhooks). So a crash leaves either all of them or
    /// none, and a repeated id adds nothing.
    ///
    /// Decisions recorded at the same time from several threads are committed together: the
    /// first caller to find no commit under way writes every decision waiting, in the order they
    /// came, in one transaction and one sync to disk, and each caller returns when its own is
    /// durable (or with the error that stopped the transaction). One sync a batch rather than
    /// one a decision is what lets a server record thousands a second.
    pub fn record_decision(
        &self,
        kind: &str,
        id: &str,
        at: u64,
        decision: &[u8],
        effects: DecisionEffects<'_>,
    ) -> Result<Option<Vec<u8>>, DeskError> {
        let DecisionEffects { keep, audit, counts, labels, review } = effects;
        let owned = Recording {
            key: self.decision_key(kind, id),
            at,
            decision: decision.to_vec(),
            keep: keep.map(|(k, e, f)| (k.to_owned(), e.to_owned(), f)),
            audit,
            counts,
            labels,
            review,
        };
        let mut group = self.group.lock().expect("not poisoned");
        let ticket = group.next;
        group.next += 1;
        group.waiting.push((ticket, owned));
        loop {
            if let Some(done) = group.done.remove(&ticket) {
                return done.map_err(|e| DeskError::Store(warden_store::feedback::StoreError::Db(e)));
            }
            if group.writing {
                group = self.group_done.wait(group).expect("not poisoned");
                continue;
            }
            group.writing = true;
            let batch: Vec<(u64, Recording)> = std::mem::take(&mut group.waiting);
            drop(group);
            let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
            let outcome = self.record_batch(batch.into_iter().map(|(_, r)| r).collect());
            group = self.group.lock().expect("not poisoned");
            match outcome {
                Ok(results) => group.done.extend(tickets.into_iter().zip(results.into_iter().map(Ok))),
                Err(e) => {
                    let e = e.to_string();
                    group.done.extend(tickets.into_iter().map(|t| (t, Err(e.clone()))));
                }
            }
            group.writing = false;
            self.group_done.notify_all();
        }
    }

    /// Writes `batch` in one transaction: for each, the decision kept before for its id, or
    /// `None` when it is recorded now with its effects.
    fn record_batch(&self, batch: Vec<Recording>) -> Result<Vec<Option<Vec<u8>>>, DeskError> {
        let txn = write_txn(&self.db)?;
        let mut results = Vec::with_capacity(batch.len());
        let mut queued = false;
        let mut dropped = 0;
        for r in batch {
            let Recording { key, at, decision, keep, audit, counts, labels, review } = r;
            {
                let mut decisions = txn.open_table(DECISIONS)?;
                let before = decisions.get(key)?.map(|v| decode(key, v.value()));
                match before {
                    Some(Some((_, earlier))) => {
                        results.push(Some(earlier));
                        continue;
                    }
                    Some(None) => self.damage.found(format!("decisions {key:032x}"), "fails its checksum"),
                    None => {}
                }
                let mut value = at.to_le_bytes().to_vec();
                value.extend_from_slice(&decision);
                decisions.insert(key, seal("decisions", &key.to_be_bytes(), &value).as_slice())?;
                txn.open_table(DECISIONS_BY_TIME)?.insert((at, key), ())?;
            }
            if let Some((entity_kind, entity, features)) = keep {
                self.keep_in(&txn, &entity_kind, &entity, &features)?;
            }
            if let Some(entry) = audit {
                append_audit(&txn, entry)?;
            }
            if !counts.is_empty() {
                let mut table = txn.open_table(COUNTS)?;
                let mut sequences = txn.open_table(SEQUENCES)?;
                let mut seq = next_id(&sequences, "counts", None)?;
                for c in &counts {
                    let k = count_key(c.at, seq);
                    table.insert(k, seal("counts", &k.to_be_bytes(), &encode_count(c)).as_slice())?;
                    seq += 1;
                }
                sequences.insert("counts", seq)?;
            }
            let mut hooks = Vec::new();
            if !labels.is_empty() {
                let mut table = txn.open_table(LABELS)?;
                for l in &labels {
                    if let Some((entry, hook)) = self.put_rule_label(&mut table, l)? {
                        append_audit(&txn, entry)?;
                        hooks.push(hook);
                    }
                }
            }
            queued |= !hooks.is_empty();
            for hook in hooks {
                self.queue_webhook(&txn, hook)?;
            }
            if let Some(r) = review {
                let mut t = ReviewTables::open(&txn)?;
                let mut sequences = txn.open_table(SEQUENCES)?;
                let mut next_item = next_id(&sequences, "review", t.review.last()?.map(|(k, _)| k.value()))?;
                let (cap, subject_bytes) =
                    (self.review_cap.load(Ordering::Relaxed), self.subject_bytes.load(Ordering::Relaxed));
                if !queue_review(&mut t, r, cap, subject_bytes, &mut next_item, &mut dropped)? {
                    dropped += 1;
                }
                sequences.insert("review", next_item)?;
            }
            results.push(None);
        }
        txn.commit()?;
        if queued {
            self.webhooks_committed();
        }
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        Ok(results)
    }

    /// The decision kept for event `id` of `kind`, if any.
    pub fn stored_decision(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, DeskError> {
        let key = self.decision_key(kind, id);
        let txn = self.db.begin_read()?;
        let Some(v) = txn.open_table(DECISIONS)?.get(key)? else { return Ok(None) };
        Ok(decode(key, v.value()).map(|(_, d)| d))
    }

    /// Forgets decisions made before `before`; returns how many.
    pub fn expire_decisions(&self, before: u64) -> Result<u64, DeskError> {
        let txn = write_txn(&self.db)?;
        let n = {
            let mut decisions = txn.open_table(DECISIONS)?;
            let mut by_time = txn.open_table(DECISIONS_BY_TIME)?;
            let old: Vec<(u64, u128)> =
                by_time.range(..(before, 0))?.map(|e| e.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
            for &(at, key) in &old {
                by_time.remove((at, key))?;
                decisions.remove(key)?;
            }
            old.len() as u64
        };
        txn.commit()?;
        Ok(n)
    }
}
