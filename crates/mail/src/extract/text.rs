//! Subject and body text: Unicode word tokens, their shape, and character 4-grams.
//!
//! Words are maximal runs of Unicode alphanumeric characters (a full UAX #29 segmentation
//! measured four times slower for no gain in accuracy), lower-cased and NFKC-normalised.
//! A word mixing Latin letters with letters of another script ("pаypal" with a Cyrillic а)
//! is folded to its Latin look-alike with decancer and flagged: that is the disguise, while a
//! word wholly in one script is left as it is, so real Cyrillic or Greek text keeps its words.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use super::{Emitter, ns, prefix};
use crate::MailConfig;

/// Longest word kept, in characters; longer runs are base64 or noise.
const MAX_WORD_CHARS: usize = 40;

/// What [`normalize_words`] saw besides the words.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WordStats {
    /// Words passed on.
    pub words: usize,
    /// Words that mixed Latin with another script.
    pub mixed_script: usize,
    /// Letters in the words looked at.
    pub letters: usize,
    /// Of which upper case.
    pub upper: usize,
}

/// Byte classes for the ASCII fast path: one table lookup per byte instead of several tests.
const WORD: u8 = 1;
const ALPHA: u8 = 2;
const UPPER: u8 = 4;
const NON_ASCII: u8 = 8;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if !c.is_ascii() {
            NON_ASCII
        } else if c.is_ascii_uppercase() {
            WORD | ALPHA | UPPER
        } else if c.is_ascii_lowercase() {
            WORD | ALPHA
        } else if c.is_ascii_digit() {
            WORD
        } else {
            0
        };
        b += 1;
    }
    t
};

/// Calls `f` with each normalised word of `text`, at most `max` of them, and stops there.
pub fn normalize_words(text: &str, max: usize, mut f: impl FnMut(&str)) -> WordStats {
    let mut buf = String::with_capacity(64);
    let mut stats = WordStats::default();
    let bytes = text.as_bytes();
    let mut i = 0;
    while stats.words < max && i < bytes.len() {
        let class = CLASS[bytes[i] as usize];
        if class & (WORD | NON_ASCII) == 0 {
            i += 1;
            continue;
        }
        // An ASCII run, classified byte by byte; a word that turns out to hold other
        // characters is read again on the general path.
        let start = i;
        let (mut letters, mut upper) = (0, 0);
        while i < bytes.len() {
            let class = CLASS[bytes[i] as usize];
            if class & WORD == 0 {
                break;
            }
            letters += usize::from(class & ALPHA != 0);
            upper += usize::from(class & UPPER != 0);
            i += 1;
        }
        if i == bytes.len() || CLASS[bytes[i] as usize] & NON_ASCII == 0 {
            let word = &text[start..i];
            if word.len() > MAX_WORD_CHARS * 4 {
                continue;
            }
            stats.letters += letters;
            stats.upper += upper;
            if word.len() > MAX_WORD_CHARS {
                continue;
            }
            // Plain ASCII: a number goes by its length, a lower-case word as it is, and only
            // a word with capitals is copied to be lowered.
            stats.words += 1;
            if letters == 0 {
                f(NUMBER_TOKENS[word.len().min(12) - 1]);
            } else if upper == 0 {
                f(word);
            } else {
                buf.clear();
                buf.push_str(word);
                buf.make_ascii_lowercase();
                f(&buf);
            }
            continue;
        }
        let Some((word, after)) = next_word(&text[start..]) else { break };
        i = text.len() - after.len();
        if word.len() > MAX_WORD_CHARS * 4 {
            continue;
        }
        buf.clear();
        let chars = general_word(word, &mut buf, &mut stats);
        if chars == 0 || chars > MAX_WORD_CHARS {
            continue;
        }
        stats.words += 1;
        if buf.bytes().all(|b| b.is_ascii_digit()) {
            // Numbers by length: prices and phone numbers differ, their digits rarely matter.
            f(NUMBER_TOKENS[buf.len().min(12) - 1]);
        } else {
            f(&buf);
        }
    }
    stats
}

/// Normalises a word that is not plain ASCII into `buf`, returning its length in characters.
fn general_word(word: &str, buf: &mut String, stats: &mut WordStats) -> usize {
    if word.is_ascii() {
        for b in word.bytes() {
            stats.letters += usize::from(b.is_ascii_alphabetic());
            stats.upper += usize::from(b.is_ascii_uppercase());
        }
        buf.push_str(word);
        buf.make_ascii_lowercase();
        return buf.len();
    }
    for c in word.chars().filter(|c| c.is_alphabetic()) {
        stats.letters += 1;
        stats.upper += c.is_uppercase() as usize;
    }
    buf.extend(word.nfkc().flat_map(char::to_lowercase));
    let latin = buf.chars().any(|c| c.is_ascii_alphabetic());
    let other = buf.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
    if latin
        && other
        && let Ok(cured) = decancer::cure(buf, decancer::Options::default())
    {
        stats.mixed_script += 1;
        *buf = cured.to_string();
    }
    buf.chars().count()
}

/// The tokens numbers of 1 to 12 or more digits become.
const NUMBER_TOKENS: [&str; 12] = [
    "<num1>", "<num2>", "<num3>", "<num4>", "<num5>", "<num6>", "<num7>", "<num8>", "<num9>", "<num10>",
    "<num11>", "<num12>",
];

/// The next maximal run of alphanumeric characters in `text`, and what follows it. ASCII is
/// classified byte by byte; only other characters are decoded.
fn next_word(text: &str) -> Option<(&str, &str)> {
    let is_word = |s: &str, i: usize| -> (bool, usize) {
        let b = s.as_bytes()[i];
        if b.is_ascii() {
            (b.is_ascii_alphanumeric(), 1)
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            (c.is_alphanumeric(), c.len_utf8())
        }
    };
    let mut i = 0;
    let start = loop {
        if i >= text.len() {
            return None;
        }
        let (word, len) = is_word(text, i);
        if word {
            break i;
        }
        i += len;
    };
    while i < text.len() {
        let (word, len) = is_word(text, i);
        if !word {
            break;
        }
        i += len;
    }
    Some((&text[start..i], &text[i..]))
}

/// Subject tokens and shape.
pub(super) fn subject(subject: &str, raw: &str, out: &mut Emitter<'_>) {
    if subject.is_empty() {
        out.flag(ns::SUBJECT_SHAPE, "empty");
        return;
    }
    let stats = normalize_words(subject, usize::MAX, |w| out.token(ns::SUBJECT, w));
    if stats.mixed_script > 0 {
        out.flag(ns::SUBJECT_SHAPE, "mixed_script");
    }
    let letters = subject.chars().filter(|c| c.is_alphabetic()).count();
    let upper = subject.chars().filter(|c| c.is_uppercase()).count();
    if letters >= 5 && upper * 2 > letters {
        out.flag(ns::SUBJECT_SHAPE, "mostly_capitals");
    }
    out.num(ns::SUBJECT_SHAPE, "len", subject.chars().count());
    out.num(ns::SUBJECT_SHAPE, "bangs", subject.matches('!').count());
    if subject.contains('$') || subject.contains('€') {
        out.flag(ns::SUBJECT_SHAPE, "currency");
    }
    if !subject.is_ascii() {
        out.flag(ns::SUBJECT_SHAPE, "non_ascii");
    }
    // No character outside ASCII lower-cases to these letters, so ASCII case folding of the
    // first bytes is the same test as on the lower-cased subject.
    let head = subject.trim_start().as_bytes();
    let starts = |p: &[u8]| head.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if starts(b"re:") || starts(b"aw:") {
        out.flag(ns::SUBJECT_SHAPE, "reply");
    } else if starts(b"fw:") || starts(b"fwd:") {
        out.flag(ns::SUBJECT_SHAPE, "forward");
    }
    // RFC 2047 encoded words: their charset and encoding (=?utf-8?B?…?=).
    let mut rest = raw;
    while let Some(i) = rest.find("=?") {
        let word = &rest[i + 2..];
        let mut fields = word.splitn(3, '?');
        if let (Some(cs), Some(enc)) = (fields.next(), fields.next())
            && cs.len() <= 20
            && enc.len() == 1
        {
            out.pair(
                ns::SUBJECT_SHAPE,
                "encoded",
                &format!("{}/{}", cs.to_ascii_lowercase(), enc.to_ascii_lowercase()),
            );
        }
        rest = word;
    }
}

/// Gathers the text of a message (subject, bounded prefix of each part) for words, shape and
/// n-grams.
pub(super) struct TextCollector<'m> {
    max_part_bytes: usize,
    max_words: usize,
    ngram_bytes: usize,
    subject: &'m str,
    /// Borrowed from the parsed message where possible; HTML parts' text is made here.
    bodies: Vec<Cow<'m, str>>,
}

impl<'m> TextCollector<'m> {
    pub fn new(config: &MailConfig) -> Self {
        TextCollector {
            max_part_bytes: config.max_part_bytes,
            max_words: config.max_words,
            ngram_bytes: config.ngram_bytes,
            subject: "",
            bodies: Vec::new(),
        }
    }

    pub fn push_subject(&mut self, subject: &'m str) {
        self.subject = prefix(subject, 1024);
    }

    /// Adds a body text; only its first `max_part_bytes` are kept.
    pub fn push_body(&mut self, text: &'m str) {
        self.bodies.push(Cow::Borrowed(prefix(text, self.max_part_bytes)));
    }

    /// Adds a body text made during extraction; only its first `max_part_bytes` are kept.
    pub fn push_owned_body(&mut self, mut text: String) {
        let len = prefix(&text, self.max_part_bytes).len();
        text.truncate(len);
        self.bodies.push(Cow::Owned(text));
    }

    pub fn bodies(&self) -> impl Iterator<Item = &str> {
        self.bodies.iter().map(|b| &**b)
    }

    /// Emits the word, shape and n-gram features; returns the normalised text the n-grams were
    /// cut from, with the length of its subject part (see [`TextCollector::ngrams`]).
    pub fn emit(&self, out: &mut Emitter<'_>) -> (Vec<u8>, usize) {
        let total: usize = self.bodies.iter().map(|b| b.len()).sum();
        out.num(ns::BODY_SHAPE, "len", total);
        if total == 0 {
            out.flag(ns::BODY_SHAPE, "empty");
        }
        let (mut words, mut mixed, mut letters, mut upper) = (0, 0, 0, 0);
        for body in &self.bodies {
            let stats = normalize_words(body, self.max_words - words, |w| out.token(ns::BODY, w));
            words += stats.words;
            mixed += stats.mixed_script;
            letters += stats.letters;
            upper += stats.upper;
        }
        if mixed > 0 {
            out.num(ns::BODY_SHAPE, "mixed_script_words", mixed);
        }
        if letters >= 20 {
            out.num(ns::BODY_SHAPE, "capitals_pct", upper * 100 / letters);
        }
        self.ngrams(out)
    }

    /// Byte 4-grams of the normalised text: lower case, every run of non-alphanumeric
    /// characters folded to one space, at most `ngram_bytes` of it; returns the text and where
    /// its subject part ends. Over UTF-8 bytes, so a
    /// window is a character 4-gram in ASCII and part of one elsewhere: cheap and script-blind.
    fn ngrams(&self, out: &mut Emitter<'_>) -> (Vec<u8>, usize) {
        let sources = std::iter::once(self.subject).chain(self.bodies());
        let (text, subject_end) = fold_for_ngrams(sources, self.ngram_bytes);
        out.ngrams(ns::NGRAM, &text);
        (text, subject_end)
    }
}

/// What an ASCII byte becomes in the n-gram text: a letter lowered, a digit as it is, and 0 for
/// any other byte (a separator).
static FOLD: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { 0 };
        b += 1;
    }
    t
};

/// The n-gram text of `sources` (the subject first): see [`TextCollector::ngrams`]. Returns it
/// with the length of its subject part. Once it holds `cap` bytes nothing more is read; a
/// character outside ASCII, or the space that closes a source, may take it a few bytes past.
///
/// ASCII goes without a branch on the byte: every byte is written (lowered, or a space) and
/// the end moves on unless it was a second separator in a row. Branching on where each word
/// ends cost one mispredicted branch a word, a fifth of the extraction's own time.
fn fold_for_ngrams<'a>(sources: impl Iterator<Item = &'a str>, cap: usize) -> (Vec<u8>, usize) {
    // Written through an index into a buffer sized in advance; what a non-ASCII character can
    // add (a lowered character is at most three of four bytes) is reserved as it comes.
    let mut text = vec![0u8; cap + 1];
    let mut n = 0;
    let mut space = true;
    let mut subject_end = None;
    'outer: for (k, source) in sources.enumerate() {
        if k == 1 {
            subject_end = Some(n);
        }
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if n >= cap {
                break 'outer;
            }
            // An ASCII byte adds at most one byte: this many can go without the check above.
            let stop = bytes.len().min(i + (cap - n));
            let ascii = &bytes[i..stop];
            let room = &mut text[n..n + ascii.len()];
            let mut m = 0;
            let mut taken = 0;
            for &b in ascii {
                if b >= 0x80 {
                    break;
                }
                let f = FOLD[usize::from(b)];
                room[m] = if f == 0 { b' ' } else { f };
                m += usize::from(f != 0 || !space);
                space = f == 0;
                taken += 1;
            }
            n += m;
            i += taken;
            if i < bytes.len() && bytes[i] >= 0x80 && n < cap {
                let c = source[i..].chars().next().unwrap_or(' ');
                i += c.len_utf8();
                if c.is_alphanumeric() {
                    let mut utf8 = [0; 4];
                    for l in c.to_lowercase() {
                        let l = l.encode_utf8(&mut utf8).as_bytes();
                        text.resize(text.len().max(n + l.len() + 1), 0);
                        text[n..n + l.len()].copy_from_slice(l);
                        n += l.len();
                    }
                    space = false;
                } else if !space {
                    text[n] = b' ';
                    n += 1;
                    space = true;
                }
            }
        }
        if !space {
            text[n] = b' ';
            n += 1;
            space = true;
        }
    }
    text.truncate(n);
    let subject_end = subject_end.unwrap_or(n);
    (text, subject_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> (Vec<String>, usize) {
        let mut v = Vec::new();
        let stats = normalize_words(s, usize::MAX, |w| v.push(w.to_owned()));
        (v, stats.mixed_script)
    }

    #[test]
    fn word_limits_stop_early_and_capitals_are_counted() {
        let mut v = Vec::new();
        let stats = normalize_words("ONE Two three four", 3, |w| v.push(w.to_owned()));
        assert_eq!(v, ["one", "two", "three"]);
        assert_eq!(stats, WordStats { words: 3, mixed_script: 0, letters: 11, upper: 4 });
    }

    #[test]
    fn words_are_lowercased_and_numbers_bucketed() {
        let (w, mixed) = words("FREE Money: call 5551234 now!");
        assert_eq!(w, ["free", "money", "call", "<num7>", "now"]);
        assert_eq!(mixed, 0);
    }

    #[test]
    fn mixed_script_words_are_folded_but_pure_scripts_kept() {
        // "pаypal" with a Cyrillic а (U+0430).
        let (w, mixed) = words("p\u{0430}ypal Привет");
        assert_eq!(w, ["paypal", "привет"]);
        assert_eq!(mixed, 1);
    }

    /// The n-gram text by its definition, a character at a time.
    fn folded_by_definition(sources: &[&str], cap: usize) -> (Vec<u8>, usize) {
        let mut text = Vec::new();
        let mut subject_end = None;
        let mut space = true;
        'outer: for (k, source) in sources.iter().enumerate() {
            if k == 1 {
                subject_end = Some(text.len());
            }
            for c in source.chars() {
                if text.len() >= cap {
                    break 'outer;
                }
                if c.is_alphanumeric() {
                    text.extend(c.to_lowercase().collect::<String>().bytes());
                    space = false;
                } else if !space {
                    text.push(b' ');
                    space = true;
                }
            }
            if !space {
                text.push(b' ');
                space = true;
            }
        }
        let end = subject_end.unwrap_or(text.len());
        (text, end)
    }

    #[test]
    fn ngram_text_is_lowered_with_separators_folded_and_capped() {
        let (text, subject_end) = fold_for_ngrams(["Win $$$ NOW!!", "Click  HERE, friend."].into_iter(), 100);
        assert_eq!(text, b"win now click here friend ");
        assert_eq!(subject_end, 8);
        let (text, _) = fold_for_ngrams(["Hello wonderful world"].into_iter(), 9);
        assert_eq!(text, b"hello won");
        // Capital letters outside ASCII are lowered, other scripts kept, symbols are separators.
        let (text, _) = fold_for_ngrams(["ÀB Привет — ok"].into_iter(), 100);
        assert_eq!(String::from_utf8(text).unwrap(), "àb привет ok ");
    }

    #[test]
    fn ngram_text_matches_its_definition_on_mixed_input() {
        // Pieces chosen to meet every path: ASCII words and separators, characters outside
        // ASCII that are letters (one lowering to two characters), that are not, and long runs.
        let pieces = [
            "a",
            "Z",
            "9",
            " ",
            "  ",
            "!",
            "\n",
            "é",
            "İ",
            "ß",
            "—",
            "€",
            "Ж",
            "中",
            "\u{1F600}",
            "word",
            "LONGERWORD",
            "x.y",
            "ǅ",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let sources: Vec<String> = (0..1 + next() % 3)
                .map(|_| (0..next() % 12).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect())
                .collect();
            let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
            let cap = (next() % 40) as usize;
            assert_eq!(
                fold_for_ngrams(sources.iter().copied(), cap),
                folded_by_definition(&sources, cap),
                "{sources:?} cap {cap}"
            );
        }
    }

    #[test]
    fn fullwidth_letters_are_normalised() {
        let (w, _) = words("ＦＲＥＥ");
        assert_eq!(w, ["free"]);
    }
}
