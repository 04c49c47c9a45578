//! The interfaces of the server's state, so that what keeps it can change without its callers
//! changing: today a redb database in the data directory for each; shared servers (Redis, NATS
//! JetStream) later, behind the same traits.
//!
//! Each trait says what its callers rely on — what is durable when a call returns, in what
//! order things are read back, what a damaged record does — and [`conformance`] checks an
//! implementation against it: an implementation passes the same checks as the redb one.

use crate::store::{FeedbackRecord, NewFeedback, OnDamage, Outcome, StoreError, StoreStats};

/// The feedback log: every acknowledged label, in the order it was acknowledged, read back to
/// teach a model (at start, after a reload, after a checkpoint).
///
/// What callers rely on:
/// - [`commit`](Self::commit) is durable when it returns `Ok`: a label acknowledged after it
///   survives a crash. Records get sequence numbers 1, 2, … in commit order, never reused,
///   even after expiry.
/// - One label per message key: the same label again is a [`Outcome::Duplicate`] (nothing
///   stored), the other label a [`Outcome::Correction`]; a record marked `correction` is one
///   even for a message never labelled before (an analyst overturning a decision).
/// - [`for_each_after`](Self::for_each_after) gives the records after a sequence number in
///   order, with their kept bodies; a damaged record stops the read or is skipped, as asked.
/// - Expiry deletes by age and keeps the newest record.
pub trait FeedbackLog: Send + Sync + std::fmt::Debug {
    /// The log's identity: a model checkpoint names the log and the last record it learned, so
    /// that a checkpoint is never taught another log's records.
    fn id(&self) -> &str;

    /// The keyed hash of an event's bytes: its id in answers and in the log.
    fn message_key(&self, raw: &[u8]) -> u128;

    /// Stores a batch of labels, durably, and says what became of each, in order.
    fn commit(&self, batch: &[NewFeedback]) -> Result<Vec<Outcome>, StoreError>;

    /// Calls `each` with every record after `seq`, in order.
    fn for_each_after(
        &self,
        seq: u64,
        on_damage: OnDamage,
        each: &mut dyn FnMut(FeedbackRecord),
    ) -> Result<(), StoreError>;

    /// What the log holds.
    fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Records that a checkpoint holding the records up to `seq` was written.
    fn record_checkpoint(&self, seq: u64) -> Result<(), StoreError>;

    /// The last record a written checkpoint held, if one was ever written.
    fn checkpoint_recorded(&self) -> Result<Option<u64>, StoreError>;

    /// Deletes the records stored before `before` (Unix seconds), the newest always kept;
    /// returns how many.
    fn expire(&self, before: u64) -> Result<u64, StoreError>;

    /// Deletes the kept bodies of records stored before `before`; returns how many.
    fn expire_bodies(&self, before: u64) -> Result<u64, StoreError>;

    /// Damaged records met by reads, and removed by a repair, since the log was opened.
    fn damage(&self) -> [u64; 2];
}

impl FeedbackLog for crate::store::FeedbackStore {
    fn id(&self) -> &str {
        crate::store::FeedbackStore::id(self)
    }
    fn message_key(&self, raw: &[u8]) -> u128 {
        crate::store::FeedbackStore::message_key(self, raw)
    }
    fn commit(&self, batch: &[NewFeedback]) -> Result<Vec<Outcome>, StoreError> {
        crate::store::FeedbackStore::commit(self, batch)
    }
    fn for_each_after(
        &self,
        seq: u64,
        on_damage: OnDamage,
        each: &mut dyn FnMut(FeedbackRecord),
    ) -> Result<(), StoreError> {
        crate::store::FeedbackStore::for_each_after(self, seq, on_damage, each)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        crate::store::FeedbackStore::stats(self)
    }
    fn record_checkpoint(&self, seq: u64) -> Result<(), StoreError> {
        crate::store::FeedbackStore::record_checkpoint(self, seq)
    }
    fn checkpoint_recorded(&self) -> Result<Option<u64>, StoreError> {
        crate::store::FeedbackStore::checkpoint_recorded(self)
    }
    fn expire(&self, before: u64) -> Result<u64, StoreError> {
        crate::store::FeedbackStore::expire(self, before)
    }
    fn expire_bodies(&self, before: u64) -> Result<u64, StoreError> {
        crate::store::FeedbackStore::expire_bodies(self, before)
    }
    fn damage(&self) -> [u64; 2] {
        [self.damaged(), self.repaired()]
    }
}

/// Checks that an implementation keeps the promises its trait makes. Each function takes a
/// fresh, empty implementation and panics, naming the promise, when one is broken: a Redis or
/// JetStream implementation runs the same functions in its own tests.
pub mod conformance {
    use warden_core::Label;

    use super::FeedbackLog;
    use crate::store::{FeedbackRecord, NewFeedback, OnDamage, Outcome};

    fn label(message: u128, label: Label, at: u64) -> NewFeedback {
        NewFeedback {
            message,
            label,
            features: vec![message as u64, 7],
            extractor: 3,
            at,
            body: None,
            correction: false,
        }
    }

    fn records(log: &dyn FeedbackLog, after: u64) -> Vec<FeedbackRecord> {
        let mut out = Vec::new();
        log.for_each_after(after, OnDamage::Fail, &mut |r| out.push(r)).expect("a read of a sound log");
        out
    }

    /// Sequence numbers, duplicates, corrections, reading back in order, checkpoints, expiry.
    pub fn feedback_log(log: &dyn FeedbackLog) {
        assert!(!log.id().is_empty(), "a log has an identity");
        assert_eq!(log.message_key(b"one"), log.message_key(b"one"), "message keys are stable");
        assert_ne!(log.message_key(b"one"), log.message_key(b"two"), "message keys tell messages apart");
        assert_eq!(log.stats().unwrap().last_seq, 0, "an empty log has no records");
        assert_eq!(log.checkpoint_recorded().unwrap(), None, "an empty log has no checkpoint");

        let mut overturned = label(4, Label::Legitimate, 130);
        overturned.correction = true;
        overturned.body = Some(b"kept".to_vec());
        let outcomes = log
            .commit(&[
                label(1, Label::Abusive, 100),
                label(2, Label::Legitimate, 110),
                label(1, Label::Abusive, 120),
                overturned,
            ])
            .unwrap();
        assert_eq!(
            outcomes,
            [
                Outcome::New { seq: 1 },
                Outcome::New { seq: 2 },
                Outcome::Duplicate { seq: 1 },
                Outcome::Correction { seq: 3 }
            ],
            "a batch's outcomes, in order"
        );
        let outcomes = log.commit(&[label(2, Label::Abusive, 140)]).unwrap();
        assert_eq!(outcomes, [Outcome::Correction { seq: 4 }], "the other label is a correction");

        let all = records(log, 0);
        let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4], "records are read back in commit order");
        assert_eq!(all[0].feedback, label(1, Label::Abusive, 100), "a record reads back as stored");
        assert!(!all[0].correction && all[2].correction && all[3].correction, "corrections are marked");
        assert_eq!(all[2].feedback.body.as_deref(), Some(&b"kept"[..]), "a kept body reads back");
        assert_eq!(
            records(log, 2).iter().map(|r| r.seq).collect::<Vec<_>>(),
            [3, 4],
            "reads start after seq"
        );
        assert_eq!(log.stats().unwrap().records, 4);

        log.record_checkpoint(3).unwrap();
        assert_eq!(log.checkpoint_recorded().unwrap(), Some(3), "a checkpoint is remembered");

        assert_eq!(log.expire_bodies(200).unwrap(), 1, "old bodies go");
        assert_eq!(records(log, 2)[0].feedback.body, None, "and the record stays");
        assert_eq!(log.expire(1_000).unwrap(), 3, "expiry deletes by age but keeps the newest");
        assert_eq!(log.stats().unwrap().last_seq, 4);
        let outcomes = log.commit(&[label(9, Label::Legitimate, 2_000)]).unwrap();
        assert_eq!(outcomes, [Outcome::New { seq: 5 }], "sequence numbers are never reused");
        assert_eq!(
            log.commit(&[label(1, Label::Legitimate, 2_001)]).unwrap(),
            [Outcome::New { seq: 6 }],
            "an expired message's label is new again"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_redb_feedback_store_keeps_the_logs_promises() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::datadir::store_for_test(dir.path());
        super::conformance::feedback_log(&store);
    }
}
