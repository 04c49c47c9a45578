//! The analysts' desk: the review queue, labels on entities and the audit log, in one redb
//! database of the data directory (`desk.redb`), and the journal of the rules' window counters
//! beside it (`counters.journal`, see [`crate::journal`]).
//!
//! What the check path writes (a decision's audit entry, its review item, its counter updates
//! and the labels its rules set) goes through one writer thread. Counter updates are appended to
//! the journal (one `fdatasync` for all waiting); the rest is committed in one durable redb
//! transaction (group commit). A check is answered once the writes it waits for are durable —
//! counter updates, review items and label changes always; its own audit entry only with
//! `[audit] sync_decisions`, otherwise the writer holds audit entries up to 20 ms to commit them
//! together. An answered check's review item, labels and counts survive a `kill -9`. Analysts'
//! actions are written in their own durable transactions.
//!
//! Privacy: the audit log keeps identifiers as keyed hashes (BLAKE3 under the installation's
//! key) and never a message. A review item keeps what an analyst needs to judge — sender and
//! URL domains, subject, reasons, the feature hashes to learn from — for `[review]
//! retention_days`, and the message itself only with `[review] keep_bodies`. A label keeps the
//! entity as written (an analyst must read what is labelled). The counter journal keeps keyed
//! 64-bit hashes of entities and values, for the longest window a counter declares.

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use warden_core::Reason;

use crate::store::StoreError;

/// Audit entries: the sequence number of a row's first entry → the row's entries as JSON
/// lines. A commit's entries share one row: one B-tree insert a commit, not one an entry.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Counters of the tables whose keys are not their rows' contents: the next audit sequence
/// number, the next counter-journal row.
const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
/// Review items by id (JSON).
const REVIEW: TableDefinition<u64, &[u8]> = TableDefinition::new("review");
/// A review item's feature hashes and the extractor fingerprint that made them.
const REVIEW_FEATURES: TableDefinition<u64, &[u8]> = TableDefinition::new("review_features");
/// A review item's message, with `[review] keep_bodies`.
const REVIEW_BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("review_bodies");
/// The open review item of a message (so that a message is queued once).
const REVIEW_BY_MESSAGE: TableDefinition<u128, u64> = TableDefinition::new("review_by_message");
/// Labels: `kind \0 entity \0 label` → JSON.
const LABELS: TableDefinition<&str, &[u8]> = TableDefinition::new("labels");

/// Check-path writes waiting for the writer, at most; more are refused rather than queued.
const QUEUE: usize = 8192;

/// A spam-or-ham label, as analysts give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Spam.
    Spam,
    /// Not spam.
    Ham,
}

/// One entry of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its place in the log (1, 2, …), given when stored.
    #[serde(default)]
    pub seq: u64,
    /// Unix time, seconds.
    pub at: u64,
    /// What happened: `decision`, `review.claim`, `review.resolve`, `label.set`,
    /// `label.remove`, `label.rule`.
    pub kind: String,
    /// Who: an analyst's name, `admin`, `rule:NAME`, or `warden` for decisions.
    pub actor: String,
    /// The message: its keyed hash (the id checks answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The entity a label names: its kind and the keyed hash of its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The review item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    /// A decision's action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// A decision's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// A decision's probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// A decision's reasons, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The label given (`spam`, `ham`, or an entity label's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What it was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Why, in the actor's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a review item stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Waiting for an analyst.
    #[default]
    Open,
    /// An analyst has taken it.
    Claimed,
    /// Labelled.
    Resolved,
}

/// A decision queued for an analyst.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// Its id (1, 2, …), given when stored.
    #[serde(default)]
    pub id: u64,
    /// When it was queued, Unix seconds.
    pub at: u64,
    /// Where it stands.
    pub status: ReviewStatus,
    /// Why it was queued: `uncertain` (probability in the band) and/or `rule`.
    pub why: Vec<String>,
    /// The message's id (keyed hash).
    pub message: String,
    /// The decision's action.
    pub action: String,
    /// The decision's score.
    pub score: f64,
    /// The model's probability.
    pub probability: f64,
    /// The registrable domain of From.
    pub from_domain: Option<String>,
    /// The subject.
    pub subject: Option<String>,
    /// Registrable domains of its links.
    pub url_domains: Vec<String>,
    /// Attachment names.
    pub attachments: Vec<String>,
    /// The decision's reasons: rules that fired, the model, the strongest features.
    pub reasons: Vec<Reason>,
    /// Who claimed it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// When it was claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<u64>,
    /// The label it was resolved with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Verdict>,
    /// Who resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<u64>,
    /// Why, in the analyst's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

impl ReviewItem {
    /// Whether `who` may resolve it: not resolved, and not claimed by someone else.
    pub fn may_resolve(&self, who: &str) -> Result<(), DeskError> {
        match (self.status, self.claimed_by.as_deref()) {
            (ReviewStatus::Resolved, _) => {
                Err(DeskError::Conflict(format!("review item {} is resolved", self.id)))
            }
            (ReviewStatus::Claimed, Some(by)) if by != who => {
                Err(DeskError::Conflict(format!("review item {} is claimed by {by}", self.id)))
            }
            _ => Ok(()),
        }
    }
}

/// What a review item needs to teach the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFeatures {
    /// The message's keyed hash.
    pub message: u128,
    /// Fingerprint of the extractor that made `features`.
    pub extractor: u64,
    /// Feature hashes.
    pub features: Vec<u64>,
}

/// A review item to queue, with what stays off its listing.
#[derive(Debug, Clone)]
pub struct NewReview {
    /// The item (its id and status are set when stored).
    pub item: ReviewItem,
    /// Its features.
    pub features: ReviewFeatures,
    /// The message, with `[review] keep_bodies`.
    pub body: Option<Vec<u8>>,
}

/// Who set a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelSource {
    /// An analyst: overrides automatic labels until it expires.
    Manual,
    /// A rule.
    Automatic,
}

/// A label on an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityLabel {
    /// What kind of entity: `domain`, `ip`, `address`, `host`, `account`, …
    pub kind: String,
    /// The entity, as written (lower case).
    pub entity: String,
    /// The label.
    pub label: String,
    /// `true` while it holds; a removal is kept (inactive) so that a manual removal still
    /// overrides a rule that would set it again.
    pub active: bool,
    /// Who set it: an analyst or a rule.
    pub source: LabelSource,
    /// The analyst's name or `rule:NAME`.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When it was set, Unix seconds.
    pub at: u64,
    /// When it lapses, Unix seconds (`None`: never).
    pub expires: Option<u64>,
}

impl EntityLabel {
    /// Whether it still holds at `now` (active and not lapsed).
    pub fn holds(&self, now: u64) -> bool {
        self.active && self.expires.is_none_or(|e| e > now)
    }

    fn key(&self) -> String {
        label_key(&self.kind, &self.entity, &self.label)
    }
}

fn label_key(kind: &str, entity: &str, label: &str) -> String {
    format!("{kind}\0{entity}\0{label}")
}

/// What became of a label change.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelOutcome {
    /// Stored; the entity's earlier record of this label, if any.
    Stored(Option<EntityLabel>),
    /// A rule's change, refused: an analyst's label of the same name is in force.
    Overridden,
}

/// Why an analyst's request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such review item (never queued, or expired).
    #[error("no review item {0}")]
    NoItem(u64),
    /// The item is claimed by someone else, or resolved.
    #[error("{0}")]
    Conflict(String),
}

crate::store::from_redb_errors!(DeskError, |m| DeskError::Store(StoreError::Db(m)));

/// One counter update, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledCount {
    /// The counter's name.
    pub counter: String,
    /// The entity's keyed hash.
    pub entity: u64,
    /// The counted value's keyed hash (distinct counters).
    pub value: Option<u64>,
    /// When, Unix seconds.
    pub at: u64,
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
}

impl CheckWrites {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.audit.is_none() && self.review.is_none() && self.counts.is_empty() && self.labels.is_empty()
    }

    /// Whether its caller waits for it to be durable: counter updates, a review item, a label
    /// change, or an audit entry stored synchronously.
    pub fn waited_for(&self) -> bool {
        !self.counts.is_empty() || self.needs_db()
    }

    /// Whether its answer waits for the database commit (not only for the journal).
    fn needs_db(&self) -> bool {
        self.review.is_some() || !self.labels.is_empty() || self.audit_sync
    }
}

struct Pending {
    writes: CheckWrites,
    reply: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The desk of one data directory.
pub struct Desk {
    db: Database,
    journal: Mutex<crate::journal::Journal>,
    key: [u8; 32],
    queue: Mutex<Option<SyncSender<Pending>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

/// Commits at most this many checks' writes in one transaction.
const MAX_BATCH: usize = 512;

impl Desk {
    /// Opens (or creates) `desk.redb` in `dir`, hashing identifiers under `key`, and starts
    /// its writer.
    pub fn open(dir: &Path, key: [u8; 32]) -> Result<std::sync::Arc<Desk>, StoreError> {
        let db = Database::create(dir.join("desk.redb")).map_err(|e| StoreError::Db(format!("desk: {e}")))?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            txn.open_table(AUDIT).map_err(db_err)?;
            txn.open_table(REVIEW).map_err(db_err)?;
            txn.open_table(REVIEW_FEATURES).map_err(db_err)?;
            txn.open_table(REVIEW_BODIES).map_err(db_err)?;
            txn.open_table(REVIEW_BY_MESSAGE).map_err(db_err)?;
            txn.open_table(LABELS).map_err(db_err)?;
            txn.open_table(SEQUENCES).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        let (journal, cut) = crate::journal::Journal::open(dir)
            .map_err(|source| StoreError::Io { path: dir.join("counters.journal"), source })?;
        if cut > 0 {
            tracing::warn!(
                bytes = cut,
                "counter journal: a torn last record (never acknowledged) was cut off"
            );
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let desk = std::sync::Arc::new(Desk {
            db,
            journal: Mutex::new(journal),
            key,
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(None),
        });
        let weak = std::sync::Arc::downgrade(&desk);
        let handle = std::thread::Builder::new()
            .name("warden-desk".into())
            .spawn(move || write_loop(&weak, &rx))
            .expect("a thread can be started");
        *desk.writer.lock().expect("not poisoned") = Some(handle);
        Ok(desk)
    }

    /// The keyed hash of an identifier, as the audit log shows it (32 hex digits).
    pub fn hash(&self, kind: &str, value: &str) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(kind.as_bytes());
        h.update(&[0]);
        h.update(value.as_bytes());
        crate::store::hex(&h.finalize().as_bytes()[..16])
    }

    /// The seed of the rules' counter hashes: derived from the key, so that the journal's
    /// hashes mean nothing without it.
    pub fn counter_seed(&self) -> u64 {
        let h = blake3::keyed_hash(&self.key, b"warden counters");
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 of 32 bytes"))
    }

    /// Queues a check's writes; the answer comes once they are durable: counter updates in the
    /// journal, and review items, label changes and (with `audit_sync`) the audit entry in the
    /// database. An audit entry alone is held up to 20 ms to be committed with others.
    pub fn submit(&self, writes: CheckWrites) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let refused = {
            let queue = self.queue.lock().expect("not poisoned");
            match queue.as_ref() {
                None => Some("the server is stopping"),
                Some(tx) => match tx.try_send(Pending { writes, reply }) {
                    Ok(()) => None,
                    Err(TrySendError::Full(p)) => {
                        let _ = p.reply.send(Err("too many writes waiting".into()));
                        return answer;
                    }
                    Err(TrySendError::Disconnected(p)) => {
                        let _ = p.reply.send(Err("the desk writer stopped".into()));
                        return answer;
                    }
                },
            }
        };
        if let Some(why) = refused {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let _ = reply.send(Err(why.into()));
            return answer;
        }
        answer
    }

    /// Waits until every write queued before the call is on disk (the audit log's readers
    /// call it, so that they see every decision answered before they asked).
    pub async fn flush(&self) -> Result<(), String> {
        let marker = CheckWrites { audit_sync: true, ..CheckWrites::default() };
        self.submit(marker).await.unwrap_or_else(|_| Err("the desk writer stopped".into()))
    }

    /// Appends a batch's counter updates to the journal, durably.
    fn journal(&self, batch: &[CheckWrites]) -> Result<(), DeskError> {
        self.journal
            .lock()
            .expect("not poisoned")
            .append(batch.iter().flat_map(|w| &w.counts))
            .map_err(journal_err)
    }

    /// Stops the writer after it has written what is queued.
    pub fn stop(&self) {
        self.queue.lock().expect("not poisoned").take();
        if let Some(h) = self.writer.lock().expect("not poisoned").take() {
            let _ = h.join();
        }
    }

    /// Writes a batch of checks' writes in one durable transaction.
    fn commit(&self, batch: &mut [CheckWrites]) -> Result<(), DeskError> {
        let txn = self.db.begin_write()?;
        {
            let mut audit = txn.open_table(AUDIT)?;
            let mut review = txn.open_table(REVIEW)?;
            let mut features = txn.open_table(REVIEW_FEATURES)?;
            let mut bodies = txn.open_table(REVIEW_BODIES)?;
            let mut by_message = txn.open_table(REVIEW_BY_MESSAGE)?;
            let mut labels = txn.open_table(LABELS)?;
            let mut sequences = txn.open_table(SEQUENCES)?;
            let first_audit = sequences.get("audit")?.map_or(1, |v| v.value());
            let mut next_audit = first_audit;
            let mut audit_row = Vec::new();
            let mut next_item = review.last()?.map_or(0, |(k, _)| k.value()) + 1;
            let mut push_audit = |mut a: AuditEntry| {
                a.seq = next_audit;
                serde_json::to_writer(&mut audit_row, &a).expect("entries serialise");
                audit_row.push(b'\n');
                next_audit += 1;
            };
            for w in batch.iter_mut() {
                for l in &w.labels {
                    let key = l.key();
                    let before: Option<EntityLabel> =
                        labels.get(key.as_str())?.and_then(|v| serde_json::from_slice(v.value()).ok());
                    if before
                        .as_ref()
                        .is_some_and(|b| b.source == LabelSource::Manual && b.holds_or_removed(l.at))
                    {
                        continue; // an analyst's word stands over a rule's
                    }
                    labels.insert(key.as_str(), json(l).as_slice())?;
                    push_audit(label_audit(
                        self,
                        l,
                        before.as_ref(),
                        if l.active { "label.rule" } else { "label.rule_remove" },
                    ));
                }
                if let Some(r) = w.review.take() {
                    let queued = by_message.get(r.features.message)?.map(|v| v.value());
                    if queued.is_none() {
                        let mut item = r.item;
                        item.id = next_item;
                        item.status = ReviewStatus::Open;
                        review.insert(next_item, json(&item).as_slice())?;
                        features.insert(next_item, encode_features(&r.features).as_slice())?;
                        if let Some(b) = &r.body {
                            bodies.insert(next_item, b.as_slice())?;
                        }
                        by_message.insert(r.features.message, next_item)?;
                        next_item += 1;
                    }
                }
                if let Some(a) = w.audit.take() {
                    push_audit(a);
                }
            }
            if !audit_row.is_empty() {
                audit.insert(first_audit, audit_row.as_slice())?;
                sequences.insert("audit", next_audit)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Review items, newest first: those with `status` (all when `None`), at most `limit`.
    pub fn review_items(
        &self,
        status: Option<ReviewStatus>,
        limit: usize,
    ) -> Result<Vec<ReviewItem>, DeskError> {
        let txn = self.db.begin_read()?;
        let review = txn.open_table(REVIEW)?;
        let mut out = Vec::new();
        for entry in review.iter()?.rev() {
            let (_, v) = entry?;
            let item: ReviewItem = decode_json(v.value())?;
            if status.is_none_or(|s| s == item.status) {
                out.push(item);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One review item.
    pub fn review_item(&self, id: u64) -> Result<ReviewItem, DeskError> {
        let txn = self.db.begin_read()?;
        let review = txn.open_table(REVIEW)?;
        let v = review.get(id)?.ok_or(DeskError::NoItem(id))?;
        decode_json(v.value())
    }

    /// A review item's features and kept message.
    pub fn review_features(&self, id: u64) -> Result<(ReviewFeatures, Option<Vec<u8>>), DeskError> {
        let txn = self.db.begin_read()?;
        let features = txn.open_table(REVIEW_FEATURES)?;
        let bodies = txn.open_table(REVIEW_BODIES)?;
        let v = features.get(id)?.ok_or(DeskError::NoItem(id))?;
        let f = decode_features(v.value())
            .ok_or(DeskError::Store(StoreError::Corrupt { seq: id, what: "review features" }))?;
        Ok((f, bodies.get(id)?.map(|b| b.value().to_vec())))
    }

    /// An analyst takes an open item (or one they hold already). Audited.
    pub fn claim(&self, id: u64, who: &str, now: u64) -> Result<ReviewItem, DeskError> {
        self.update_item(id, |item| {
            match (item.status, item.claimed_by.as_deref()) {
                (ReviewStatus::Resolved, _) => {
                    return Err(DeskError::Conflict(format!("review item {id} is resolved")));
                }
                (ReviewStatus::Claimed, Some(by)) if by != who => {
                    return Err(DeskError::Conflict(format!("review item {id} is claimed by {by}")));
                }
                _ => {}
            }
            item.status = ReviewStatus::Claimed;
            item.claimed_by = Some(who.to_owned());
            item.claimed_at = Some(now);
            Ok(AuditEntry {
                at: now,
                kind: "review.claim".into(),
                actor: who.into(),
                message: Some(item.message.clone()),
                item: Some(id),
                ..AuditEntry::default()
            })
        })
    }

    /// An analyst resolves an item with a label and a reason (claiming it on the way when
    /// open). Audited with the previous value: the decision's action, or an earlier label.
    pub fn resolve(
        &self,
        id: u64,
        who: &str,
        label: Verdict,
        reason: &str,
        now: u64,
    ) -> Result<ReviewItem, DeskError> {
        self.update_item(id, |item| {
            item.may_resolve(who)?;
            let previous = match item.label {
                Some(l) => verdict_name(l).to_owned(),
                None => format!("decision:{}", item.action),
            };
            item.status = ReviewStatus::Resolved;
            item.label = Some(label);
            item.resolved_by = Some(who.to_owned());
            item.resolved_at = Some(now);
            item.resolution = Some(reason.to_owned());
            Ok(AuditEntry {
                at: now,
                kind: "review.resolve".into(),
                actor: who.into(),
                message: Some(item.message.clone()),
                item: Some(id),
                label: Some(verdict_name(label).into()),
                previous: Some(previous),
                reason: Some(reason.to_owned()),
                ..AuditEntry::default()
            })
        })
    }

    fn update_item(
        &self,
        id: u64,
        change: impl FnOnce(&mut ReviewItem) -> Result<AuditEntry, DeskError>,
    ) -> Result<ReviewItem, DeskError> {
        let txn = self.db.begin_write()?;
        let item = {
            let mut review = txn.open_table(REVIEW)?;
            let mut item: ReviewItem = match review.get(id)? {
                Some(v) => decode_json(v.value())?,
                None => return Err(DeskError::NoItem(id)),
            };
            let entry = change(&mut item)?;
            review.insert(id, json(&item).as_slice())?;
            if item.status == ReviewStatus::Resolved {
                let mut by_message = txn.open_table(REVIEW_BY_MESSAGE)?;
                if let Ok(m) = u128::from_str_radix(&item.message, 16)
                    && by_message.get(m)?.is_some_and(|v| v.value() == id)
                {
                    by_message.remove(m)?;
                }
            }
            append_audit(&txn, entry)?;
            item
        };
        txn.commit()?;
        Ok(item)
    }

    /// Sets or removes a label by hand (an analyst's, overriding rules' labels). Audited.
    pub fn set_label(&self, label: &EntityLabel) -> Result<LabelOutcome, DeskError> {
        let txn = self.db.begin_write()?;
        let before = {
            let mut labels = txn.open_table(LABELS)?;
            let key = label.key();
            let before: Option<EntityLabel> =
                labels.get(key.as_str())?.map(|v| decode_json(v.value())).transpose()?;
            if label.source == LabelSource::Automatic
                && before
                    .as_ref()
                    .is_some_and(|b| b.source == LabelSource::Manual && b.holds_or_removed(label.at))
            {
                return Ok(LabelOutcome::Overridden);
            }
            labels.insert(key.as_str(), json(label).as_slice())?;
            before
        };
        let kind = if label.active { "label.set" } else { "label.remove" };
        append_audit(&txn, label_audit(self, label, before.as_ref(), kind))?;
        txn.commit()?;
        Ok(LabelOutcome::Stored(before))
    }

    /// The labels of one entity (all when `entity` is `None`), lapsed ones included.
    pub fn labels(&self, kind: Option<&str>, entity: Option<&str>) -> Result<Vec<EntityLabel>, DeskError> {
        let txn = self.db.begin_read()?;
        let labels = txn.open_table(LABELS)?;
        let mut out = Vec::new();
        for entry in labels.iter()? {
            let (_, v) = entry?;
            let l: EntityLabel = decode_json(v.value())?;
            if kind.is_none_or(|k| k == l.kind) && entity.is_none_or(|e| e.eq_ignore_ascii_case(&l.entity)) {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Calls `each` with the audit entries after `seq`, in order.
    pub fn audit_after(&self, seq: u64, mut each: impl FnMut(AuditEntry)) -> Result<(), DeskError> {
        let txn = self.db.begin_read()?;
        let audit = txn.open_table(AUDIT)?;
        // The row holding entry `seq + 1` starts at or before it.
        let start = match audit.range(..=seq.saturating_add(1))?.next_back() {
            Some(row) => row?.0.value(),
            None => 0,
        };
        for row in audit.range(start..)? {
            let (_, v) = row?;
            for line in v.value().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let e: AuditEntry = decode_json(line)?;
                if e.seq > seq {
                    each(e);
                }
            }
        }
        Ok(())
    }

    /// Calls `each` with the counter updates at or after `since` (Unix seconds), in order.
    pub fn counts_since(&self, since: u64, mut each: impl FnMut(JournaledCount)) -> Result<(), DeskError> {
        let all = self.journal.lock().expect("not poisoned").read_all().map_err(journal_err)?;
        all.into_iter().filter(|c| c.at >= since).for_each(&mut each);
        Ok(())
    }

    /// How many entries each part holds: audit, review items, labels, counter updates.
    pub fn sizes(&self) -> Result<[u64; 4], DeskError> {
        let mut audit = 0;
        self.audit_after(0, |_| audit += 1)?;
        let mut counts = 0;
        self.counts_since(0, |_| counts += 1)?;
        let txn = self.db.begin_read()?;
        Ok([audit, txn.open_table(REVIEW)?.len()?, txn.open_table(LABELS)?.len()?, counts])
    }

    /// Deletes what has outlived its retention at `now`: audit entries older than
    /// `audit_days`, review items older than `review_days` (with their features and
    /// messages), labels lapsed more than `review_days` ago, and counter updates older than
    /// `counter_secs`. Returns how many of each were deleted.
    pub fn expire(
        &self,
        now: u64,
        audit_days: u64,
        review_days: u64,
        counter_secs: u64,
    ) -> Result<[u64; 4], DeskError> {
        let ago = |days: u64| now.saturating_sub(days.saturating_mul(86_400));
        let txn = self.db.begin_write()?;
        let mut gone = [0u64; 4];
        {
            let mut audit = txn.open_table(AUDIT)?;
            let mut old = Vec::new();
            for row in audit.iter()? {
                let (k, v) = row?;
                let lines: Vec<&[u8]> = v.value().split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
                let newest: AuditEntry = decode_json(lines.last().copied().unwrap_or(b"{}"))?;
                if newest.at >= ago(audit_days) {
                    break; // rows are in time order
                }
                old.push(k.value());
                gone[0] += lines.len() as u64;
            }
            for k in &old {
                audit.remove(*k)?;
            }

            let mut review = txn.open_table(REVIEW)?;
            let mut features = txn.open_table(REVIEW_FEATURES)?;
            let mut bodies = txn.open_table(REVIEW_BODIES)?;
            let mut by_message = txn.open_table(REVIEW_BY_MESSAGE)?;
            let mut old = Vec::new();
            for entry in review.iter()? {
                let (k, v) = entry?;
                let item: ReviewItem = decode_json(v.value())?;
                if item.at >= ago(review_days) {
                    break;
                }
                old.push((k.value(), item.message));
            }
            for (id, message) in &old {
                review.remove(*id)?;
                features.remove(*id)?;
                bodies.remove(*id)?;
                if let Ok(m) = u128::from_str_radix(message, 16)
                    && by_message.get(m)?.is_some_and(|v| v.value() == *id)
                {
                    by_message.remove(m)?;
                }
            }
            gone[1] = old.len() as u64;

            let mut labels = txn.open_table(LABELS)?;
            let mut old = Vec::new();
            for entry in labels.iter()? {
                let (k, v) = entry?;
                let l: EntityLabel = decode_json(v.value())?;
                let lapsed = if l.active { l.expires } else { Some(l.expires.unwrap_or(l.at)) };
                if lapsed.is_some_and(|t| t < ago(review_days)) {
                    old.push(k.value().to_owned());
                }
            }
            for k in &old {
                labels.remove(k.as_str())?;
            }
            gone[2] = old.len() as u64;
        }
        txn.commit()?;
        gone[3] = self
            .journal
            .lock()
            .expect("not poisoned")
            .compact(now.saturating_sub(counter_secs))
            .map_err(journal_err)?;
        Ok(gone)
    }
}

impl EntityLabel {
    /// A manual record that still speaks: a label in force, or a removal within its term.
    fn holds_or_removed(&self, now: u64) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Spam => "spam",
        Verdict::Ham => "ham",
    }
}

fn label_audit(desk: &Desk, l: &EntityLabel, before: Option<&EntityLabel>, kind: &str) -> AuditEntry {
    AuditEntry {
        at: l.at,
        kind: kind.into(),
        actor: l.by.clone(),
        entity: Some(format!("{}:{}", l.kind, desk.hash(&l.kind, &l.entity))),
        label: Some(l.label.clone()),
        previous: Some(match before {
            Some(b) if b.holds(l.at) => format!("set by {}", b.by),
            Some(b) => format!("not in force (last by {})", b.by),
            None => "none".into(),
        }),
        reason: Some(l.reason.clone()),
        ..AuditEntry::default()
    }
}

fn append_audit(txn: &redb::WriteTransaction, mut entry: AuditEntry) -> Result<(), DeskError> {
    let mut audit = txn.open_table(AUDIT)?;
    let mut sequences = txn.open_table(SEQUENCES)?;
    entry.seq = sequences.get("audit")?.map_or(1, |v| v.value());
    let mut row = json(&entry);
    row.push(b'\n');
    audit.insert(entry.seq, row.as_slice())?;
    sequences.insert("audit", entry.seq + 1)?;
    Ok(())
}

/// How long the writer holds writes no one waits for (decisions' audit entries) before it
/// commits them: a database commit costs 0.5 ms or more however small it is, so such entries
/// go in batches. Counter updates go to the journal at once; a write someone waits for in the
/// database (a review item, a label change, a synchronous audit entry) is committed at once,
/// with everything held.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

type Reply = tokio::sync::oneshot::Sender<Result<(), String>>;

fn write_loop(desk: &std::sync::Weak<Desk>, rx: &Receiver<Pending>) {
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
            let journaled = desk.journal(&writes).map_err(|e| e.to_string());
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
            let result = desk.commit(&mut held).map_err(|e| e.to_string());
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

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("desk records serialise")
}

fn decode_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DeskError> {
    serde_json::from_slice(bytes)
        .map_err(|e| DeskError::Store(StoreError::Db(format!("desk: damaged record: {e}"))))
}

fn journal_err(e: std::io::Error) -> DeskError {
    DeskError::Store(StoreError::Db(format!("counter journal: {e}")))
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(format!("desk: {e}"))
}

/// at, entity, flag (1: a value follows), value, name.
pub(crate) fn encode_count(c: &JournaledCount) -> Vec<u8> {
    let mut out = Vec::with_capacity(25 + c.counter.len());
    out.extend_from_slice(&c.at.to_le_bytes());
    out.extend_from_slice(&c.entity.to_le_bytes());
    out.push(u8::from(c.value.is_some()));
    out.extend_from_slice(&c.value.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(c.counter.as_bytes());
    out
}

pub(crate) fn decode_count(b: &[u8]) -> Option<JournaledCount> {
    let u64_at = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
    Some(JournaledCount {
        at: u64_at(0)?,
        entity: u64_at(8)?,
        value: match *b.get(16)? {
            0 => None,
            1 => Some(u64_at(17)?),
            _ => return None,
        },
        counter: String::from_utf8(b.get(25..)?.to_vec()).ok()?,
    })
}

/// message, extractor, hashes.
fn encode_features(f: &ReviewFeatures) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + 8 * f.features.len());
    out.extend_from_slice(&f.message.to_le_bytes());
    out.extend_from_slice(&f.extractor.to_le_bytes());
    for h in &f.features {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out
}

fn decode_features(b: &[u8]) -> Option<ReviewFeatures> {
    if b.len() < 24 || !(b.len() - 24).is_multiple_of(8) {
        return None;
    }
    Some(ReviewFeatures {
        message: u128::from_le_bytes(b[..16].try_into().ok()?),
        extractor: u64::from_le_bytes(b[16..24].try_into().ok()?),
        features: b[24..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> std::sync::Arc<Desk> {
        Desk::open(dir, [7; 32]).unwrap()
    }

    fn label(source: LabelSource, active: bool, at: u64, expires: Option<u64>) -> EntityLabel {
        EntityLabel {
            kind: "domain".into(),
            entity: "bulk.example".into(),
            label: "bulk-sender".into(),
            active,
            source,
            by: match source {
                LabelSource::Manual => "alice".into(),
                LabelSource::Automatic => "rule:MARK".into(),
            },
            reason: "seen sending bulk".into(),
            at,
            expires,
        }
    }

    fn item(message: u128, at: u64) -> NewReview {
        NewReview {
            item: ReviewItem {
                at,
                why: vec!["uncertain".into()],
                message: format!("{message:032x}"),
                action: "deliver".into(),
                score: 0.1,
                probability: 0.52,
                from_domain: Some("sender.example".into()),
                subject: Some("hello".into()),
                url_domains: vec!["link.example".into()],
                ..ReviewItem::default()
            },
            features: ReviewFeatures { message, extractor: 9, features: vec![1, 2, 3] },
            body: None,
        }
    }

    async fn write(desk: &Desk, w: CheckWrites) {
        desk.submit(w).await.unwrap().unwrap();
    }

    fn audit(desk: &Desk) -> Vec<AuditEntry> {
        let mut v = Vec::new();
        desk.audit_after(0, |e| v.push(e)).unwrap();
        v
    }

    #[tokio::test]
    async fn a_manual_label_overrides_rules_until_it_lapses() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        // A rule sets it; an analyst removes it for a day; the rule cannot set it again in that day.
        write(
            &desk,
            CheckWrites {
                labels: vec![label(LabelSource::Automatic, true, 100, None)],
                ..Default::default()
            },
        )
        .await;
        assert!(desk.labels(None, None).unwrap()[0].holds(100));
        let removal = label(LabelSource::Manual, false, 200, Some(200 + 86_400));
        assert!(matches!(desk.set_label(&removal).unwrap(), LabelOutcome::Stored(Some(_))));
        assert_eq!(
            desk.set_label(&label(LabelSource::Automatic, true, 300, None)).unwrap(),
            LabelOutcome::Overridden
        );
        write(
            &desk,
            CheckWrites {
                labels: vec![label(LabelSource::Automatic, true, 300, None)],
                ..Default::default()
            },
        )
        .await;
        let now = desk.labels(Some("domain"), Some("BULK.example")).unwrap();
        assert_eq!(now, std::slice::from_ref(&removal), "the analyst's removal stands");
        // After the removal's term, a rule's word counts again.
        let later = label(LabelSource::Automatic, true, 200 + 86_401, None);
        write(&desk, CheckWrites { labels: vec![later.clone()], ..Default::default() }).await;
        assert_eq!(desk.labels(None, None).unwrap(), [later]);
        let kinds: Vec<String> =
            audit(&desk).into_iter().map(|e| format!("{} {}", e.kind, e.actor)).collect();
        assert_eq!(kinds, ["label.rule rule:MARK", "label.remove alice", "label.rule rule:MARK"]);
        let e = &audit(&desk)[1];
        assert_eq!(
            e.entity.as_deref(),
            Some(format!("domain:{}", desk.hash("domain", "bulk.example")).as_str())
        );
        assert!(!serde_json::to_string(e).unwrap().contains("bulk.example"), "identifiers are keyed hashes");
        assert_eq!(e.previous.as_deref(), Some("set by rule:MARK"));
    }

    #[tokio::test]
    async fn review_items_are_queued_once_claimed_by_one_and_resolved_with_an_audit() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        write(&desk, CheckWrites { review: Some(item(5, 10)), ..Default::default() }).await;
        write(&desk, CheckWrites { review: Some(item(5, 11)), ..Default::default() }).await;
        write(&desk, CheckWrites { review: Some(item(6, 12)), ..Default::default() }).await;
        let open_items = desk.review_items(Some(ReviewStatus::Open), 10).unwrap();
        assert_eq!(
            open_items.iter().map(|i| i.id).collect::<Vec<_>>(),
            [2, 1],
            "newest first; message 5 once"
        );
        assert_eq!(desk.review_features(1).unwrap().0.features, [1, 2, 3]);
        desk.claim(1, "alice", 20).unwrap();
        assert!(matches!(desk.claim(1, "bob", 21), Err(DeskError::Conflict(m)) if m.contains("alice")));
        assert!(matches!(desk.resolve(1, "bob", Verdict::Spam, "x", 21), Err(DeskError::Conflict(_))));
        let done = desk.resolve(1, "alice", Verdict::Spam, "phishing kit", 22).unwrap();
        assert_eq!(
            (done.status, done.label, done.resolved_by.as_deref()),
            (ReviewStatus::Resolved, Some(Verdict::Spam), Some("alice"))
        );
        assert!(matches!(desk.claim(1, "alice", 23), Err(DeskError::Conflict(_))));
        assert!(
            matches!(desk.resolve(1, "bob", Verdict::Ham, "late", 23), Err(DeskError::Conflict(m)) if m.contains("resolved")),
            "a second resolution is refused, not written over the first"
        );
        assert!(matches!(desk.claim(99, "alice", 23), Err(DeskError::NoItem(99))));
        let last = audit(&desk).pop().unwrap();
        assert_eq!(
            (
                last.kind.as_str(),
                last.actor.as_str(),
                last.at,
                last.reason.as_deref(),
                last.previous.as_deref()
            ),
            ("review.resolve", "alice", 22, Some("phishing kit"), Some("decision:deliver"))
        );
        // Once resolved, the same message may be queued again.
        write(&desk, CheckWrites { review: Some(item(5, 30)), ..Default::default() }).await;
        assert_eq!(desk.review_items(Some(ReviewStatus::Open), 10).unwrap().len(), 2);
    }

    #[tokio::test]
    async fn retention_deletes_old_entries_and_counter_updates_outside_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        let day = 86_400;
        let count = |at| JournaledCount { counter: "per_sender".into(), entity: 1, value: Some(2), at };
        desk.set_label(&label(LabelSource::Manual, true, day, Some(2 * day))).unwrap();
        for at in [day, 5 * day, 9 * day] {
            let entry =
                AuditEntry { at, kind: "decision".into(), actor: "warden".into(), ..AuditEntry::default() };
            write(
                &desk,
                CheckWrites {
                    audit: Some(entry),
                    review: Some(item(u128::from(at), at)),
                    counts: vec![count(at)],
                    ..Default::default()
                },
            )
            .await;
        }
        assert_eq!(desk.sizes().unwrap(), [4, 3, 1, 3]);
        // Audit 3 days, review 3 days, counters 2 days, at day 10.
        assert_eq!(desk.expire(10 * day, 3, 3, 2 * day).unwrap(), [3, 2, 1, 2]);
        assert_eq!(desk.sizes().unwrap(), [1, 1, 0, 1]);
        let mut kept = Vec::new();
        desk.counts_since(0, |c| kept.push(c)).unwrap();
        assert_eq!(kept, [count(9 * day)]);
        assert!(desk.review_features(1).is_err(), "features go with their item");
    }

    #[tokio::test]
    async fn gathered_entries_share_a_row_and_read_back_from_any_point() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        let decision = |at| CheckWrites {
            audit: Some(AuditEntry {
                at,
                kind: "decision".into(),
                actor: "warden".into(),
                ..AuditEntry::default()
            }),
            ..Default::default()
        };
        // Nobody waits for these: the writer gathers them; a flush commits them.
        let pending: Vec<_> = (1..=5).map(|at| desk.submit(decision(at))).collect();
        desk.set_label(&label(LabelSource::Manual, true, 6, None)).unwrap();
        desk.flush().await.unwrap();
        for p in pending {
            p.await.unwrap().unwrap();
        }
        let seqs = |after| {
            let mut v = Vec::new();
            desk.audit_after(after, |e| v.push((e.seq, e.at))).unwrap();
            v
        };
        let all = seqs(0);
        assert_eq!(all.len(), 6);
        assert_eq!(
            all.iter().map(|e| e.0).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6],
            "numbered in commit order"
        );
        for after in 0..=6 {
            assert_eq!(seqs(after), all[after as usize..], "after {after}");
        }
    }

    #[test]
    fn damaged_journal_entries_are_errors_not_panics() {
        let c = JournaledCount { counter: "c".into(), entity: 3, value: None, at: 4 };
        let good = encode_count(&c);
        assert_eq!(decode_count(&good), Some(c.clone()));
        for cut in 0..25 {
            assert_eq!(decode_count(&good[..cut]), None, "cut at {cut}");
        }
        let f = ReviewFeatures { message: 1, extractor: 2, features: vec![3, 4] };
        assert_eq!(decode_features(&encode_features(&f)), Some(f));
        assert_eq!(decode_features(&[0; 30]), None);
    }
}
