//! The shapes of names and addresses: what a bulk sign-up's generator leaves in them, without
//! keeping the name. `maria.rossi84` is `llll.llll99` in full (`l.l9` collapsed), 13
//! characters, a run of 2 digits; a name like `Maria Rossi` agrees with it. A script's
//! `xk7q2mzp4w` has the entropy and the digits scattered through it that people's addresses
//! rarely have.

/// The class of a character in a shape: `L` upper case, `l` lower case (and letters without
/// case), `9` digit, punctuation kept as is (`.`, `_`, `-`, `+`, `'`), ` ` white space, `^` a
/// control or bidirectional character, `*` anything else.
pub fn class(c: char) -> char {
    match c {
        '.' | '_' | '-' | '+' | '\'' => c,
        c if c.is_uppercase() => 'L',
        c if c.is_alphabetic() => 'l',
        c if c.is_numeric() => '9',
        c if c.is_whitespace() => ' ',
        c if c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
        {
            '^'
        }
        _ => '*',
    }
}

/// The most characters of a pattern kept: beyond it a shape says only that it is longer.
pub const MAX_PATTERN: usize = 32;

/// A string's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Its characters' classes, the first [`MAX_PATTERN`] (`Llll.Llll99`).
    pub pattern: String,
    /// The same with each run of one class written once (`Ll.Ll9`).
    pub collapsed: String,
    /// Characters.
    pub len: usize,
    /// The longest run of digits.
    pub digit_run: usize,
    /// Runs of digits.
    pub digit_runs: usize,
    /// Shannon entropy of its characters, bits a character.
    pub entropy: f64,
}

/// The shape of `s`.
pub fn shape(s: &str) -> Shape {
    let mut pattern = String::new();
    let mut collapsed = String::new();
    let (mut len, mut run, mut digit_run, mut digit_runs) = (0, 0, 0, 0);
    let mut last = None;
    // Counts for the entropy: a small table of the characters seen (a name is short).
    let mut counts: Vec<(char, u32)> = Vec::new();
    for c in s.chars() {
        len += 1;
        let k = class(c);
        if len <= MAX_PATTERN {
            pattern.push(k);
        }
        if last != Some(k) && collapsed.len() < MAX_PATTERN {
            collapsed.push(k);
        }
        if k == '9' {
            run += 1;
            if last != Some('9') {
                digit_runs += 1;
            }
            digit_run = digit_run.max(run);
        } else {
            run = 0;
        }
        last = Some(k);
        match counts.iter().position(|(x, _)| *x == c) {
            Some(i) => counts[i].1 += 1,
            // Past 256 distinct characters the rest are not counted: the entropy is already high.
            None if counts.len() < 256 => counts.push((c, 1)),
            None => {}
        }
    }
    let total: u32 = counts.iter().map(|(_, n)| n).sum();
    let entropy = counts
        .iter()
        .map(|&(_, n)| {
            let p = f64::from(n) / f64::from(total);
            -p * p.log2()
        })
        .sum::<f64>();
    Shape { pattern, collapsed, len, digit_run, digit_runs, entropy }
}

/// How much of a display name an address's local part bears out: the share of the name's words
/// (two letters or more, lower case) found in the local part, or standing in it as an initial
/// alone between separators (`m.rossi` for `Maria Rossi`: both). `None` when the name has no
/// such word.
pub fn agreement(name: &str, local: &str) -> Option<f64> {
    let local = local.to_lowercase();
    let runs: Vec<&str> = local.split(|c: char| !c.is_alphabetic()).filter(|r| !r.is_empty()).collect();
    let words: Vec<String> = name
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .take(8)
        .collect();
    if words.is_empty() {
        return None;
    }
    let found = words
        .iter()
        .filter(|w| {
            let initial = w.chars().next().map(String::from).unwrap_or_default();
            local.contains(w.as_str()) || runs.contains(&initial.as_str())
        })
        .count();
    Some(found as f64 / words.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::{MAX_PATTERN, agreement, shape};

    #[test]
    fn a_persons_address_and_a_scripts_differ_in_shape() {
        let s = shape("maria.rossi84");
        assert_eq!((s.pattern.as_str(), s.collapsed.as_str()), ("lllll.lllll99", "l.l9"));
        assert_eq!((s.len, s.digit_run, s.digit_runs), (13, 2, 1));
        assert_eq!(shape("Maria Rossi").pattern, "Lllll Lllll");
        let script = shape("xk7q2mzp4w");
        assert_eq!(script.collapsed, "l9l9l9l");
        assert_eq!(script.digit_runs, 3);
        assert!(script.entropy > s.entropy, "{} > {}", script.entropy, s.entropy);
        assert_eq!(shape("aaaa").entropy, 0.0);
        assert!((shape("ab").entropy - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hostile_strings_have_a_bounded_shape() {
        let s = shape(&"Ω9\u{1b}\u{202e}🙂".repeat(1000));
        assert_eq!(s.len, 5000);
        assert_eq!(s.pattern.chars().count(), MAX_PATTERN);
        assert!(s.pattern.starts_with("L9^^*"), "{}", s.pattern);
        assert!(s.collapsed.len() <= MAX_PATTERN);
        assert_eq!(shape("").len, 0);
        assert_eq!(shape("").entropy, 0.0);
    }

    #[test]
    fn names_agree_with_addresses_made_from_them() {
        assert_eq!(agreement("Maria Rossi", "maria.rossi84"), Some(1.0));
        assert_eq!(agreement("Maria Rossi", "m.rossi"), Some(1.0), "an initial counts");
        assert_eq!(agreement("Maria Rossi", "rossi.m"), Some(1.0));
        assert_eq!(agreement("Maria Rossi", "xk7q2mzp4w"), Some(0.0));
        assert_eq!(agreement("Maria Rossi", "mrossi"), Some(0.5), "an initial not on its own is not one");
        assert_eq!(agreement("Maria Rossi", "ma.xyz"), Some(0.0));
        assert_eq!(agreement("Мария Росси", "maria.rossi"), Some(0.0), "no transliteration");
        assert_eq!(agreement("J", "j.doe"), None, "no word of two letters");
    }
}
