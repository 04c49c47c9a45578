//! The best of N passes of `decide` over a corpus, in µs per message.
//!
//! `cargo run --release -p warden-engine --example decide_best -- ../shared/corpora/spamassassin 5 [explained]`
//!
//! With `explained`, each decision names its strongest features, as the server's answers do.
//!
//! Criterion (`benches/classify.rs`) gives the figure of record; on a shared VM whose speed
//! moves from minute to minute, the best of several passes is the steadier number for
//! comparing two builds one after the other.

use warden_engine::{Config, MailEngine};

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = args.next().expect("usage: decide_best CORPUS [PASSES]");
    let passes: usize = args.next().map_or(5, |r| r.parse().expect("PASSES is a number"));
    let explained = args.next().is_some_and(|a| a == "explained");
    let mut c = warden_corpus::Corpus::open(std::path::Path::new(&corpus)).expect("a corpus");
    warden_corpus::shuffle(&mut c.items, 1);
    let msgs: Vec<Vec<u8>> = c.items.iter().filter_map(|i| std::fs::read(&i.path).ok()).collect();
    let engine = MailEngine::new(warden_engine::starter_model().expect("starter model"), Config::default())
        .expect("default config");
    let mut best = f64::MAX;
    for _ in 0..passes {
        let t = std::time::Instant::now();
        for m in &msgs {
            if explained {
                std::hint::black_box(engine.decide_explained(m));
            } else {
                std::hint::black_box(engine.decide(m));
            }
        }
        let us = t.elapsed().as_secs_f64() / msgs.len() as f64 * 1e6;
        if std::env::var_os("VERBOSE").is_some() {
            eprint!("{us:.0} ");
        }
        best = best.min(us);
    }
    println!(
        "{} messages, best of {passes}: {best:.1} µs per message ({:.0} msgs/s)",
        msgs.len(),
        1e6 / best
    );
}
