//! Decisions by event id: an event sent twice (a client's retry, a queue that delivers twice)
//! is answered with the decision it got the first time and counted once. Events are named by a
//! keyed hash of kind and id; the decision is kept as its kind wrote it, for `[events]
//! remember_days`.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::sync::atomic::Ordering;

use crate::{
    AuditEntry, Desk, DeskError, EntityLabel, GATHER, KeptFeatures, LABELS, NewReview, ReviewTables,
    SEQUENCES, append_audit, next_id, queue_review,
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
    /// Automatic labels on other entities that the decision's kind concluded on the way (a
    /// cluster's verdict on its members), each as [`Desk::set_label`] writes it: audited, posted
    /// to the webhooks, and refused where an analyst's label of the same name stands.
    pub later: Vec<EntityLabel>,
    /// Its caller waits for the decision, its kept features and its audit entry to be durable
    /// (`[audit] sync_decisions`), even when nothing else in it is waited for.
    pub sync: bool,
}

impl DecisionEffects<'_> {
    /// Whether its caller waits for the commit: counter updates, label changes and review items
    /// always (as mail's checks do), the rest only with [`sync`](Self::sync).
    fn waited_for(&self) -> bool {
        self.sync
            || self.review.is_some()
            || !self.counts.is_empty()
            || !self.labels.is_empty()
            || !self.later.is_empty()
    }
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
    later: Vec<EntityLabel>,
}

/// The decisions waiting for a commit, the results of those committed, and whether a commit is
/// under way.
#[derive(Default)]
pub(crate) struct Group {
    /// The next ticket.
    next: u64,
    /// Every ticket below it is committed (or failed).
    committed: u64,
    /// Waiting, in ticket order; `true` when a caller waits for it.
    waiting: Vec<(u64, bool, Recording)>,
    /// The decisions waiting or being written, by key: answered to a repeat of their event
    /// before they are on disk.
    pending: std::collections::HashMap<u128, Vec<u8>>,
    /// When the oldest decision nobody waits for came.
    held_since: Option<std::time::Instant>,
    /// The outcomes of waited-for tickets, until their callers take them.
    done: std::collections::HashMap<u64, Result<Option<Vec<u8>>, String>>,
    writing: bool,
}

/// The group commit's state, and its signals; shared with the desk's decision thread, which
/// holds it (and not the desk) while it sleeps.
#[derive(Default)]
pub(crate) struct Committer {
    group: std::sync::Mutex<Group>,
    /// Woken when a group commit ends.
    done: std::sync::Condvar,
    /// Woken when a decision is held.
    work: std::sync::Condvar,
}

/// The desk's decision thread: commits held decisions once the oldest has waited 20 ms. It
/// holds the desk only to commit; it ends once the desk is dropped (which commits what is held).
pub(crate) fn hold_loop(desk: &std::sync::Weak<Desk>, c: &Committer) {
    let mut group = c.group.lock().expect("not poisoned");
    loop {
        if desk.strong_count() == 0 {
            return;
        }
        let due = match group.held_since {
            Some(t) if !group.writing => GATHER.saturating_sub(t.elapsed()),
            // Nothing held, or a commit under way that takes it: look again later.
            _ => std::time::Duration::from_millis(250),
        };
        if due.is_zero() {
            drop(group);
            let Some(d) = desk.upgrade() else { return };
            let g = d.group.group.lock().expect("not poisoned");
            if g.held_since.is_some() && !g.writing {
                drop(d.lead(g));
            } else {
                drop(g);
            }
            drop(d);
            group = c.group.lock().expect("not poisoned");
            continue;
        }
        group = c.work.wait_timeout(group, due).expect("not poisoned").0;
    }
}

/// Decisions nobody waits for held before they are committed, at most: past it the caller that
/// finds them commits them itself.
const MAX_HELD: usize = 128;

fn decode(key: u128, v: &[u8]) -> Option<(u64, Vec<u8>)> {
    let b = unseal("decisions", &key.to_be_bytes(), v)?;
    let (at, rest) = b.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*at), rest.to_vec()))
}

impl Drop for Desk {
    /// Commits the decisions held: a desk dropped loses none it answered.
    fn drop(&mut self) {
        self.flush_decisions();
    }
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
    /// Decisions recorded at the same time from several threads are committed together, in the
    /// order they came, in one transaction and one sync to disk (group commit): one sync a
    /// batch rather than one a decision is what lets a server record thousands a second.
    ///
    /// A caller waits until its own decision is durable (or has the error that stopped the
    /// transaction) when anything in it is waited for ([`DecisionEffects`]: counter updates,
    /// label changes, a review item, or `sync`). Otherwise the decision is held, as mail's
    /// audit entries are, for up to 20 ms and committed with the others by the desk's decision
    /// thread or the next caller that waits; until then a repeat of its id is answered from
    /// memory, and the readers of what it wrote (kept features, the audit log, verdicts,
    /// erasure) commit it first. A crash can lose the last 20 ms of such decisions, never a
    /// waited-for one.
    pub fn record_decision(
        &self,
        kind: &str,
        id: &str,
        at: u64,
        decision: &[u8],
        effects: DecisionEffects<'_>,
    ) -> Result<Option<Vec<u8>>, DeskError> {
        let wait = effects.waited_for();
        let DecisionEffects { keep, audit, counts, labels, review, later, sync: _ } = effects;
        let key = self.decision_key(kind, id);
        let owned = Recording {
            key,
            at,
            decision: decision.to_vec(),
            keep: keep.map(|(k, e, f)| (k.to_owned(), e.to_owned(), f)),
            audit,
            counts,
            labels,
            review,
            later,
        };
        let mut group = self.group.group.lock().expect("not poisoned");
        if let Some(earlier) = group.pending.get(&key) {
            return Ok(Some(earlier.clone()));
        }
        // One nobody waits for is answered before its transaction could find the id kept: it
        // looks now, under the lock (a decision leaves `pending` only once it is on disk).
        if !wait && let Some(earlier) = self.read_decision(key)? {
            return Ok(Some(earlier));
        }
        let ticket = group.next;
        group.next += 1;
        group.pending.insert(key, owned.decision.clone());
        group.waiting.push((ticket, wait, owned));
        if !wait {
            group.held_since.get_or_insert_with(std::time::Instant::now);
            if group.waiting.len() < MAX_HELD {
                self.group.work.notify_one();
                return Ok(None);
            }
            // Too many held: this caller commits them, and so slows down with the disk.
            drop(self.commit_through(group, ticket + 1));
            return Ok(None);
        }
        let mut group = self.commit_through(group, ticket + 1);
        let done = group.done.remove(&ticket).expect("a waited-for ticket has its outcome");
        done.map_err(|e| DeskError::Store(warden_store::feedback::StoreError::Db(e)))
    }

    /// Commits, or waits for the commits of, every decision with a ticket below `upto`;
    /// returns the lock again.
    fn commit_through<'a>(
        &'a self,
        mut group: std::sync::MutexGuard<'a, Group>,
        upto: u64,
    ) -> std::sync::MutexGuard<'a, Group> {
        while group.committed < upto {
            if group.writing {
                group = self.group.done.wait(group).expect("not poisoned");
                continue;
            }
            group = self.lead(group);
        }
        group
    }

    /// Takes every decision waiting and commits them, the lock released meanwhile; keeps the
    /// outcomes for the callers who wait, and logs a failure nobody waits to hear.
    fn lead<'a>(&'a self, mut group: std::sync::MutexGuard<'a, Group>) -> std::sync::MutexGuard<'a, Group> {
        group.writing = true;
        group.held_since = None;
        let batch: Vec<(u64, bool, Recording)> = std::mem::take(&mut group.waiting);
        drop(group);
        let Some(&(last, _, _)) = batch.last() else {
            let mut group = self.group.group.lock().expect("not poisoned");
            group.writing = false;
            self.group.done.notify_all();
            return group;
        };
        let tickets: Vec<(u64, bool, u128)> = batch.iter().map(|(t, w, r)| (*t, *w, r.key)).collect();
        let outcome = self.record_batch(batch.into_iter().map(|(_, _, r)| r).collect());
        let mut group = self.group.group.lock().expect("not poisoned");
        for &(_, _, key) in &tickets {
            group.pending.remove(&key);
        }
        match outcome {
            Ok(results) => {
                for ((t, wait, _), r) in tickets.into_iter().zip(results) {
                    if wait {
                        group.done.insert(t, Ok(r));
                    }
                }
            }
            Err(e) => {
                let e = e.to_string();
                let unheard = tickets.iter().filter(|(_, w, _)| !w).count();
                if unheard > 0 {
                    tracing::error!(error = %e, decisions = unheard, "decisions already answered were not stored");
                }
                for (t, wait, _) in tickets {
                    if wait {
                        group.done.insert(t, Err(e.clone()));
                    }
                }
            }
        }
        group.committed = last + 1;
        group.writing = false;
        self.group.done.notify_all();
        group
    }

    /// Commits every decision recorded before the call (the held ones included): the readers of
    /// what decisions write call it, so that they see every decision answered before they
    /// asked.
    pub fn flush_decisions(&self) {
        let group = self.group.group.lock().expect("not poisoned");
        let upto = group.next;
        if group.committed >= upto {
            return;
        }
        drop(self.commit_through(group, upto));
    }

    /// Writes `batch` in one transaction: for each, the decision kept before for its id, or
    /// `None` when it is recorded now with its effects.
    fn record_batch(&self, batch: Vec<Recording>) -> Result<Vec<Option<Vec<u8>>>, DeskError> {
        let txn = write_txn(&self.db)?;
        let mut results = Vec::with_capacity(batch.len());
        let mut queued = false;
        let mut dropped = 0;
        for r in batch {
            let Recording { key, at, decision, keep, audit, counts, labels, review, later } = r;
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
            for l in &later {
                queued |= matches!(self.put_label_in(&txn, l)?, crate::LabelOutcome::Stored(_));
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
        if let Some(held) = self.group.group.lock().expect("not poisoned").pending.get(&key) {
            return Ok(Some(held.clone()));
        }
        self.read_decision(key)
    }

    /// The decision on disk under `key`, if any.
    fn read_decision(&self, key: u128) -> Result<Option<Vec<u8>>, DeskError> {
        let txn = self.db.begin_read()?;
        let Some(v) = txn.open_table(DECISIONS)?.get(key)? else { return Ok(None) };
        Ok(decode(key, v.value()).map(|(_, d)| d))
    }

    /// Forgets decisions made before `before`; returns how many.
    pub fn expire_decisions(&self, before: u64) -> Result<u64, DeskError> {
        self.flush_decisions();
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
