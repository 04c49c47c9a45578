//! The desk's writer: what the check path writes (audit entries, review items, counter
//! updates, labels) goes through one thread that journals counter updates and group-commits
//! the rest in one durable transaction.

use redb::ReadableTable;

use crate::{
    AUDIT, AuditEntry, Desk, DeskError, EntityLabel, FIRST_SEEN, GATHER, LABELS, MAX_BATCH, NewReview,
    ReviewTables, SEQUENCES, journal_err, next_id, queue_review,
};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TrySendError};
use warden_store::journal::JournaledCount;
use warden_store::redbfile::write_txn;
use warden_store::seal::seal;

/// Why a check's writes were not made durable. Cloned: one failure answers a whole batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The server is stopping: the desk takes no more writes.
    #[error("the server is stopping")]
    Stopping,
    /// The writer's queue is full.
    #[error("too many writes waiting")]
    Busy,
    /// The writer thread is gone.
    #[error("the desk writer stopped")]
    WriterStopped,
    /// The journal or the database refused the batch (the store's error, as it said it).
    #[error("{0}")]
    Failed(String),
}

/// What one check writes.
#[derive(Debug, Default)]
pub struct CheckWrites {
    /// Its caller waits for the audit entry to be stored too (`[audit] sync_decisions`);
    /// otherwise it is answered once its counter updates are in the journal, if it has no
    /// review item or label change.
    pub audit_sync: bool,
    /// Its audit entry.
    pub audit: Option<AuditEntry>,
    /// Its review item.
    pub review: Option<NewReview>,
    /// Its counter updates.
    pub counts: Vec<JournaledCount>,
    /// The labels its rules set or removed.
    pub labels: Vec<EntityLabel>,
    /// Sender domains seen for the first time: (keyed hash, Unix seconds). Not waited for: a
    /// lost one is seen as new once more.
    pub first_seen: Vec<(u64, u64)>,
}

impl CheckWrites {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.audit.is_none()
            && self.review.is_none()
            && self.counts.is_empty()
            && self.labels.is_empty()
            && self.first_seen.is_empty()
    }

    /// Whether its caller waits for it to be durable: counter updates, a review item, a label
    /// change, or an audit entry stored synchronously.
    pub fn waited_for(&self) -> bool {
        !self.counts.is_empty() || self.needs_db()
    }

    /// Whether its answer waits for the database commit (not only for the journal).
    pub(super) fn needs_db(&self) -> bool {
        self.review.is_some() || !self.labels.is_empty() || self.audit_sync
    }
}

pub(super) struct Pending {
    pub(super) writes: CheckWrites,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<(), WriteError>>,
}

pub(super) type Reply = tokio::sync::oneshot::Sender<Result<(), WriteError>>;

pub(super) fn write_loop(desk: &std::sync::Weak<Desk>, rx: &Receiver<Pending>) {
    use std::sync::mpsc::RecvTimeoutError;
    // Written to the journal, waiting for the database commit; and the replies that wait for it.
    let mut held: Vec<CheckWrites> = Vec::new();
    let mut waiting: Vec<Reply> = Vec::new();
    let mut since: Option<std::time::Instant> = None;
    loop {
        let first = match since {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => rx.recv_timeout((t + GATHER).saturating_duration_since(std::time::Instant::now())),
        };
        let stopping = matches!(first, Err(RecvTimeoutError::Disconnected));
        let mut batch: Vec<Pending> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let Some(desk) = desk.upgrade() else { return };
        if !batch.is_empty() {
            let (writes, replies): (Vec<CheckWrites>, Vec<Reply>) =
                batch.into_iter().map(|p| (p.writes, p.reply)).unzip();
            // The journal first: a check whose only waited-for writes are counter updates is
            // answered as soon as they are durable.
            let journaled = desk.journal(&writes).map_err(|e| WriteError::Failed(e.to_string()));
            if let Err(e) = &journaled {
                tracing::error!(error = %e, checks = writes.len(), "counter journal write failed");
            }
            for (w, reply) in writes.iter().zip(replies) {
                if journaled.is_err() || !w.needs_db() {
                    let _ = reply.send(journaled.clone());
                } else {
                    waiting.push(reply);
                }
            }
            held.extend(writes);
            since.get_or_insert_with(std::time::Instant::now);
        }
        let due = since.is_some_and(|t| t.elapsed() >= GATHER);
        if !held.is_empty() && (stopping || due || !waiting.is_empty() || held.len() >= MAX_BATCH) {
            let result = desk.commit(&mut held).map_err(|e| WriteError::Failed(e.to_string()));
            if let Err(e) = &result {
                tracing::error!(error = %e, checks = held.len(), "desk writes failed");
            }
            for reply in waiting.drain(..) {
                let _ = reply.send(result.clone());
            }
            held.clear();
            since = None;
        }
        if stopping {
            return;
        }
    }
}

impl Desk {
    /// Queues a check's writes; the answer comes once they are durable: counter updates in the
    /// journal, and review items, label changes and (with `audit_sync`) the audit entry in the
    /// database. An audit entry alone is held up to 20 ms to be committed with others.
    pub fn submit(&self, writes: CheckWrites) -> tokio::sync::oneshot::Receiver<Result<(), WriteError>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queue = self.queue.lock().expect("not poisoned");
        let refused = match queue.as_ref() {
            None => Pending { writes, reply }.reply.send(Err(WriteError::Stopping)),
            Some(tx) => match tx.try_send(Pending { writes, reply }) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(p)) => p.reply.send(Err(WriteError::Busy)),
                Err(TrySendError::Disconnected(p)) => p.reply.send(Err(WriteError::WriterStopped)),
            },
        };
        drop(refused);
        answer
    }

    /// Waits until every write queued before the call is on disk (the audit log's readers
    /// call it, so that they see every decision answered before they asked).
    pub async fn flush(&self) -> Result<(), WriteError> {
        let marker = CheckWrites { audit_sync: true, ..CheckWrites::default() };
        self.submit(marker).await.unwrap_or(Err(WriteError::WriterStopped))
    }

    /// Appends a batch's counter updates to the journal, durably.
    pub(super) fn journal(&self, batch: &[CheckWrites]) -> Result<(), DeskError> {
        self.journal
            .lock()
            .expect("not poisoned")
            .append(batch.iter().flat_map(|w| &w.counts))
            .map_err(journal_err)
    }

    /// Stops the writer after it has written what is queued, and commits the decisions held.
    pub fn stop(&self) {
        self.flush_decisions();
        self.queue.lock().expect("not poisoned").take();
        if let Some(h) = self.writer.lock().expect("not poisoned").take() {
            let _ = h.join();
        }
    }

    /// Writes a batch of checks' writes in one durable transaction.
    pub(super) fn commit(&self, batch: &mut [CheckWrites]) -> Result<(), DeskError> {
        let cap = self.review_cap.load(Ordering::Relaxed);
        let mut dropped = 0;
        let txn = write_txn(&self.db)?;
        let mut hooks = Vec::new();
        {
            let mut audit = txn.open_table(AUDIT)?;
            let mut t = ReviewTables::open(&txn)?;
            let mut labels = txn.open_table(LABELS)?;
            let mut first_seen = txn.open_table(FIRST_SEEN)?;
            let mut sequences = txn.open_table(SEQUENCES)?;
            let first_audit = sequences.get("audit")?.map_or(1, |v| v.value());
            let mut next_audit = first_audit;
            let mut audit_row = Vec::new();
            let mut next_item = next_id(&sequences, "review", t.review.last()?.map(|(k, _)| k.value()))?;
            let mut push_audit = |mut a: AuditEntry| {
                a.seq = next_audit;
                serde_json::to_writer(&mut audit_row, &a).expect("entries serialise");
                audit_row.push(b'\n');
                next_audit += 1;
            };
            for w in batch.iter_mut() {
                for &(domain, at) in &w.first_seen {
                    // The first writer wins: two servers' checks may both have seen it first.
                    if first_seen.get(domain)?.is_none() {
                        first_seen.insert(
                            domain,
                            seal("first_seen", &domain.to_be_bytes(), &at.to_le_bytes()).as_slice(),
                        )?;
                    }
                }
                for l in &w.labels {
                    if let Some((entry, hook)) = self.put_rule_label(&mut labels, l)? {
                        push_audit(entry);
                        hooks.push(hook);
                    }
                }
                if let Some(r) = w.review.take() {
                    let subject_bytes = self.subject_bytes.load(Ordering::Relaxed);
                    if !queue_review(&mut t, r, cap, subject_bytes, &mut next_item, &mut dropped)? {
                        dropped += 1;
                    }
                }
                if let Some(a) = w.audit.take() {
                    push_audit(a);
                }
            }
            if !audit_row.is_empty() {
                audit
                    .insert(first_audit, seal("audit", &first_audit.to_be_bytes(), &audit_row).as_slice())?;
                sequences.insert("audit", next_audit)?;
            }
            // Ids are never given twice, even once every item is gone (expired, removed).
            sequences.insert("review", next_item)?;
        }
        let queued = !hooks.is_empty();
        for e in hooks {
            self.queue_webhook(&txn, e)?;
        }
        txn.commit()?;
        if queued {
            self.webhooks_committed();
        }
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        Ok(())
    }
}
