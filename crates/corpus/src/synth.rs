//! Synthetic labelled mail corpora: for tests (no real message may be a fixture) and for
//! memory runs at sizes no public corpus has.
//!
//! Spam and ham draw words from overlapping vocabularies, so a learner has something to
//! learn and cannot be perfect; headers, HTML parts and URLs vary with the seed.

use std::io::Write;
use std::path::Path;

const HAM_WORDS: &[&str] = &[
    "meeting",
    "patch",
    "review",
    "kernel",
    "thanks",
    "tomorrow",
    "build",
    "release",
    "agenda",
    "notes",
    "branch",
    "driver",
    "commit",
    "schedule",
    "question",
    "attached",
    "minutes",
    "team",
    "regression",
    "config",
    "report",
    "merge",
    "lunch",
    "draft",
    "project",
    "update",
    "test",
];
const SPAM_WORDS: &[&str] = &[
    "free",
    "winner",
    "offer",
    "cash",
    "viagra",
    "click",
    "limited",
    "prize",
    "investment",
    "loan",
    "guaranteed",
    "casino",
    "bonus",
    "urgent",
    "password",
    "verify",
    "account",
    "crypto",
    "discount",
    "pharmacy",
    "million",
    "unsubscribe",
    "deal",
    "update",
    "test",
    "team",
];
const DOMAINS: &[&str] = &["example.org", "example.com", "example.net", "mail.example", "test.example"];

/// The generator's random source: the crate's SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        crate::corpus::splitmix64(&mut self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

/// One synthetic message.
pub fn message(index: u64, spam: bool, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed ^ index.wrapping_mul(0x2545_F491_4F6C_DD1D));
    // One word in four comes from the other class: the classes overlap.
    let word = |r: &mut Rng| {
        let own = r.below(4) != 0;
        r.pick(if spam == own { SPAM_WORDS } else { HAM_WORDS })
    };
    let subject: Vec<&str> = (0..3 + r.below(5)).map(|_| word(&mut r)).collect();
    let body: Vec<&str> = (0..20 + r.below(200)).map(|_| word(&mut r)).collect();
    let from = format!("user{}@{}", r.below(500), r.pick(DOMAINS));
    let to = format!("someone@{}", r.pick(DOMAINS));
    let mut m = format!(
        "Received: from relay{} (relay.{} [192.0.2.{}])\r\n\tby mx.example with ESMTP id {index}\r\n\
         From: {from}\r\nTo: {to}\r\nSubject: {}\r\nDate: Mon, {} Jan 2024 10:{:02}:00 +0000\r\n\
         Message-ID: <{index}.{seed}@{}>\r\nMIME-Version: 1.0\r\n",
        r.below(9),
        r.pick(DOMAINS),
        r.below(250) + 1,
        subject.join(" "),
        1 + r.below(28),
        r.below(60),
        r.pick(DOMAINS),
    );
    let text = body.join(" ");
    if r.below(3) == 0 {
        let url = format!("http://{}.{}/{}", word(&mut r), r.pick(DOMAINS), r.below(10_000));
        m.push_str(&format!(
            "Content-Type: multipart/alternative; boundary=\"b{index}\"\r\n\r\n--b{index}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n{url}\r\n--b{index}\r\n\
             Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{text}</p><a href=\"{url}\">{}</a></body></html>\r\n\
             --b{index}--\r\n",
            word(&mut r)
        ));
    } else {
        m.push_str(&format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"));
    }
    m.into_bytes()
}

/// Writes `count` messages (about one in three spam) under `dir/msg/NNN/`, with `labels.tsv`.
pub fn write_corpus(dir: &Path, count: u64, seed: u64) -> std::io::Result<()> {
    let mut labels = std::io::BufWriter::new(std::fs::File::create(dir.join("labels.tsv"))?);
    writeln!(labels, "path\tlabel")?;
    let mut rng = Rng(seed);
    for i in 0..count {
        let spam = rng.below(3) == 0;
        let rel = format!("msg/{:04}/{i:07}.eml", i / 1000);
        let path = dir.join(&rel);
        if i % 1000 == 0 {
            std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        }
        std::fs::write(&path, message(i, spam, seed))?;
        writeln!(labels, "{rel}\t{}", if spam { "spam" } else { "ham" })?;
    }
    labels.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_reproducible_and_readable() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_corpus(a.path(), 30, 7).unwrap();
        write_corpus(b.path(), 30, 7).unwrap();
        let ca = crate::Corpus::open(a.path()).unwrap();
        assert_eq!(ca.items.len(), 30);
        assert!(ca.items.iter().any(|i| i.spam) && ca.items.iter().any(|i| !i.spam));
        for item in &ca.items {
            let rel = item.path.strip_prefix(a.path()).unwrap();
            assert_eq!(std::fs::read(&item.path).unwrap(), std::fs::read(b.path().join(rel)).unwrap());
        }
        assert_ne!(message(1, true, 7), message(1, true, 8));
    }
}
