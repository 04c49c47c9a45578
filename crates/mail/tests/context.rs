//! The receiving side's context (its own `Authentication-Results`) handed to extraction as
//! data gives the features, the facts and the signals that writing it at the head of a copy of
//! the message gave: what the server did before, at the cost of a copy of every message.
//!
//! Two inputs are read otherwise, on purpose: a message that starts with white space (once
//! read as more of Warden's own field, so a sender could add verdicts to it) and one that
//! starts with an mbox `From ` line (stripped, as without a context).

use warden_core::HashedSink;
use warden_mail::{Context, Mail, MailConfig, MailFacts};

fn example(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/").to_owned() + name).unwrap()
}

/// Features (in order), facts and the named signals of a message.
fn read(mail: &Mail<'_>) -> (Vec<u64>, MailFacts, Vec<&'static str>) {
    let mut sink = HashedSink::new();
    let mut facts = MailFacts::default();
    let found = warden_mail::extract::extract_with(mail, &mut sink, Some(&mut facts));
    (sink.finish().hashes().to_vec(), facts, found.signals.iter().map(|s| s.name).collect())
}

fn messages() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> =
        ["ham.eml", "phishing.eml", "quishing.eml", "gtube.eml"].iter().map(|n| example(n)).collect();
    // A message with its own verdicts (the context's come first), one with many fields (the
    // limits count the context's), and a bare body.
    all.push(
        b"Authentication-Results: mx.example; spf=fail smtp.mailfrom=x.example; dmarc=fail\r\n\
          From: \"PayPal\" <service@paypa1-secure.example>\r\nTo: a@b.example\r\nSubject: Verify now\r\n\r\n\
          Your account is suspended. https://paypa1-secure.example/login\r\n"
            .to_vec(),
    );
    let mut many = String::new();
    for i in 0..260 {
        many.push_str(&format!("X-Field-{i}: {i}\r\n"));
    }
    many.push_str("Authentication-Results: late.example; dkim=pass header.d=late.example\r\nFrom: a@late.example\r\n\r\nbody\r\n");
    all.push(many.into_bytes());
    all.push(b"just some text, no header at all".to_vec());
    // Nothing at all: no message alone, one with the context's field.
    all.push(Vec::new());
    // A sender whose domain a DKIM result names only in part: the long verdict below is cut at
    // 4,096 bytes inside that domain, where a parsed field's value (after its space) is cut.
    all.push(b"From: a@long-domain.e\r\n\r\nbody\r\n".to_vec());
    // A header of trace fields past the first 64 KiB that the raw 4-grams look through: a
    // field that straddles where that window ends.
    let mut long = String::new();
    while long.len() < 65_500 {
        long.push_str("Received: from relay.example by mx.example; Mon, 7 Dec 2026 10:00:00 +0000\r\n");
    }
    long.push_str(&format!("X-Tail: {}\r\nFrom: a@tail.example\r\n\r\nbody\r\n", "tailword ".repeat(40)));
    all.push(long.into_bytes());
    all
}

#[test]
fn the_context_reads_as_a_first_field_written_into_the_message() {
    let long = format!("warden; arc=none ({}); dkim=pass header.d=long-domain.example", "x".repeat(4_043));
    let verdicts = [
        "warden; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org; dmarc=pass header.from=example.org",
        "warden; spf=softfail smtp.mailfrom=paypa1-secure.example; dkim=none; dmarc=fail header.from=paypal.com",
        long.as_str(),
    ];
    for skip_trace in [true, false] {
        let config = MailConfig { raw_ngrams_skip_trace: skip_trace, ..MailConfig::default() };
        for (i, raw) in messages().iter().enumerate() {
            for v in verdicts {
                let context = Context { auth_results: Some(v) };
                let joined = [context.field().unwrap().as_bytes(), raw].concat();
                let written = read(&Mail::parse(&joined, &config));
                let given = read(&Mail::parse_in(raw, &config, context));
                assert_eq!(given.2, written.2, "signals, message {i}, skip_trace {skip_trace}");
                assert_eq!(given.1, written.1, "facts, message {i}, skip_trace {skip_trace}");
                assert_eq!(given.0, written.0, "features, message {i}, skip_trace {skip_trace}");
            }
            let none = read(&Mail::parse_in(raw, &config, Context::default()));
            assert_eq!(none, read(&Mail::parse(raw, &config)), "no context, no change");
        }
    }
}

#[test]
fn the_scan_limit_counts_the_context() {
    let config = MailConfig { max_scan_bytes: 100, ..MailConfig::default() };
    let raw = vec![b'a'; 300];
    let context = Context { auth_results: Some("warden; spf=pass") };
    assert_eq!(Mail::parse_in(&raw, &config, context).raw().len(), 100 - context.field_len());
    assert_eq!(context.field_len(), context.field().unwrap().len());
}
