//! ROC-based figures, log-loss and calibration over `(score, label)` pairs.
//!
//! Scores are any real numbers, higher meaning more likely spam; only their order matters
//! except for [`log_loss`] and [`reliability`], which take probabilities.

use serde::Serialize;

/// The area under the ROC curve: the probability that a random spam scores above a random
/// ham, ties counting one half (Mann-Whitney U with average ranks). `None` without both
/// classes.
pub fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let pos = scored.iter().filter(|s| s.1).count();
    let neg = scored.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let avg = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// One point of the ROC curve: thresholds at each distinct score, from the highest down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Messages at or above this score are called spam.
    pub threshold: f64,
    /// False-positive rate (ham called spam).
    pub fpr: f64,
    /// Recall (spam called spam).
    pub tpr: f64,
}

/// The ROC curve, one point per distinct score, starting at (0, 0).
pub fn roc_curve(scored: &[(f64, bool)]) -> Vec<RocPoint> {
    let pos = scored.iter().filter(|s| s.1).count().max(1) as f64;
    let neg = scored.iter().filter(|s| !s.1).count().max(1) as f64;
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = vec![RocPoint { threshold: f64::INFINITY, fpr: 0.0, tpr: 0.0 }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let t = sorted[i].0;
        while i < sorted.len() && sorted[i].0 == t {
            if sorted[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(RocPoint { threshold: t, fpr: fp as f64 / neg, tpr: tp as f64 / pos });
    }
    points
}

/// The lowest false-positive rate at which at least `recall` of the spam is caught.
pub fn fpr_at_recall(curve: &[RocPoint], recall: f64) -> Option<f64> {
    curve.iter().find(|p| p.tpr >= recall - 1e-12).map(|p| p.fpr)
}

/// The highest recall reached with a false-positive rate of at most `fpr`.
pub fn recall_at_fpr(curve: &[RocPoint], fpr: f64) -> f64 {
    curve.iter().filter(|p| p.fpr <= fpr + 1e-12).map(|p| p.tpr).fold(0.0, f64::max)
}

/// Mean negative log-likelihood of the labels under probabilities `p(spam)`, natural log,
/// probabilities clamped to [1e-15, 1 − 1e-15].
pub fn log_loss(probabilities: &[(f64, bool)]) -> f64 {
    if probabilities.is_empty() {
        return f64::NAN;
    }
    let sum: f64 = probabilities
        .iter()
        .map(|&(p, spam)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -if spam { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    sum / probabilities.len() as f64
}

/// One bin of a reliability table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin's predicted probability.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Messages in the bin.
    pub count: usize,
    /// Their mean predicted probability.
    pub mean_predicted: f64,
    /// The fraction of them that were spam.
    pub observed_spam: f64,
}

/// Calibration in ten equal-width bins of predicted probability (empty bins left out).
pub fn reliability(probabilities: &[(f64, bool)]) -> Vec<ReliabilityBin> {
    let mut sums = [(0usize, 0.0f64, 0usize); 10];
    for &(p, spam) in probabilities {
        let b = ((p * 10.0) as usize).min(9);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += spam as usize;
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(i, &(n, psum, spam))| ReliabilityBin {
            from: i as f64 / 10.0,
            to: (i + 1) as f64 / 10.0,
            count: n,
            mean_predicted: psum / n as f64,
            observed_spam: spam as f64 / n as f64,
        })
        .collect()
}

/// A score threshold that at most a given share of the ham reaches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HamShareThreshold {
    /// The threshold: the score of the highest ham allowed below it, rounded up to the next
    /// hundredth (so that a written threshold reads back exactly and still lies above it).
    pub threshold: f64,
    /// Ham allowed at or above the threshold: the share times the ham count, rounded down.
    pub allowed: usize,
    /// Ham that scored at or above the threshold (at most `allowed`; fewer where scores tie
    /// or the rounding passed one).
    pub ham_at_or_above: usize,
    /// Whether the ham is enough to measure the share: at least one ham may be above it. When
    /// not, the threshold lies above every ham and says only that none of them reached it.
    pub measurable: bool,
}

/// The lowest threshold (a score at or above which a message is not delivered) that at most
/// `share` of `ham` (their scores) reaches. `None` without a finite ham score or when `share`
/// is not in [0, 1).
pub fn threshold_for_ham_share(ham: &[f64], share: f64) -> Option<HamShareThreshold> {
    if !(0.0..1.0).contains(&share) {
        return None;
    }
    let mut h: Vec<f64> = ham.iter().copied().filter(|s| s.is_finite()).collect();
    if h.is_empty() {
        return None;
    }
    h.sort_by(|a, b| b.total_cmp(a));
    let allowed = (share * h.len() as f64 + 1e-9).floor() as usize;
    // The highest ham that must stay below: every score above it is one of the `allowed`.
    let below = h[allowed.min(h.len() - 1)];
    let mut threshold = (below * 100.0).ceil() / 100.0;
    if threshold <= below {
        threshold = ((below * 100.0).floor() + 1.0) / 100.0;
    }
    let ham_at_or_above = h.iter().take_while(|&&s| s >= threshold).count();
    Some(HamShareThreshold { threshold, allowed, ham_at_or_above, measurable: allowed >= 1 })
}

/// The share of `scores` at or above `threshold` (0 for none).
pub fn share_at_or_above(scores: &[f64], threshold: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition itself: the fraction of (spam, ham) pairs ordered correctly.
    fn brute_auc(s: &[(f64, bool)]) -> f64 {
        let (mut good, mut pairs) = (0.0, 0.0);
        for a in s.iter().filter(|x| x.1) {
            for b in s.iter().filter(|x| !x.1) {
                pairs += 1.0;
                good += if a.0 > b.0 {
                    1.0
                } else if a.0 == b.0 {
                    0.5
                } else {
                    0.0
                };
            }
        }
        good / pairs
    }

    proptest! {
        #[test]
        fn auc_matches_pair_counting(v in prop::collection::vec((0u8..6, any::<bool>()), 2..60)) {
            let s: Vec<(f64, bool)> = v.iter().map(|&(x, l)| (x as f64, l)).collect();
            if let Some(auc) = roc_auc(&s) {
                prop_assert!((auc - brute_auc(&s)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn curve_points_give_operating_figures() {
        // spam: 0.9 0.8 0.4 ; ham: 0.7 0.3 0.2 0.1
        let s =
            [(0.9, true), (0.8, true), (0.4, true), (0.7, false), (0.3, false), (0.2, false), (0.1, false)];
        let c = roc_curve(&s);
        assert_eq!(c.len(), 8);
        assert_eq!(fpr_at_recall(&c, 0.6), Some(0.0));
        assert_eq!(fpr_at_recall(&c, 1.0), Some(0.25));
        assert!((recall_at_fpr(&c, 0.0) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(recall_at_fpr(&c, 0.25), 1.0);
        assert!((roc_auc(&s).unwrap() - 11.0 / 12.0).abs() < 1e-12);
        assert_eq!(roc_auc(&[(1.0, true)]), None);
    }

    #[test]
    fn log_loss_and_reliability() {
        let p = [(0.5, true), (0.5, false)];
        assert!((log_loss(&p) - 2f64.ln()).abs() < 1e-12);
        assert!(log_loss(&[(0.0, true)]) > 30.0, "certain and wrong is clamped, not infinite");
        let bins = reliability(&[(0.05, false), (0.15, true), (0.95, true), (1.0, true)]);
        assert_eq!(bins.len(), 3);
        assert_eq!(bins[2].count, 2);
        assert_eq!(bins[2].observed_spam, 1.0);
    }

    #[test]
    fn a_ham_share_sets_the_lowest_threshold_that_keeps_to_it() {
        // Ten ham: 0.1 share allows one above; the threshold lies above the second highest.
        let ham = [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.234, 4.0];
        let t = threshold_for_ham_share(&ham, 0.1).unwrap();
        assert_eq!((t.threshold, t.allowed, t.ham_at_or_above, t.measurable), (1.24, 1, 1, true));
        // A share too small for ten ham: above every one, and said to be unmeasured.
        let t = threshold_for_ham_share(&ham, 0.01).unwrap();
        assert_eq!((t.threshold, t.allowed, t.ham_at_or_above, t.measurable), (4.01, 0, 0, false));
        // Ties at the edge all stay below: none of them is above the allowed one.
        let t = threshold_for_ham_share(&[2.0, 2.0, 2.0, 0.0], 0.25).unwrap();
        assert_eq!((t.threshold, t.ham_at_or_above), (2.01, 0));
        // A score already on a hundredth still gets a threshold above it.
        assert_eq!(threshold_for_ham_share(&[0.5, -1.0], 0.0).unwrap().threshold, 0.51);
        assert_eq!(threshold_for_ham_share(&[-0.5], 0.0).unwrap().threshold, -0.49);
        assert_eq!(threshold_for_ham_share(&[f64::NAN], 0.1), None);
        assert_eq!(threshold_for_ham_share(&[1.0], 1.0), None);
        assert_eq!(share_at_or_above(&[1.0, 2.0, 3.0, 4.0], 2.5), 0.5);
    }

    proptest! {
        #[test]
        fn at_most_the_share_of_ham_reaches_the_threshold(
            v in prop::collection::vec(-2000i32..2000, 1..300),
            share in 0.0f64..0.5,
        ) {
            let ham: Vec<f64> = v.iter().map(|&x| x as f64 / 137.0).collect();
            let t = threshold_for_ham_share(&ham, share).unwrap();
            let above = ham.iter().filter(|&&s| s >= t.threshold).count();
            prop_assert!(above as f64 <= share * ham.len() as f64 + 1e-9);
            prop_assert_eq!(above, t.ham_at_or_above);
            // The lowest such threshold, up to the hundredth it is rounded to: a hundredth
            // lower lets more ham through than allowed.
            let lower = ham.iter().filter(|&&s| s >= t.threshold - 0.01).count();
            prop_assert!(lower > t.allowed);
        }
    }
}
