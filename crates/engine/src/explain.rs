//! How a decision's learned part is told to a person, for any kind: the features are summed by
//! family, each family one reason with a stable upper-case name (what Rspamd users see as a
//! symbol) and a sentence naming the features that weighed most in it. A kind's crate lists its
//! families (mail: `warden_mail::explain::FAMILIES`).
//!
//! Single features are no explanation: an event has up to a few thousand, each a few hundredths
//! of the score, most of them byte 4-grams. Their sums by family are few, add up to the model's
//! whole log-odds (less its bias), and say where the weight came from.

use warden_core::{Evidence, FeatureVec, Reason, Recorded};

/// A family of features, told as one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The reason's stable name.
    pub name: &'static str,
    /// What the family is, as the subject of a sentence ("the words of the subject and body").
    pub about: &'static str,
    /// The namespaces whose features are the family's.
    pub namespaces: &'static [&'static str],
    /// The namespaces whose features are named as its evidence: words, not the 4-grams cut
    /// from them; no byte 4-gram of the raw message, which says nothing to a reader.
    pub evidence: &'static [&'static str],
}

/// The index in `families` of a namespace's family; `None` for a namespace in none (a kind's
/// named signals, each a reason of its own).
pub fn family_of(families: &[Family], namespace: &str) -> Option<usize> {
    families.iter().position(|f| f.namespaces.contains(&namespace))
}

/// The most features a reason names as its evidence (`[explain] evidence` is capped to it).
pub const MAX_EVIDENCE: usize = 8;

/// What a decision's reasons are to show of the model.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// Reasons at most.
    pub reasons: usize,
    /// Features named as each reason's evidence, at most ([`MAX_EVIDENCE`]).
    pub evidence: usize,
    /// The kind's label words, the abusive one first.
    pub words: [&'a str; 2],
}

/// How much of the model's log-odds, without the bias, and the signals' points a decision's
/// `reasons` account for: |the sum of the reasons' contributions, `MODEL` and rules left out|
/// over |`model_score` − `bias` + `points`|. 1 when there is nothing to explain. Rules' points
/// are not the model's and are left out of both.
pub fn coverage(reasons: &[Reason], model_score: f64, bias: f64, points: f64) -> f64 {
    let to_explain = (model_score - bias + points).abs();
    if to_explain < 1e-12 {
        return 1.0;
    }
    let shown: f64 = (reasons.iter())
        .filter(|r| r.name != "MODEL" && !r.name.starts_with("RULE:"))
        .map(|r| r.contribution)
        .sum();
    shown.abs() / to_explain
}

/// The model's reasons: the contributions of `x`'s features (`weights`, in its order, their
/// tokens in `recorded`) summed by family (`families`, every namespace in at most one),
/// strongest first, at most `shown.reasons` of them, each with the features that weighed
/// most in its direction named as its evidence. Families sum to the log-odds less the bias,
/// so all of them shown (the default) account for the model's whole score.
pub fn by_family<const N: usize>(
    families: &[Family; N],
    shown: Shown<'_>,
    recorded: &Recorded,
    x: &FeatureVec,
    weights: &[f64],
) -> Vec<Reason> {
    let (k, per) = (shown.reasons, shown.evidence.min(MAX_EVIDENCE));
    if k == 0 {
        return Vec::new();
    }
    let mut sums = [0.0f64; N];
    // The `per` strongest features of each family each way ([family][toward spam]), by
    // magnitude, in short sorted arrays; `floor` is the magnitude a feature must pass to
    // enter one (that of its last when it is full), so that most features cost a compare.
    let mut top = [[[(0.0f64, 0u64); MAX_EVIDENCE]; 2]; N];
    let mut len = [[0usize; 2]; N];
    let mut floor = [[if per == 0 { f64::INFINITY } else { 0.0 }; 2]; N];
    // Features come in runs of one namespace (n-grams by the thousand): a run's family is
    // looked up once, its weights summed in one loop, and only the namespaces a family
    // names evidence from are looked through feature by feature.
    let hashes = x.hashes();
    for (run, ns) in recorded.runs() {
        let Some(f) = family_of(families, ns) else { continue };
        sums[f] += weights[run.clone()].iter().sum::<f64>();
        if families[f].evidence.contains(&ns) {
            for (&h, &c) in hashes[run.clone()].iter().zip(&weights[run]) {
                let (d, m) = (usize::from(c > 0.0), c.abs());
                if m > floor[f][d] {
                    let (list, n) = (&mut top[f][d], &mut len[f][d]);
                    let at = list[..*n].partition_point(|t| t.0 >= m);
                    list.copy_within(at..(*n).min(per - 1), at + 1);
                    list[at] = (m, h);
                    *n = (*n + 1).min(per);
                    if *n == per {
                        floor[f][d] = list[per - 1].0;
                    }
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..N).filter(|&f| sums[f].abs() >= 0.005).collect();
    order.sort_by(|&a, &b| sums[b].abs().total_cmp(&sums[a].abs()).then(a.cmp(&b)));
    order.truncate(k);
    let strongest = |f: usize| {
        let d = usize::from(sums[f] > 0.0);
        &top[f][d][..len[f][d]]
    };
    let wanted = order.iter().flat_map(|&f| strongest(f).iter().map(|t| t.1));
    let names = recorded.names(wanted.collect::<Vec<_>>());
    order
        .into_iter()
        .map(|f| {
            let sign = sums[f].signum();
            let mut evidence: Vec<Evidence> = strongest(f)
                .iter()
                .filter_map(|t| {
                    let feature = names.get(&t.1)?.clone();
                    Some(Evidence { feature, contribution: sign * t.0 })
                })
                .collect();
            evidence.sort_by(|a, b| {
                b.contribution.abs().total_cmp(&a.contribution.abs()).then_with(|| a.feature.cmp(&b.feature))
            });
            let tokens: Vec<(&str, f64)> = evidence
                .iter()
                .map(|e| (e.feature.split_once(':').map_or(&e.feature[..], |(_, t)| t), e.contribution))
                .collect();
            Reason {
                name: families[f].name.to_owned(),
                description: sentence(&families[f], sums[f], &tokens, shown.words),
                contribution: sums[f],
                evidence,
            }
        })
        .collect()
}

/// The sentence of a family's reason: `sum` is what it adds to the log-odds, `evidence` its
/// strongest features' tokens (without namespace) with what each adds, `words` the kind's label
/// words (the abusive one first: a positive sum weighs toward it).
pub fn sentence(family: &Family, sum: f64, evidence: &[(&str, f64)], words: [&str; 2]) -> String {
    let toward = if sum >= 0.0 { words[0] } else { words[1] };
    let about = family.about;
    let mut s = String::with_capacity(160);
    let mut chars = about.chars();
    if let Some(first) = chars.next() {
        s.extend(first.to_uppercase());
        s.push_str(chars.as_str());
    }
    s.push_str(" weigh ");
    push_fixed(&mut s, sum, 2, true);
    s.push_str(" toward ");
    s.push_str(toward);
    // A word in the subject and the body is one word to a reader: quoted once.
    let mut shown: Vec<(&str, f64)> = Vec::with_capacity(evidence.len());
    for &(t, c) in evidence {
        if !shown.iter().any(|(s, _)| *s == t) {
            shown.push((t, c));
        }
    }
    for (i, (token, c)) in shown.iter().enumerate() {
        s.push_str(match i {
            0 => ", most of all ",
            _ if i + 1 == shown.len() => " and ",
            _ => ", ",
        });
        push_quoted(&mut s, token);
        s.push_str(" (");
        push_fixed(&mut s, *c, 2, true);
        s.push(')');
    }
    s.push('.');
    s
}

/// Writes a token as a sentence may quote it onto `out`: control characters and quotes
/// escaped, at most 40 characters (the rest elided).
fn push_quoted(out: &mut String, token: &str) {
    use std::fmt::Write;
    out.push('\'');
    for (i, c) in token.chars().enumerate() {
        if i == 40 {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || is_bidi(c) => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Bidirectional controls, which reorder the text around them on screen.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// Writes `x` with `decimals` digits after the point (and a `+` before a positive value with
/// `plus`), as `format!("{x:.N}")` would but for ties: every decision carries a dozen such
/// numbers, and the float formatter costs a microsecond a decision for them.
pub fn push_fixed(out: &mut String, x: f64, decimals: u32, plus: bool) {
    use std::fmt::Write;
    let scale = 10u64.pow(decimals);
    let scaled = (x.abs() * scale as f64).round();
    if !x.is_finite() || scaled >= u64::MAX as f64 {
        let _ = if plus {
            write!(out, "{x:+.*}", decimals as usize)
        } else {
            write!(out, "{x:.*}", decimals as usize)
        };
        return;
    }
    let scaled = scaled as u64;
    if x.is_sign_negative() && scaled != 0 {
        out.push('-');
    } else if plus {
        out.push('+');
    }
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(scaled / scale));
    if decimals > 0 {
        out.push('.');
        let fraction = digits.format(scaled % scale);
        for _ in fraction.len()..decimals as usize {
            out.push('0');
        }
        out.push_str(fraction);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: Family = Family {
        name: "TEXT",
        about: "the words of the subject and body",
        namespaces: &["subject", "body", "ng"],
        evidence: &["subject", "body"],
    };
    const RAW: Family = Family {
        name: "LAYOUT",
        about: "the bytes of the raw message (header layout, encodings, markup)",
        namespaces: &["raw"],
        evidence: &[],
    };
    const WORDS: [&str; 2] = ["spam", "ham"];

    #[test]
    fn a_namespace_has_the_family_that_lists_it() {
        assert_eq!(family_of(&[TEXT, RAW], "raw"), Some(1));
        assert_eq!(family_of(&[TEXT, RAW], "body"), Some(0));
        assert_eq!(family_of(&[TEXT, RAW], "sig"), None);
    }

    #[test]
    fn sentences_name_the_sum_its_direction_and_the_evidence() {
        let ev = [("verify", 0.9), ("suspended", 0.6), ("account", 0.4)];
        assert_eq!(
            sentence(&TEXT, 3.1, &ev, WORDS),
            "The words of the subject and body weigh +3.10 toward spam, most of all 'verify' (+0.90), \
             'suspended' (+0.60) and 'account' (+0.40)."
        );
        assert_eq!(
            sentence(&RAW, -0.5, &[], WORDS),
            "The bytes of the raw message (header layout, encodings, markup) weigh -0.50 toward ham."
        );
        assert_eq!(
            sentence(&TEXT, 0.5, &[("a\nb", 0.2)], WORDS),
            "The words of the subject and body weigh +0.50 toward spam, most of all 'a\\nb' (+0.20)."
        );
        assert_eq!(
            sentence(&TEXT, 0.25, &[], WORDS),
            "The words of the subject and body weigh +0.25 toward spam."
        );
        let twice = [("your", 0.05), ("your", 0.05), ("hours", 0.04)];
        assert_eq!(
            sentence(&TEXT, 1.7, &twice, WORDS),
            "The words of the subject and body weigh +1.70 toward spam, most of all 'your' (+0.05) and 'hours' (+0.04)."
        );
        assert_eq!(
            sentence(&TEXT, -0.25, &[], ["abusive", "legitimate"]),
            "The words of the subject and body weigh -0.25 toward legitimate."
        );
    }

    #[test]
    fn coverage_is_the_share_of_the_score_less_the_bias_the_reasons_show() {
        let r = |name: &str, c: f64| Reason::new(name, "", c);
        let reasons = [r("MODEL", 3.0), r("TEXT", 1.5), r("RULE:x", 9.0), r("LINKS", 0.5)];
        assert!((coverage(&reasons, 3.0, -1.0, 0.0) - 0.5).abs() < 1e-12);
        assert!((coverage(&reasons, 1.0, -1.0, 2.0) - 0.5).abs() < 1e-12);
        assert_eq!(coverage(&[], 2.0, 2.0, 0.0), 1.0, "nothing to explain");
    }

    #[test]
    fn fixed_point_numbers_read_as_the_formatter_writes_them() {
        for x in [0.0, 1.0, -1.0, 0.5, 0.123456, -0.0004, 0.99996, 12.3456789, -7.25, 1e-9, -1e-9, 3e15, 0.05]
        {
            for (d, plus) in [(4, false), (3, true), (2, true)] {
                let mut s = String::new();
                push_fixed(&mut s, x, d, plus);
                let mut want =
                    if plus { format!("{x:+.*}", d as usize) } else { format!("{x:.*}", d as usize) };
                // `format!` writes "-0.000" for a tiny negative; here zero takes no minus.
                if want.starts_with('-') && want[1..].bytes().all(|b| b == b'0' || b == b'.') {
                    want = format!("{}{}", if plus { "+" } else { "" }, &want[1..]);
                }
                assert_eq!(s, want, "{x} to {d} places");
            }
        }
        let mut s = String::new();
        push_fixed(&mut s, f64::NAN, 3, true);
        assert_eq!(s, "NaN");
    }

    fn quote_token(token: &str) -> String {
        let mut out = String::new();
        push_quoted(&mut out, token);
        out
    }

    #[test]
    fn quoted_tokens_cannot_break_a_line_reorder_text_or_run_on() {
        assert_eq!(quote_token("a'b\\c\r\u{1b}[31m"), "'a\\'b\\\\c\\u{d}\\u{1b}[31m'");
        assert_eq!(quote_token("x\u{202e}y"), "'x\\u{202e}y'");
        let long = "é".repeat(100);
        let q = quote_token(&long);
        assert_eq!(q.chars().count(), 40 + 3);
        assert!(q.ends_with("…'"));
    }
}
