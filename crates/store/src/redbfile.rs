//! What the data directory's redb files share: the `meta` table and write transactions that
//! commit in two phases. A leaf: the stores and the data directory's checks all use it.

use redb::{Database, TableDefinition};

/// The `meta` table of `feedback.redb` and `desk.redb`.
pub const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Begins a write transaction that commits in two phases: the data is flushed before the commit
/// is made the primary, so a crash never leaves a last commit that fails its checksums (with one
/// phase it may, and a cut commit cannot be told from one the disk damaged after it was
/// acknowledged). It costs a second flush per commit; the desk and the feedback store commit in
/// batches, so that is one per batch.
pub fn write_txn(db: &Database) -> Result<redb::WriteTransaction, redb::TransactionError> {
    let mut txn = db.begin_write()?;
    txn.set_two_phase_commit(true);
    Ok(txn)
}
