//! Mail as a kind of event: its name, its actions and the words of its labels.

use serde::{Deserialize, Serialize};
use warden_core::{Action, Kind};

/// Mail, as the pipeline knows it.
#[derive(Debug, Clone, Copy)]
pub struct MailKind;

impl Kind for MailKind {
    const NAME: &'static str = "mail";
    type Action = MailAction;
    const LABELS: [&'static str; 2] = ["spam", "ham"];
}

/// What Warden does with a mail message, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailAction {
    /// Deliver to the inbox.
    Deliver,
    /// Deliver to the junk folder.
    Junk,
    /// Hold for review.
    Quarantine,
    /// Refuse at SMTP time.
    Reject,
}

impl Action for MailAction {
    const ALL: &'static [Self] =
        &[MailAction::Deliver, MailAction::Junk, MailAction::Quarantine, MailAction::Reject];

    fn as_str(self) -> &'static str {
        MailAction::as_str(self)
    }
}

impl MailAction {
    /// The action's name as used in configuration and output.
    pub const fn as_str(self) -> &'static str {
        match self {
            MailAction::Deliver => "deliver",
            MailAction::Junk => "junk",
            MailAction::Quarantine => "quarantine",
            MailAction::Reject => "reject",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::Label;

    #[test]
    fn actions_are_named_as_they_serialise() {
        for &a in MailAction::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.as_str()));
            assert_eq!(<MailAction as Action>::from_name(a.as_str()), Some(a));
        }
        assert!(MailAction::ALL.windows(2).all(|w| w[0] < w[1]), "mildest first");
        assert_eq!(MailKind::label("spam"), Some(Label::Abusive));
        assert_eq!(MailKind::label("ham"), Some(Label::Legitimate));
    }
}
