//! The webhooks' outbox: every change of an entity's state, written in the change's own
//! transaction when `[webhooks]` is on, waiting until the operator's service has taken it.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::{Desk, DeskError, EntityLabel, SEQUENCES, next_id, open_json, seal_json};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use warden_store::redbfile::write_txn;

/// Events waiting for delivery, by sequence number (sealed JSON).
pub(super) const WEBHOOKS: TableDefinition<u64, &[u8]> = TableDefinition::new("webhooks");

/// One change of an entity's state, as posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Its place in the outbox: events are posted in this order, and a receiver that sees one
    /// twice (an answer lost on the way back) knows it by this.
    #[serde(default)]
    pub id: u64,
    /// `label.set`, `label.remove`, `label.rule` (a rule's change) or `entity.erase`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When, Unix seconds.
    pub at: u64,
    /// The entity's kind (`account`, `domain`, …).
    pub entity_kind: String,
    /// The entity, as labelled: the operator's own service is told which one changed.
    pub entity: String,
    /// The label, for a label's change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Whether the label is in force after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_force: Option<bool>,
    /// When the label lapses, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Who: an analyst's name or `rule:NAME`.
    pub by: String,
    /// Why, in their words.
    pub reason: String,
}

impl WebhookEvent {
    /// The event of a label's change.
    pub(super) fn of_label(l: &EntityLabel, kind: &str) -> WebhookEvent {
        WebhookEvent {
            id: 0,
            kind: kind.to_owned(),
            at: l.at,
            entity_kind: l.kind.clone(),
            entity: l.entity.clone(),
            label: Some(l.label.clone()),
            in_force: Some(l.holds(l.at)),
            expires: l.expires,
            by: l.by.clone(),
            reason: l.reason.clone(),
        }
    }
}

impl Desk {
    /// Turns the outbox on (`max_queued` events at most) or off.
    pub fn set_webhooks(&self, on: bool, max_queued: u64) {
        self.webhooks_max.store(if on { max_queued.max(1) } else { 0 }, Ordering::Relaxed);
    }

    /// The oldest `limit` events waiting; a damaged one is counted and skipped (`--repair`
    /// removes it).
    pub fn webhooks_due(&self, limit: usize) -> Result<Vec<WebhookEvent>, DeskError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(WEBHOOKS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            match open_json::<WebhookEvent>("webhooks", &k.value().to_be_bytes(), v.value()) {
                Some(e) => out.push(WebhookEvent { id: k.value(), ..e }),
                None => self.damage.found(format!("webhooks {}", k.value()), "fails its checksum"),
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Lets a delivered event go.
    pub fn webhook_delivered(&self, id: u64) -> Result<(), DeskError> {
        let txn = write_txn(&self.db)?;
        txn.open_table(WEBHOOKS)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    /// Events waiting.
    pub fn webhooks_waiting(&self) -> Result<u64, DeskError> {
        Ok(self.db.begin_read()?.open_table(WEBHOOKS)?.len()?)
    }

    /// Events dropped at the outbox's cap since start.
    pub fn webhooks_dropped(&self) -> u64 {
        self.webhooks_dropped.load(Ordering::Relaxed)
    }

    /// Adds `event` to the outbox in `txn` when webhooks are on (at the cap, the oldest goes).
    pub(super) fn queue_webhook(
        &self,
        txn: &redb::WriteTransaction,
        event: WebhookEvent,
    ) -> Result<(), DeskError> {
        let max = self.webhooks_max.load(Ordering::Relaxed);
        if max == 0 {
            return Ok(());
        }
        let mut table = txn.open_table(WEBHOOKS)?;
        let mut sequences = txn.open_table(SEQUENCES)?;
        let seq = next_id(&sequences, "webhooks", table.last()?.map(|(k, _)| k.value()))?;
        table.insert(seq, seal_json("webhooks", &seq.to_be_bytes(), &event).as_slice())?;
        sequences.insert("webhooks", seq + 1)?;
        while table.len()? > max {
            let Some(oldest) = table.first()?.map(|(k, _)| k.value()) else { break };
            table.remove(oldest)?;
            self.webhooks_dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Wakes the delivery task once a transaction that queued events has committed (woken
    /// before, it could read the outbox without them and wait for the next tick).
    pub(super) fn webhooks_committed(&self) {
        if self.webhooks_max.load(Ordering::Relaxed) > 0 {
            self.webhooks_ready.notify_one();
        }
    }
}
