//! Feature extraction on whole messages: the signals each module promises, seen by name.

use std::collections::HashSet;

use proptest::prelude::*;
use warden_core::{Event, HashedSink, NamedSink};
use warden_mail::{Mail, MailConfig};

fn names(raw: &[u8], config: &MailConfig) -> HashSet<String> {
    let mail = Mail::parse(raw, config);
    let mut sink = NamedSink::new();
    mail.extract(&mut sink);
    let (x, names) = sink.finish();
    x.hashes().iter().map(|h| names[h].clone()).collect()
}

fn example(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/").to_owned() + name).unwrap()
}

fn assert_has(set: &HashSet<String>, wanted: &[&str]) {
    let missing: Vec<_> = wanted.iter().filter(|w| !set.contains(**w)).collect();
    assert!(missing.is_empty(), "missing {missing:?}; have {:?}", {
        let mut v: Vec<_> = set.iter().filter(|n| !n.starts_with("raw:") && !n.starts_with("ng:")).collect();
        v.sort();
        v
    });
}

#[test]
fn header_signals_of_an_ordinary_reply() {
    let f = names(&example("ham.eml"), &MailConfig::default());
    assert_has(
        &f,
        &[
            "sender:from_dom=example.org",
            "sender:from_tld=org",
            "rcpt:to=1",
            "rcpt:to_same_domain_as_from",
            "received:hops=1",
            "received:with0=esmtps",
            "auth:spf=pass",
            "auth:dkim=pass",
            "auth:dmarc=pass",
            "date:message_id_from_domain",
            "mailer:mozilla_thunderbird",
            "mime:type=text/plain",
            "mime:charset=utf-8",
            "subj:release",
            "subj_shape:reply",
            "body:frozen",
            "hdr:references",
            "ng:rele",
            "raw:from",
        ],
    );
    assert!(!f.iter().any(|n| n.starts_with("sender:return_path")), "no Return-Path, no comparison");
}

#[test]
fn phishing_signals() {
    let f = names(&example("phishing.eml"), &MailConfig::default());
    assert_has(
        &f,
        &[
            "sender:reply_to=differs",
            "sender:reply_to_dom=example.net",
            "rcpt:to=0",
            "subj_shape:encoded=utf-8/b",
            "subj:urgent",
            "subj_shape:bangs=2-3",
            "mime:html_only",
            "html:form",
            "html:password_input",
            "html:hidden_text",
            "html:tiny_image",
            "url:ip_host",
            "url:anchor_domain_mismatch",
            "url_dom:paypal.com",
            "url_dom:example.net",
            "mailer:mass_mailer_pro",
            "date:message_id_other_domain",
        ],
    );
}

#[test]
fn list_stripping_and_trace_skipping_change_what_is_seen() {
    let msg =
        b"Received: from relay.example (relay.example [192.0.2.1]) by mx\r\nList-Id: <x.lists.example>\r\n\
                From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";
    let plain = names(msg, &MailConfig::default());
    assert!(plain.contains("hdr:list-id") && plain.contains("raw:rela"));
    let stripped = names(&warden_mail::strip_list_headers(msg), &MailConfig::default());
    assert!(!stripped.contains("hdr:list-id") && stripped.contains("hdr:from"));
    let no_trace = names(msg, &MailConfig { raw_ngrams_skip_trace: true, ..Default::default() });
    assert!(!no_trace.contains("raw:rela"), "trace fields are out of the raw n-grams");
    assert!(no_trace.contains("received:hops=1"), "but the Received shape is still seen");
}

#[test]
fn hostile_inputs_still_get_features() {
    let config = MailConfig::default();
    let mut huge = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 8 << 20));
    let utf16: Vec<u8> = "Subject: x\r\n\r\nhello".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\0\xff\xfe garbage \x80\x81".to_vec(),
        b"From nobody Mon Jan  1 00:00:00 2024\nSubject: mbox\n\nhi\n".to_vec(),
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<a href=".to_vec(),
        b"Subject: =?bogus-charset?Q?=FF=FE?=\r\n\r\n".to_vec(),
        huge,
        utf16,
    ];
    for raw in &cases {
        let f = names(raw, &config);
        assert!(
            f.iter().any(|n| n.starts_with("msg:size=")),
            "{:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(40)])
        );
    }
    assert!(names(b"", &config).contains("msg:unparsed") || names(b"", &config).contains("sender:no_from"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_bytes_extract_without_panic_and_sinks_agree(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        let config = MailConfig { max_part_bytes: 256, ngram_bytes: 200, raw_ngram_bytes: 200, ..Default::default() };
        let mail = Mail::parse(&raw, &config);
        let mut hashed = HashedSink::new();
        mail.extract(&mut hashed);
        let mut named = NamedSink::new();
        mail.extract(&mut named);
        prop_assert_eq!(hashed.finish(), named.finish().0);
    }
}

/// Regression (found by the fuzzer): URL features came out of a HashSet, so two extractions
/// of one message listed them in different orders and scores differed in the last bits.
#[test]
fn extraction_order_is_deterministic() {
    for name in ["ham.eml", "phishing.eml", "gtube.eml"] {
        let raw = example(name);
        let config = MailConfig::default();
        let mail = Mail::parse(&raw, &config);
        let mut hashed = HashedSink::new();
        mail.extract(&mut hashed);
        let mut named = NamedSink::new();
        mail.extract(&mut named);
        assert_eq!(hashed.finish(), named.finish().0, "{name}");
    }
}
