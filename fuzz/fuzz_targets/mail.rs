//! Hostile bytes through everything a message meets before a decision: mbox and list-header
//! stripping, parsing, every feature extractor (hashed and named), and the engine's decision.
//! Nothing may panic, and the hashed and named extractions must agree. The provenance
//! fingerprint (Message-ID and body hash) reads the same bytes. The named signals (brands,
//! look-alike domains, attachments, links) run inside the extraction.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_core::{Event, HashedSink, NamedSink};
use warden_mail::engine::{Config, MailEngine};
use warden_mail::{Mail, MailConfig};

static ENGINE: LazyLock<MailEngine> = LazyLock::new(|| {
    MailEngine::new(warden_mail::engine::starter_model().expect("starter model"), Config::default()).expect("config")
});

// Small limits so that the fuzzer reaches the truncation paths too, and an operator's own brand
// so that its matching meets hostile names and domains.
static SMALL: LazyLock<MailConfig> = LazyLock::new(|| MailConfig {
    max_scan_bytes: 2048,
    max_part_bytes: 512,
    ngram_bytes: 300,
    max_words: 50,
    raw_ngram_bytes: 300,
    raw_ngrams_skip_trace: true,
    own_domains: vec!["examplebank.com".into(), "ex-ample.co.uk".into()],
    own_brands: vec!["Example Bank".into()],
    ..MailConfig::default()
});

fuzz_target!(|data: &[u8]| {
    let stripped = warden_mail::strip_list_headers(data);
    for config in [&*SMALL, &MailConfig::default()] {
        let mail = Mail::parse(&stripped, config);
        let mut hashed = HashedSink::new();
        mail.extract(&mut hashed);
        let mut named = NamedSink::new();
        mail.extract(&mut named);
        assert_eq!(hashed.finish(), named.finish().0, "named and hashed extraction disagree");
    }
    let f = warden_corpus::provenance::fingerprint(data);
    assert!(f.message_id.is_none_or(|id| id.contains('@') && !id.bytes().any(|b| b.is_ascii_whitespace())));
    let d = ENGINE.decide_explained(data);
    assert!(d.probability.is_finite() && (0.0..=1.0).contains(&d.probability));
    // Every reason is a sentence, whatever the message held.
    for r in &d.reasons {
        assert!(r.description.ends_with('.') || r.name.starts_with("RULE:"), "{r:?}");
    }
});
