//! Sign-ups: the kind of event a service sends when an account is made, so that accounts made in
//! bulk by one hand are stopped at the door or caught minutes later.
//!
//! This crate reads the event ([`event::parse`]: the contract's fields, each checked, hostile
//! bytes refused with the field named), measures the shapes of the names and addresses in it
//! ([`shape`]), classes mail domains ([`domain`]) and makes the features at the door
//! ([`features`], listed in FEATURES.md), remembers recent sign-ups on event time ([`memory`]),
//! groups accounts made by one hand ([`cluster`]), and serves all of it on the generic pipeline
//! ([`kind`], [`settings`]). [`synth`] is the simulator its starter models are trained on.
#![deny(missing_docs)]

pub mod cluster;
pub mod domain;
pub mod event;
pub mod features;
pub mod kind;
pub mod memory;
pub mod networks;
pub mod settings;
pub mod shape;
pub mod synth;
pub mod zones;

/// The hasher of the kind's in-memory maps (the memory's, the clusterer's, the user agents
/// read): their keys are keyed hashes, counters or short strings, so hashbrown's own fast
/// hasher does where SipHash took a tenth of a decision.
pub(crate) type FastHash = foldhash::fast::RandomState;

use warden_core::{Action, Kind};

/// What a sign-up decision does, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignupAction {
    /// The account is made.
    Allow,
    /// The service asks for more proof first (a phone, a harder captcha).
    Challenge,
    /// An analyst looks at it (the review queue).
    Review,
    /// The account is refused.
    Block,
}

impl Action for SignupAction {
    const ALL: &'static [Self] =
        &[SignupAction::Allow, SignupAction::Challenge, SignupAction::Review, SignupAction::Block];

    fn as_str(self) -> &'static str {
        match self {
            SignupAction::Allow => "allow",
            SignupAction::Challenge => "challenge",
            SignupAction::Review => "review",
            SignupAction::Block => "block",
        }
    }

    fn asks_review(self) -> bool {
        self == SignupAction::Review
    }
}

/// The sign-up kind: `signup`, its actions, its labels `abusive|legitimate`.
#[derive(Debug, Clone, Copy)]
pub struct SignupKind;

impl Kind for SignupKind {
    const NAME: &'static str = "signup";
    type Action = SignupAction;
    const LABELS: [&'static str; 2] = ["abusive", "legitimate"];
}

#[cfg(test)]
mod tests {
    use super::{SignupAction, SignupKind};
    use warden_core::{Action, Kind, Label};

    #[test]
    fn the_kind_names_its_actions_mildest_first_and_its_labels() {
        let names: Vec<&str> = SignupAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ["allow", "challenge", "review", "block"]);
        assert!(SignupAction::ALL.windows(2).all(|w| w[0] < w[1]), "mildest first");
        assert_eq!(SignupAction::from_name("review"), Some(SignupAction::Review));
        let asks: Vec<bool> = SignupAction::ALL.iter().map(|a| a.asks_review()).collect();
        assert_eq!(asks, [false, false, true, false], "only review queues an item");
        assert_eq!(SignupKind::label("abusive"), Some(Label::Abusive));
        assert_eq!(SignupKind::label("spam"), None, "mail's words are not sign-ups'");
    }
}
