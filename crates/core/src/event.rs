//! Kinds of event, their actions and their labels: what the pipeline needs to know of a kind,
//! and nothing of any kind in particular. Each kind is a crate of its own that implements
//! [`Kind`]; the engine, rules, desk, stores and server are generic over it.

use crate::features::FeatureSink;

/// A kind of event. Its crate gives its event type and parser, features, facts, rule
/// catalogue, actions and starter model; here it only names itself, its actions and the words
/// of its labels.
pub trait Kind: Send + Sync + 'static {
    /// Its name in routes (`/v1/<kind>/check`), commands, model files and audit entries:
    /// lower case ASCII letters.
    const NAME: &'static str;
    /// What a decision on an event of this kind can do.
    type Action: Action;
    /// The words of its labels, as APIs and files spell them: the abusive one first, then the
    /// legitimate one (an account is `abusive` or `legitimate`).
    const LABELS: [&'static str; 2];

    /// The label a word spells, in this kind's vocabulary.
    fn label(word: &str) -> Option<Label> {
        match word {
            w if w == Self::LABELS[0] => Some(Label::Abusive),
            w if w == Self::LABELS[1] => Some(Label::Legitimate),
            _ => None,
        }
    }

    /// The word of a label in this kind's vocabulary.
    fn label_word(label: Label) -> &'static str {
        match label {
            Label::Abusive => Self::LABELS[0],
            Label::Legitimate => Self::LABELS[1],
        }
    }
}

/// One action of a kind. A kind's actions are ordered mildest first: the first lets the event
/// through, each later one is harsher, and thresholds rise with them.
pub trait Action: Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static {
    /// Every action of the kind, mildest first.
    const ALL: &'static [Self];

    /// Its name in configuration, APIs, logs and audit entries.
    fn as_str(self) -> &'static str;

    /// The action called `name`.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The mildest action: what happens when nothing says otherwise.
    fn mildest() -> Self {
        Self::ALL[0]
    }

    /// Whether taking it puts the event before an analyst (a sign-up's `review`): the server
    /// queues a review item for it. None does, unless the kind says so.
    fn asks_review(self) -> bool {
        false
    }
}

/// What a label says of an event, in every kind: the words differ ([`Kind::LABELS`]), the
/// meaning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// What the kind exists to stop.
    Abusive,
    /// What it must let through.
    Legitimate,
}

impl Label {
    /// The label of a learner's target: true is abusive.
    pub fn of(abusive: bool) -> Self {
        if abusive { Label::Abusive } else { Label::Legitimate }
    }

    /// Whether it is [`Label::Abusive`]: a learner's target.
    pub fn is_abusive(self) -> bool {
        self == Label::Abusive
    }
}

/// Something the pipeline can decide on: it knows its kind and how to describe itself as
/// features. Extraction must be total: any event that exists yields features, never a panic.
pub trait Event {
    /// Its kind.
    type Kind: Kind;
    /// Emits the event's features into `sink`.
    fn extract(&self, sink: &mut dyn FeatureSink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    enum Gate {
        Open,
        Ask,
        Shut,
    }

    impl Action for Gate {
        const ALL: &'static [Self] = &[Gate::Open, Gate::Ask, Gate::Shut];
        fn as_str(self) -> &'static str {
            match self {
                Gate::Open => "open",
                Gate::Ask => "ask",
                Gate::Shut => "shut",
            }
        }
    }

    struct Door;

    impl Kind for Door {
        const NAME: &'static str = "door";
        type Action = Gate;
        const LABELS: [&'static str; 2] = ["intruder", "resident"];
    }

    #[test]
    fn actions_are_named_both_ways_and_the_first_is_the_mildest() {
        for &a in Gate::ALL {
            assert_eq!(Gate::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Gate::from_name("Open"), None, "names are exact");
        assert_eq!(Gate::mildest(), Gate::Open);
    }

    #[test]
    fn a_kind_spells_its_labels_in_its_own_words() {
        assert_eq!(Door::label("intruder"), Some(Label::Abusive));
        assert_eq!(Door::label("resident"), Some(Label::Legitimate));
        assert_eq!(Door::label("burglar"), None);
        assert_eq!(Door::label_word(Label::of(true)), "intruder");
        assert_eq!(Door::label_word(Label::of(false)), "resident");
        assert!(Label::Abusive.is_abusive() && !Label::Legitimate.is_abusive());
    }
}
