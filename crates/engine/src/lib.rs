//! The decision pipeline every kind of event shares: event → features → model and rules →
//! decision {action, score, probability, reasons}. A kind's crate extracts its features and
//! facts and gives its thresholds, families and starter model; this crate knows no kind. It
//! combines the model and the analysts' rules into a decision in one fixed order
//! ([`combine`]), checks that a model scores the kind it is used for ([`check_kind`]), and
//! tells the model's part by family of features ([`explain`]).
#![deny(missing_docs)]

pub mod explain;

use warden_core::{Action, Decision, Kind, Reason, Thresholds, sigmoid};
use warden_learn::{Learner, Model};
use warden_rules::{Outcome, Record, RuleSet};

/// A model used for a kind it does not score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model scores {model} events, not {this}")]
pub struct OtherKind {
    /// The model's kind.
    pub model: String,
    /// The kind it was to be used for.
    pub this: &'static str,
}

/// Refuses a model of another kind than `K` (its file names the kind it learned).
pub fn check_kind<K: Kind>(model: &Model) -> Result<(), OtherKind> {
    if model.meta.kind == K::NAME {
        Ok(())
    } else {
        Err(OtherKind { model: model.meta.kind.clone(), this: K::NAME })
    }
}

/// What [`combine`] makes a decision of.
#[derive(Debug)]
pub struct Scored<'a, K: Kind> {
    /// The model that scored the event.
    pub model: &'a Model,
    /// The event's features, counted.
    pub features: usize,
    /// The model's log-odds.
    pub model_score: f64,
    /// Points the kind's named signals add to the score.
    pub points: f64,
    /// The analysts' rules and the record they read of this event.
    pub rules: Option<(&'a RuleSet, &'a Record)>,
    /// An action the kind forces before anything else (mail's GTUBE test string), with why.
    pub forced: Option<(K::Action, Reason)>,
    /// The model's reasons (signals, families), shown after the `MODEL` reason.
    pub reasons: Vec<Reason>,
}

/// Combines the model and the rules into one decision, in this order: the kind's own forced
/// action; an enforced rule's `allow` lets the event through (the mildest action); the
/// harshest action an enforced rule forces; else the score — the model's log-odds plus the
/// signals' and enforced rules' points — against `thresholds`. Shadow rules never change any of
/// it. Reasons: the forced one, the rules that fired, `MODEL`, then the model's own.
pub fn combine<K: Kind>(
    s: Scored<'_, K>,
    thresholds: &Thresholds<K::Action>,
) -> (Decision<K::Action>, Option<Outcome>) {
    let probability = sigmoid(s.model_score);
    let mut reasons = Vec::with_capacity(s.reasons.len() + 2);
    let mut outcome = None;
    let mut score = s.model_score + s.points;
    let mut forced = None;
    let mut allowed = false;
    let mut review = false;
    if let Some((rules, record)) = s.rules {
        let out = rules.evaluate(record);
        score += out.points;
        review = out.review;
        allowed = out.allow;
        forced = out.action.and_then(|a| K::Action::ALL.get(a).copied());
        for &i in &out.fired {
            let rule = &rules.rules()[i];
            let what =
                if rule.description.is_empty() { String::new() } else { format!("{}: ", rule.description) };
            reasons.push(Reason::new(
                format!("RULE:{}", rule.name),
                format!("{what}{}", rule.explain_with(rules, record, &out)),
                rule.points(),
            ));
        }
        outcome = Some(out);
    }
    let action = if let Some((action, why)) = s.forced {
        reasons.insert(0, why);
        action
    } else if allowed {
        K::Action::mildest()
    } else if let Some(a) = forced {
        a
    } else {
        thresholds.action(score)
    };
    reasons.push(Reason::new(
        "MODEL",
        model_sentence::<K>(s.model, s.features, s.model_score),
        s.model_score,
    ));
    reasons.extend(s.reasons);
    (Decision { action, score, probability, reasons, review }, outcome)
}

/// The `MODEL` reason's sentence: "The FTRL-Proximal model read 1234 features and gives
/// P(spam) = 0.9820 (log-odds +4.000)."
fn model_sentence<K: Kind>(model: &Model, features: usize, model_score: f64) -> String {
    let learner = match model.learner {
        Learner::Ftrl(_) => "FTRL-Proximal",
        Learner::NaiveBayes(_) => "naive Bayes",
    };
    let mut digits = itoa::Buffer::new();
    let mut out = String::with_capacity(96);
    out.push_str("The ");
    out.push_str(learner);
    out.push_str(" model read ");
    out.push_str(digits.format(features));
    out.push_str(" features and gives P(");
    out.push_str(K::LABELS[0]);
    out.push_str(") = ");
    explain::push_fixed(&mut out, sigmoid(model_score), 4, false);
    out.push_str(" (log-odds ");
    explain::push_fixed(&mut out, model_score, 3, true);
    out.push_str(").");
    out
}
