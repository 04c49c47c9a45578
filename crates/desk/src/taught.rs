//! What the models of JSON kinds learned: each label with the features it taught, in order, so
//! that a kind's model is taught them again at start (the labels' entities are not kept: the
//! features are hashes, and the label is all that is added).

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Desk, DeskError, KeptFeatures};
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
        let seq = {
            let mut taught = txn.open_table(TAUGHT)?;
            let seq = taught
                .range((kind, 0)..=(kind, u64::MAX))?
                .next_back()
                .transpose()?
                .map_or(1, |(k, _)| k.value().1 + 1);
            let mut value = vec![u8::from(label.is_abusive())];
            value.extend_from_slice(&features.encode());
            taught.insert((kind, seq), seal("taught", &seal_key(kind, seq), &value).as_slice())?;
            seq
        };
        txn.commit()?;
        Ok(seq)
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
