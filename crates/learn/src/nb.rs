//! Multinomial naive Bayes over feature presence: the classic Bayesian spam filter.

use warden_core::{FeatureVec, Label};

use crate::OnlineLearner;

/// Laplace smoothing added to every count.
const SMOOTHING: f64 = 1.0;

/// Naive Bayes with per-class document counts per feature slot.
#[derive(Debug, Clone)]
pub struct NaiveBayes {
    bits: u8,
    mask: u64,
    spam: Vec<u32>,
    ham: Vec<u32>,
    spam_docs: u64,
    ham_docs: u64,
}

impl NaiveBayes {
    /// An empty model of `2^bits` slots.
    pub fn new(bits: u8) -> Self {
        let size = 1usize << bits;
        NaiveBayes {
            bits,
            mask: (size - 1) as u64,
            spam: vec![0; size],
            ham: vec![0; size],
            spam_docs: 0,
            ham_docs: 0,
        }
    }

    /// The table has `2^bits` slots.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    fn ratio(&self, i: usize) -> f64 {
        let s = (self.spam[i] as f64 + SMOOTHING) / (self.spam_docs as f64 + 2.0 * SMOOTHING);
        let h = (self.ham[i] as f64 + SMOOTHING) / (self.ham_docs as f64 + 2.0 * SMOOTHING);
        (s / h).ln()
    }

    /// Documents learned per class, `(spam, ham)`.
    pub(crate) fn docs(&self) -> (u64, u64) {
        (self.spam_docs, self.ham_docs)
    }

    /// Slots with any count, as `(index, spam, ham)`.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        (0..self.spam.len())
            .filter(|&i| self.spam[i] | self.ham[i] != 0)
            .map(|i| (i as u32, self.spam[i], self.ham[i]))
    }

    /// Rebuilds a model from saved state. Indices beyond the table are an error.
    pub(crate) fn from_entries(
        bits: u8,
        docs: (u64, u64),
        entries: impl Iterator<Item = (u32, u32, u32)>,
    ) -> Result<Self, u32> {
        let mut m = NaiveBayes::new(bits);
        (m.spam_docs, m.ham_docs) = docs;
        for (i, s, h) in entries {
            if i as usize >= m.spam.len() {
                return Err(i);
            }
            m.spam[i as usize] = s;
            m.ham[i as usize] = h;
        }
        Ok(m)
    }
}

impl OnlineLearner for NaiveBayes {
    fn predict(&self, x: &FeatureVec) -> f64 {
        self.bias() + x.hashes().iter().map(|&h| self.ratio((h & self.mask) as usize)).sum::<f64>()
    }

    fn learn_scored(&mut self, x: &FeatureVec, label: Label, _score: f64) {
        let spam = label.is_abusive();
        let table = if spam { &mut self.spam } else { &mut self.ham };
        for &h in x.hashes() {
            let c = &mut table[(h & self.mask) as usize];
            *c = c.saturating_add(1);
        }
        if spam {
            self.spam_docs += 1;
        } else {
            self.ham_docs += 1;
        }
    }

    fn contribution(&self, hash: u64) -> f64 {
        self.ratio((hash & self.mask) as usize)
    }

    fn bias(&self) -> f64 {
        ((self.spam_docs as f64 + 1.0) / (self.ham_docs as f64 + 1.0)).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_drive_the_log_odds() {
        let mut m = NaiveBayes::new(8);
        let spam = FeatureVec::from_hashes(vec![1, 2]);
        let ham = FeatureVec::from_hashes(vec![3, 2]);
        for _ in 0..10 {
            m.learn(&spam, Label::Abusive);
            m.learn(&ham, Label::Legitimate);
        }
        assert!(m.predict(&spam) > 2.0);
        assert!(m.predict(&ham) < -2.0);
        assert!(m.contribution(2).abs() < 1e-9, "a feature in both classes alike is neutral");
        let again = NaiveBayes::from_entries(8, m.docs(), m.entries()).unwrap();
        assert_eq!(again.predict(&spam), m.predict(&spam));
    }
}
