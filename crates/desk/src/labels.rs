//! Labels on entities (a sender, a domain, an address), set by analysts or by rules, with
//! their expiry.

use redb::{ReadableDatabase, ReadableTable};

use crate::{
    AuditEntry, Desk, DeskError, LABELS, MAX_PAGE, Page, WebhookEvent, append_audit, open_json, seal_json,
};
use serde::{Deserialize, Serialize};
use warden_store::redbfile::write_txn;

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

    pub(super) fn key(&self) -> String {
        label_key(&self.kind, &self.entity, &self.label)
    }
}

pub(super) fn label_key(kind: &str, entity: &str, label: &str) -> String {
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

impl EntityLabel {
    /// A manual record that still speaks: a label in force, or a removal within its term.
    pub(super) fn holds_or_removed(&self, now: u64) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

pub(super) fn label_audit(
    desk: &Desk,
    l: &EntityLabel,
    before: Option<&EntityLabel>,
    kind: &str,
) -> AuditEntry {
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

impl Desk {
    /// The label stored under `key`; a damaged one is counted and taken as absent (the change
    /// being made writes it whole again).
    pub(super) fn stored_label(
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

    /// Writes a rule's label change into `labels`, unless an analyst's record of the same label
    /// still speaks (their word stands over a rule's); returns its audit entry and webhook event
    /// for the caller's transaction.
    pub(super) fn put_rule_label(
        &self,
        labels: &mut redb::Table<&'static str, &'static [u8]>,
        l: &EntityLabel,
    ) -> Result<Option<(AuditEntry, WebhookEvent)>, DeskError> {
        let key = l.key();
        let before = self.stored_label(labels, &key)?;
        if before.as_ref().is_some_and(|b| b.source == LabelSource::Manual && b.holds_or_removed(l.at)) {
            return Ok(None);
        }
        labels.insert(key.as_str(), seal_json("labels", key.as_bytes(), l).as_slice())?;
        let what = if l.active { "label.rule" } else { "label.rule_remove" };
        Ok(Some((label_audit(self, l, before.as_ref(), what), WebhookEvent::of_label(l, what))))
    }

    /// Sets or removes a label by hand (an analyst's, overriding rules' labels). Audited.
    pub fn set_label(&self, label: &EntityLabel) -> Result<LabelOutcome, DeskError> {
        let txn = write_txn(&self.db)?;
        let outcome = self.put_label_in(&txn, label)?;
        if let LabelOutcome::Stored(_) = outcome {
            txn.commit()?;
            self.webhooks_committed();
        }
        Ok(outcome)
    }

    /// [`Desk::set_label`] in `txn` (the caller commits, then calls `webhooks_committed`).
    pub(super) fn put_label_in(
        &self,
        txn: &redb::WriteTransaction,
        label: &EntityLabel,
    ) -> Result<LabelOutcome, DeskError> {
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
        append_audit(txn, label_audit(self, label, before.as_ref(), kind))?;
        self.queue_webhook(txn, WebhookEvent::of_label(label, kind))?;
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
}
