//! The interfaces of the server's state, so that what keeps it can change without its callers
//! changing: today a redb database in the data directory for each; shared servers (Redis, NATS
//! JetStream) later, behind the same traits.
//!
//! Each trait says what its callers rely on — what is durable when a call returns, in what
//! order things are read back, what a damaged record does — and [`conformance`] checks an
//! implementation against it: an implementation passes the same checks as the redb one.

use crate::{
    AuditEntry, DecisionEffects, Desk, DeskError, EntityLabel, EntityState, Erased, HistoryRecord,
    KeptFeatures, LabelOutcome, Lesson, Page, Resolved, ReviewFeatures, ReviewItem, ReviewStatus, Taught,
    Teach, Verdict,
};
use warden_store::feedback::{FeedbackRecord, NewFeedback, OnDamage, Outcome, StoreError, StoreStats};

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

impl FeedbackLog for warden_store::feedback::FeedbackStore {
    fn id(&self) -> &str {
        warden_store::feedback::FeedbackStore::id(self)
    }
    fn message_key(&self, raw: &[u8]) -> u128 {
        warden_store::feedback::FeedbackStore::message_key(self, raw)
    }
    fn commit(&self, batch: &[NewFeedback]) -> Result<Vec<Outcome>, StoreError> {
        warden_store::feedback::FeedbackStore::commit(self, batch)
    }
    fn for_each_after(
        &self,
        seq: u64,
        on_damage: OnDamage,
        each: &mut dyn FnMut(FeedbackRecord),
    ) -> Result<(), StoreError> {
        warden_store::feedback::FeedbackStore::for_each_after(self, seq, on_damage, each)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        warden_store::feedback::FeedbackStore::stats(self)
    }
    fn record_checkpoint(&self, seq: u64) -> Result<(), StoreError> {
        warden_store::feedback::FeedbackStore::record_checkpoint(self, seq)
    }
    fn checkpoint_recorded(&self) -> Result<Option<u64>, StoreError> {
        warden_store::feedback::FeedbackStore::checkpoint_recorded(self)
    }
    fn expire(&self, before: u64) -> Result<u64, StoreError> {
        warden_store::feedback::FeedbackStore::expire(self, before)
    }
    fn expire_bodies(&self, before: u64) -> Result<u64, StoreError> {
        warden_store::feedback::FeedbackStore::expire_bodies(self, before)
    }
    fn damage(&self) -> [u64; 2] {
        [self.damaged(), self.repaired()]
    }
}

/// The review queue: decisions held for an analyst. Items arrive with the check path's writes
/// (the desk's writer); analysts list, claim and resolve them here. A resolution's lesson waits
/// in an outbox, written with the resolution, until the feedback log has it.
///
/// What callers rely on: a claim or resolution is durable and audited when it returns; an item
/// claimed by one analyst cannot be resolved by another; a resolved item cannot be claimed or
/// resolved again; a lesson given to [`resolve`](Self::resolve) is in the outbox if and only if
/// the resolution was stored.
pub trait ReviewQueue: Send + Sync {
    /// Items by id, of one status or all, after the cursor `after`, at most `limit`.
    fn page(
        &self,
        status: Option<ReviewStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<ReviewItem, u64>, DeskError>;
    /// One item.
    fn item(&self, id: u64) -> Result<ReviewItem, DeskError>;
    /// An item's features (and its message, when kept), to learn from its resolution.
    fn features(&self, id: u64) -> Result<(ReviewFeatures, Option<Vec<u8>>), DeskError>;
    /// `who` claims an open item (or the item they hold already).
    fn claim(&self, id: u64, who: &str, now: u64) -> Result<ReviewItem, DeskError>;
    /// `who` resolves an item with a label and a reason, and what it teaches in the same
    /// write.
    fn resolve(
        &self,
        id: u64,
        who: &str,
        label: &str,
        reason: &str,
        now: u64,
        teach: Option<Teach>,
    ) -> Result<Resolved, DeskError>;
    /// The lessons waiting, oldest first (a damaged one is an error when `strict`).
    fn outbox(&self, strict: bool) -> Result<Vec<(u64, Lesson)>, DeskError>;
    /// Lets a lesson go once the feedback log has it.
    fn clear_lesson(&self, seq: u64) -> Result<(), DeskError>;
    /// How many items are open.
    fn open_items(&self) -> Result<u64, DeskError>;
}

/// Labels on entities, by kind, entity and label name, set by analysts and by rules.
///
/// What callers rely on: every change is durable and audited when it returns; a rule's change
/// is refused while an analyst's record of the same label speaks (in force, or removed, until
/// it lapses); a removal is kept as an inactive record; listings are in (kind, entity, label)
/// order and page by the cursor of the last key.
pub trait LabelStore: Send + Sync {
    /// Sets or removes a label (as `label.active` says).
    fn set(&self, label: &EntityLabel) -> Result<LabelOutcome, DeskError>;
    /// One page of labels: all, one kind's, or one entity's (`entity` needs `kind`).
    fn page(
        &self,
        kind: Option<&str>,
        entity: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<EntityLabel, String>, DeskError>;
    /// Every label [`page`](Self::page) would list.
    fn all(&self, kind: Option<&str>, entity: Option<&str>) -> Result<Vec<EntityLabel>, DeskError>;
}

/// The audit log: what was decided and what people did, numbered 1, 2, … in order.
///
/// What callers rely on: an appended entry is durable when [`append`](Self::append) returns
/// and gets the next number; entries are read back in order from any number; nothing is
/// changed once written (only expiry deletes, oldest first).
pub trait AuditLog: Send + Sync {
    /// Stores entries now, in one durable write.
    fn append(&self, entries: Vec<AuditEntry>) -> Result<(), DeskError>;
    /// The entries after `seq`, at most `limit`.
    fn page(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>, DeskError>;
    /// Calls `each` with every entry after `seq`, in order.
    fn after(&self, seq: u64, each: &mut dyn FnMut(AuditEntry)) -> Result<(), DeskError>;
}

/// The delayed-label feature store: an event's features, kept from its decision until its
/// label may arrive (hours or days later), so that the label teaches what the event looked
/// like. Events are named by kind and id.
///
/// What callers rely on: [`keep`](Self::keep) is durable when it returns; keeping an id again
/// replaces its features; [`forget`](Self::forget) and [`expire`](Self::expire) remove them for
/// good (erasure, retention); an event takes [`KeptFeatures::stored_bytes`] of keys and values.
pub trait FeatureStore: Send + Sync {
    /// Keeps the features of `events` of `kind`, each by its id, in one durable write.
    fn keep(&self, kind: &str, events: &[(&str, KeptFeatures)]) -> Result<(), DeskError>;
    /// One event's kept features.
    fn get(&self, kind: &str, id: &str) -> Result<Option<KeptFeatures>, DeskError>;
    /// Forgets one event's features; `false` when none were kept.
    fn forget(&self, kind: &str, id: &str) -> Result<bool, DeskError>;
    /// Forgets the features of events decided before `before`; returns how many.
    fn expire(&self, before: u64) -> Result<u64, DeskError>;
    /// Events whose features are kept.
    fn held(&self) -> Result<u64, DeskError>;
}

/// Per-entity histories: an entity's recent events, as its kind records them, newest kept, so
/// that an event is scored against the entity's own past (a login against the account's).
///
/// What callers rely on: [`append`](Self::append) is durable when it returns and keeps at most
/// `keep` records of the entity, the newest; [`recent`](Self::recent) gives them newest first;
/// entities are kept apart by kind and id; expiry removes records by their time.
pub trait HistoryStore: Send + Sync {
    /// Appends a record to `kind`/`entity`'s history, keeping its newest `keep`.
    fn append(&self, kind: &str, entity: &str, record: &HistoryRecord, keep: usize) -> Result<(), DeskError>;
    /// The newest `limit` records, newest first.
    fn recent(&self, kind: &str, entity: &str, limit: usize) -> Result<Vec<HistoryRecord>, DeskError>;
    /// Forgets records older than `before`; returns how many.
    fn expire(&self, before: u64) -> Result<u64, DeskError>;
}

impl HistoryStore for Desk {
    fn append(&self, kind: &str, entity: &str, record: &HistoryRecord, keep: usize) -> Result<(), DeskError> {
        self.history_append(kind, entity, record, keep)
    }
    fn recent(&self, kind: &str, entity: &str, limit: usize) -> Result<Vec<HistoryRecord>, DeskError> {
        self.history_recent(kind, entity, limit)
    }
    fn expire(&self, before: u64) -> Result<u64, DeskError> {
        self.history_expire(before)
    }
}

/// Decisions by event id: the same event sent twice is answered once.
///
/// What callers rely on: [`once`](Self::once) and [`record`](Self::record) are atomic — of two
/// calls for the same kind and id, one stores its decision and gets `None`, the other gets that
/// decision back — and a decision is answered to [`get`](Self::get) from the moment its call
/// returns; a record with effects someone waits for (counter updates, label changes, a review
/// item, `sync`) is durable when it returns, any other within 20 ms; ids of different kinds are
/// apart; expiry forgets by decision time.
pub trait DecisionStore: Send + Sync {
    /// Keeps `decision` for `kind`/`id` unless one is kept: then returns that one.
    fn once(&self, kind: &str, id: &str, at: u64, decision: &[u8]) -> Result<Option<Vec<u8>>, DeskError>;
    /// [`once`](Self::once), with the first decision's effects written with it, all or none:
    /// its features kept for an entity, its audit entry, its rules' counter updates and label
    /// changes.
    fn record(
        &self,
        kind: &str,
        id: &str,
        at: u64,
        decision: &[u8],
        effects: DecisionEffects<'_>,
    ) -> Result<Option<Vec<u8>>, DeskError>;
    /// The decision kept for `kind`/`id`.
    fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, DeskError>;
    /// Forgets decisions made before `before`; returns how many.
    fn expire(&self, before: u64) -> Result<u64, DeskError>;
}

impl DecisionStore for Desk {
    fn once(&self, kind: &str, id: &str, at: u64, decision: &[u8]) -> Result<Option<Vec<u8>>, DeskError> {
        self.decision_once(kind, id, at, decision)
    }
    fn record(
        &self,
        kind: &str,
        id: &str,
        at: u64,
        decision: &[u8],
        effects: DecisionEffects<'_>,
    ) -> Result<Option<Vec<u8>>, DeskError> {
        self.record_decision(kind, id, at, decision, effects)
    }
    fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, DeskError> {
        self.stored_decision(kind, id)
    }
    fn expire(&self, before: u64) -> Result<u64, DeskError> {
        self.expire_decisions(before)
    }
}

/// What the models of JSON kinds learned, so that each is taught it again at start.
///
/// What callers rely on: [`record`](Self::record) is durable when it returns (a label is
/// recorded before its model learns it); [`each`](Self::each) gives a kind's labels in the
/// order they were recorded, and only that kind's; [`verdict`](Self::verdict) writes a verdict's
/// lesson, the forgetting of its entity's kept features and its labels all or none, so that a
/// verdict sent again teaches nothing more.
pub trait TaughtLog: Send + Sync {
    /// Writes a verdict on an entity (see [`Verdict`]); returns what it taught, if anything.
    fn verdict(&self, verdict: Verdict) -> Result<Option<Taught>, DeskError>;
    /// Records that `kind`'s model learns `label` for `features`; returns its number.
    fn record(
        &self,
        kind: &str,
        label: warden_core::Label,
        features: &KeptFeatures,
    ) -> Result<u64, DeskError>;
    /// The number of the last label recorded for `kind` (0 when none).
    fn last(&self, kind: &str) -> Result<u64, DeskError>;
    /// Every label recorded for `kind` after number `after` (0: all), in order, with its number.
    fn each(
        &self,
        kind: &str,
        after: u64,
        each: &mut dyn FnMut(u64, warden_core::Label, KeptFeatures),
    ) -> Result<(), DeskError>;
}

impl TaughtLog for Desk {
    fn verdict(&self, verdict: Verdict) -> Result<Option<Taught>, DeskError> {
        self.record_verdict(verdict)
    }
    fn record(
        &self,
        kind: &str,
        label: warden_core::Label,
        features: &KeptFeatures,
    ) -> Result<u64, DeskError> {
        self.record_taught(kind, label, features)
    }
    fn last(&self, kind: &str) -> Result<u64, DeskError> {
        self.last_taught(kind)
    }
    fn each(
        &self,
        kind: &str,
        after: u64,
        each: &mut dyn FnMut(u64, warden_core::Label, KeptFeatures),
    ) -> Result<(), DeskError> {
        self.each_taught(kind, after, each)
    }
}

/// Entities as a whole: what is kept about one, and its erasure.
///
/// What callers rely on: [`erase`](Self::erase) removes every label record of the entity, the
/// features kept for it and its history, durably and audited in the same write (the entity named by keyed
/// hash), and nothing of any other entity.
pub trait Entities: Send + Sync {
    /// What is kept about `kind`/`entity` at `now`.
    fn state(&self, kind: &str, entity: &str, now: u64) -> Result<EntityState, DeskError>;
    /// Erases what is kept about `kind`/`entity`, as `who` asked, for `reason`.
    fn erase(&self, kind: &str, entity: &str, who: &str, reason: &str, now: u64)
    -> Result<Erased, DeskError>;
}

impl Entities for Desk {
    fn state(&self, kind: &str, entity: &str, now: u64) -> Result<EntityState, DeskError> {
        self.entity_state(kind, entity, now)
    }
    fn erase(
        &self,
        kind: &str,
        entity: &str,
        who: &str,
        reason: &str,
        now: u64,
    ) -> Result<Erased, DeskError> {
        self.erase_entity(kind, entity, who, reason, now)
    }
}

impl FeatureStore for Desk {
    fn keep(&self, kind: &str, events: &[(&str, KeptFeatures)]) -> Result<(), DeskError> {
        self.keep_features(kind, events)
    }
    fn get(&self, kind: &str, id: &str) -> Result<Option<KeptFeatures>, DeskError> {
        self.kept_features(kind, id)
    }
    fn forget(&self, kind: &str, id: &str) -> Result<bool, DeskError> {
        self.forget_features(kind, id)
    }
    fn expire(&self, before: u64) -> Result<u64, DeskError> {
        self.expire_features(before)
    }
    fn held(&self) -> Result<u64, DeskError> {
        self.kept_events()
    }
}

impl ReviewQueue for Desk {
    fn page(
        &self,
        status: Option<ReviewStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<ReviewItem, u64>, DeskError> {
        self.review_page(status, after, limit)
    }
    fn item(&self, id: u64) -> Result<ReviewItem, DeskError> {
        self.review_item(id)
    }
    fn features(&self, id: u64) -> Result<(ReviewFeatures, Option<Vec<u8>>), DeskError> {
        self.review_features(id)
    }
    fn claim(&self, id: u64, who: &str, now: u64) -> Result<ReviewItem, DeskError> {
        Desk::claim(self, id, who, now)
    }
    fn resolve(
        &self,
        id: u64,
        who: &str,
        label: &str,
        reason: &str,
        now: u64,
        teach: Option<Teach>,
    ) -> Result<Resolved, DeskError> {
        Desk::resolve(self, id, who, label, reason, now, teach)
    }
    fn outbox(&self, strict: bool) -> Result<Vec<(u64, Lesson)>, DeskError> {
        Desk::outbox(self, strict)
    }
    fn clear_lesson(&self, seq: u64) -> Result<(), DeskError> {
        Desk::clear_lesson(self, seq)
    }
    fn open_items(&self) -> Result<u64, DeskError> {
        Desk::open_items(self)
    }
}

impl LabelStore for Desk {
    fn set(&self, label: &EntityLabel) -> Result<LabelOutcome, DeskError> {
        self.set_label(label)
    }
    fn page(
        &self,
        kind: Option<&str>,
        entity: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<EntityLabel, String>, DeskError> {
        self.labels_page(kind, entity, after, limit)
    }
    fn all(&self, kind: Option<&str>, entity: Option<&str>) -> Result<Vec<EntityLabel>, DeskError> {
        self.labels(kind, entity)
    }
}

impl AuditLog for Desk {
    fn append(&self, entries: Vec<AuditEntry>) -> Result<(), DeskError> {
        self.audit_now(entries)
    }
    fn page(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>, DeskError> {
        self.audit_page(seq, limit)
    }
    fn after(&self, seq: u64, each: &mut dyn FnMut(AuditEntry)) -> Result<(), DeskError> {
        self.audit_after(seq, each)
    }
}

/// Checks that an implementation keeps the promises its trait makes. Each function takes a
/// fresh, empty implementation and panics, naming the promise, when one is broken: a Redis or
/// JetStream implementation runs the same functions in its own tests.
pub mod conformance {
    use warden_core::Label;

    use super::{
        AuditLog, DecisionStore, Entities, FeatureStore, FeedbackLog, HistoryStore, LabelStore, TaughtLog,
    };
    use crate::{AuditEntry, EntityLabel, HistoryRecord, KeptFeatures, LabelOutcome, LabelSource};
    use warden_store::feedback::{FeedbackRecord, NewFeedback, OnDamage, Outcome};

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

    fn entity_label(kind: &str, entity: &str, manual: bool, active: bool, at: u64) -> EntityLabel {
        EntityLabel {
            kind: kind.into(),
            entity: entity.into(),
            label: "blocked".into(),
            active,
            source: if manual { LabelSource::Manual } else { LabelSource::Automatic },
            by: if manual { "alice".into() } else { "rule:bulk".into() },
            reason: "seen sending phishing".into(),
            at,
            expires: None,
        }
    }

    /// Labels: stored and replaced, an analyst's over a rule's, removals kept, lapsing, order
    /// and paging, each change in `audit` (which must be the same desk's log, empty at first)
    /// with the entity as a keyed hash.
    pub fn label_store(labels: &dyn LabelStore, audit: &dyn AuditLog) {
        let stored = |l: &EntityLabel| match labels.set(l).expect("a label is stored") {
            LabelOutcome::Stored(before) => before,
            LabelOutcome::Overridden => panic!("{} by {} was refused", l.entity, l.by),
        };
        let refused =
            |l: &EntityLabel| matches!(labels.set(l).expect("a label change"), LabelOutcome::Overridden);

        let first = entity_label("domain", "phish.example", true, true, 100);
        assert_eq!(stored(&first), None, "a new label has no earlier record");
        let again = EntityLabel { reason: "confirmed".into(), at: 101, ..first.clone() };
        assert_eq!(stored(&again), Some(first.clone()), "a change returns the earlier record");
        assert!(
            refused(&entity_label("domain", "phish.example", false, false, 110)),
            "a rule cannot remove an analyst's label"
        );
        stored(&entity_label("domain", "other.example", false, true, 110));
        stored(&entity_label("domain", "phish.example", true, false, 120));
        let kept = labels.all(Some("domain"), Some("phish.example")).unwrap();
        assert_eq!(kept.len(), 1, "a removal is kept as a record");
        assert!(!kept[0].active && !kept[0].holds(121), "and it no longer holds");
        assert!(
            refused(&entity_label("domain", "phish.example", false, true, 130)),
            "an analyst's removal keeps a rule from setting the label again"
        );
        let lapsing = EntityLabel { expires: Some(150), ..entity_label("ip", "192.0.2.1", true, true, 140) };
        stored(&lapsing);
        assert!(
            !refused(&entity_label("ip", "192.0.2.1", false, true, 200)),
            "a lapsed analyst's label no longer overrides a rule"
        );

        for (kind, entity) in
            [("address", "b@example.org"), ("address", "a@example.org"), ("host", "mx.example")]
        {
            stored(&entity_label(kind, entity, true, true, 300));
        }
        let order: Vec<(String, String)> =
            labels.all(None, None).unwrap().into_iter().map(|l| (l.kind, l.entity)).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "labels are listed in (kind, entity) order");
        assert_eq!(order.len(), 6);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = labels.page(None, None, after.as_deref(), 4).unwrap();
            assert!(page.items.len() <= 4, "a page holds at most its limit");
            paged.extend(page.items.into_iter().map(|l| (l.kind, l.entity)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(paged, order, "pages cover the listing once, in order");
        let addresses = labels.all(Some("address"), None).unwrap();
        assert_eq!(
            addresses.iter().map(|l| l.entity.as_str()).collect::<Vec<_>>(),
            ["a@example.org", "b@example.org"]
        );

        let entries = audit.page(0, 100).unwrap();
        let changes: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            changes,
            [
                "label.set",
                "label.set",
                "label.set",
                "label.remove",
                "label.set",
                "label.set",
                "label.set",
                "label.set",
                "label.set"
            ],
            "every stored change is audited, refused ones are not"
        );
        assert!(
            entries.iter().all(|e| e
                .entity
                .as_deref()
                .is_some_and(|h| !h.contains("example") && !h.contains("192.0.2"))),
            "the audit log names entities by keyed hash"
        );
    }

    /// Keeping, replacing, reading back, kinds apart, forgetting, expiry by decision time.
    pub fn feature_store(store: &dyn FeatureStore) {
        let kept = |at: u64, n: u64| KeptFeatures {
            at,
            extractor: 9,
            features: (0..n).map(|i| i * 31 + at).collect(),
        };
        assert_eq!(store.get("signup", "s-1").unwrap(), None, "nothing is kept at first");
        store
            .keep("signup", &[("s-1", kept(100, 3)), ("s-2", kept(200, 120)), ("s-3", kept(300, 0))])
            .unwrap();
        store.keep("login", &[("s-1", kept(150, 2))]).unwrap();
        assert_eq!(store.get("signup", "s-1").unwrap(), Some(kept(100, 3)), "features read back as kept");
        assert_eq!(store.get("login", "s-1").unwrap(), Some(kept(150, 2)), "kinds are kept apart");
        assert_eq!(store.get("signup", "s-3").unwrap(), Some(kept(300, 0)), "an event may have no features");
        assert_eq!(store.held().unwrap(), 4);
        store.keep("signup", &[("s-2", kept(250, 5))]).unwrap();
        assert_eq!(store.get("signup", "s-2").unwrap(), Some(kept(250, 5)), "keeping again replaces");
        assert_eq!(store.held().unwrap(), 4);
        assert!(store.forget("signup", "s-3").unwrap(), "forgotten");
        assert!(!store.forget("signup", "s-3").unwrap(), "and gone");
        assert_eq!(store.get("signup", "s-3").unwrap(), None);
        assert_eq!(store.expire(200).unwrap(), 2, "the two decided before 200 go");
        assert_eq!(store.get("signup", "s-1").unwrap(), None);
        assert_eq!(store.get("login", "s-1").unwrap(), None);
        assert_eq!(
            store.get("signup", "s-2").unwrap(),
            Some(kept(250, 5)),
            "the one kept again at 250 stays"
        );
        assert_eq!(store.expire(251).unwrap(), 1);
        assert_eq!(store.held().unwrap(), 0);
    }

    /// An entity's labels and kept features, seen and erased, and only its own; the erasure
    /// audited in `audit` (the same desk's log).
    pub fn entities(
        entities: &dyn Entities,
        labels: &dyn LabelStore,
        features: &dyn FeatureStore,
        history: &dyn HistoryStore,
        audit: &dyn AuditLog,
    ) {
        let kept = || KeptFeatures { at: 10, extractor: 1, features: vec![4, 5] };
        let set = |entity: &str, name: &str, active: bool| {
            let l = EntityLabel { label: name.into(), ..entity_label("account", entity, true, active, 100) };
            labels.set(&l).unwrap();
        };
        set("a-1", "abusive", true);
        set("a-1", "vip", false);
        set("a-12", "abusive", true);
        features.keep("account", &[("a-1", kept()), ("a-12", kept())]).unwrap();
        for entity in ["a-1", "a-12"] {
            history
                .append("account", entity, &HistoryRecord { at: 50, data: b"login".to_vec() }, 10)
                .unwrap();
        }
        let state = entities.state("Account", "A-1", 200).unwrap();
        assert_eq!((state.kind.as_str(), state.entity.as_str()), ("account", "a-1"), "names are folded");
        assert_eq!(state.in_force, ["abusive"], "a removed label is not in force");
        assert_eq!(state.labels.len(), 2, "but its record is kept");
        assert!(state.features_kept);
        assert_eq!(state.history, 1);
        let before = audit.page(0, 1_000).unwrap().len();

        let erased = entities.erase("account", "a-1", "alice", "erasure request 17", 300).unwrap();
        assert_eq!((erased.labels, erased.features, erased.history), (2, true, 1));
        assert!(history.recent("account", "a-1", 10).unwrap().is_empty());
        let state = entities.state("account", "a-1", 300).unwrap();
        assert!(state.labels.is_empty() && state.in_force.is_empty() && !state.features_kept, "{state:?}");
        assert_eq!(features.get("account", "a-1").unwrap(), None);
        let other = entities.state("account", "a-12", 300).unwrap();
        assert_eq!(
            (other.labels.len(), other.features_kept, other.history),
            (1, true, 1),
            "another entity keeps its own"
        );
        let entries = audit.page(0, 1_000).unwrap();
        assert_eq!(entries.len(), before + 1, "one audit entry for the erasure");
        let e = entries.last().unwrap();
        assert_eq!((e.kind.as_str(), e.actor.as_str()), ("entity.erase", "alice"));
        assert_eq!(e.reason.as_deref(), Some("erasure request 17"));
        assert!(
            e.entity.as_deref().is_some_and(|h| h.starts_with("account:") && !h.contains("a-1")),
            "{e:?}"
        );
        let again = entities.erase("account", "a-1", "alice", "again", 301).unwrap();
        assert_eq!((again.labels, again.features, again.history), (0, false, 0), "nothing is left to erase");
    }

    /// First wins, the same answer after, kinds apart, at once from many threads, expiry.
    pub fn decision_store(store: &(dyn DecisionStore + Sync)) {
        assert_eq!(store.once("signup", "s-1", 100, b"allow").unwrap(), None, "the first is kept");
        assert_eq!(
            store.once("signup", "s-1", 101, b"block").unwrap().as_deref(),
            Some(&b"allow"[..]),
            "then answered"
        );
        assert_eq!(store.get("signup", "s-1").unwrap().as_deref(), Some(&b"allow"[..]));
        assert_eq!(store.once("login", "s-1", 100, b"challenge").unwrap(), None, "kinds apart");
        let firsts = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let firsts = &firsts;
                s.spawn(move || {
                    if store.once("signup", "race", 200, &[t]).unwrap().is_none() {
                        firsts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(firsts.into_inner(), 1, "of eight at once, one decides");
        // Many at once, committed together, ids repeated across threads: each id is decided
        // once, and what is kept is what its first recorder wrote.
        let firsts = std::sync::Mutex::new(std::collections::HashMap::new());
        let id = |t: u64, i: u64| format!("busy-{}", (i * 7 + t * 13) % 200);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let firsts = &firsts;
                s.spawn(move || {
                    for i in 0..100u64 {
                        let effects = crate::DecisionEffects::default();
                        if store.record("signup", &id(t, i), 300, &[t as u8], effects).unwrap().is_none() {
                            let before = firsts.lock().unwrap().insert(id(t, i), t as u8);
                            assert_eq!(before, None, "{} decided twice", id(t, i));
                        }
                    }
                });
            }
        });
        let firsts = firsts.into_inner().unwrap();
        let distinct: std::collections::HashSet<String> =
            (0..8).flat_map(|t| (0..100).map(move |i| id(t, i))).collect();
        assert_eq!(firsts.len(), distinct.len(), "every id decided once");
        for (id, t) in &firsts {
            assert_eq!(store.get("signup", id).unwrap().as_deref(), Some(&[*t][..]), "{id}");
        }
        assert_eq!(store.expire(150).unwrap(), 2, "the two decided at 100 go");
        assert_eq!(store.get("signup", "s-1").unwrap(), None);
        assert!(store.get("signup", "race").unwrap().is_some());
    }

    /// Numbered per kind, read back in order from any number, kinds apart.
    pub fn taught_log(log: &dyn TaughtLog) {
        use warden_core::Label;
        let f = |n: u64| KeptFeatures { at: n, extractor: 0, features: vec![n, n + 1] };
        assert_eq!(log.record("probe", Label::Abusive, &f(1)).unwrap(), 1);
        assert_eq!(log.record("signup", Label::Legitimate, &f(2)).unwrap(), 1, "numbered per kind");
        assert_eq!(log.record("probe", Label::Legitimate, &f(3)).unwrap(), 2);
        let mut seen = Vec::new();
        log.each("probe", 0, &mut |n, l, k| seen.push((n, l, k))).unwrap();
        assert_eq!(
            seen,
            [(1, Label::Abusive, f(1)), (2, Label::Legitimate, f(3))],
            "in order, this kind's only"
        );
        let mut after = Vec::new();
        log.each("probe", 1, &mut |n, _, _| after.push(n)).unwrap();
        assert_eq!(after, [2], "those after a number only (a checkpoint's)");
        log.each("probe", 2, &mut |n, _, _| after.push(n)).unwrap();
        assert_eq!(after, [2], "none after the last");
        assert_eq!(
            (log.last("probe").unwrap(), log.last("signup").unwrap(), log.last("login").unwrap()),
            (2, 1, 0)
        );
    }

    /// Appending, the newest kept, newest first, entities apart, expiry by time.
    pub fn history_store(store: &dyn HistoryStore) {
        let rec = |at: u64, s: &str| HistoryRecord { at, data: s.as_bytes().to_vec() };
        assert!(store.recent("login", "u-1", 10).unwrap().is_empty());
        for (at, s) in [(100, "a"), (200, "b"), (200, "c"), (300, "d")] {
            store.append("login", "u-1", &rec(at, s), 3).unwrap();
        }
        store.append("login", "u-2", &rec(150, "other"), 3).unwrap();
        store.append("signup", "u-1", &rec(150, "another kind"), 3).unwrap();
        assert_eq!(
            store.recent("login", "u-1", 10).unwrap(),
            [rec(300, "d"), rec(200, "c"), rec(200, "b")],
            "the newest three, newest first; two in one second both kept"
        );
        assert_eq!(store.recent("login", "u-1", 1).unwrap(), [rec(300, "d")]);
        assert_eq!(store.recent("login", "u-2", 10).unwrap(), [rec(150, "other")], "entities apart");
        assert_eq!(store.recent("signup", "u-1", 10).unwrap(), [rec(150, "another kind")], "kinds apart");
        assert_eq!(store.expire(200).unwrap(), 2, "the two records before 200 go");
        assert_eq!(store.recent("login", "u-1", 10).unwrap().len(), 3);
        assert!(store.recent("login", "u-2", 10).unwrap().is_empty());
    }

    /// Numbering from 1 in order, reading after any number, paging, appending later.
    pub fn audit_log(log: &dyn AuditLog) {
        let entry = |actor: &str| AuditEntry {
            at: 1_000,
            kind: "review.claim".into(),
            actor: actor.into(),
            item: Some(7),
            ..AuditEntry::default()
        };
        log.append(vec![entry("a"), entry("b"), entry("c")]).unwrap();
        let all = log.page(0, 100).unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3], "entries are numbered in order");
        assert_eq!(all[1], AuditEntry { seq: 2, ..entry("b") }, "an entry reads back as written");
        assert_eq!(log.page(1, 1).unwrap(), [AuditEntry { seq: 2, ..entry("b") }], "a page starts after seq");
        log.append(vec![entry("d")]).unwrap();
        let mut later = Vec::new();
        log.after(2, &mut |e| later.push((e.seq, e.actor))).unwrap();
        assert_eq!(later, [(3, "c".to_owned()), (4, "d".to_owned())], "reading after a number, to the end");
        assert!(log.page(4, 10).unwrap().is_empty(), "nothing after the last");
    }
}

#[cfg(test)]
mod tests {
    /// A desk in a data directory of its own (the directory lives as long as the guard).
    fn fresh_desk() -> (tempfile::TempDir, std::sync::Arc<crate::Desk>) {
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::datadir::desk_for_test(dir.path());
        (dir, desk)
    }

    #[test]
    fn the_redb_feedback_store_keeps_the_logs_promises() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::datadir::store_for_test(dir.path());
        super::conformance::feedback_log(&store);
    }

    #[test]
    fn the_desk_keeps_the_label_stores_and_the_audit_logs_promises() {
        let (_dir, desk) = fresh_desk();
        super::conformance::label_store(&*desk, &*desk);
        let (_dir, desk) = fresh_desk();
        super::conformance::audit_log(&*desk);
    }

    #[test]
    fn the_desk_erases_an_entity_and_only_it() {
        let (_dir, desk) = fresh_desk();
        super::conformance::entities(&*desk, &*desk, &*desk, &*desk, &*desk);
    }

    #[test]
    fn the_desk_remembers_a_decision_by_event_id_once() {
        let (_dir, desk) = fresh_desk();
        super::conformance::decision_store(&*desk);

        // With its effects: the first writes its kept features, audit entry, counter updates
        // and label changes; a repeat nothing.
        use super::{AuditLog, DecisionStore, FeatureStore, LabelStore, ReviewQueue};
        use crate::{DecisionEffects, EntityLabel, LabelSource};
        let kept = || crate::KeptFeatures { at: 500, extractor: 0, features: vec![9] };
        let entry = || crate::AuditEntry { at: 500, kind: "decision".into(), ..Default::default() };
        let audited = |d: &crate::Desk| AuditLog::page(d, 0, 1_000).unwrap().len();
        let count = |at| warden_store::journal::JournaledCount {
            counter: "probe:burst".into(),
            entity: 7,
            value: None,
            at,
        };
        let label = |entity: &str, source| EntityLabel {
            kind: "account".into(),
            entity: entity.into(),
            label: "abusive".into(),
            active: true,
            source,
            by: "rule:burst".into(),
            reason: "bursts".into(),
            at: 500,
            expires: None,
        };
        // An analyst cleared a-8 by hand: the rule's label on it is refused, a-9's is kept.
        let mut cleared = label("a-8", LabelSource::Manual);
        cleared.active = false;
        LabelStore::set(&*desk, &cleared).unwrap();
        let effects = || DecisionEffects {
            keep: Some(("account", "a-9", kept())),
            audit: Some(entry()),
            counts: vec![count(500), count(499)],
            labels: vec![label("a-9", LabelSource::Automatic), label("a-8", LabelSource::Automatic)],
            review: Some(crate::NewReview {
                item: crate::ReviewItem { at: 500, kind: Some("probe".into()), ..Default::default() },
                features: crate::ReviewFeatures {
                    message: desk.event_key("probe", "e-9"),
                    extractor: 0,
                    features: vec![9],
                },
                body: None,
            }),
            later: vec![label("a-7", LabelSource::Automatic)],
            sync: false,
        };
        let counted = |d: &crate::Desk| {
            let mut all = Vec::new();
            d.counts_since(0, |c| all.push(c.at)).unwrap();
            all
        };
        let before = audited(&desk);
        assert_eq!(desk.record("probe", "e-9", 500, b"allow", effects()).unwrap(), None);
        assert_eq!(FeatureStore::get(&*desk, "account", "a-9").unwrap(), Some(kept()));
        assert_eq!(audited(&desk), before + 3, "the decision, the one rule label kept and the later verdict");
        assert_eq!(counted(&desk), [499, 500], "counts in time order");
        assert_eq!(ReviewQueue::open_items(&*desk).unwrap(), 1, "its review item is queued");
        let holds = |entity| LabelStore::all(&*desk, Some("account"), Some(entity)).unwrap()[0].holds(600);
        assert!(holds("a-9"), "the rule's label is kept");
        assert!(!holds("a-8"), "the analyst's word stands");
        assert!(holds("a-7"), "the kind's later verdict is kept");
        FeatureStore::forget(&*desk, "account", "a-9").unwrap();
        LabelStore::set(&*desk, &cleared).unwrap();
        let before = audited(&desk);
        let again = desk.record("probe", "e-9", 501, b"block", effects());
        assert_eq!(again.unwrap().as_deref(), Some(&b"allow"[..]));
        assert_eq!(FeatureStore::get(&*desk, "account", "a-9").unwrap(), None, "a repeat keeps nothing");
        assert_eq!(audited(&desk), before, "audits nothing");
        assert_eq!(counted(&desk), [499, 500], "counts nothing");
        assert_eq!(ReviewQueue::open_items(&*desk).unwrap(), 1, "queues nothing");
        // Counts expire with the journal's, by their time.
        assert_eq!(desk.expire(1_000, 10_000, 10_000, 500).unwrap()[3], 1, "the one before 500 goes");
        assert_eq!(counted(&desk), [500]);
    }

    #[test]
    fn a_decision_nobody_waits_for_is_read_back_at_once_and_kept_when_the_desk_closes() {
        use super::{AuditLog, DecisionStore, FeatureStore};
        use crate::{AuditEntry, DecisionEffects, KeptFeatures};
        let dir = tempfile::tempdir().unwrap();
        let desk = crate::datadir::desk_for_test(dir.path());
        let kept = |f| KeptFeatures { at: 500, extractor: 0, features: vec![f] };
        let effects = |entity, f| DecisionEffects {
            keep: Some(("account", entity, kept(f))),
            audit: Some(AuditEntry {
                at: 500,
                kind: "decision".into(),
                actor: "warden".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let audited = |d: &crate::Desk| AuditLog::page(d, 0, 1_000).unwrap().len();
        let before = audited(&desk);
        assert_eq!(desk.record("probe", "e-1", 500, b"allow", effects("a-1", 1)).unwrap(), None);
        // Held or not, a repeat is answered with the first decision, and records nothing.
        assert_eq!(DecisionStore::get(&*desk, "probe", "e-1").unwrap().as_deref(), Some(&b"allow"[..]));
        let again = desk.record("probe", "e-1", 501, b"block", effects("a-2", 2)).unwrap();
        assert_eq!(again.as_deref(), Some(&b"allow"[..]));
        // What it wrote is there for the readers of kept features and of the audit log.
        assert_eq!(FeatureStore::get(&*desk, "account", "a-1").unwrap(), Some(kept(1)));
        assert_eq!(FeatureStore::get(&*desk, "account", "a-2").unwrap(), None, "a repeat keeps nothing");
        assert_eq!(audited(&desk), before + 1);
        // Held when the desk closes: on disk when it opens again.
        assert_eq!(desk.record("probe", "e-2", 502, b"review", effects("a-3", 3)).unwrap(), None);
        // The decision thread may hold the desk for a moment while it commits.
        while std::sync::Arc::strong_count(&desk) > 1 {
            std::thread::yield_now();
        }
        drop(desk);
        let desk = crate::datadir::desk_for_test(dir.path());
        assert_eq!(DecisionStore::get(&*desk, "probe", "e-2").unwrap().as_deref(), Some(&b"review"[..]));
        assert_eq!(FeatureStore::get(&*desk, "account", "a-3").unwrap(), Some(kept(3)));
        assert_eq!(audited(&desk), before + 2);
    }

    #[test]
    fn a_verdict_teaches_once_and_labels_in_one_write_and_a_resolution_carries_one() {
        use super::{AuditLog, FeatureStore, LabelStore, ReviewQueue, TaughtLog};
        use crate::{EntityLabel, LabelSource, Teach, Verdict};
        let (_dir, desk) = fresh_desk();
        let kept = |f| crate::KeptFeatures { at: 500, extractor: 0, features: vec![f] };
        let audited = |d: &crate::Desk| AuditLog::page(d, 0, 1_000).unwrap().len();
        let verdict = |features| Verdict {
            kind: "probe".into(),
            label: warden_core::Label::Abusive,
            entity: ("account".into(), "a-1".into()),
            features,
            labels: vec![EntityLabel {
                kind: "account".into(),
                entity: "a-1".into(),
                label: "abusive".into(),
                active: true,
                source: LabelSource::Manual,
                by: "feedback:probe".into(),
                reason: "sent spam".into(),
                at: 600,
                expires: None,
            }],
        };
        desk.keep_features("account", &[("a-1", kept(1))]).unwrap();
        let before = audited(&desk);
        let taught = desk.record_verdict(verdict(None)).unwrap().expect("taught from the kept features");
        assert_eq!((taught.seq, taught.features), (1, kept(1)));
        assert_eq!(FeatureStore::get(&*desk, "account", "a-1").unwrap(), None, "forgotten once taught");
        assert!(LabelStore::all(&*desk, Some("account"), Some("a-1")).unwrap()[0].holds(700));
        assert_eq!(audited(&desk), before + 1, "the label audited");
        assert_eq!(desk.record_verdict(verdict(None)).unwrap(), None, "sent again, it teaches nothing");
        assert_eq!(TaughtLog::last(&*desk, "probe").unwrap(), 1);

        // A review item resolved with a verdict teaches the item's features, in the same write.
        let queued = crate::NewReview {
            item: crate::ReviewItem {
                at: 500,
                kind: Some("probe".into()),
                entity: Some("a-1".into()),
                ..Default::default()
            },
            features: crate::ReviewFeatures { message: 5, extractor: 0, features: vec![2] },
            body: None,
        };
        desk.record_decision(
            "probe",
            "e-1",
            500,
            b"{}",
            crate::DecisionEffects { review: Some(queued), ..Default::default() },
        )
        .unwrap();
        let id = ReviewQueue::page(&*desk, None, None, 10).unwrap().items[0].id;
        let resolved =
            desk.resolve(id, "alice", "abusive", "a farm", 700, Some(Teach::Verdict(verdict(Some(kept(2))))));
        let resolved = resolved.unwrap();
        assert_eq!(resolved.item.label.as_deref(), Some("abusive"));
        assert_eq!(resolved.taught.map(|t| (t.seq, t.features)), Some((2, kept(2))));
        assert_eq!(resolved.lesson, None, "a verdict needs no outbox");
        let refused =
            desk.resolve(id, "bob", "legitimate", "no", 701, Some(Teach::Verdict(verdict(Some(kept(3))))));
        assert!(refused.is_err());
        assert_eq!(TaughtLog::last(&*desk, "probe").unwrap(), 2, "a refused resolution teaches nothing");
    }

    #[test]
    fn the_desk_keeps_what_kinds_models_learned() {
        let (_dir, desk) = fresh_desk();
        super::conformance::taught_log(&*desk);
    }

    #[test]
    fn the_desk_keeps_the_history_stores_promises() {
        let (_dir, desk) = fresh_desk();
        super::conformance::history_store(&*desk);
    }

    #[test]
    fn the_desk_keeps_the_feature_stores_promises_and_its_ids_as_keyed_hashes() {
        let (dir, desk) = fresh_desk();
        super::conformance::feature_store(&*desk);
        use super::FeatureStore;
        let id = "account-8f3a91c2";
        desk.keep("signup", &[(id, crate::KeptFeatures { at: 1, extractor: 2, features: vec![3] })]).unwrap();
        desk.stop();
        drop(desk);
        let bytes = std::fs::read(dir.path().join(crate::DESK_FILE)).unwrap();
        assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()), "the event's id is not in the file");
    }
}
