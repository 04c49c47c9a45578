//! One digest of every feature of every message of some corpora, in order.
//!
//! `cargo run --release -p warden-engine --example feature_digest -- ../shared/corpora/spamassassin …`
//!
//! A change meant to make extraction faster without changing what it extracts must leave the
//! digest as it was (the starter model's extractor settings are used).

use warden_mail::engine::{Config, MailEngine};

fn main() {
    let engine =
        MailEngine::new(warden_mail::engine::starter_model().expect("starter model"), Config::default())
            .expect("default config");
    let (mut digest, mut features) = (0u64, 0usize);
    for corpus in std::env::args().skip(1) {
        let c = warden_corpus::Corpus::open(std::path::Path::new(&corpus)).expect("a corpus");
        for item in &c.items {
            let Ok(raw) = std::fs::read(&item.path) else { continue };
            let x = engine.features(&raw);
            features += x.len();
            for &h in x.hashes() {
                digest = digest.rotate_left(5) ^ h;
            }
        }
    }
    println!("{features} features, digest {digest:016x}");
}
