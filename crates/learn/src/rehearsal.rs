//! Rehearsal: learning the hard examples again.
//!
//! Online evaluation punishes a slow start: most of an online learner's ranking errors come
//! in its first few hundred messages. Keeping a small buffer of the examples the model got
//! wrong or nearly wrong, and learning a few of them again each time it meets another hard
//! one, lets it converge much faster on exactly the margin cases (compare relaxed online SVMs,
//! which re-optimise over recent support vectors). Confidently right messages cost nothing
//! extra. The buffer lives in memory only: a loaded model starts with an empty one.

use serde::{Deserialize, Serialize};
use warden_core::{FeatureVec, Label};

/// Rehearsal settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RehearsalParams {
    /// Hard examples kept (default 512; 0 turns rehearsal off).
    pub capacity: usize,
    /// Examples from the buffer learned again after each hard example (default 8).
    pub replays: usize,
    /// An example is hard when the model gave its true label less than this probability
    /// before learning it (default 0.9).
    pub hard_below: f64,
}

impl Default for RehearsalParams {
    fn default() -> Self {
        RehearsalParams { capacity: 512, replays: 8, hard_below: 0.9 }
    }
}

impl RehearsalParams {
    /// No rehearsal.
    pub fn off() -> Self {
        RehearsalParams { capacity: 0, replays: 0, hard_below: 0.0 }
    }
}

/// The buffer of hard examples.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rehearsal {
    params: Option<RehearsalParams>,
    buffer: Vec<(FeatureVec, Label)>,
    rng: u64,
}

impl Rehearsal {
    pub fn new(params: RehearsalParams) -> Self {
        let on = params.capacity > 0 && params.replays > 0;
        Rehearsal { params: on.then_some(params), buffer: Vec::new(), rng: 0x2545_F491_4F6C_DD1D }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: reproducible, and all a sampler needs.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// After learning `x` (whose true label had probability `p_true` before), returns the
    /// examples to learn again, and keeps `x` if it was hard.
    pub fn after(&mut self, x: &FeatureVec, label: Label, p_true: f64) -> Vec<(FeatureVec, Label)> {
        let Some(p) = self.params else {
            return Vec::new();
        };
        if p_true >= p.hard_below {
            return Vec::new();
        }
        let mut again = Vec::with_capacity(p.replays);
        if !self.buffer.is_empty() {
            for _ in 0..p.replays {
                let i = (self.next() % self.buffer.len() as u64) as usize;
                again.push(self.buffer[i].clone());
            }
        }
        if self.buffer.len() < p.capacity {
            self.buffer.push((x.clone(), label));
        } else {
            let i = (self.next() % p.capacity as u64) as usize;
            self.buffer[i] = (x.clone(), label);
        }
        again
    }

    /// Drops every buffered copy of `x` (its label has been corrected).
    pub fn forget(&mut self, x: &FeatureVec) {
        self.buffer.retain(|(b, _)| b != x);
    }

    /// Examples held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hard_examples_are_kept_and_replayed() {
        let mut r = Rehearsal::new(RehearsalParams { capacity: 2, replays: 3, hard_below: 0.9 });
        let x = FeatureVec::from_hashes(vec![1]);
        assert!(r.after(&x, Label::Abusive, 0.95).is_empty());
        assert_eq!(r.len(), 0, "an easy example is not kept");
        assert!(r.after(&x, Label::Abusive, 0.5).is_empty(), "nothing to replay yet");
        assert_eq!(r.after(&x, Label::Legitimate, 0.1).len(), 3);
        r.after(&x, Label::Legitimate, 0.1);
        assert_eq!(r.len(), 2, "the buffer is bounded");
        r.forget(&x);
        assert_eq!(r.len(), 0, "a corrected example is not rehearsed with its old label");
        let mut off = Rehearsal::new(RehearsalParams::off());
        off.after(&x, Label::Abusive, 0.0);
        assert_eq!(off.len(), 0);
    }
}
