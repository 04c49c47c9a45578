//! What the timing examples share: a corpus's messages in the order the classify bench reads
//! them (shuffled with seed 1), and the engine they are decided by.

use warden_mail::engine::{Config, MailEngine};

/// The readable messages of the corpus at `path`, shuffled with seed 1.
pub fn messages(path: &str) -> Vec<Vec<u8>> {
    let mut c = warden_corpus::Corpus::open(std::path::Path::new(path)).expect("a corpus");
    warden_corpus::shuffle(&mut c.items, 1);
    c.items.iter().filter_map(|i| std::fs::read(&i.path).ok()).collect()
}

/// The starter model with the default configuration.
pub fn starter_engine() -> MailEngine {
    MailEngine::new(warden_mail::engine::starter_model().expect("starter model"), Config::default())
        .expect("default config")
}
