//! How a decision's learned part is told to a person: the features are summed by family, each
//! family one reason with a stable upper-case name (what Rspamd users see as a symbol) and a
//! sentence naming the features that weighed most in it.
//!
//! Single features are no explanation: a message has a few thousand, each a few hundredths of
//! the score, most of them byte 4-grams. Their sums by family are few, add up to the model's
//! whole log-odds (less its bias), and say where the weight came from.

use crate::extract::ns;

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
    FAMILIES.iter().position(|f| f.namespaces.contains(&namespace))
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

/// The sentence of a family's reason: `sum` is what it adds to the log-odds, `evidence` its
/// strongest features' tokens (without namespace) with what each adds.
pub fn sentence(family: &Family, sum: f64, evidence: &[(&str, f64)]) -> String {
    let toward = if sum >= 0.0 { "spam" } else { "ham" };
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
    fn sentences_name_the_sum_its_direction_and_the_evidence() {
        let text = &FAMILIES[family_of("body").unwrap()];
        let ev = [("verify", 0.9), ("suspended", 0.6), ("account", 0.4)];
        assert_eq!(
            sentence(text, 3.1, &ev),
            "The words of the subject and body weigh +3.10 toward spam, most of all 'verify' (+0.90), \
             'suspended' (+0.60) and 'account' (+0.40)."
        );
        assert_eq!(
            sentence(&FAMILIES[family_of("raw").unwrap()], -0.5, &[]),
            "The bytes of the raw message (header layout, encodings, markup) weigh -0.50 toward ham."
        );
        assert_eq!(
            sentence(text, 0.5, &[("a\nb", 0.2)]),
            "The words of the subject and body weigh +0.50 toward spam, most of all 'a\\nb' (+0.20)."
        );
        assert_eq!(sentence(text, 0.25, &[]), "The words of the subject and body weigh +0.25 toward spam.");
        let twice = [("your", 0.05), ("your", 0.05), ("hours", 0.04)];
        assert_eq!(
            sentence(text, 1.7, &twice),
            "The words of the subject and body weigh +1.70 toward spam, most of all 'your' (+0.05) and 'hours' (+0.04)."
        );
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
