//! The review queue: uncertain decisions held for an analyst, claimed and resolved; a
//! resolution's lesson waits in the outbox until the feedback store has it.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::{
    AuditEntry, DESK_FILE, Desk, DeskError, OUTBOX, Page, REVIEW, REVIEW_BODIES, REVIEW_BY_MESSAGE,
    REVIEW_BY_STATUS, REVIEW_FEATURES, REVIEW_RANK, SEQUENCES, Taught, Verdict, append_audit, bound, limits,
    next_id, open_json, seal_json,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use warden_core::Reason;
use warden_store::redbfile::write_txn;
use warden_store::seal::{seal, unseal};

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
    /// The kind of event it is about (`mail`, `signup`, …); items stored before kinds were
    /// named have none, and are mail's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The entity a JSON kind's event was about (`account` for sign-ups), as written in lower
    /// case: what a resolution labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The message's id (keyed hash); a JSON kind's event as `kind:hash`.
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
    /// The label it was resolved with, in its kind's words (`spam`, `ham` for mail): the
    /// caller checks the word, the desk keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
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

/// What a resolution teaches, written with it.
#[derive(Debug, Clone)]
pub enum Teach {
    /// Mail's: a lesson for the outbox, until the feedback store has it.
    Lesson(Lesson),
    /// A JSON kind's: a verdict on the item's entity (its taught log, its labels).
    Verdict(Verdict),
}

/// What a resolution wrote.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The item, resolved.
    pub item: ReviewItem,
    /// The outbox's number of its lesson (mail's).
    pub lesson: Option<u64>,
    /// What its verdict taught (a JSON kind's).
    pub taught: Option<Taught>,
}

/// A resolution's lesson, kept in the desk's outbox until the feedback store has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// The review item it resolves.
    pub item: u64,
    /// The message's keyed hash.
    pub message: u128,
    /// The label.
    pub label: warden_core::Label,
    /// Learned as a correction (the label overturns Warden's decision).
    pub correction: bool,
    /// Fingerprint of the extractor that made `features`.
    pub extractor: u64,
    /// The message's feature hashes.
    pub features: Vec<u64>,
    /// The message, when the review item kept it.
    pub body: Option<Vec<u8>>,
}

/// The review tables of a write transaction, kept in step with each other.
pub(super) struct ReviewTables<'t> {
    pub(super) review: redb::Table<'t, u64, &'static [u8]>,
    pub(super) features: redb::Table<'t, u64, &'static [u8]>,
    pub(super) bodies: redb::Table<'t, u64, &'static [u8]>,
    pub(super) by_message: redb::Table<'t, u128, u64>,
    pub(super) by_status: redb::Table<'t, (u8, u64), ()>,
    pub(super) rank: redb::Table<'t, (u64, u64), ()>,
}

impl<'t> ReviewTables<'t> {
    pub(super) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, DeskError> {
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
    pub(super) fn item(&self, id: u64) -> Result<Option<ReviewItem>, DeskError> {
        Ok(self.review.get(id)?.and_then(|v| open_json("review", &id.to_be_bytes(), v.value())))
    }

    /// Writes `item` (new or changed) and its index entries; `before` is its stored state.
    pub(super) fn put(&mut self, item: &ReviewItem, before: Option<&ReviewItem>) -> Result<(), DeskError> {
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
    pub(super) fn remove(&mut self, id: u64, item: Option<&ReviewItem>) -> Result<(), DeskError> {
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
    pub(super) fn reindex(&mut self) -> Result<(), DeskError> {
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

pub(super) fn status_code(s: ReviewStatus) -> u8 {
    match s {
        ReviewStatus::Open => 0,
        ReviewStatus::Claimed => 1,
        ReviewStatus::Resolved => 2,
    }
}

/// Queues a review item unless its message has one open; at the cap, drops the surest open
/// items for it, or it when it is the surest. Returns false when it was dropped.
pub(super) fn queue_review(
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

/// How sure a probability is: its distance from the band's middle, in billionths.
pub fn certainty(probability: f64, band: [f64; 2]) -> u64 {
    let middle = (band[0] + band[1]) / 2.0;
    ((probability - middle).abs().min(1.0) * 1e9) as u64
}

/// A review item with every field within its stored size.
pub(super) fn bounded(mut item: ReviewItem, subject_bytes: usize) -> ReviewItem {
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

/// item, message, extractor, flags (bit 0 abusive, bit 1 correction, bit 2 a body follows),
/// feature count, features, then the body.
pub(super) fn encode_lesson(l: &Lesson) -> Vec<u8> {
    let mut out = Vec::with_capacity(37 + 8 * l.features.len() + l.body.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(&l.item.to_le_bytes());
    out.extend_from_slice(&l.message.to_le_bytes());
    out.extend_from_slice(&l.extractor.to_le_bytes());
    out.push(u8::from(l.label.is_abusive()) | u8::from(l.correction) << 1 | u8::from(l.body.is_some()) << 2);
    out.extend_from_slice(&(l.features.len() as u32).to_le_bytes());
    for h in &l.features {
        out.extend_from_slice(&h.to_le_bytes());
    }
    if let Some(b) = &l.body {
        out.extend_from_slice(b);
    }
    out
}

pub(super) fn decode_lesson(b: &[u8]) -> Option<Lesson> {
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
        label: warden_core::Label::of(flags & 1 != 0),
        correction: flags & 2 != 0,
        extractor,
        features,
        body,
    })
}

/// at, entity, flag (1: a value follows), value, name.
/// message, extractor, hashes.
pub(super) fn encode_features(f: &ReviewFeatures) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + 8 * f.features.len());
    out.extend_from_slice(&f.message.to_le_bytes());
    out.extend_from_slice(&f.extractor.to_le_bytes());
    for h in &f.features {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out
}

pub(super) fn decode_features(b: &[u8]) -> Option<ReviewFeatures> {
    if b.len() < 24 || !(b.len() - 24).is_multiple_of(8) {
        return None;
    }
    Some(ReviewFeatures {
        message: u128::from_le_bytes(b[..16].try_into().ok()?),
        extractor: u64::from_le_bytes(b[16..24].try_into().ok()?),
        features: b[24..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect(),
    })
}

impl Desk {
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
        let claimed = self.update_item(id, None, |item| {
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
        });
        claimed.map(|r| r.item)
    }

    /// An analyst resolves an item with a label and a reason (claiming it on the way when
    /// open), audited with the previous value (the decision's action). What it teaches is
    /// written in the same transaction — mail's lesson to the outbox, a JSON kind's verdict to
    /// its taught log and labels: a resolution refused teaches nothing, and one accepted is
    /// taught even across a crash.
    pub fn resolve(
        &self,
        id: u64,
        who: &str,
        label: &str,
        reason: &str,
        now: u64,
        teach: Option<Teach>,
    ) -> Result<Resolved, DeskError> {
        let reason = bound(reason, self.reason_bytes.load(Ordering::Relaxed));
        self.update_item(id, teach, |item| {
            item.may_resolve(who)?;
            let previous = match &item.label {
                Some(l) => l.clone(),
                None => format!("decision:{}", item.action),
            };
            item.status = ReviewStatus::Resolved;
            item.label = Some(label.to_owned());
            item.resolved_by = Some(who.to_owned());
            item.resolved_at = Some(now);
            item.resolution = Some(reason.clone());
            Ok(AuditEntry {
                at: now,
                kind: "review.resolve".into(),
                actor: who.into(),
                message: Some(item.message.clone()),
                item: Some(id),
                label: Some(label.into()),
                previous: Some(previous),
                reason: Some(reason.clone()),
                ..AuditEntry::default()
            })
        })
    }

    pub(super) fn update_item(
        &self,
        id: u64,
        teach: Option<Teach>,
        change: impl FnOnce(&mut ReviewItem) -> Result<AuditEntry, DeskError>,
    ) -> Result<Resolved, DeskError> {
        let txn = write_txn(&self.db)?;
        let item = {
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
            item
        };
        let (lesson, taught) = match teach {
            Some(Teach::Lesson(l)) => {
                let mut outbox = txn.open_table(OUTBOX)?;
                let mut sequences = txn.open_table(SEQUENCES)?;
                // A lesson's number is never given twice: clearing one can never clear another.
                let seq = next_id(&sequences, "outbox", outbox.last()?.map(|(k, _)| k.value()))?;
                outbox.insert(seq, seal("outbox", &seq.to_be_bytes(), &encode_lesson(&l)).as_slice())?;
                sequences.insert("outbox", seq + 1)?;
                (Some(seq), None)
            }
            Some(Teach::Verdict(v)) => (None, self.verdict_in(&txn, v)?),
            None => (None, None),
        };
        txn.commit()?;
        self.webhooks_committed();
        Ok(Resolved { item, lesson, taught })
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

    /// Open review items now.
    pub fn open_items(&self) -> Result<u64, DeskError> {
        Ok(self.db.begin_read()?.open_table(REVIEW_RANK)?.len()?)
    }
}
