//! What the models of JSON kinds learned: each label with the features it taught, in order, so
//! that a kind's model is taught them again at start (the labels' entities are not kept: the
//! features are hashes, and the label is all that is added).

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Desk, DeskError, EntityLabel, KEPT, KeptFeatures, remove_kept};
use warden_store::redbfile::write_txn;
use warden_store::seal::{seal, unseal};

/// Labels taught: (kind, sequence number) → sealed (label byte, features as kept).
pub(super) const TAUGHT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("taught");

fn seal_key(kind: &str, seq: u64) -> Vec<u8> {
    let mut k = kind.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A verdict on an entity of a JSON kind — a label given through feedback, or a review item
/// resolved — as [`Desk::record_verdict`] writes it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The kind whose model learns it.
    pub kind: String,
    /// The label.
    pub label: warden_core::Label,
    /// The entity it is on, as its features are kept: (entity kind, entity).
    pub entity: (String, String),
    /// The features to learn from; `None`: those kept for the entity, if any. Either way the
    /// entity's kept features are forgotten: its label is known.
    pub features: Option<KeptFeatures>,
    /// The entity's labels set or removed with it (by hand: they stand over rules').
    pub labels: Vec<EntityLabel>,
}

/// What a verdict taught: its number in the kind's taught log, and the features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taught {
    /// Its number (1, 2, … per kind).
    pub seq: u64,
    /// The features learned from.
    pub features: KeptFeatures,
}

fn taught_in(
    txn: &redb::WriteTransaction,
    kind: &str,
    label: warden_core::Label,
    features: &KeptFeatures,
) -> Result<u64, DeskError> {
    let mut taught = txn.open_table(TAUGHT)?;
    let seq = taught
        .range((kind, 0)..=(kind, u64::MAX))?
        .next_back()
        .transpose()?
        .map_or(1, |(k, _)| k.value().1 + 1);
    let mut value = vec![u8::from(label.is_abusive())];
    value.extend_from_slice(&features.encode());
    taught.insert((kind, seq), seal("taught", &seal_key(kind, seq), &value).as_slice())?;
    Ok(seq)
}

impl Desk {
    /// Records, durably, that `kind`'s model learns `label` for `features`; returns its number
    /// (1, 2, … per kind).
    pub fn record_taught(
        &self,
        kind: &str,
        label: warden_core::Label,
        features: &KeptFeatures,
    ) -> Result<u64, DeskError> {
        let txn = write_txn(&self.db)?;
        let seq = taught_in(&txn, kind, label, features)?;
        txn.commit()?;
        Ok(seq)
    }

    /// Writes `verdict` in one transaction — its lesson in the taught log, the entity's kept
    /// features forgotten, its labels (audited, posted to the webhooks) — and returns what it
    /// taught. So a crash keeps all of it or none, and a verdict sent again teaches nothing
    /// more: the features it would learn from are gone.
    pub fn record_verdict(&self, verdict: Verdict) -> Result<Option<Taught>, DeskError> {
        self.flush_decisions();
        let txn = write_txn(&self.db)?;
        let taught = self.verdict_in(&txn, verdict)?;
        txn.commit()?;
        self.webhooks_committed();
        Ok(taught)
    }

    /// [`Desk::record_verdict`] in `txn` (the caller commits, then calls
    /// `webhooks_committed`).
    pub(super) fn verdict_in(
        &self,
        txn: &redb::WriteTransaction,
        verdict: Verdict,
    ) -> Result<Option<Taught>, DeskError> {
        let Verdict { kind, label, entity: (entity_kind, entity), features, labels } = verdict;
        let key = self.kept_key(&entity_kind, &entity);
        let kept = {
            let table = txn.open_table(KEPT)?;
            let v = table.get(key)?;
            v.and_then(|v| {
                let read =
                    unseal("kept_features", &key.to_be_bytes(), v.value()).and_then(KeptFeatures::decode);
                if read.is_none() {
                    self.damage.found(format!("kept_features {key:032x}"), "fails its checksum");
                }
                read
            })
        };
        remove_kept(txn, key)?;
        let taught = match features.or(kept) {
            Some(features) => Some(Taught { seq: taught_in(txn, &kind, label, &features)?, features }),
            None => None,
        };
        for l in &labels {
            self.put_label_in(txn, l)?;
        }
        Ok(taught)
    }

    /// The number of the last label taught to `kind`'s model (0 when none).
    pub fn last_taught(&self, kind: &str) -> Result<u64, DeskError> {
        let txn = self.db.begin_read()?;
        let taught = txn.open_table(TAUGHT)?;
        let last = taught.range((kind, 0)..=(kind, u64::MAX))?.next_back().transpose()?;
        Ok(last.map_or(0, |(k, _)| k.value().1))
    }

    /// Calls `each` with every label taught to `kind`'s model after number `after`, in order,
    /// with its number; a damaged record is counted and skipped.
    pub fn each_taught(
        &self,
        kind: &str,
        after: u64,
        each: &mut dyn FnMut(u64, warden_core::Label, KeptFeatures),
    ) -> Result<(), DeskError> {
        let txn = self.db.begin_read()?;
        let taught = txn.open_table(TAUGHT)?;
        for entry in taught.range((kind, after.saturating_add(1))..=(kind, u64::MAX))? {
            let (k, v) = entry?;
            let seq = k.value().1;
            let read =
                unseal("taught", &seal_key(kind, seq), v.value()).and_then(|b| b.split_first()).and_then(
                    |(&label, rest)| Some((warden_core::Label::of(label == 1), KeptFeatures::decode(rest)?)),
                );
            match read {
                Some((label, features)) => each(seq, label, features),
                None => self.damage.found(format!("taught {kind} {seq}"), "fails its checksum"),
            }
        }
        Ok(())
    }
}
