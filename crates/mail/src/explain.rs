//! Mail's families of features, each told as one reason (`warden_engine::explain` sums them
//! and writes the sentences): a stable upper-case name (what Rspamd users see as a symbol) and
//! the namespaces the family holds.
//!
//! Single features are no explanation: a message has a few thousand, each a few hundredths of
//! the score, most of them byte 4-grams. Their sums by family are few, add up to the model's
//! whole log-odds (less its bias), and say where the weight came from.

use crate::extract::ns;
pub use warden_engine::explain::{Family, push_fixed, sentence};

const WORDS: &[&str] = &[ns::SUBJECT.name(), ns::BODY.name()];
const LINKS: &[&str] = &[ns::URL_DOMAIN.name(), ns::URL_SHAPE.name()];
const SENDER: &[&str] = &[ns::SENDER.name(), ns::AUTH.name()];
const ROUTE: &[&str] =
    &[ns::RECEIVED.name(), ns::MAILER.name(), ns::DATE.name(), ns::RCPT.name(), ns::HDR_NAME.name()];
const STRUCTURE: &[&str] = &[
    ns::MIME.name(),
    ns::ATTACH.name(),
    ns::HTML.name(),
    ns::MESSAGE.name(),
    ns::SUBJECT_SHAPE.name(),
    ns::BODY_SHAPE.name(),
];

/// Every family, in a fixed order; every namespace the extractor emits is in one of them.
pub const FAMILIES: [Family; 6] = [
    Family {
        name: "TEXT",
        about: "the words of the subject and body",
        namespaces: &[ns::SUBJECT.name(), ns::BODY.name(), ns::NGRAM.name()],
        evidence: WORDS,
    },
    Family {
        name: "LINKS",
        about: "the links and the domains they lead to",
        namespaces: LINKS,
        evidence: LINKS,
    },
    Family {
        name: "SENDER",
        about: "the sender, its domains and its authentication",
        namespaces: SENDER,
        evidence: SENDER,
    },
    Family {
        name: "ROUTE",
        about: "the route and the header fields (relays, mailer, dates, recipients)",
        namespaces: ROUTE,
        evidence: ROUTE,
    },
    Family {
        name: "STRUCTURE",
        about: "the parts, attachments, HTML, sizes and shapes of the message",
        namespaces: STRUCTURE,
        evidence: STRUCTURE,
    },
    Family {
        name: "LAYOUT",
        about: "the bytes of the raw message (header layout, encodings, markup)",
        namespaces: &[ns::RAW_NGRAM.name()],
        evidence: &[],
    },
];

/// The index in [`FAMILIES`] of a namespace's family; `None` for the named signals (`sig`),
/// each a reason of its own.
pub fn family_of(namespace: &str) -> Option<usize> {
    warden_engine::explain::family_of(&FAMILIES, namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_namespace_the_extractor_emits_is_in_exactly_one_family() {
        let all = [
            ns::HDR_NAME,
            ns::SENDER,
            ns::RCPT,
            ns::RECEIVED,
            ns::MAILER,
            ns::AUTH,
            ns::DATE,
            ns::MIME,
            ns::ATTACH,
            ns::SUBJECT,
            ns::SUBJECT_SHAPE,
            ns::BODY,
            ns::BODY_SHAPE,
            ns::HTML,
            ns::URL_DOMAIN,
            ns::URL_SHAPE,
            ns::NGRAM,
            ns::RAW_NGRAM,
            ns::MESSAGE,
        ];
        assert_eq!(family_of(ns::SIGNAL.name()), None, "signals are reasons of their own");
        for n in all {
            let homes = FAMILIES.iter().filter(|f| f.namespaces.contains(&n.name())).count();
            assert_eq!(homes, 1, "{}", n.name());
        }
        let listed: usize = FAMILIES.iter().map(|f| f.namespaces.len()).sum();
        assert_eq!(listed, all.len(), "a family lists a namespace the extractor does not emit");
        for f in FAMILIES {
            assert!(f.evidence.iter().all(|e| f.namespaces.contains(e)), "{}", f.name);
            assert!(f.name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "{}", f.name);
        }
    }

    #[test]
    fn mail_reasons_weigh_toward_spam_or_ham() {
        let text = &FAMILIES[family_of("body").unwrap()];
        let words = <crate::MailKind as warden_core::Kind>::LABELS;
        assert_eq!(
            sentence(text, 3.1, &[("verify", 0.9)], words),
            "The words of the subject and body weigh +3.10 toward spam, most of all 'verify' (+0.90)."
        );
        assert_eq!(
            sentence(&FAMILIES[family_of("raw").unwrap()], -0.5, &[], words),
            "The bytes of the raw message (header layout, encodings, markup) weigh -0.50 toward ham."
        );
    }
}
