//! Byte-level work done before parsing: mbox separators, list-header stripping, GTUBE.
//!
//! These run on raw bytes because they must see the message exactly as it arrived (and
//! stripping must happen before anything else looks at the headers).

use std::borrow::Cow;

use memchr::memmem;

/// The GTUBE test string (SpamAssassin's and Rspamd's): a message carrying it is spam by fiat.
const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// True when `raw` contains the GTUBE string.
pub fn is_gtube(raw: &[u8]) -> bool {
    // Built once: building a searcher costs more than most searches.
    static FINDER: std::sync::LazyLock<memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memmem::Finder::new(GTUBE));
    FINDER.find(raw).is_some()
}

/// Drops a leading mbox `From ` separator line, if there is one.
pub fn strip_mbox_from_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match memchr::memchr(b'\n', raw) {
            Some(end) => &raw[end + 1..],
            None => &[],
        }
    } else {
        raw
    }
}

/// Header-field names (lower case) that mailing lists and archives add; a name ending in `-`
/// is a prefix. Several public corpora give their labels away through these.
pub const LIST_HEADER_PREFIXES: &[&str] = &[
    "list-",
    "precedence",
    "sender",
    "x-mailing-list",
    "x-beenthere",
    "delivered-to",
    "x-original-to",
    "x-spam-",
    "x-rspamd-",
];

fn is_list_header(name: &[u8]) -> bool {
    matches_any(name, LIST_HEADER_PREFIXES)
}

fn matches_any(name: &[u8], prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        let p = p.as_bytes();
        if p.ends_with(b"-") {
            name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p)
        } else {
            name.eq_ignore_ascii_case(p)
        }
    })
}

/// Removes the header fields of [`LIST_HEADER_PREFIXES`] (with their folded continuation
/// lines) from the message's top-level header. The body and every other byte are untouched;
/// nothing is copied when there is nothing to remove.
pub fn strip_list_headers(raw: &[u8]) -> Cow<'_, [u8]> {
    strip_header_fields(raw, is_list_header)
}

/// Header-field names (lower case; a trailing `-` makes a prefix) of the trace a message
/// gathers in transit: the relays' and verifiers' words, not the sender's.
pub const TRACE_HEADER_PREFIXES: &[&str] = &[
    "received",
    "dkim-signature",
    "x-google-dkim-signature",
    "arc-",
    "authentication-results",
    "received-spf",
];

/// True for a trace field's name.
pub(crate) fn is_trace_header(name: &[u8]) -> bool {
    matches_any(name, TRACE_HEADER_PREFIXES)
}

/// Removes every top-level header field whose name `drop` selects, with its continuation
/// lines; nothing is copied when nothing is dropped.
pub fn strip_header_fields(raw: &[u8], drop: impl Fn(&[u8]) -> bool) -> Cow<'_, [u8]> {
    let mut spans = kept_spans(raw, drop);
    let first = spans.next().unwrap_or_default();
    if first.len() == raw.len() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(first);
    for span in spans {
        out.extend_from_slice(span);
    }
    Cow::Owned(out)
}

/// The parts of `raw` that [`strip_header_fields`] keeps, in order, without copying: runs of
/// kept header lines, then the blank line and the body as one span.
pub(crate) fn kept_spans<'r>(
    raw: &'r [u8],
    drop: impl Fn(&[u8]) -> bool + 'r,
) -> impl Iterator<Item = &'r [u8]> + 'r {
    let mut pos = 0;
    // Whether the current field is dropped: its continuation lines go with it.
    let mut dropping = false;
    std::iter::from_fn(move || {
        let mut span_start = None;
        while pos < raw.len() {
            let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
            let line = &raw[pos..end];
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.is_empty() {
                // End of the header block: everything from here on is kept.
                let from = span_start.unwrap_or(pos);
                pos = raw.len();
                return Some(&raw[from..]);
            }
            if !matches!(line[0], b' ' | b'\t') {
                let name_end = memchr::memchr(b':', content).unwrap_or(content.len());
                dropping = drop(content[..name_end].trim_ascii_end());
            }
            let line_start = pos;
            pos = end;
            match (dropping, span_start) {
                (true, Some(from)) => return Some(&raw[from..line_start]),
                (false, None) => span_start = Some(line_start),
                _ => {}
            }
        }
        span_start.map(|from| &raw[from..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_list_fields_and_their_continuations_only_in_the_header() {
        let m = b"From: a@b.example\r\nList-Id: <x.lists.example>\r\n\tfolded\r\nSubject: hi\r\n\
                  X-Spam-Status: No\r\nPrecedence: bulk\r\nSenderx: kept\r\n\r\nList-Id: body stays\r\n";
        let out = strip_list_headers(m);
        assert_eq!(
            &out[..],
            &b"From: a@b.example\r\nSubject: hi\r\nSenderx: kept\r\n\r\nList-Id: body stays\r\n"[..]
        );
    }

    #[test]
    fn nothing_to_strip_borrows() {
        let m = b"From: a@b.example\nSubject: hi\n\nbody\n";
        assert!(matches!(strip_list_headers(m), Cow::Borrowed(_)));
        // A message without a body separator is handled too.
        let m = b"Subject: x\nlist-unsubscribe: y";
        assert_eq!(&strip_list_headers(m)[..], b"Subject: x\n");
    }

    #[test]
    fn mbox_from_line_is_dropped() {
        assert_eq!(strip_mbox_from_line(b"From x Mon\nSubject: a\n"), b"Subject: a\n");
        assert_eq!(strip_mbox_from_line(b"From: a\n"), b"From: a\n");
        assert_eq!(strip_mbox_from_line(b"From no newline"), b"");
    }

    #[test]
    fn gtube_is_found_anywhere() {
        let mut m = b"Subject: t\n\nhello ".to_vec();
        assert!(!is_gtube(&m));
        m.extend_from_slice(GTUBE);
        assert!(is_gtube(&m));
    }

    /// The header stripping written the plain way, line by line, to check the one in use.
    fn strip_by_lines(raw: &[u8], drop: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut dropping = false;
        let mut in_header = true;
        for line in raw.split_inclusive(|&b| b == b'\n') {
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if in_header && content.is_empty() {
                in_header = false;
            }
            if in_header && !matches!(line[0], b' ' | b'\t') {
                let name = content.split(|&b| b == b':').next().unwrap_or(content);
                dropping = drop(name.trim_ascii_end());
            }
            if !in_header || !dropping {
                out.extend_from_slice(line);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn kept_spans_agree_with_stripping_line_by_line(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("Received: from x\r\n".to_owned()),
                    proptest::strategy::Just("\tfolded on\n".to_owned()),
                    proptest::strategy::Just("Subject: s\n".to_owned()),
                    proptest::strategy::Just("DKIM-Signature: v=1\r\n".to_owned()),
                    proptest::strategy::Just("\r\n".to_owned()),
                    proptest::strategy::Just("body Received: not a header\n".to_owned()),
                    "[ -~]{0,12}\n?",
                ],
                0..12,
            )
        ) {
            let raw = lines.concat().into_bytes();
            let spans: Vec<u8> = kept_spans(&raw, is_trace_header).flatten().copied().collect();
            proptest::prop_assert_eq!(&spans, &strip_by_lines(&raw, is_trace_header));
            proptest::prop_assert_eq!(&strip_header_fields(&raw, is_trace_header)[..], &spans[..]);
        }
    }
}
