//! What rules did to an event, as the desk keeps it — counter updates (a plug-in's in the
//! journal, a JSON kind's with its decision) and label changes on entities — the same for every
//! kind.

use warden_desk::{EntityLabel, LabelSource};
use warden_rules::{Outcome, RuleSet};
use warden_store::journal::JournaledCount;

/// The name a counter is kept under: a plug-in's (`prefix` `None`) as it is — mail's journal
/// came before kinds had names — and a JSON kind's after its kind (`Some("signup")`:
/// `signup:burst`), so that two kinds' counters of one name stay apart.
pub fn journaled_name(prefix: Option<&str>, counter: &str) -> String {
    match prefix {
        None => counter.to_owned(),
        Some(kind) => format!("{kind}:{counter}"),
    }
}

/// The counter a kept name is, by [`journaled_name`]'s rule for `prefix`; `None` when the name
/// is another kind's (a rule's counter name has no `:`).
pub fn counter_of<'a>(prefix: Option<&str>, journaled: &'a str) -> Option<&'a str> {
    match prefix {
        None => (!journaled.contains(':')).then_some(journaled),
        Some(kind) => journaled.strip_prefix(kind)?.strip_prefix(':'),
    }
}

/// The counter updates of `out`, named by [`journaled_name`]'s rule for `prefix`.
pub fn journaled_counts(prefix: Option<&str>, rules: &RuleSet, out: &Outcome) -> Vec<JournaledCount> {
    let names: Vec<&str> = rules.counter_names().collect();
    (out.counter_events.iter())
        .map(|c| JournaledCount {
            counter: journaled_name(prefix, names[c.counter]),
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
    fn plug_ins_counters_keep_their_names_and_json_kinds_name_theirs() {
        assert_eq!(journaled_name(None, "burst"), "burst");
        assert_eq!(journaled_name(Some("signup"), "burst"), "signup:burst");
        assert_eq!(counter_of(Some("signup"), "signup:burst"), Some("burst"));
        assert_eq!(counter_of(Some("signup"), "signupx:burst"), None);
        assert_eq!(counter_of(Some("login"), "signup:burst"), None);
        assert_eq!(counter_of(None, "burst"), Some("burst"));
        assert_eq!(counter_of(None, "signup:burst"), None, "a plug-in never takes a JSON kind's count");
    }
}
