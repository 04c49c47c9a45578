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
//! Bounds: the open review items are at most `[review] max_items`; at the cap the surest item
//! (farthest from the band's middle) is dropped first, and counted. Stored fields are cut to
//! their limits (a subject to 998 bytes, RFC 5322's line). Listings read one page, by an index:
//! items by status, labels by kind and entity, the audit log by sequence number.
//!
//! Every value carries a checksum (`seal.rs`): a read that meets a damaged record skips it and
//! counts it; a listing never fails because of one record; `warden serve --repair` removes them.
//!
//! Privacy: the audit log keeps identifiers as keyed hashes (BLAKE3 under the installation's
//! key) and never a message. A review item keeps what an analyst needs to judge — sender and
//! URL domains, subject, reasons, the feature hashes to learn from — for `[review]
//! retention_days`, and the message itself only with `[review] keep_bodies`. A label keeps the
//! entity as written (an analyst must read what is labelled). The counter journal keeps keyed
//! 64-bit hashes of entities and values, for the longest window a counter declares.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use warden_core::Reason;

use crate::journal::{Journal, JournaledCount};
use crate::redbfile::{META, write_txn};
use crate::seal::{DamageLog, seal, unseal};
use crate::store::StoreError;
use warden_mail::MailLabel;

/// The desk's file name in a data directory.
pub const DESK_FILE: &str = "desk.redb";

/// Audit entries: the sequence number of a row's first entry → the row's entries as JSON
/// lines. A commit's entries share one row: one B-tree insert a commit, not one an entry.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Counters of the tables whose keys are not their rows' contents: the next audit sequence
/// number.
const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
/// Review items by id (JSON).
const REVIEW: TableDefinition<u64, &[u8]> = TableDefinition::new("review");
/// A review item's feature hashes and the extractor fingerprint that made them.
const REVIEW_FEATURES: TableDefinition<u64, &[u8]> = TableDefinition::new("review_features");
/// A review item's message, with `[review] keep_bodies`.
const REVIEW_BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("review_bodies");
/// The open review item of a message (so that a message is queued once).
const REVIEW_BY_MESSAGE: TableDefinition<u128, u64> = TableDefinition::new("review_by_message");
/// Review items by status, then id: a listing of one status reads only its page.
const REVIEW_BY_STATUS: TableDefinition<(u8, u64), ()> = TableDefinition::new("review_by_status");
/// Open review items by certainty, then age (`u64::MAX - id`): the last entry is the one
/// the cap drops first; the table's length is the number of open items.
const REVIEW_RANK: TableDefinition<(u64, u64), ()> = TableDefinition::new("review_rank");
/// Labels: `kind \0 entity \0 label` → JSON.
const LABELS: TableDefinition<&str, &[u8]> = TableDefinition::new("labels");
/// Lessons of resolutions not yet taught: written in the resolution's transaction, removed
/// once the feedback store has them.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Sender domains' first-seen times: keyed hash of the domain → the time (8 bytes, sealed).
const FIRST_SEEN: TableDefinition<u64, &[u8]> = TableDefinition::new("first_seen");

/// The format of the values: 2 has a checksum on every value and the review indexes.
const FORMAT: &str = "2";

/// Check-path writes waiting for the writer, at most; more are refused rather than queued.
const QUEUE: usize = 8192;

/// The largest page a listing answers.
pub const MAX_PAGE: usize = 1000;

/// Stored field sizes, in bytes: a subject is one line of RFC 5322 at most; the rest bound
/// what a hostile message or client can make an analyst's listing carry. The subject's and
/// the reason's are the defaults of their settings.
pub mod limits {
    /// A review item's subject (`[review] max_subject_bytes`).
    pub const SUBJECT: usize = 998;
    /// A domain or an attachment name.
    pub const NAME: usize = 255;
    /// Domains or attachment names kept per item.
    pub const NAMES: usize = 50;
    /// Reasons kept per item.
    pub const REASONS: usize = 64;
    /// A reason's description.
    pub const DESCRIPTION: usize = 1024;
    /// An analyst's reason, a resolution's words (`[review] max_reason_bytes`).
    pub const REASON: usize = 4096;
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
    /// How sure the model was: the distance of its probability from the middle of the review
    /// band, in billionths (0 for an item a rule queued). When the queue is full, the surest
    /// open item is dropped first.
    #[serde(default)]
    pub certainty: u64,
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
    pub label: Option<MailLabel>,
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
    /// The record asked for fails its checksum (it is skipped and counted; `--repair`
    /// removes it).
    #[error("{0} is damaged (`warden serve --repair` removes it)")]
    Damaged(String),
}

crate::store::from_redb_errors!(DeskError, |m| DeskError::Store(StoreError::Db(m)));

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
    fn needs_db(&self) -> bool {
        self.review.is_some() || !self.labels.is_empty() || self.audit_sync
    }
}

struct Pending {
    writes: CheckWrites,
    reply: tokio::sync::oneshot::Sender<Result<(), WriteError>>,
}

/// A resolution's lesson, kept in the desk's outbox until the feedback store has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// The review item it resolves.
    pub item: u64,
    /// The message's keyed hash.
    pub message: u128,
    /// The label.
    pub spam: bool,
    /// Learned as a correction (the label overturns Warden's decision).
    pub correction: bool,
    /// Fingerprint of the extractor that made `features`.
    pub extractor: u64,
    /// The message's feature hashes.
    pub features: Vec<u64>,
    /// The message, when the review item kept it.
    pub body: Option<Vec<u8>>,
}

/// A page of a listing and the cursor of the next one (`None`: this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    /// The entries.
    pub items: Vec<T>,
    /// Give it as `after` for the next page.
    pub next: Option<C>,
}

/// The desk of one data directory.
pub struct Desk {
    db: Database,
    journal: Mutex<Journal>,
    key: [u8; 32],
    queue: Mutex<Option<SyncSender<Pending>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    damage: DamageLog,
    /// Open review items at most (`[review] max_items`).
    review_cap: AtomicU64,
    /// A stored subject's bytes at most (`[review] max_subject_bytes`).
    subject_bytes: AtomicUsize,
    /// A stored reason's bytes at most (`[review] max_reason_bytes`).
    reason_bytes: AtomicUsize,
    /// Review items dropped at the cap.
    dropped: AtomicU64,
    /// Damaged journal records met by the last full read (read without the journal's lock).
    journal_damaged: AtomicU64,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

/// Commits at most this many checks' writes in one transaction.
const MAX_BATCH: usize = 512;

/// The review tables of a write transaction, kept in step with each other.
struct ReviewTables<'t> {
    review: redb::Table<'t, u64, &'static [u8]>,
    features: redb::Table<'t, u64, &'static [u8]>,
    bodies: redb::Table<'t, u64, &'static [u8]>,
    by_message: redb::Table<'t, u128, u64>,
    by_status: redb::Table<'t, (u8, u64), ()>,
    rank: redb::Table<'t, (u64, u64), ()>,
}

impl<'t> ReviewTables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, DeskError> {
        Ok(ReviewTables {
            review: txn.open_table(REVIEW)?,
            features: txn.open_table(REVIEW_FEATURES)?,
            bodies: txn.open_table(REVIEW_BODIES)?,
            by_message: txn.open_table(REVIEW_BY_MESSAGE)?,
            by_status: txn.open_table(REVIEW_BY_STATUS)?,
            rank: txn.open_table(REVIEW_RANK)?,
        })
    }

    /// The item `id`, when it is there and whole.
    fn item(&self, id: u64) -> Result<Option<ReviewItem>, DeskError> {
        Ok(self.review.get(id)?.and_then(|v| open_json("review", &id.to_be_bytes(), v.value())))
    }

    /// Writes `item` (new or changed) and its index entries; `before` is its stored state.
    fn put(&mut self, item: &ReviewItem, before: Option<&ReviewItem>) -> Result<(), DeskError> {
        let id = item.id;
        if let Some(b) = before {
            self.by_status.remove((status_code(b.status), id))?;
            if b.status == ReviewStatus::Open {
                self.rank.remove((b.certainty, u64::MAX - id))?;
            }
        }
        self.review.insert(id, seal_json("review", &id.to_be_bytes(), item).as_slice())?;
        self.by_status.insert((status_code(item.status), id), ())?;
        if item.status == ReviewStatus::Open {
            self.rank.insert((item.certainty, u64::MAX - id), ())?;
        }
        if item.status == ReviewStatus::Resolved
            && let Ok(m) = u128::from_str_radix(&item.message, 16)
            && self.by_message.get(m)?.is_some_and(|v| v.value() == id)
        {
            self.by_message.remove(m)?;
        }
        Ok(())
    }

    /// Removes item `id` (as stored: `item`, when it could be read) and all that goes with it.
    fn remove(&mut self, id: u64, item: Option<&ReviewItem>) -> Result<(), DeskError> {
        self.review.remove(id)?;
        self.features.remove(id)?;
        self.bodies.remove(id)?;
        if let Some(item) = item {
            self.by_status.remove((status_code(item.status), id))?;
            self.rank.remove((item.certainty, u64::MAX - id))?;
            if let Ok(m) = u128::from_str_radix(&item.message, 16)
                && self.by_message.get(m)?.is_some_and(|v| v.value() == id)
            {
                self.by_message.remove(m)?;
            }
        }
        Ok(())
    }

    /// Builds the indexes again from the items.
    fn reindex(&mut self) -> Result<(), DeskError> {
        self.by_message.retain(|_, _| false)?;
        self.by_status.retain(|_, _| false)?;
        self.rank.retain(|_, _| false)?;
        let mut items = Vec::new();
        for entry in self.review.iter()? {
            let (k, v) = entry?;
            if let Some(item) = open_json::<ReviewItem>("review", &k.value().to_be_bytes(), v.value()) {
                items.push(item);
            }
        }
        for item in items {
            self.by_status.insert((status_code(item.status), item.id), ())?;
            if item.status == ReviewStatus::Open {
                self.rank.insert((item.certainty, u64::MAX - item.id), ())?;
            }
            if item.status != ReviewStatus::Resolved
                && let Ok(m) = u128::from_str_radix(&item.message, 16)
            {
                self.by_message.insert(m, item.id)?;
            }
        }
        Ok(())
    }
}

fn status_code(s: ReviewStatus) -> u8 {
    match s {
        ReviewStatus::Open => 0,
        ReviewStatus::Claimed => 1,
        ReviewStatus::Resolved => 2,
    }
}

impl Desk {
    /// The desk over `db` and `journal` (opened by the data directory, which has checked whose
    /// they are), hashing identifiers under `key`; starts its writer. Values of the first format
    /// (no checksums) are written again with theirs.
    pub(crate) fn from_parts(db: Database, journal: Journal, key: [u8; 32]) -> Result<Arc<Desk>, StoreError> {
        let txn = write_txn(&db).map_err(db_err)?;
        {
            txn.open_table(AUDIT).map_err(db_err)?;
            txn.open_table(LABELS).map_err(db_err)?;
            txn.open_table(SEQUENCES).map_err(db_err)?;
            txn.open_table(OUTBOX).map_err(db_err)?;
            txn.open_table(FIRST_SEEN).map_err(db_err)?;
            ReviewTables::open(&txn).map_err(|e| db_err(&e))?;
            let format = txn
                .open_table(META)
                .map_err(db_err)?
                .get("format")
                .map_err(db_err)?
                .map(|v| v.value().to_owned());
            if format.as_deref() != Some(FORMAT) {
                seal_legacy(&txn).map_err(|e| db_err(&e))?;
                txn.open_table(META).map_err(db_err)?.insert("format", FORMAT).map_err(db_err)?;
            }
            mend_audit_sequence(&txn).map_err(|e| db_err(&e))?;
        }
        txn.commit().map_err(db_err)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let desk = Arc::new(Desk {
            db,
            journal: Mutex::new(journal),
            key,
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(None),
            damage: DamageLog::new(DESK_FILE),
            review_cap: AtomicU64::new(100_000),
            subject_bytes: AtomicUsize::new(limits::SUBJECT),
            reason_bytes: AtomicUsize::new(limits::REASON),
            dropped: AtomicU64::new(0),
            journal_damaged: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&desk);
        let handle = std::thread::Builder::new()
            .name("warden-desk".into())
            .spawn(move || write_loop(&weak, &rx))
            .expect("a thread can be started");
        *desk.writer.lock().expect("not poisoned") = Some(handle);
        Ok(desk)
    }

    /// Sets how many open review items the queue holds at most, and the stored size of a
    /// subject and of a reason, in bytes (`[review] max_items`, `max_subject_bytes`,
    /// `max_reason_bytes`).
    pub fn set_limits(&self, items: u64, subject_bytes: usize, reason_bytes: usize) {
        self.review_cap.store(items.max(1), Ordering::Relaxed);
        self.subject_bytes.store(subject_bytes, Ordering::Relaxed);
        self.reason_bytes.store(reason_bytes, Ordering::Relaxed);
    }

    /// Review items dropped at the cap since start.
    pub fn review_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Damaged records met since start: in `desk.redb`, and in the counter journal.
    pub fn damaged(&self) -> [u64; 2] {
        [self.damage.found_count(), self.journal_damaged.load(Ordering::Relaxed)]
    }

    /// Damaged records a repair removed from `desk.redb` since start.
    pub fn repaired(&self) -> u64 {
        self.damage.repaired_count()
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
        let cap = self.review_cap.load(Ordering::Relaxed);
        let mut dropped = 0;
        let txn = write_txn(&self.db)?;
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
                    let key = l.key();
                    let before = self.stored_label(&labels, &key)?;
                    if before
                        .as_ref()
                        .is_some_and(|b| b.source == LabelSource::Manual && b.holds_or_removed(l.at))
                    {
                        continue; // an analyst's word stands over a rule's
                    }
                    labels.insert(key.as_str(), seal_json("labels", key.as_bytes(), l).as_slice())?;
                    push_audit(label_audit(
                        self,
                        l,
                        before.as_ref(),
                        if l.active { "label.rule" } else { "label.rule_remove" },
                    ));
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
        txn.commit()?;
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        Ok(())
    }

    /// Review items, newest first: those with `status` (all when `None`) whose id is below
    /// `after` (the previous page's cursor), at most `limit`. Reads only the page; a damaged
    /// item is skipped and counted.
    pub fn review_page(
        &self,
        status: Option<ReviewStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<ReviewItem, u64>, DeskError> {
        let txn = self.db.begin_read()?;
        let review = txn.open_table(REVIEW)?;
        let by_status = txn.open_table(REVIEW_BY_STATUS)?;
        let upper = after.unwrap_or(u64::MAX);
        let mut ids: Box<dyn Iterator<Item = Result<u64, DeskError>> + '_> = match status {
            None => Box::new(review.range(..upper)?.rev().map(|e| Ok(e?.0.value()))),
            Some(s) => {
                let c = status_code(s);
                Box::new(by_status.range((c, 0)..(c, upper))?.rev().map(|e| Ok(e?.0.value().1)))
            }
        };
        let mut items = Vec::new();
        let mut last = None;
        while items.len() < limit {
            let Some(id) = ids.next() else { break };
            let id = id?;
            last = Some(id);
            let Some(v) = review.get(id)? else { continue };
            match open_json::<ReviewItem>("review", &id.to_be_bytes(), v.value()) {
                Some(item) if status.is_none_or(|s| s == item.status) => items.push(item),
                Some(_) => {}
                None => self.damage.found(format!("review {id}"), "fails its checksum"),
            }
        }
        let next = if items.len() == limit && ids.next().is_some() { last } else { None };
        Ok(Page { items, next })
    }

    /// One review item.
    pub fn review_item(&self, id: u64) -> Result<ReviewItem, DeskError> {
        let txn = self.db.begin_read()?;
        let review = txn.open_table(REVIEW)?;
        let v = review.get(id)?.ok_or(DeskError::NoItem(id))?;
        open_json("review", &id.to_be_bytes(), v.value()).ok_or_else(|| {
            self.damage.found(format!("review {id}"), "fails its checksum");
            DeskError::Damaged(format!("review item {id}"))
        })
    }

    /// A review item's features and kept message.
    pub fn review_features(&self, id: u64) -> Result<(ReviewFeatures, Option<Vec<u8>>), DeskError> {
        let txn = self.db.begin_read()?;
        let features = txn.open_table(REVIEW_FEATURES)?;
        let bodies = txn.open_table(REVIEW_BODIES)?;
        let key = id.to_be_bytes();
        let v = features.get(id)?.ok_or(DeskError::NoItem(id))?;
        let damaged = |what: &str| {
            self.damage.found(format!("{what} {id}"), "fails its checksum");
            DeskError::Damaged(format!("review item {id}'s {what}"))
        };
        let f = unseal("review_features", &key, v.value())
            .and_then(decode_features)
            .ok_or_else(|| damaged("review_features"))?;
        let body = match bodies.get(id)? {
            None => None,
            Some(b) => Some(
                unseal("review_bodies", &key, b.value()).ok_or_else(|| damaged("review_bodies"))?.to_vec(),
            ),
        };
        Ok((f, body))
    }

    /// An analyst takes an open item (or one they hold already). Audited.
    pub fn claim(&self, id: u64, who: &str, now: u64) -> Result<ReviewItem, DeskError> {
        self.update_item(id, None, |item| {
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
        .map(|(item, _)| item)
    }

    /// An analyst resolves an item with a label and a reason (claiming it on the way when
    /// open), audited with the previous value (the decision's action). The lesson, when
    /// given, is written to the outbox in the same transaction: a resolution refused teaches
    /// nothing, and one accepted is taught even across a crash. Returns the item and the
    /// lesson's place in the outbox.
    pub fn resolve(
        &self,
        id: u64,
        who: &str,
        label: MailLabel,
        reason: &str,
        now: u64,
        lesson: Option<Lesson>,
    ) -> Result<(ReviewItem, Option<u64>), DeskError> {
        let reason = bound(reason, self.reason_bytes.load(Ordering::Relaxed));
        self.update_item(id, lesson, |item| {
            item.may_resolve(who)?;
            let previous = match item.label {
                Some(l) => l.as_str().to_owned(),
                None => format!("decision:{}", item.action),
            };
            item.status = ReviewStatus::Resolved;
            item.label = Some(label);
            item.resolved_by = Some(who.to_owned());
            item.resolved_at = Some(now);
            item.resolution = Some(reason.clone());
            Ok(AuditEntry {
                at: now,
                kind: "review.resolve".into(),
                actor: who.into(),
                message: Some(item.message.clone()),
                item: Some(id),
                label: Some(label.as_str().into()),
                previous: Some(previous),
                reason: Some(reason.clone()),
                ..AuditEntry::default()
            })
        })
    }

    fn update_item(
        &self,
        id: u64,
        lesson: Option<Lesson>,
        change: impl FnOnce(&mut ReviewItem) -> Result<AuditEntry, DeskError>,
    ) -> Result<(ReviewItem, Option<u64>), DeskError> {
        let txn = write_txn(&self.db)?;
        let (item, queued) = {
            let mut t = ReviewTables::open(&txn)?;
            let before = match t.review.get(id)? {
                None => return Err(DeskError::NoItem(id)),
                Some(v) => {
                    open_json::<ReviewItem>("review", &id.to_be_bytes(), v.value()).ok_or_else(|| {
                        self.damage.found(format!("review {id}"), "fails its checksum");
                        DeskError::Damaged(format!("review item {id}"))
                    })?
                }
            };
            let mut item = before.clone();
            let entry = change(&mut item)?;
            t.put(&item, Some(&before))?;
            append_audit(&txn, entry)?;
            let queued = match lesson {
                Some(l) => {
                    let mut outbox = txn.open_table(OUTBOX)?;
                    let mut sequences = txn.open_table(SEQUENCES)?;
                    // A lesson's number is never given twice: clearing one can never clear another.
                    let seq = next_id(&sequences, "outbox", outbox.last()?.map(|(k, _)| k.value()))?;
                    outbox.insert(seq, seal("outbox", &seq.to_be_bytes(), &encode_lesson(&l)).as_slice())?;
                    sequences.insert("outbox", seq + 1)?;
                    Some(seq)
                }
                None => None,
            };
            (item, queued)
        };
        txn.commit()?;
        Ok((item, queued))
    }

    /// The lessons waiting in the outbox, oldest first. A damaged one stops the read when
    /// `strict` (at start: the server refuses to start on it), else it is skipped and counted.
    pub fn outbox(&self, strict: bool) -> Result<Vec<(u64, Lesson)>, DeskError> {
        let txn = self.db.begin_read()?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in outbox.iter()? {
            let (k, v) = entry?;
            match unseal("outbox", &k.value().to_be_bytes(), v.value()).and_then(decode_lesson) {
                Some(l) => out.push((k.value(), l)),
                None if strict => {
                    return Err(DeskError::Damaged(format!("{}: outbox record {}", DESK_FILE, k.value())));
                }
                None => self.damage.found(format!("outbox {}", k.value()), "fails its checksum"),
            }
        }
        Ok(out)
    }

    /// Takes a taught lesson out of the outbox.
    pub fn clear_lesson(&self, seq: u64) -> Result<(), DeskError> {
        let txn = write_txn(&self.db)?;
        txn.open_table(OUTBOX)?.remove(seq)?;
        txn.commit()?;
        Ok(())
    }

    /// The label stored under `key`; a damaged one is counted and taken as absent (the change
    /// being made writes it whole again).
    fn stored_label(
        &self,
        labels: &impl ReadableTable<&'static str, &'static [u8]>,
        key: &str,
    ) -> Result<Option<EntityLabel>, DeskError> {
        let Some(v) = labels.get(key)? else { return Ok(None) };
        let read = open_json("labels", key.as_bytes(), v.value());
        if read.is_none() {
            self.damage.found(format!("labels {key:?}"), "fails its checksum");
        }
        Ok(read)
    }

    /// Sets or removes a label by hand (an analyst's, overriding rules' labels). Audited.
    pub fn set_label(&self, label: &EntityLabel) -> Result<LabelOutcome, DeskError> {
        let txn = write_txn(&self.db)?;
        let before = {
            let mut labels = txn.open_table(LABELS)?;
            let key = label.key();
            let before = self.stored_label(&labels, &key)?;
            if label.source == LabelSource::Automatic
                && before
                    .as_ref()
                    .is_some_and(|b| b.source == LabelSource::Manual && b.holds_or_removed(label.at))
            {
                return Ok(LabelOutcome::Overridden);
            }
            labels.insert(key.as_str(), seal_json("labels", key.as_bytes(), label).as_slice())?;
            before
        };
        let kind = if label.active { "label.set" } else { "label.remove" };
        append_audit(&txn, label_audit(self, label, before.as_ref(), kind))?;
        txn.commit()?;
        Ok(LabelOutcome::Stored(before))
    }

    /// Labels, in key order (kind, entity, label): all, one kind's, or one entity's (`entity`
    /// needs `kind`), after the cursor `after` (the previous page's), at most `limit`, lapsed
    /// ones included. Reads only the page; a damaged label is skipped and counted.
    pub fn labels_page(
        &self,
        kind: Option<&str>,
        entity: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<EntityLabel, String>, DeskError> {
        let prefix = match (kind, entity) {
            (Some(k), Some(e)) => format!("{}\0{}\0", k.to_lowercase(), e.to_lowercase()),
            (Some(k), None) => format!("{}\0", k.to_lowercase()),
            (None, None) => String::new(),
            (None, Some(_)) => return Err(DeskError::Conflict("give `kind` with `entity`".into())),
        };
        let txn = self.db.begin_read()?;
        let labels = txn.open_table(LABELS)?;
        let start = match after {
            Some(a) if a.as_bytes() > prefix.as_bytes() => a.to_owned(),
            _ => prefix.clone(),
        };
        let mut items = Vec::new();
        let mut range = labels.range(start.as_str()..)?;
        let mut last = None;
        for entry in range.by_ref() {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(&prefix) {
                break;
            }
            if Some(key) == after {
                continue;
            }
            match open_json::<EntityLabel>("labels", key.as_bytes(), v.value()) {
                Some(l) => items.push(l),
                None => self.damage.found(format!("labels {key:?}"), "fails its checksum"),
            }
            last = Some(key.to_owned());
            if items.len() == limit {
                break;
            }
        }
        let more = range.next().transpose()?.is_some_and(|(k, _)| k.value().starts_with(&prefix));
        Ok(Page { items, next: last.filter(|_| more) })
    }

    /// The labels of one entity (all when `entity` is `None`), lapsed ones included.
    pub fn labels(&self, kind: Option<&str>, entity: Option<&str>) -> Result<Vec<EntityLabel>, DeskError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.labels_page(kind, entity, after.as_deref(), MAX_PAGE)?;
            out.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// The audit entries after `seq`, oldest first, at most `limit`. Reads only the rows that
    /// hold them; a damaged row is skipped and counted.
    pub fn audit_page(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>, DeskError> {
        let mut out = Vec::new();
        self.audit_rows(seq, |e| {
            out.push(e);
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Calls `each` with the audit entries after `seq`, in order.
    pub fn audit_after(&self, seq: u64, mut each: impl FnMut(AuditEntry)) -> Result<(), DeskError> {
        self.audit_rows(seq, |e| {
            each(e);
            true
        })
    }

    /// The entries after `seq` to `each`, until it answers false.
    fn audit_rows(&self, seq: u64, mut each: impl FnMut(AuditEntry) -> bool) -> Result<(), DeskError> {
        let txn = self.db.begin_read()?;
        let audit = txn.open_table(AUDIT)?;
        // The row holding entry `seq + 1` starts at or before it.
        let start = match audit.range(..=seq.saturating_add(1))?.next_back() {
            Some(row) => row?.0.value(),
            None => 0,
        };
        for row in audit.range(start..)? {
            let (k, v) = row?;
            let Some(lines) = unseal("audit", &k.value().to_be_bytes(), v.value()) else {
                self.damage.found(format!("audit row {}", k.value()), "fails its checksum");
                continue;
            };
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let Ok(e) = serde_json::from_slice::<AuditEntry>(line) else { continue };
                if e.seq > seq && !each(e) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Writes entries to the audit log now, durably (a repair's record, a key rotation).
    pub fn audit_now(&self, entries: Vec<AuditEntry>) -> Result<(), DeskError> {
        let txn = write_txn(&self.db)?;
        for e in entries {
            append_audit(&txn, e)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Calls `each` with the counter updates at or after `since` (Unix seconds), in order.
    pub fn counts_since(&self, since: u64, mut each: impl FnMut(JournaledCount)) -> Result<(), DeskError> {
        let all = {
            let mut journal = self.journal.lock().expect("not poisoned");
            let all = journal.read_all().map_err(journal_err)?;
            self.journal_damaged.store(journal.damaged_reads(), Ordering::Relaxed);
            all
        };
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

    /// Open review items now.
    pub fn open_items(&self) -> Result<u64, DeskError> {
        Ok(self.db.begin_read()?.open_table(REVIEW_RANK)?.len()?)
    }

    /// The sender domains' first-seen times as stored, hashed under the desk's key.
    pub fn first_seen(&self) -> Result<crate::first_seen::FirstSeen, DeskError> {
        Ok(crate::first_seen::FirstSeen::new(self.key, self.first_seen_all()?))
    }

    /// Every sender domain's first-seen time (keyed hash, Unix seconds); a damaged record is
    /// skipped and counted.
    pub fn first_seen_all(&self) -> Result<Vec<(u64, u64)>, DeskError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FIRST_SEEN)?;
        let mut all = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            let key = k.value();
            match unseal("first_seen", &key.to_be_bytes(), v.value())
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
            {
                Some(at) => all.push((key, u64::from_le_bytes(at))),
                None => self.damage.found(format!("first_seen {key:016x}"), "fails its checksum"),
            }
        }
        Ok(all)
    }

    /// Forgets the sender domains first seen before `before`; returns how many.
    pub fn expire_first_seen(&self, before: u64) -> Result<u64, DeskError> {
        let txn = write_txn(&self.db)?;
        let mut gone = 0;
        {
            let mut table = txn.open_table(FIRST_SEEN)?;
            let old: Vec<u64> = table
                .iter()?
                .filter_map(|row| {
                    let (k, v) = row.ok()?;
                    let at = unseal("first_seen", &k.value().to_be_bytes(), v.value())?;
                    let at = u64::from_le_bytes(<[u8; 8]>::try_from(at).ok()?);
                    (at < before).then_some(k.value())
                })
                .collect();
            for k in old {
                table.remove(k)?;
                gone += 1;
            }
        }
        txn.commit()?;
        Ok(gone)
    }

    /// Deletes what has outlived its retention at `now`: audit entries older than
    /// `audit_days`, review items older than `review_days` (with their features and
    /// messages), labels lapsed more than `review_days` ago, and counter updates older than
    /// `counter_secs`. Returns how many of each were deleted. Damaged records are left to a
    /// repair.
    pub fn expire(
        &self,
        now: u64,
        audit_days: u64,
        review_days: u64,
        counter_secs: u64,
    ) -> Result<[u64; 4], DeskError> {
        let ago = |days: u64| now.saturating_sub(days.saturating_mul(86_400));
        let txn = write_txn(&self.db)?;
        let mut gone = [0u64; 4];
        {
            let mut audit = txn.open_table(AUDIT)?;
            let mut old = Vec::new();
            for row in audit.iter()? {
                let (k, v) = row?;
                let Some(row) = unseal("audit", &k.value().to_be_bytes(), v.value()) else { continue };
                let lines: Vec<&[u8]> = row.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
                let newest = lines.last().and_then(|l| serde_json::from_slice::<AuditEntry>(l).ok());
                if newest.is_none_or(|e| e.at >= ago(audit_days)) {
                    break; // rows are in time order
                }
                old.push(k.value());
                gone[0] += lines.len() as u64;
            }
            for k in &old {
                audit.remove(*k)?;
            }

            let mut t = ReviewTables::open(&txn)?;
            let mut old = Vec::new();
            for entry in t.review.iter()? {
                let (k, v) = entry?;
                let Some(item) = open_json::<ReviewItem>("review", &k.value().to_be_bytes(), v.value())
                else {
                    continue;
                };
                if item.at >= ago(review_days) {
                    break;
                }
                old.push(item);
            }
            for item in &old {
                t.remove(item.id, Some(item))?;
            }
            gone[1] = old.len() as u64;

            let mut labels = txn.open_table(LABELS)?;
            let mut old = Vec::new();
            for entry in labels.iter()? {
                let (k, v) = entry?;
                let Some(l) = open_json::<EntityLabel>("labels", k.value().as_bytes(), v.value()) else {
                    continue;
                };
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

    /// Reads every value, removes those that fail their checksums (an item's features and
    /// message go with it), and builds the review indexes and the audit sequence again: what
    /// `warden serve --repair` does to the desk. Returns how many records were removed.
    pub fn scrub(&self) -> Result<u64, DeskError> {
        let txn = write_txn(&self.db)?;
        let mut removed = 0;
        {
            removed += drop_damaged(&txn, AUDIT, "audit", |_| true)?;
            removed += drop_damaged(&txn, OUTBOX, "outbox", |b| decode_lesson(b).is_some())?;
            removed += drop_damaged(&txn, FIRST_SEEN, "first_seen", |b| b.len() == 8)?;
            removed +=
                drop_damaged(&txn, REVIEW, "review", |b| serde_json::from_slice::<ReviewItem>(b).is_ok())?;
            removed +=
                drop_damaged(&txn, REVIEW_FEATURES, "review_features", |b| decode_features(b).is_some())?;
            removed += drop_damaged(&txn, REVIEW_BODIES, "review_bodies", |_| true)?;
            let mut labels = txn.open_table(LABELS)?;
            let mut bad = Vec::new();
            for entry in labels.iter()? {
                let (k, v) = entry?;
                if open_json::<EntityLabel>("labels", k.value().as_bytes(), v.value()).is_none() {
                    bad.push(k.value().to_owned());
                }
            }
            for k in &bad {
                labels.remove(k.as_str())?;
            }
            removed += bad.len() as u64;
            let mut t = ReviewTables::open(&txn)?;
            // Features and messages whose item is gone go too.
            let mut orphans = Vec::new();
            for table in [&t.features, &t.bodies] {
                for entry in table.iter()? {
                    let id = entry?.0.value();
                    if t.review.get(id)?.is_none() {
                        orphans.push(id);
                    }
                }
            }
            for id in orphans {
                t.features.remove(id)?;
                t.bodies.remove(id)?;
            }
            t.reindex()?;
            mend_audit_sequence(&txn)?;
        }
        txn.commit()?;
        self.damage.repaired(removed);
        Ok(removed)
    }
}

/// Calls `each` with the audit entries after `seq` of a stopped server's data directory, read
/// without writing anything (`warden audit export --data-dir`). Damaged rows are skipped and
/// counted; returns how many.
pub fn read_audit(
    dir: &std::path::Path,
    seq: u64,
    mut each: impl FnMut(AuditEntry),
) -> Result<u64, DeskError> {
    let path = dir.join(DESK_FILE);
    let db = redb::ReadOnlyDatabase::open(&path)
        .map_err(|e| DeskError::Store(StoreError::Db(format!("{}: {e}", path.display()))))?;
    let txn = db.begin_read()?;
    let sealed = match txn.open_table(META) {
        Ok(meta) => meta.get("format")?.is_some_and(|v| v.value() == FORMAT),
        Err(redb::TableError::TableDoesNotExist(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let audit = txn.open_table(AUDIT)?;
    let mut damaged = 0;
    for row in audit.iter()? {
        let (k, v) = row?;
        let lines =
            if sealed { unseal("audit", &k.value().to_be_bytes(), v.value()) } else { Some(v.value()) };
        let Some(lines) = lines else {
            damaged += 1;
            continue;
        };
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<AuditEntry>(line) {
                Ok(e) if e.seq > seq => each(e),
                Ok(_) => {}
                Err(_) => damaged += 1,
            }
        }
    }
    Ok(damaged)
}

/// The next number of a sequence: after the one kept in `sequences` and after the table's last
/// key, whichever is later.
fn next_id(
    sequences: &impl ReadableTable<&'static str, u64>,
    name: &str,
    last: Option<u64>,
) -> Result<u64, DeskError> {
    let kept = sequences.get(name)?.map_or(1, |v| v.value());
    Ok(kept.max(last.map_or(1, |l| l + 1)))
}

/// Queues a review item unless its message has one open; at the cap, drops the surest open
/// items for it, or it when it is the surest. Returns false when it was dropped.
fn queue_review(
    t: &mut ReviewTables<'_>,
    r: NewReview,
    cap: u64,
    subject_bytes: usize,
    next_item: &mut u64,
    dropped: &mut u64,
) -> Result<bool, DeskError> {
    // The index is trusted only when the item it names is open for this message.
    let queued = match t.by_message.get(r.features.message)?.map(|v| v.value()) {
        Some(id) => t.item(id)?.is_some_and(|i| {
            i.status != ReviewStatus::Resolved && i.message == format!("{:032x}", r.features.message)
        }),
        None => false,
    };
    if queued {
        return Ok(true);
    }
    let mut item = bounded(r.item, subject_bytes);
    // A cap lowered by a reload is reached again here, one surer item at a time.
    while t.rank.len()? >= cap {
        let surest = t.rank.last()?.map(|(k, _)| k.value());
        match surest {
            Some((certainty, inverse)) if item.certainty < certainty => {
                let id = u64::MAX - inverse;
                let old = t.item(id)?;
                t.remove(id, old.as_ref())?;
                t.rank.remove((certainty, inverse))?;
                *dropped += 1;
            }
            _ => return Ok(false),
        }
    }
    item.id = *next_item;
    item.status = ReviewStatus::Open;
    t.put(&item, None)?;
    let key = item.id.to_be_bytes();
    t.features.insert(item.id, seal("review_features", &key, &encode_features(&r.features)).as_slice())?;
    if let Some(b) = &r.body {
        t.bodies.insert(item.id, seal("review_bodies", &key, b).as_slice())?;
    }
    t.by_message.insert(r.features.message, item.id)?;
    *next_item += 1;
    Ok(true)
}

/// Removes the values of `table` that fail their checksums or `valid`; returns how many.
fn drop_damaged(
    txn: &redb::WriteTransaction,
    table: TableDefinition<u64, &[u8]>,
    name: &str,
    valid: impl Fn(&[u8]) -> bool,
) -> Result<u64, DeskError> {
    let mut t = txn.open_table(table)?;
    let mut bad = Vec::new();
    for entry in t.iter()? {
        let (k, v) = entry?;
        if !unseal(name, &k.value().to_be_bytes(), v.value()).is_some_and(&valid) {
            bad.push(k.value());
        }
    }
    for k in &bad {
        t.remove(*k)?;
    }
    Ok(bad.len() as u64)
}

/// Makes the next audit sequence number follow the last entry stored (a damaged counter
/// would otherwise number two entries alike).
fn mend_audit_sequence(txn: &redb::WriteTransaction) -> Result<(), DeskError> {
    let audit = txn.open_table(AUDIT)?;
    let mut sequences = txn.open_table(SEQUENCES)?;
    let stored = sequences.get("audit")?.map_or(1, |v| v.value());
    let after_last = match audit.last()? {
        None => 1,
        Some((k, v)) => {
            let first = k.value();
            let entries = unseal("audit", &first.to_be_bytes(), v.value())
                .map_or(1, |row| row.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as u64);
            first + entries
        }
    };
    if after_last > stored {
        sequences.insert("audit", after_last)?;
    }
    Ok(())
}

/// Writes every value of the first format (no checksums) again with its checksum, and builds
/// the review indexes.
fn seal_legacy(txn: &redb::WriteTransaction) -> Result<(), DeskError> {
    for (table, name) in [
        (AUDIT, "audit"),
        (REVIEW, "review"),
        (REVIEW_FEATURES, "review_features"),
        (REVIEW_BODIES, "review_bodies"),
        (OUTBOX, "outbox"),
    ] {
        let mut t = txn.open_table(table)?;
        let mut all = Vec::new();
        for entry in t.iter()? {
            let (k, v) = entry?;
            all.push((k.value(), v.value().to_vec()));
        }
        for (k, v) in all {
            t.insert(k, seal(name, &k.to_be_bytes(), &v).as_slice())?;
        }
    }
    let mut labels = txn.open_table(LABELS)?;
    let mut all = Vec::new();
    for entry in labels.iter()? {
        let (k, v) = entry?;
        all.push((k.value().to_owned(), v.value().to_vec()));
    }
    for (k, v) in all {
        labels.insert(k.as_str(), seal("labels", k.as_bytes(), &v).as_slice())?;
    }
    drop(labels);
    let mut t = ReviewTables::open(txn)?;
    // Items of the first format have no certainty: it is read off their probability around
    // the default band's middle.
    let mut items = Vec::new();
    for entry in t.review.iter()? {
        let (k, v) = entry?;
        if let Some(mut item) = open_json::<ReviewItem>("review", &k.value().to_be_bytes(), v.value()) {
            if item.certainty == 0 && !item.why.iter().any(|w| w == "rule") {
                item.certainty = certainty(item.probability, [0.4, 0.6]);
            }
            items.push(item);
        }
    }
    for item in items {
        t.review.insert(item.id, seal_json("review", &item.id.to_be_bytes(), &item).as_slice())?;
    }
    t.reindex()
}

/// How sure a probability is: its distance from the band's middle, in billionths.
pub fn certainty(probability: f64, band: [f64; 2]) -> u64 {
    let middle = (band[0] + band[1]) / 2.0;
    ((probability - middle).abs().min(1.0) * 1e9) as u64
}

/// A review item with every field within its stored size.
fn bounded(mut item: ReviewItem, subject_bytes: usize) -> ReviewItem {
    item.subject = item.subject.map(|s| bound(&s, subject_bytes));
    item.from_domain = item.from_domain.map(|s| bound(&s, limits::NAME));
    for list in [&mut item.url_domains, &mut item.attachments] {
        list.truncate(limits::NAMES);
        for s in list.iter_mut() {
            *s = bound(s, limits::NAME);
        }
    }
    item.reasons.truncate(limits::REASONS);
    for r in &mut item.reasons {
        r.name = bound(&r.name, limits::NAME);
        r.description = bound(&r.description, limits::DESCRIPTION);
    }
    item
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn bound(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl EntityLabel {
    /// A manual record that still speaks: a label in force, or a removal within its term.
    fn holds_or_removed(&self, now: u64) -> bool {
        self.expires.is_none_or(|e| e > now)
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
    let mut row = serde_json::to_vec(&entry).expect("entries serialise");
    row.push(b'\n');
    audit.insert(entry.seq, seal("audit", &entry.seq.to_be_bytes(), &row).as_slice())?;
    sequences.insert("audit", entry.seq + 1)?;
    Ok(())
}

/// How long the writer holds writes no one waits for (decisions' audit entries) before it
/// commits them: a database commit costs 0.5 ms or more however small it is, so such entries
/// go in batches. Counter updates go to the journal at once; a write someone waits for in the
/// database (a review item, a label change, a synchronous audit entry) is committed at once,
/// with everything held.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

type Reply = tokio::sync::oneshot::Sender<Result<(), WriteError>>;

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

/// A record as stored: JSON, sealed under its table and key.
fn seal_json<T: Serialize>(table: &str, key: &[u8], v: &T) -> Vec<u8> {
    seal(table, key, &serde_json::to_vec(v).expect("desk records serialise"))
}

/// A stored record, when it holds its checksum and reads as `T`.
fn open_json<T: for<'de> Deserialize<'de>>(table: &str, key: &[u8], bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(unseal(table, key, bytes)?).ok()
}

fn journal_err(e: std::io::Error) -> DeskError {
    DeskError::Store(StoreError::Db(format!("counter journal: {e}")))
}

/// item, message, extractor, flags (bit 0 spam, bit 1 correction, bit 2 a body follows),
/// feature count, features, then the body.
fn encode_lesson(l: &Lesson) -> Vec<u8> {
    let mut out = Vec::with_capacity(37 + 8 * l.features.len() + l.body.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(&l.item.to_le_bytes());
    out.extend_from_slice(&l.message.to_le_bytes());
    out.extend_from_slice(&l.extractor.to_le_bytes());
    out.push(u8::from(l.spam) | u8::from(l.correction) << 1 | u8::from(l.body.is_some()) << 2);
    out.extend_from_slice(&(l.features.len() as u32).to_le_bytes());
    for h in &l.features {
        out.extend_from_slice(&h.to_le_bytes());
    }
    if let Some(b) = &l.body {
        out.extend_from_slice(b);
    }
    out
}

fn decode_lesson(b: &[u8]) -> Option<Lesson> {
    let item = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let message = u128::from_le_bytes(b.get(8..24)?.try_into().ok()?);
    let extractor = u64::from_le_bytes(b.get(24..32)?.try_into().ok()?);
    let flags = *b.get(32)?;
    let n = u32::from_le_bytes(b.get(33..37)?.try_into().ok()?) as usize;
    let end = 37usize.checked_add(n.checked_mul(8)?)?;
    let features =
        b.get(37..end)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect();
    let body = if flags & 4 != 0 {
        Some(b[end..].to_vec())
    } else {
        (end == b.len()).then_some(())?;
        None
    };
    Some(Lesson {
        item,
        message,
        spam: flags & 1 != 0,
        correction: flags & 2 != 0,
        extractor,
        features,
        body,
    })
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(format!("desk: {e}"))
}

/// at, entity, flag (1: a value follows), value, name.
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

    fn open(dir: &std::path::Path) -> Arc<Desk> {
        crate::datadir::desk_for_test(dir)
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
        let open_items = desk.review_page(Some(ReviewStatus::Open), None, 10).unwrap().items;
        assert_eq!(
            open_items.iter().map(|i| i.id).collect::<Vec<_>>(),
            [2, 1],
            "newest first; message 5 once"
        );
        assert_eq!(desk.review_features(1).unwrap().0.features, [1, 2, 3]);
        desk.claim(1, "alice", 20).unwrap();
        assert!(matches!(desk.claim(1, "bob", 21), Err(DeskError::Conflict(m)) if m.contains("alice")));
        assert!(matches!(
            desk.resolve(1, "bob", MailLabel::Spam, "x", 21, None),
            Err(DeskError::Conflict(_))
        ));
        let (done, _) = desk.resolve(1, "alice", MailLabel::Spam, "phishing kit", 22, None).unwrap();
        assert_eq!(
            (done.status, done.label, done.resolved_by.as_deref()),
            (ReviewStatus::Resolved, Some(MailLabel::Spam), Some("alice"))
        );
        assert!(matches!(desk.claim(1, "alice", 23), Err(DeskError::Conflict(_))));
        assert!(
            matches!(desk.resolve(1, "bob", MailLabel::Ham, "late", 23, None), Err(DeskError::Conflict(m)) if m.contains("resolved")),
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
        assert_eq!(desk.review_page(Some(ReviewStatus::Open), None, 10).unwrap().items.len(), 2);
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

    fn uncertain(message: u128, p: f64) -> CheckWrites {
        let mut r = item(message, 10);
        r.item.probability = p;
        r.item.certainty = certainty(p, [0.4, 0.6]);
        CheckWrites { review: Some(r), ..Default::default() }
    }

    #[tokio::test]
    async fn at_the_cap_the_surest_open_item_is_dropped_first_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        desk.set_limits(3, limits::SUBJECT, limits::REASON);
        for (m, p) in [(1, 0.45), (2, 0.59), (3, 0.50)] {
            write(&desk, uncertain(m, p)).await;
        }
        // Surer than every queued one: not queued.
        write(&desk, uncertain(4, 0.40)).await;
        // Less sure than item 2 (0.59): item 2 goes.
        write(&desk, uncertain(5, 0.52)).await;
        let open_items = desk.review_page(Some(ReviewStatus::Open), None, 10).unwrap().items;
        let held: Vec<f64> = open_items.iter().map(|i| i.probability).collect();
        assert_eq!(held, [0.52, 0.50, 0.45], "newest first");
        assert_eq!((desk.review_dropped(), desk.open_items().unwrap()), (2, 3));
        // A claimed item leaves the open count and is never dropped.
        desk.claim(open_items[2].id, "alice", 20).unwrap();
        write(&desk, uncertain(6, 0.58)).await;
        assert_eq!(desk.open_items().unwrap(), 3);
        assert_eq!(desk.review_page(Some(ReviewStatus::Claimed), None, 10).unwrap().items.len(), 1);
    }

    #[tokio::test]
    async fn listings_read_one_page_at_a_time_and_follow_their_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        for m in 1..=7u128 {
            write(&desk, uncertain(m, 0.5)).await;
        }
        desk.claim(3, "alice", 20).unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = desk.review_page(Some(ReviewStatus::Open), after, 2).unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items.iter().map(|i| i.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, [7, 6, 5, 4, 2, 1], "every open item once, newest first");
        for i in 0..5u64 {
            let mut l = label(LabelSource::Manual, true, 10, None);
            l.entity = format!("e{i}.example");
            desk.set_label(&l).unwrap();
        }
        let first = desk.labels_page(Some("domain"), None, None, 2).unwrap();
        let second = desk.labels_page(Some("domain"), None, first.next.as_deref(), 2).unwrap();
        let third = desk.labels_page(Some("domain"), None, second.next.as_deref(), 2).unwrap();
        let all: Vec<String> =
            [first.items, second.items, third.items.clone()].concat().into_iter().map(|l| l.entity).collect();
        assert_eq!(all, ["e0.example", "e1.example", "e2.example", "e3.example", "e4.example"]);
        assert_eq!((third.items.len(), third.next), (1, None));
        let one = desk.labels_page(Some("domain"), Some("E3.example"), None, 10).unwrap();
        assert_eq!(one.items.len(), 1);
        assert_eq!(desk.audit_page(0, 2).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(desk.audit_page(4, 100).unwrap().len(), 2, "six entries: five labels and a claim");
    }

    #[tokio::test]
    async fn a_resolution_and_its_lesson_are_committed_together_and_a_refused_one_teaches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        write(&desk, uncertain(9, 0.5)).await;
        let lesson = |spam| Lesson {
            item: 1,
            message: 9,
            spam,
            correction: true,
            extractor: 77,
            features: vec![1, 2, 3],
            body: Some(b"the message".to_vec()),
        };
        let (_, seq) = desk.resolve(1, "alice", MailLabel::Spam, "kit", 30, Some(lesson(true))).unwrap();
        assert!(desk.resolve(1, "bob", MailLabel::Ham, "no", 31, Some(lesson(false))).is_err());
        assert_eq!(desk.outbox(true).unwrap(), [(seq.unwrap(), lesson(true))], "one resolution, one lesson");
        desk.clear_lesson(seq.unwrap()).unwrap();
        assert!(desk.outbox(true).unwrap().is_empty());
        // Emptied, the outbox never gives a number twice.
        write(&desk, uncertain(10, 0.5)).await;
        let (_, again) = desk.resolve(2, "alice", MailLabel::Ham, "fine", 40, Some(lesson(false))).unwrap();
        assert!(again > seq, "{again:?} after {seq:?}");
        let lesson = Lesson { body: None, ..lesson(false) };
        assert_eq!(decode_lesson(&encode_lesson(&lesson)), Some(lesson));
    }

    #[tokio::test]
    async fn a_damaged_item_is_skipped_by_listings_and_removed_by_a_scrub() {
        let dir = tempfile::tempdir().unwrap();
        let desk = open(dir.path());
        for m in 1..=3u128 {
            write(&desk, uncertain(m, 0.5)).await;
        }
        let txn = desk.db.begin_write().unwrap();
        {
            let mut review = txn.open_table(REVIEW).unwrap();
            let mut v = review.get(2).unwrap().unwrap().value().to_vec();
            v[5] ^= 0x20;
            review.insert(2, v.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let page = desk.review_page(None, None, 10).unwrap();
        assert_eq!(page.items.iter().map(|i| i.id).collect::<Vec<_>>(), [3, 1], "the listing stands");
        assert_eq!(desk.damaged()[0], 1);
        assert!(matches!(desk.review_item(2), Err(DeskError::Damaged(_))));
        assert_eq!(desk.scrub().unwrap(), 1);
        assert!(matches!(desk.review_item(2), Err(DeskError::NoItem(2))));
        assert!(desk.review_features(2).is_err(), "its features went with it");
        assert_eq!(desk.open_items().unwrap(), 2, "the indexes were built again");
        write(&desk, uncertain(2, 0.5)).await;
        assert_eq!(
            desk.review_page(None, None, 10).unwrap().items.len(),
            3,
            "its message may be queued again"
        );
    }

    #[test]
    fn damaged_journal_entries_are_errors_not_panics() {
        let f = ReviewFeatures { message: 1, extractor: 2, features: vec![3, 4] };
        assert_eq!(decode_features(&encode_features(&f)), Some(f));
        assert_eq!(decode_features(&[0; 30]), None);
    }
}
