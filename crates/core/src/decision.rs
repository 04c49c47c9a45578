//! Decisions and the thresholds that turn a score into an action.

use serde::{Deserialize, Serialize};

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable machine name, upper case (`MODEL`, `RULE:name`, a kind's own signals).
    pub name: String,
    /// What it means, for a person: a sentence.
    pub description: String,
    /// What it added to the score (log-odds units); 0 for purely informative reasons.
    pub contribution: f64,
    /// The features that weighed most in it (`namespace:token`), with what each added: what an
    /// analyst looks at next. Words of the event: never audited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

impl Reason {
    /// A reason with no evidence.
    pub fn new(name: impl Into<String>, description: impl Into<String>, contribution: f64) -> Self {
        Reason { name: name.into(), description: description.into(), contribution, evidence: Vec::new() }
    }
}

/// One feature behind a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `namespace:token`, as `warden features` lists it.
    pub feature: String,
    /// What it added to the log-odds.
    pub contribution: f64,
}

/// The outcome of the pipeline for one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision<A> {
    /// What to do.
    pub action: A,
    /// What the thresholds act on: the model's log-odds plus rule contributions.
    pub score: f64,
    /// The model's calibrated probability that the event is abusive, 0–1.
    pub probability: f64,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
    /// A rule asked for an analyst to look at it (the action stands meanwhile).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub review: bool,
}

/// An error in a threshold configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdsError(String);

impl std::fmt::Display for ThresholdsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ThresholdsError {}

/// Score thresholds: the mildest action applies below every step; a score at or above a
/// step's minimum takes that step's action (the highest step reached wins).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds<A> {
    lowest: A,
    steps: Vec<(f64, A)>,
}

impl<A: Copy + Ord + std::fmt::Debug> Thresholds<A> {
    /// Builds thresholds; steps must be finite and rise with the severity of their action.
    pub fn new(lowest: A, mut steps: Vec<(f64, A)>) -> Result<Self, ThresholdsError> {
        if let Some((s, a)) = steps.iter().find(|(s, _)| !s.is_finite()) {
            return Err(ThresholdsError(format!("threshold for {a:?} is not a number: {s}")));
        }
        steps.sort_by_key(|s| s.1);
        for w in steps.windows(2) {
            if w[0].0 > w[1].0 {
                return Err(ThresholdsError(format!(
                    "threshold for {:?} ({}) is above the one for the harsher {:?} ({})",
                    w[0].1, w[0].0, w[1].1, w[1].0
                )));
            }
        }
        if let Some((_, a)) = steps.iter().find(|(_, a)| *a <= lowest) {
            return Err(ThresholdsError(format!("{a:?} is not harsher than {lowest:?}")));
        }
        Ok(Thresholds { lowest, steps })
    }

    /// The action for a score. NaN gets the mildest action.
    pub fn action(&self, score: f64) -> A {
        self.steps.iter().rev().find(|(min, _)| score >= *min).map_or(self.lowest, |(_, a)| *a)
    }

    /// The minimum score of `action`, if it has a step.
    pub fn minimum(&self, action: A) -> Option<f64> {
        self.steps.iter().find(|(_, a)| *a == action).map(|(s, _)| *s)
    }
}

/// The logistic function: log-odds to probability.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Probability to log-odds, clamped away from ±infinity.
#[inline]
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four actions, mildest first.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Step {
        Deliver,
        Junk,
        Quarantine,
        Reject,
    }
    use Step::*;

    fn steps() -> Thresholds<Step> {
        Thresholds::new(Deliver, vec![(7.0, Reject), (1.5, Junk), (4.0, Quarantine)]).unwrap()
    }

    #[test]
    fn scores_map_to_the_highest_step_reached() {
        let t = steps();
        assert_eq!(t.action(-3.0), Deliver);
        assert_eq!(t.action(1.5), Junk);
        assert_eq!(t.action(3.99), Junk);
        assert_eq!(t.action(4.0), Quarantine);
        assert_eq!(t.action(100.0), Reject);
        assert_eq!(t.action(f64::NAN), Deliver);
        assert_eq!(t.minimum(Quarantine), Some(4.0));
    }

    #[test]
    fn inverted_or_invalid_steps_are_refused() {
        let e = Thresholds::new(Deliver, vec![(5.0, Junk), (2.0, Reject)]).unwrap_err();
        assert!(e.to_string().contains("above"), "{e}");
        assert!(Thresholds::new(Deliver, vec![(f64::NAN, Junk)]).is_err());
        assert!(Thresholds::new(Junk, vec![(1.0, Deliver)]).is_err());
    }

    #[test]
    fn sigmoid_and_logit_are_inverse_and_stable() {
        for x in [-20.0, -2.0, 0.0, 0.7, 20.0] {
            assert!((logit(sigmoid(x)) - x).abs() < 1e-6, "{x}");
        }
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
    }
}
