//! Warden's core vocabulary, shared by every kind of event.
//!
//! An *event* of some [`Kind`] is turned into hashed *features* by its extractor, a *model*
//! turns the features into a score, and the score, with any forced verdicts, becomes a
//! [`Decision`]: one of the kind's actions, a calibrated probability, the score the thresholds
//! act on, and the reasons for it. Nothing here knows any kind in particular: each is a crate
//! of its own.
#![deny(missing_docs)]

mod decision;
mod event;
mod features;
pub mod time;

pub use decision::{Decision, Evidence, Reason, Thresholds, ThresholdsError, logit, sigmoid};
pub use event::{Action, Event, Kind, Label};
pub use features::{
    FeatureSink, FeatureVec, HashedSink, Ignore, Look, NamedSink, Namespace, Recorded, RecordingSink,
    feature_hash, feature_hash_u32,
};
