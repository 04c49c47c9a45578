//! Mail as a kind of event: its name, its actions and the words of its labels.

use serde::{Deserialize, Serialize};
use warden_core::{Action, Kind, Label};

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

/// A label of a message, in mail's words: the one label type of mail, for users' reports,
/// analysts' resolutions and the desk's records alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailLabel {
    /// Spam (phishing included): abusive.
    Spam,
    /// Not spam: legitimate.
    Ham,
}

impl MailLabel {
    /// `Spam` when `spam` is true, else `Ham`.
    pub fn of(spam: bool) -> Self {
        if spam { MailLabel::Spam } else { MailLabel::Ham }
    }

    /// Whether it says spam: a learner's target.
    pub fn is_spam(self) -> bool {
        self == MailLabel::Spam
    }

    /// Its word (`spam`, `ham`).
    pub fn as_str(self) -> &'static str {
        MailKind::label_word(self.into())
    }
}

impl From<MailLabel> for Label {
    fn from(l: MailLabel) -> Label {
        match l {
            MailLabel::Spam => Label::Abusive,
            MailLabel::Ham => Label::Legitimate,
        }
    }
}

impl From<Label> for MailLabel {
    fn from(l: Label) -> MailLabel {
        match l {
            Label::Abusive => MailLabel::Spam,
            Label::Legitimate => MailLabel::Ham,
        }
    }
}

impl std::str::FromStr for MailLabel {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        MailKind::label(word).map(MailLabel::from).ok_or_else(|| {
            format!("`{word}` is not a mail label: {} or {}", MailKind::LABELS[0], MailKind::LABELS[1])
        })
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

    #[test]
    fn a_label_reads_and_writes_the_kind_s_words() {
        for l in [MailLabel::Spam, MailLabel::Ham] {
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{}\"", l.as_str()));
            assert_eq!(l.as_str().parse::<MailLabel>(), Ok(l));
            assert_eq!(MailLabel::from(Label::from(l)), l);
        }
        assert!(MailLabel::Spam.is_spam() && !MailLabel::Ham.is_spam());
        let err = "abusive".parse::<MailLabel>().unwrap_err();
        assert!(err.contains("spam or ham"), "{err}");
    }
}
