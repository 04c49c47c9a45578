//! What rules did to an event, as the desk keeps it — counter updates (mail's in the journal, a
//! JSON kind's with its decision) and label changes on entities — the same for every kind.

use warden_desk::{EntityLabel, LabelSource};
use warden_rules::{Outcome, RuleSet};
use warden_store::journal::JournaledCount;

/// The name a kind's counter is journaled under: mail's as it is (the first kind, whose
/// journal came first), a JSON kind's after its kind (`signup:burst`), so that two kinds'
/// counters of one name stay apart.
pub fn journaled_name(kind: &str, counter: &str) -> String {
    if kind == "mail" { counter.to_owned() } else { format!("{kind}:{counter}") }
}

/// The counter a journaled name is `kind`'s, by [`journaled_name`]'s rule; `None` when the
/// name is another kind's.
pub fn counter_of<'a>(kind: &str, journaled: &'a str) -> Option<&'a str> {
    if kind == "mail" { Some(journaled) } else { journaled.strip_prefix(kind)?.strip_prefix(':') }
}

/// The counter updates of `out`, named as `kind`'s journal names them.
pub fn journaled_counts(kind: &str, rules: &RuleSet, out: &Outcome) -> Vec<JournaledCount> {
    let names: Vec<&str> = rules.counter_names().collect();
    (out.counter_events.iter())
        .map(|c| JournaledCount {
            counter: journaled_name(kind, names[c.counter]),
            entity: c.entity,
            value: c.value,
            at: c.at,
        })
        .collect()
}

/// The label changes `out`'s rules asked for, as entity labels set at `now` (the entity's kind
/// from the field the rule named).
pub fn rule_labels(rules: &RuleSet, out: &Outcome, now: u64) -> Vec<EntityLabel> {
    (out.labels.iter())
        .map(|c| {
            let rule = &rules.rules()[c.rule];
            EntityLabel {
                kind: rules.catalogue().entity_kind(c.field).to_owned(),
                entity: c.entity.clone(),
                label: c.label.clone(),
                active: !c.remove,
                source: LabelSource::Automatic,
                by: format!("rule:{}", rule.name),
                reason: if rule.description.is_empty() {
                    format!("rule {} fired", rule.name)
                } else {
                    rule.description.clone()
                },
                at: now,
                expires: c.ttl.map(|t| now.saturating_add(t)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_counters_keep_their_names_and_other_kinds_name_theirs() {
        assert_eq!(journaled_name("mail", "burst"), "burst");
        assert_eq!(journaled_name("signup", "burst"), "signup:burst");
        assert_eq!(counter_of("signup", "signup:burst"), Some("burst"));
        assert_eq!(counter_of("signup", "signupx:burst"), None);
        assert_eq!(counter_of("login", "signup:burst"), None);
        assert_eq!(counter_of("mail", "burst"), Some("burst"));
    }
}
