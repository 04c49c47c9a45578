//! FTRL-Proximal logistic regression over hashed features.

use serde::{Deserialize, Serialize};
use warden_core::{FeatureVec, Label, sigmoid};

use crate::table::Table;
use crate::{OnlineLearner, Warmer};

/// FTRL-Proximal's settings. The defaults were chosen on the SpamAssassin corpus and checked
/// on CSDMC2010 and the modern corpus (see `docs/learners.md`). Features are binary and
/// unnormalised, so `alpha` is small: one update moves a message's score by up to
/// `alpha/beta` per feature, and a message has thousands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtrlParams {
    /// Learning-rate scale.
    pub alpha: f64,
    /// Learning-rate smoothing.
    pub beta: f64,
    /// L1 regularisation: weights whose accumulated gradient stays below it are exactly zero.
    pub l1: f64,
    /// L2 regularisation.
    pub l2: f64,
    /// The table has `2^bits` slots.
    pub bits: u8,
}

impl Default for FtrlParams {
    fn default() -> Self {
        FtrlParams { alpha: 0.01, beta: 1.0, l1: 0.0, l2: 0.0, bits: 22 }
    }
}

/// One slot's learning state: FTRL's `z`, and the square root of its sum of squared
/// gradients `n` (kept as the root: each update then needs one square root, not three).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Slot {
    z: f32,
    root_n: f32,
}

/// FTRL-Proximal logistic regression.
///
/// Prediction reads only the dense weight table (one memory access per feature); learning
/// updates the slot state and refreshes the weights it touched.
#[derive(Debug, Clone)]
pub struct Ftrl {
    params: FtrlParams,
    mask: u64,
    slots: Table<Slot>,
    weights: Table<f32>,
    bias: Slot,
    bias_weight: f32,
}

impl Ftrl {
    /// An empty model.
    pub fn new(params: FtrlParams) -> Self {
        let size = 1usize << params.bits;
        Ftrl {
            params,
            mask: (size - 1) as u64,
            slots: Table::new(size),
            weights: Table::new(size),
            bias: Slot::default(),
            bias_weight: 0.0,
        }
    }

    /// The settings.
    pub fn params(&self) -> &FtrlParams {
        &self.params
    }

    #[inline]
    fn index(&self, hash: u64) -> usize {
        (hash & self.mask) as usize
    }

    #[inline]
    fn weight_of(&self, s: Slot) -> f32 {
        let p = &self.params;
        let (l1, z) = (p.l1 as f32, s.z);
        if z.abs() <= l1 {
            0.0
        } else {
            -(z - z.signum() * l1) / ((p.beta as f32 + s.root_n) / p.alpha as f32 + p.l2 as f32)
        }
    }

    #[inline]
    fn update(&self, s: &mut Slot, w: f32, g: f32) {
        let root_n = (s.root_n * s.root_n + g * g).sqrt();
        let sigma = (root_n - s.root_n) / self.params.alpha as f32;
        s.z += g - sigma * w;
        s.root_n = root_n;
    }

    /// Slots that carry state, as `(index, z, sqrt(n))`; with `nonzero_only`, just those whose
    /// weight is not zero (what prediction needs).
    pub(crate) fn entries(&self, nonzero_only: bool) -> impl Iterator<Item = (u32, f32, f32)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(i, s)| if nonzero_only { self.weights[*i] != 0.0 } else { s.root_n > 0.0 })
            .map(|(i, s)| (i as u32, s.z, s.root_n))
    }

    /// The bias slot, as `(z, sqrt(n))`.
    pub(crate) fn bias_state(&self) -> (f32, f32) {
        (self.bias.z, self.bias.root_n)
    }

    /// Rebuilds a model from saved state. Indices beyond the table are an error.
    pub(crate) fn from_entries(
        params: FtrlParams,
        bias: (f32, f32),
        entries: impl Iterator<Item = (u32, f32, f32)>,
    ) -> Result<Self, u32> {
        let mut m = Ftrl::new(params);
        m.bias = Slot { z: bias.0, root_n: bias.1 };
        m.bias_weight = m.weight_of(m.bias);
        for (i, z, root_n) in entries {
            let slot = Slot { z, root_n };
            let w = m.weight_of(slot);
            let (Some(s), Some(wt)) = (m.slots.get_mut(i as usize), m.weights.get_mut(i as usize)) else {
                return Err(i);
            };
            *s = slot;
            *wt = w;
        }
        Ok(m)
    }
}

/// How many features ahead learning asks for a slot. Each update is a random access into a
/// table far larger than the caches, and the update's own arithmetic (a square root and a
/// division) keeps the processor from looking far enough ahead by itself. A miss to memory
/// took 190–400 ns on the machine measured (a pointer chase over 8 MiB, then 256 MiB) and a
/// step about 25 ns a feature, so a slot is asked for about that far ahead: against 16,
/// predicting and learning a message took 6–12% less time at 48 (and 4% less at 32, 2% at
/// 96), in one process alternating the two builds every 100 messages.
const PREFETCH_AHEAD: usize = 48;

/// Starts loading the cache line holding `value`, without waiting for it.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    prefetch_at(value as *const T);
}

/// Starts loading the cache line at `address`, without waiting for it: any address, since a
/// prefetch reads nothing and never faults.
#[inline(always)]
pub(crate) fn prefetch_at<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it reads nothing and never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

impl Ftrl {
    /// Visits the weight of each hash in order, starting to load the one `PREFETCH_AHEAD`
    /// places on meanwhile.
    #[inline(always)]
    fn each_weight(&self, hashes: &[u64], mut visit: impl FnMut(f32)) {
        let mask = self.mask as usize;
        // Sliced to `mask + 1` weights, so that the compiler sees every `h & mask` in bounds.
        let weights = &self.weights[..=mask];
        let split = hashes.len().saturating_sub(PREFETCH_AHEAD);
        let ahead = hashes.get(PREFETCH_AHEAD..).unwrap_or_default();
        for (&h, &next) in hashes[..split].iter().zip(ahead) {
            prefetch(&weights[next as usize & mask]);
            visit(weights[h as usize & mask]);
        }
        for &h in &hashes[split..] {
            visit(weights[h as usize & mask]);
        }
    }
}

impl OnlineLearner for Ftrl {
    fn predict(&self, x: &FeatureVec) -> f64 {
        let mut sum = 0.0f32;
        self.each_weight(x.hashes(), |w| sum += w);
        self.bias_weight as f64 + sum as f64
    }

    fn predict_contributions(&self, x: &FeatureVec, out: &mut Vec<f64>) -> f64 {
        out.clear();
        out.reserve(x.len());
        let mut sum = 0.0f32;
        // The same loop as `predict`, in the same order: the same sum to the last bit.
        self.each_weight(x.hashes(), |w| {
            sum += w;
            out.push(w as f64);
        });
        self.bias_weight as f64 + sum as f64
    }

    fn learn_scored(&mut self, x: &FeatureVec, label: Label, score: f64) {
        let p = sigmoid(score);
        let g = (p - if label.is_abusive() { 1.0 } else { 0.0 }) as f32;
        let hashes = x.hashes();
        for (k, &h) in hashes.iter().enumerate() {
            if let Some(&ahead) = hashes.get(k + PREFETCH_AHEAD) {
                prefetch(&self.slots[self.index(ahead)]);
            }
            let i = self.index(h);
            let mut s = self.slots[i];
            self.update(&mut s, self.weights[i], g);
            self.slots[i] = s;
            self.weights[i] = self.weight_of(s);
        }
        let mut b = self.bias;
        self.update(&mut b, self.bias_weight, g);
        self.bias = b;
        self.bias_weight = self.weight_of(b);
    }

    fn contribution(&self, hash: u64) -> f64 {
        self.weights[self.index(hash)] as f64
    }

    fn bias(&self) -> f64 {
        self.bias_weight as f64
    }

    fn warmer(&self) -> Warmer<'_> {
        Warmer::new(&self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vec(hs: &[u64]) -> FeatureVec {
        FeatureVec::from_hashes(hs.to_vec())
    }

    #[test]
    fn learns_a_separable_problem() {
        let mut m = Ftrl::new(FtrlParams { bits: 10, alpha: 0.5, ..Default::default() });
        for _ in 0..200 {
            m.learn(&vec(&[1, 2, 3]), Label::Abusive);
            m.learn(&vec(&[4, 5, 3]), Label::Legitimate);
        }
        assert!(m.predict(&vec(&[1, 2, 3])) > 2.0);
        assert!(m.predict(&vec(&[4, 5, 3])) < -2.0);
        // The shared feature carries no information, so it weighs far less.
        assert!(m.contribution(3).abs() < m.contribution(1).abs());
    }

    #[test]
    fn one_step_moves_the_prediction_towards_the_label() {
        let mut m = Ftrl::new(FtrlParams { bits: 8, ..Default::default() });
        let x = vec(&[7, 8]);
        let before = m.predict(&x);
        m.learn(&x, Label::Abusive);
        let after_spam = m.predict(&x);
        assert!(after_spam > before);
        m.learn(&x, Label::Legitimate);
        assert!(m.predict(&x) < after_spam);
    }

    #[test]
    fn entries_round_trip() {
        let mut m = Ftrl::new(FtrlParams { bits: 8, ..Default::default() });
        m.learn(&vec(&[1, 300, 5000]), Label::Abusive);
        let again = Ftrl::from_entries(*m.params(), m.bias_state(), m.entries(false)).unwrap();
        let x = vec(&[1, 300, 77]);
        assert_eq!(m.predict(&x), again.predict(&x));
        assert!(Ftrl::from_entries(*m.params(), (0.0, 0.0), [(1 << 9, 1.0, 1.0)].into_iter()).is_err());
    }
}
