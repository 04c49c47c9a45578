//! Whether a corpus holds messages of another: by Message-ID, and by a hash of the body
//! with line endings and runs of white space made alike (a message re-exported by another
//! archive keeps both). What a training set is checked against before it is used, so that
//! none of the sets kept for independent evaluation leaks into training.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{Corpus, CorpusError};

/// Bodies shorter than this (after white space is made alike) are not compared: "thanks" or
/// an empty body would match across unrelated messages.
pub const MIN_BODY_BYTES: usize = 64;

/// What identifies a message across copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The Message-ID, without its angle brackets (as the sender wrote it).
    pub message_id: Option<String>,
    /// The body's hash, when it is long enough to compare.
    pub body: Option<u64>,
}

/// The fingerprint of a raw message (any bytes).
pub fn fingerprint(raw: &[u8]) -> Fingerprint {
    let (head, body) = split(raw);
    Fingerprint { message_id: message_id(head), body: body_hash(body) }
}

/// The header block and the body: split at the first empty line (LF, CRLF, or CRs before
/// the LF, as a CRLF file converted once more gives).
fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        at += line.len();
        if line.ends_with(b"\n") && line[..line.len() - 1].iter().all(|&b| b == b'\r') {
            return (&raw[..at - line.len()], &raw[at..]);
        }
    }
    (raw, &[])
}

/// The first Message-ID field's value, unfolded, without white space or angle brackets; `None`
/// unless it has text on both sides of an `@`.
fn message_id(head: &[u8]) -> Option<String> {
    let mut lines = head.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.get(11..).filter(|_| line[..11].eq_ignore_ascii_case(b"message-id:")) else {
            continue;
        };
        let mut value = value.to_vec();
        while let Some(next) = lines.peek().filter(|l| l.first().is_some_and(|b| *b == b' ' || *b == b'\t')) {
            value.extend_from_slice(next);
            lines.next();
        }
        let id: Vec<u8> = value.into_iter().filter(|b| !b.is_ascii_whitespace()).collect();
        let id = id.strip_prefix(b"<").unwrap_or(&id);
        let id = id.strip_suffix(b">").unwrap_or(id);
        // An id without both sides of its `@` (`<@>`, seen in spam of two decades) would
        // match unrelated messages.
        let whole = id.iter().position(|&b| b == b'@').is_some_and(|at| at > 0 && at + 1 < id.len());
        return whole.then(|| String::from_utf8_lossy(id).into_owned());
    }
    None
}

/// xxh3 of the body with every run of white space (CR and LF included) made one space and
/// the ends trimmed; `None` below [`MIN_BODY_BYTES`].
fn body_hash(body: &[u8]) -> Option<u64> {
    let mut norm = Vec::with_capacity(body.len());
    for &b in body {
        if b.is_ascii_whitespace() {
            if norm.last().is_some_and(|&l| l != b' ') {
                norm.push(b' ');
            }
        } else {
            norm.push(b);
        }
    }
    if norm.last() == Some(&b' ') {
        norm.pop();
    }
    (norm.len() >= MIN_BODY_BYTES).then(|| xxhash_rust::xxh3::xxh3_64(&norm))
}

/// The messages of `path`: a corpus's (labels.tsv or TREC index), else every file under the
/// folder (one message each; `labels.tsv` and names starting with a dot left out), in name
/// order.
pub fn messages_under(path: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    if let Ok(c) = Corpus::open(path) {
        return Ok(c.items.into_iter().map(|i| i.path).collect());
    }
    if !path.is_dir() {
        return Err(CorpusError::NotACorpus(path.into()));
    }
    let mut out = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(dir) = folders.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|source| CorpusError::Io { path: dir.clone(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| CorpusError::Io { path: dir.clone(), source })?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') || name == "labels.tsv" {
                continue;
            }
            let kind = entry.file_type().map_err(|source| CorpusError::Io { path: entry.path(), source })?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// How a message of the checked set was found in the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The message checked.
    pub message: PathBuf,
    /// The message it matches.
    pub matches: PathBuf,
    /// `message-id`, `body` or `message-id+body`.
    pub by: &'static str,
}

/// Fingerprints of a set of messages, to look others up in.
#[derive(Debug, Default)]
pub struct Index {
    ids: HashMap<String, PathBuf>,
    bodies: HashMap<u64, PathBuf>,
}

impl Index {
    /// Adds a message (the first one seen keeps a shared fingerprint).
    pub fn add(&mut self, path: &Path, f: Fingerprint) {
        if let Some(id) = f.message_id {
            self.ids.entry(id).or_insert_with(|| path.to_owned());
        }
        if let Some(b) = f.body {
            self.bodies.entry(b).or_insert_with(|| path.to_owned());
        }
    }

    /// Where `message` (with fingerprint `f`) is found, if it is.
    pub fn find(&self, message: &Path, f: &Fingerprint) -> Option<Overlap> {
        let by_id = f.message_id.as_ref().and_then(|id| self.ids.get(id));
        let by_body = f.body.and_then(|b| self.bodies.get(&b));
        let (matches, by) = match (by_id, by_body) {
            (Some(a), Some(_)) => (a, "message-id+body"),
            (Some(a), None) => (a, "message-id"),
            (None, Some(b)) => (b, "body"),
            (None, None) => return None,
        };
        Some(Overlap { message: message.to_owned(), matches: matches.clone(), by })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "Your account statement for November is ready. Sign in to see it, or call us on the number on your card.";

    #[test]
    fn copies_through_other_archives_keep_their_fingerprint() {
        let lf = format!(
            "From: bank@example.com\nMessage-ID: <abc.123@mail.example.com>\nSubject: statement\n\n{BODY}\n"
        );
        let crlf = format!(
            "Received: by archive.example\r\nMessage-Id:\r\n  <abc.123@mail.example.com>\r\nSubject: statement\r\n\r\n{}\r\n\r\n",
            BODY.replace(". ", ".\r\n   ")
        );
        let (a, b) = (fingerprint(lf.as_bytes()), fingerprint(crlf.as_bytes()));
        assert_eq!(fingerprint(crlf.replace('\n', "\r\n").as_bytes()), b, "CRLF converted twice");
        assert_eq!(a.message_id.as_deref(), Some("abc.123@mail.example.com"));
        assert_eq!(a, b, "folded Message-ID, CRLF and rewrapped lines are the same message");
        let other = fingerprint(format!("Message-ID: <x@y>\n\n{BODY} Thanks.\n").as_bytes());
        assert_ne!(other.body, a.body);
        assert_eq!(other.message_id.as_deref(), Some("x@y"));
    }

    #[test]
    fn short_bodies_and_absent_fields_match_nothing() {
        let f = fingerprint(b"Subject: hi\n\nthanks!\n");
        assert_eq!(f, Fingerprint { message_id: None, body: None });
        assert_eq!(fingerprint(b"no header end, no body").body, None);
        assert_eq!(fingerprint(b"Message-ID: <>\n\n").message_id, None);
        assert_eq!(fingerprint(b"Message-ID: <@>\n\n").message_id, None);
        assert_eq!(fingerprint(b"Message-ID: <a@>\n\n").message_id, None);
        assert_eq!(fingerprint(b"Message-ID: <nodomain>\n\n").message_id, None);
        assert_eq!(fingerprint(b"X-Message-ID: <a@b>\n\n").message_id, None, "only the field itself");
    }

    #[test]
    fn an_index_finds_by_either_and_says_which() {
        let mut index = Index::default();
        let kept = format!("Message-ID: <one@a>\n\n{BODY}\n");
        index.add(Path::new("reserved/1"), fingerprint(kept.as_bytes()));
        let same_body = format!("Message-ID: <two@b>\n\n{BODY}\n");
        let found = index.find(Path::new("train/9"), &fingerprint(same_body.as_bytes())).unwrap();
        assert_eq!((found.matches.to_str(), found.by), (Some("reserved/1"), "body"));
        let found = index.find(Path::new("t"), &fingerprint(kept.as_bytes())).unwrap();
        assert_eq!(found.by, "message-id+body");
        assert_eq!(
            index.find(Path::new("t"), &fingerprint(b"Message-ID: <one@a>\n\nhi\n")).unwrap().by,
            "message-id"
        );
        assert!(index.find(Path::new("t"), &fingerprint(b"Message-ID: <new@c>\n\nhi\n")).is_none());
    }
}
