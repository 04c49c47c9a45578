//! The analysts' desk: the review queue, labels on entities and the audit log, in one redb
//! database of the data directory (`desk.redb`), and the journal of the rules' window counters
//! beside it (`counters.journal`, see [`warden_store::journal`]).
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
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use warden_store::feedback::StoreError;
use warden_store::journal::{Journal, JournaledCount};
use warden_store::redbfile::{META, write_txn};
use warden_store::seal::{DamageLog, seal, unseal};

pub mod datadir;
pub mod first_seen;
pub mod state;

mod audit;
mod decisions;
mod entities;
mod features;
mod history;
mod labels;
mod review;
mod taught;
pub use taught::{Taught, Verdict};
mod webhooks;
mod writer;

pub use audit::*;
pub use decisions::DecisionEffects;
use decisions::*;
pub use entities::*;
pub use features::*;
pub use history::*;
pub use labels::*;
pub use review::*;
pub use webhooks::*;
pub use writer::*;

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

warden_store::from_redb_errors!(DeskError, |m| DeskError::Store(StoreError::Db(m)));

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
    /// Webhook events kept at most (0: webhooks off, nothing queued).
    webhooks_max: AtomicU64,
    /// Webhook events dropped at the cap.
    webhooks_dropped: AtomicU64,
    /// Woken when an event is queued (the delivery task waits on it).
    pub webhooks_ready: tokio::sync::Notify,
    /// JSON kinds' decisions committed together ([`Desk::record_decision`]).
    group: Arc<decisions::Committer>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

/// Commits at most this many checks' writes in one transaction.
const MAX_BATCH: usize = 512;

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
            txn.open_table(KEPT).map_err(db_err)?;
            txn.open_table(WEBHOOKS).map_err(db_err)?;
            txn.open_table(HISTORY).map_err(db_err)?;
            txn.open_table(taught::TAUGHT).map_err(db_err)?;
            txn.open_table(DECISIONS).map_err(db_err)?;
            txn.open_table(DECISIONS_BY_TIME).map_err(db_err)?;
            txn.open_table(COUNTS).map_err(db_err)?;
            txn.open_table(HISTORY_BY_TIME).map_err(db_err)?;
            txn.open_table(KEPT_BY_TIME).map_err(db_err)?;
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
            webhooks_max: AtomicU64::new(0),
            webhooks_dropped: AtomicU64::new(0),
            webhooks_ready: tokio::sync::Notify::new(),
            group: Arc::new(decisions::Committer::default()),
        });
        let weak = Arc::downgrade(&desk);
        let handle = std::thread::Builder::new()
            .name("warden-desk".into())
            .spawn(move || write_loop(&weak, &rx))
            .expect("a thread can be started");
        *desk.writer.lock().expect("not poisoned") = Some(handle);
        let (weak, committer) = (Arc::downgrade(&desk), Arc::clone(&desk.group));
        std::thread::Builder::new()
            .name("warden-decisions".into())
            .spawn(move || decisions::hold_loop(&weak, &committer))
            .expect("a thread can be started");
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
        warden_store::feedback::hex(&h.finalize().as_bytes()[..16])
    }

    /// A table's key for `kind`/`id`: a keyed hash (BLAKE3 under the desk's key) that says
    /// nothing of the id without the key; `table` keeps each table's keys apart.
    pub(crate) fn keyed_id(&self, table: &str, kind: &str, id: &str) -> u128 {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(table.as_bytes());
        h.update(&[0]);
        h.update(kind.as_bytes());
        h.update(&[0]);
        h.update(id.as_bytes());
        u128::from_le_bytes(h.finalize().as_bytes()[..16].try_into().expect("16 of 32 bytes"))
    }

    /// The seed of the rules' counter hashes: derived from the key, so that the journal's
    /// hashes mean nothing without it.
    pub fn counter_seed(&self) -> u64 {
        let h = blake3::keyed_hash(&self.key, b"warden counters");
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 of 32 bytes"))
    }

    /// The seed of JSON kinds' keyed hashes of identifiers in their memories of recent events
    /// (sign-ups' windows and clusters): derived from the key, apart from the counters'.
    pub fn kind_seed(&self) -> u64 {
        let h = blake3::keyed_hash(&self.key, b"warden kinds");
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 of 32 bytes"))
    }

    /// Calls `each` with the counter updates at or after `since` (Unix seconds), in time order:
    /// the journal's and those kept with JSON kinds' decisions (see [`decisions`]' `COUNTS`).
    /// A damaged one kept with a decision is counted and left out.
    pub fn counts_since(&self, since: u64, mut each: impl FnMut(JournaledCount)) -> Result<(), DeskError> {
        let mut all = {
            let mut journal = self.journal.lock().expect("not poisoned");
            let all = journal.read_all().map_err(journal_err)?;
            self.journal_damaged.store(journal.damaged_reads(), Ordering::Relaxed);
            all
        };
        all.retain(|c| c.at >= since);
        let txn = self.db.begin_read()?;
        for entry in txn.open_table(COUNTS)?.range(count_key(since, 0)..)? {
            let (k, v) = entry?;
            match decode_stored_count(k.value(), v.value()) {
                Some(c) => all.push(c),
                None => self.damage.found(format!("counts {:032x}", k.value()), "fails its checksum"),
            }
        }
        // Stable: the journal's own order stands among updates of one second.
        all.sort_by_key(|c| c.at);
        all.into_iter().for_each(&mut each);
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
        let counts_before = count_key(now.saturating_sub(counter_secs), 0);
        {
            let mut counts = txn.open_table(COUNTS)?;
            let old: Vec<u128> = counts
                .range(..counts_before)?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for k in &old {
                counts.remove(*k)?;
            }
            gone[3] = old.len() as u64;
        }
        txn.commit()?;
        gone[3] += self
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
            {
                let mut counts = txn.open_table(COUNTS)?;
                let mut bad = Vec::new();
                for entry in counts.iter()? {
                    let (k, v) = entry?;
                    if decode_stored_count(k.value(), v.value()).is_none() {
                        bad.push(k.value());
                    }
                }
                for k in &bad {
                    counts.remove(*k)?;
                }
                removed += bad.len() as u64;
            }
            removed +=
                drop_damaged(&txn, REVIEW, "review", |b| serde_json::from_slice::<ReviewItem>(b).is_ok())?;
            removed +=
                drop_damaged(&txn, REVIEW_FEATURES, "review_features", |b| decode_features(b).is_some())?;
            removed += drop_damaged(&txn, REVIEW_BODIES, "review_bodies", |_| true)?;
            removed += scrub_kept(&txn)?;
            removed += scrub_history(&txn)?;
            removed += drop_damaged(&txn, WEBHOOKS, "webhooks", |b| {
                serde_json::from_slice::<WebhookEvent>(b).is_ok()
            })?;
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

/// How long the writer holds writes no one waits for (decisions' audit entries) before it
/// commits them: a database commit costs 0.5 ms or more however small it is, so such entries
/// go in batches. Counter updates go to the journal at once; a write someone waits for in the
/// database (a review item, a label change, a synchronous audit entry) is committed at once,
/// with everything held.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

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

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(format!("desk: {e}"))
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
        assert!(matches!(desk.resolve(1, "bob", "spam", "x", 21, None), Err(DeskError::Conflict(_))));
        let done = desk.resolve(1, "alice", "spam", "phishing kit", 22, None).unwrap().item;
        assert_eq!(
            (done.status, done.label.as_deref(), done.resolved_by.as_deref()),
            (ReviewStatus::Resolved, Some("spam"), Some("alice"))
        );
        assert!(matches!(desk.claim(1, "alice", 23), Err(DeskError::Conflict(_))));
        assert!(
            matches!(desk.resolve(1, "bob", "ham", "late", 23, None), Err(DeskError::Conflict(m)) if m.contains("resolved")),
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
            label: warden_core::Label::of(spam),
            correction: true,
            extractor: 77,
            features: vec![1, 2, 3],
            body: Some(b"the message".to_vec()),
        };
        let seq =
            desk.resolve(1, "alice", "spam", "kit", 30, Some(Teach::Lesson(lesson(true)))).unwrap().lesson;
        assert!(desk.resolve(1, "bob", "ham", "no", 31, Some(Teach::Lesson(lesson(false)))).is_err());
        assert_eq!(desk.outbox(true).unwrap(), [(seq.unwrap(), lesson(true))], "one resolution, one lesson");
        desk.clear_lesson(seq.unwrap()).unwrap();
        assert!(desk.outbox(true).unwrap().is_empty());
        // Emptied, the outbox never gives a number twice.
        write(&desk, uncertain(10, 0.5)).await;
        let again =
            desk.resolve(2, "alice", "ham", "fine", 40, Some(Teach::Lesson(lesson(false)))).unwrap().lesson;
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
