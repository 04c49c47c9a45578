//! The audit log: every decision and every analyst's action, sealed, in sequence.

use redb::{ReadableDatabase, ReadableTable};

use crate::{AUDIT, DESK_FILE, Desk, DeskError, FORMAT, SEQUENCES};
use serde::{Deserialize, Serialize};
use warden_store::feedback::StoreError;
use warden_store::redbfile::{META, write_txn};
use warden_store::seal::{seal, unseal};

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

/// Makes the next audit sequence number follow the last entry stored (a damaged counter
/// would otherwise number two entries alike).
pub(super) fn mend_audit_sequence(txn: &redb::WriteTransaction) -> Result<(), DeskError> {
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

pub(super) fn append_audit(txn: &redb::WriteTransaction, mut entry: AuditEntry) -> Result<(), DeskError> {
    let mut audit = txn.open_table(AUDIT)?;
    let mut sequences = txn.open_table(SEQUENCES)?;
    entry.seq = sequences.get("audit")?.map_or(1, |v| v.value());
    let mut row = serde_json::to_vec(&entry).expect("entries serialise");
    row.push(b'\n');
    audit.insert(entry.seq, seal("audit", &entry.seq.to_be_bytes(), &row).as_slice())?;
    sequences.insert("audit", entry.seq + 1)?;
    Ok(())
}

impl Desk {
    /// The audit entries after `seq`, oldest first, at most `limit`. Reads only the rows that
    /// hold them; a damaged row is skipped and counted.
    pub fn audit_page(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>, DeskError> {
        self.flush_decisions();
        let mut out = Vec::new();
        self.audit_rows(seq, |e| {
            out.push(e);
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Calls `each` with the audit entries after `seq`, in order.
    pub fn audit_after(&self, seq: u64, mut each: impl FnMut(AuditEntry)) -> Result<(), DeskError> {
        self.flush_decisions();
        self.audit_rows(seq, |e| {
            each(e);
            true
        })
    }

    /// The entries after `seq` to `each`, until it answers false.
    pub(super) fn audit_rows(
        &self,
        seq: u64,
        mut each: impl FnMut(AuditEntry) -> bool,
    ) -> Result<(), DeskError> {
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
}
