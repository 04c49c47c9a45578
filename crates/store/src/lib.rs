//! Warden's durable files, generic over kinds of event: the feedback log (`feedback.redb`,
//! [`feedback`]), the journal of the rules' window counters ([`journal`]), the checksummed
//! records every store writes ([`seal`]) and the redb settings they share ([`redbfile`]). The
//! desk and the data directory that opens them are in `warden-desk`; the traits callers use
//! are in `warden_desk::state`.
#![deny(missing_docs)]

pub mod feedback;
pub mod journal;
pub mod redbfile;
pub mod seal;

/// The database the stores are kept in, for [`from_redb_errors`]'s expansion elsewhere.
#[doc(hidden)]
pub use redb;
