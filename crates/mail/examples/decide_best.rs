//! The best of N passes of `decide` over a corpus, in µs per message.
//!
//! `cargo run --release -p warden-engine --example decide_best -- ../shared/corpora/spamassassin 5 [explained]`
//!
//! With `explained`, each decision names its strongest features, as the server's answers do.
//!
//! Criterion (`benches/classify.rs`) gives the figure of record; on a shared VM whose speed
//! moves from minute to minute, the best of several passes is the steadier number for
//! comparing two builds one after the other.

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = args.next().expect("usage: decide_best CORPUS [PASSES]");
    let passes: usize = args.next().map_or(5, |r| r.parse().expect("PASSES is a number"));
    let explained = args.next().is_some_and(|a| a == "explained");
    let msgs = common::messages(&corpus);
    let engine = common::starter_engine();
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
