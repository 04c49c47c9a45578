//! Mail feature extraction: one module per signal, each only emitting named tokens.
//!
//! The orchestration here decides what text each module sees: headers first, then every
//! text and HTML part (a bounded prefix of each), then URLs found in either, then the
//! character n-grams of the normalised subject and body text.

pub(crate) mod headers;
mod html;
mod mime;
pub mod qr;
#[cfg(test)]
#[path = "../../benches/qr_images.rs"]
pub(crate) mod qr_images;
pub(crate) mod received;
mod signals;
mod text;
mod url;

use warden_core::{FeatureSink, Namespace};

use crate::Mail;

pub(crate) use crate::domain::ip_addr;
pub use crate::domain::registrable_domain;
pub use signals::{SIGNALS, Signal};
pub use text::{WordStats, normalize_words};

/// Every namespace the mail extractor emits, for documentation and explanations.
pub mod ns {
    use warden_core::Namespace;
    /// Header field names present (lower case).
    pub const HDR_NAME: Namespace = Namespace::new("hdr");
    /// Sender signals: From / Reply-To / Return-Path domains and their mismatches.
    pub const SENDER: Namespace = Namespace::new("sender");
    /// Recipients: counts and shapes of To and Cc.
    pub const RCPT: Namespace = Namespace::new("rcpt");
    /// The Received chain: hop count, protocols, relay shapes and domains.
    pub const RECEIVED: Namespace = Namespace::new("received");
    /// The mailer (X-Mailer / User-Agent), version numbers dropped.
    pub const MAILER: Namespace = Namespace::new("mailer");
    /// Authentication-Results verdicts (spf, dkim, dmarc, arc).
    pub const AUTH: Namespace = Namespace::new("auth");
    /// Date anomalies and Message-ID shape.
    pub const DATE: Namespace = Namespace::new("date");
    /// MIME structure, charsets, transfer encodings.
    pub const MIME: Namespace = Namespace::new("mime");
    /// Attachments: types and file extensions.
    pub const ATTACH: Namespace = Namespace::new("attach");
    /// Subject word tokens.
    pub const SUBJECT: Namespace = Namespace::new("subj");
    /// Subject shape: capitals, punctuation, encodings.
    pub const SUBJECT_SHAPE: Namespace = Namespace::new("subj_shape");
    /// Body word tokens (normalised, confusables folded).
    pub const BODY: Namespace = Namespace::new("body");
    /// Body shape: length, capitals, mixed-script words.
    pub const BODY_SHAPE: Namespace = Namespace::new("body_shape");
    /// HTML signals: links, forms, hidden text, images, scripts.
    pub const HTML: Namespace = Namespace::new("html");
    /// URL registrable domains.
    pub const URL_DOMAIN: Namespace = Namespace::new("url_dom");
    /// URL shapes: IP hosts, user-info tricks, ports, counts, TLDs.
    pub const URL_SHAPE: Namespace = Namespace::new("url");
    /// Byte 4-grams of the normalised subject and body text (character 4-grams for ASCII).
    pub const NGRAM: Namespace = Namespace::new("ng");
    /// Byte 4-grams of the raw message's first bytes, headers included.
    pub const RAW_NGRAM: Namespace = Namespace::new("raw");
    /// Whole-message facts: size, whether it parsed.
    pub const MESSAGE: Namespace = Namespace::new("msg");
    /// Named signals (`BRAND_IMPERSONATION`, `DKIM_ALIGNED`, …): each also a reason of its own.
    pub const SIGNAL: Namespace = Namespace::new("sig");
}

/// Extracts all features of `mail` into `sink`.
pub fn extract(mail: &Mail<'_>, sink: &mut dyn FeatureSink) {
    extract_with(mail, sink, None);
}

/// What an extraction found besides the features.
#[derive(Debug, Default)]
pub struct Extracted {
    /// The named signals (each also a `sig:` feature), to explain them.
    pub signals: Vec<Signal>,
    /// The registrable domain of From, as the sender features read it: what a server keeps a
    /// history of, with or without the facts.
    pub from_domain: Option<String>,
}

/// Extracts all features of `mail` into `sink` and, when asked, the facts rules read; returns
/// the named signals found and the sender's domain.
pub fn extract_with(
    mail: &Mail<'_>,
    sink: &mut dyn FeatureSink,
    facts: Option<&mut crate::MailFacts>,
) -> Extracted {
    let config = mail.config();
    let context = mail.context();
    if mail.message().is_none()
        && let Some(field) = context.field()
    {
        // Bytes that are no message alone (empty, say) are one with the context's field at
        // their head: read them that way, as the field written into them was read.
        let joined = [field.as_bytes(), mail.raw()].concat();
        return extract_with(&Mail::parse(&joined, config), sink, facts);
    }
    let mut out = Emitter { sink, buf: String::with_capacity(64) };
    out.num(ns::MESSAGE, "size", mail.raw().len() + context.field_len());
    let mut texts = text::TextCollector::new(config);
    let mut urls = url::UrlCollector::default();
    let mut clues = signals::Clues::default();
    let mut images: Vec<&[u8]> = Vec::new();
    let mut raw_subject = "";
    match mail.message() {
        Some(msg) => {
            headers::extract(msg, context.auth_results, &mut clues, &mut out);
            let subject = msg.subject().unwrap_or("");
            raw_subject = msg.header_raw("Subject").unwrap_or("");
            text::subject(subject, raw_subject, &mut out);
            texts.push_subject(subject);
            images = mime::extract(msg, config, &mut texts, &mut urls, &mut clues, &mut out);
        }
        None => {
            // Unreadable as a message: the raw bytes are still text worth looking at.
            out.flag(ns::MESSAGE, "unparsed");
            let len = mail.raw().len().min(config.max_part_bytes);
            texts.push_owned_body(String::from_utf8_lossy(&mail.raw()[..len]).into_owned());
        }
    }
    for body in texts.bodies() {
        urls.scan_text(body);
    }
    qr_codes(&images, config, &mut clues, &mut urls, &mut out);
    let url_domains = urls.emit(&mut out);
    let normalised = texts.emit(&mut out);
    let found = signals::detect(mail.message(), raw_subject, config, &clues, &urls, normalised, &mut out);
    if let Some(facts) = facts {
        *facts = crate::MailFacts::of(mail);
        facts.url_domains = url_domains.into_iter().collect();
        facts.signals = found.iter().map(|s| s.name.to_owned()).collect();
    }
    let field = if config.raw_ngrams_skip_trace { None } else { context.field() };
    let head = field.as_deref().map(str::as_bytes);
    let window = (64usize << 10).saturating_sub(context.field_len());
    raw_ngrams(head, mail.raw(), config.raw_ngram_bytes, config.raw_ngrams_skip_trace, window, &mut out);
    Extracted { signals: found, from_domain: clues.from_domain.take() }
}

/// Links a message may have and still have its images searched for QR codes. A code is how a
/// phisher gets a link past the mail's link checks, so the message that carries one has next to
/// no links of its own; a newsletter's images (dozens of links beside them) are not searched.
pub const QR_MAX_LINKS: usize = 10;

/// Searches the images of a message with few links for QR codes, the attached ones first (and
/// the images inside attached PDF files), at most `qr_images` of them; a code is an
/// `attach:qr_code` feature and its links are links of the message.
fn qr_codes(
    attached: &[&[u8]],
    config: &crate::MailConfig,
    clues: &mut signals::Clues,
    urls: &mut url::UrlCollector,
    out: &mut Emitter<'_>,
) {
    let inline = std::mem::take(&mut clues.images);
    if urls.urls().len() > QR_MAX_LINKS {
        return;
    }
    // The attached ones were known as images or PDF files when they were collected.
    let inline = inline.iter().map(Vec::as_slice).filter(|i| qr::is_image(i));
    let mut budget = config.qr_images;
    for file in attached.iter().copied().chain(inline) {
        if budget == 0 {
            break;
        }
        let codes = if qr::is_pdf(file) {
            qr::pdf_codes(file, &mut budget)
        } else {
            budget -= 1;
            qr::codes(file)
        };
        for code in codes {
            out.flag(ns::ATTACH, "qr_code");
            clues.qr_code(&code, urls);
        }
    }
}

/// Byte 4-grams of the message as it arrived: header structure, encodings and markup that
/// no parsed field shows. Line-ending differences are folded (CR dropped). With `skip_trace`,
/// the trace fields (Received, DKIM and ARC signatures, verdicts) are left out first, of the
/// first `window` bytes; without, `head` (the context's field) is read before the message.
fn raw_ngrams(
    head: Option<&[u8]>,
    raw: &[u8],
    max: usize,
    skip_trace: bool,
    window: usize,
    out: &mut Emitter<'_>,
) {
    let mut text = Vec::with_capacity(max.min(raw.len()));
    let mut take = |spans: &mut dyn Iterator<Item = &[u8]>| {
        let mut budget = max;
        for span in spans {
            let part = &span[..span.len().min(budget)];
            budget -= part.len();
            // Copied whole, then lowered in place (a loop the compiler vectorises) and, only
            // when the span has a CR, compacted to drop it: a byte-by-byte filtered push costs
            // three times as much, and most spans have none.
            let start = text.len();
            text.extend_from_slice(part);
            text[start..].make_ascii_lowercase();
            if memchr::memchr(b'\r', part).is_some() {
                let mut kept = start;
                for i in start..text.len() {
                    let b = text[i];
                    text[kept] = b;
                    kept += usize::from(b != b'\r');
                }
                text.truncate(kept);
            }
            if budget == 0 {
                break;
            }
        }
    };
    if skip_trace {
        take(&mut crate::raw::kept_spans(&raw[..raw.len().min(window)], crate::raw::is_trace_header));
    } else {
        take(&mut head.into_iter().chain(std::iter::once(raw)));
    }
    out.ngrams(ns::RAW_NGRAM, &text);
}

/// A thin wrapper over the sink with the token shapes the modules share.
pub(crate) struct Emitter<'s> {
    sink: &'s mut dyn FeatureSink,
    /// Scratch space for composed tokens.
    buf: String,
}

impl Emitter<'_> {
    /// A token as it is.
    #[inline]
    pub fn token(&mut self, ns: Namespace, token: &str) {
        self.sink.add(ns, token.as_bytes());
    }

    /// A boolean fact.
    pub fn flag(&mut self, ns: Namespace, name: &str) {
        self.sink.add(ns, name.as_bytes());
    }

    /// `name=value`.
    pub fn pair(&mut self, ns: Namespace, name: &str, value: &str) {
        self.buf.clear();
        self.buf.push_str(name);
        self.buf.push('=');
        self.buf.push_str(value);
        self.sink.add(ns, self.buf.as_bytes());
    }

    /// A count, as its logarithmic bucket (`name=0`, `1`, `2-3`, `4-7`, …).
    pub fn num(&mut self, ns: Namespace, name: &str, n: usize) {
        self.buf.clear();
        self.buf.push_str(name);
        self.buf.push('=');
        write_bucket(&mut self.buf, n);
        self.sink.add(ns, self.buf.as_bytes());
    }

    /// A boolean fact about the hop or part at `pos` (0–9): `name` and the digit.
    pub fn flag_at(&mut self, ns: Namespace, name: &str, pos: usize) {
        self.name_at(name, pos);
        self.sink.add(ns, self.buf.as_bytes());
    }

    /// `name` and the digit of `pos` (0–9), `=value`.
    pub fn pair_at(&mut self, ns: Namespace, name: &str, pos: usize, value: &str) {
        self.name_at(name, pos);
        self.buf.push('=');
        self.buf.push_str(value);
        self.sink.add(ns, self.buf.as_bytes());
    }

    /// `name` and the digit of `pos` (0–9), alone in the scratch buffer.
    fn name_at(&mut self, name: &str, pos: usize) {
        self.buf.clear();
        self.buf.push_str(name);
        self.buf.push(char::from(b'0' + pos.min(9) as u8));
    }

    /// Byte 4-grams of `bytes`, each window a little-endian `u32` (oldest byte first).
    pub fn ngrams(&mut self, ns: Namespace, bytes: &[u8]) {
        self.sink.add_ngrams(ns, bytes);
    }
}

/// Writes the power-of-two bucket of a count as a readable range (with itoa: a dozen counts
/// a message went through the formatting machinery at a few hundred instructions each).
fn write_bucket(out: &mut String, n: usize) {
    let mut digits = itoa::Buffer::new();
    match n {
        0 | 1 => out.push_str(digits.format(n)),
        _ => {
            let lo = 1usize << (usize::BITS - 1 - n.leading_zeros());
            out.push_str(digits.format(lo));
            out.push('-');
            out.push_str(digits.format(lo - 1 + lo)); // lo * 2 - 1 overflows at the top bucket
        }
    }
}

/// The power-of-two bucket of a count, as a readable range.
#[cfg(test)]
fn bucket(n: usize) -> String {
    let mut s = String::new();
    write_bucket(&mut s, n);
    s
}

/// The first `max` bytes of `s`, cut back to a character boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket(0), "0");
        assert_eq!(bucket(1), "1");
        assert_eq!(bucket(2), "2-3");
        assert_eq!(bucket(3), "2-3");
        assert_eq!(bucket(4), "4-7");
        assert_eq!(bucket(1000), "512-1023");
        assert_eq!(bucket(usize::MAX), format!("{}-{}", 1usize << 63, usize::MAX));
    }

    /// The raw 4-gram features of `raw` (first `max` bytes), as hashes in first-seen order.
    fn raw_features(raw: &[u8], max: usize, skip_trace: bool) -> Vec<u64> {
        let mut sink = warden_core::HashedSink::new();
        raw_ngrams(
            None,
            raw,
            max,
            skip_trace,
            64 << 10,
            &mut Emitter { sink: &mut sink, buf: String::new() },
        );
        sink.finish().hashes().to_vec()
    }

    #[test]
    fn raw_ngrams_fold_case_and_line_endings() {
        let lf = b"Received: from a by b\nFrom: A@Example.ORG\nSubject: Hi There\n\nBody TEXT\n";
        let crlf = b"Received: from a by b\r\nFrom: A@Example.ORG\r\nSubject: Hi There\r\n\r\nBody TEXT\r\n";
        let lower = b"received: from a by b\nfrom: a@example.org\nsubject: hi there\n\nbody text\n";
        for skip_trace in [false, true] {
            let want = raw_features(lower, 2000, skip_trace);
            assert!(!want.is_empty());
            assert_eq!(raw_features(lf, 2000, skip_trace), want);
            assert_eq!(raw_features(crlf, 2000, skip_trace), want);
        }
        // A budget counts raw bytes, CRs included: the CRLF text is cut earlier.
        assert_ne!(raw_features(crlf, 40, false), raw_features(lf, 40, false));
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("abc", 10), "abc");
    }
}
