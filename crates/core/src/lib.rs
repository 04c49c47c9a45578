//! Warden's core vocabulary, shared by every kind of event.
//!
//! An *event* (a mail message today; signups, logins and traffic next) is turned into hashed
//! *features* by its extractor, a *model* turns the features into a score, and the score,
//! with any forced verdicts, becomes a [`Decision`]: an action, a calibrated probability, the
//! score the thresholds act on, and the reasons for it. Nothing here knows about mail.
#![deny(missing_docs)]

mod decision;
mod event;
mod features;

pub use decision::{Decision, Evidence, MailAction, Reason, Thresholds, ThresholdsError, logit, sigmoid};
pub use event::{Event, EventKind};
pub use features::{
    FeatureSink, FeatureVec, HashedSink, Ignore, Look, NamedSink, Namespace, Recorded, RecordingSink,
    feature_hash, feature_hash_u32,
};
