//! Entities as a whole: what is kept about one (its labels, its kept features) and its erasure.

use redb::ReadableTable;

use crate::{
    AuditEntry, Desk, DeskError, EntityLabel, LABELS, WebhookEvent, append_audit, bound, remove_history,
    remove_kept,
};
use serde::Serialize;
use std::sync::atomic::Ordering;
use warden_store::redbfile::write_txn;

/// What the desk keeps about an entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityState {
    /// The entity's kind (`account`, `domain`, `ip`, …), lower case.
    pub kind: String,
    /// The entity, lower case.
    pub entity: String,
    /// The names of the labels in force now.
    pub in_force: Vec<String>,
    /// Every label record, removed and lapsed ones included.
    pub labels: Vec<EntityLabel>,
    /// Features of one of its events are kept for a label still to come.
    pub features_kept: bool,
    /// Records of its history kept.
    pub history: u64,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// Label records deleted (removals and lapsed ones included).
    pub labels: u64,
    /// Kept features deleted.
    pub features: bool,
    /// History records deleted.
    pub history: u64,
}

impl Desk {
    /// What the desk keeps about `kind`/`entity` at `now`.
    pub fn entity_state(&self, kind: &str, entity: &str, now: u64) -> Result<EntityState, DeskError> {
        let (kind, entity) = (kind.to_lowercase(), entity.to_lowercase());
        let labels = self.labels(Some(&kind), Some(&entity))?;
        let in_force = labels.iter().filter(|l| l.holds(now)).map(|l| l.label.clone()).collect();
        let features_kept = self.kept_features(&kind, &entity)?.is_some();
        let history = self.history_len(&kind, &entity)?;
        Ok(EntityState { kind, entity, in_force, labels, features_kept, history })
    }

    /// Erases what the desk keeps about `kind`/`entity` — every label record, its kept
    /// features, its history — in one durable transaction with its audit entry (the entity as a keyed hash).
    /// Audit entries written before keep their keyed hashes: without the key they name no one.
    pub fn erase_entity(
        &self,
        kind: &str,
        entity: &str,
        who: &str,
        reason: &str,
        now: u64,
    ) -> Result<Erased, DeskError> {
        self.flush_decisions();
        let (kind, entity) = (kind.to_lowercase(), entity.to_lowercase());
        let prefix = format!("{kind}\0{entity}\0");
        let txn = write_txn(&self.db)?;
        let erased = {
            let mut labels = txn.open_table(LABELS)?;
            let keys: Vec<String> = labels
                .range(prefix.as_str()..)?
                .map(|e| e.map(|(k, _)| k.value().to_owned()))
                .take_while(|k| k.as_ref().map_or(true, |k| k.starts_with(&prefix)))
                .collect::<Result<_, _>>()?;
            for k in &keys {
                labels.remove(k.as_str())?;
            }
            let features = remove_kept(&txn, self.kept_key(&kind, &entity))?;
            let history = remove_history(&txn, self.history_key(&kind, &entity))?;
            Erased { labels: keys.len() as u64, features, history }
        };
        append_audit(
            &txn,
            AuditEntry {
                at: now,
                kind: "entity.erase".into(),
                actor: who.into(),
                entity: Some(format!("{kind}:{}", self.hash(&kind, &entity))),
                previous: Some(format!(
                    "{} label records{}, {} history records",
                    erased.labels,
                    if erased.features { ", kept features" } else { "" },
                    erased.history
                )),
                reason: Some(bound(reason, self.reason_bytes.load(Ordering::Relaxed))),
                ..AuditEntry::default()
            },
        )?;
        self.queue_webhook(
            &txn,
            WebhookEvent {
                id: 0,
                kind: "entity.erase".into(),
                at: now,
                entity_kind: kind.clone(),
                entity: entity.clone(),
                label: None,
                in_force: None,
                expires: None,
                by: who.into(),
                reason: bound(reason, self.reason_bytes.load(Ordering::Relaxed)),
            },
        )?;
        txn.commit()?;
        self.webhooks_committed();
        Ok(erased)
    }
}
