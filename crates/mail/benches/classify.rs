//! Classify and learn throughput on real corpora (one core).
//!
//! `cargo bench -p warden-engine --bench classify` reads the SpamAssassin corpus and the
//! modern corpus from `../shared/corpora` (or `WARDEN_CORPORA`); without them it measures
//! synthetic messages and says so. Messages are loaded into memory first: the figures are
//! parse + features + score (classify), and one online learning step on top (learn).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_learn::OnlineLearner;
use warden_mail::engine::{Config, MailEngine};

fn corpora_dir() -> PathBuf {
    std::env::var_os("WARDEN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"))
}

/// The labelled messages of a corpus (shuffled with seed 1), or synthetic ones when it is absent.
fn messages(name: &str) -> (String, Vec<(Vec<u8>, bool)>) {
    let dir = corpora_dir().join(name);
    match warden_corpus::Corpus::open(&dir) {
        Ok(mut c) => {
            warden_corpus::shuffle(&mut c.items, 1);
            let msgs = c.items.iter().filter_map(|i| Some((std::fs::read(&i.path).ok()?, i.spam))).collect();
            (name.to_owned(), msgs)
        }
        Err(_) => {
            eprintln!("{} not found: measuring 2,000 synthetic messages instead", dir.display());
            let msgs =
                (0..2000).map(|i| (warden_corpus::synth::message(i, i % 3 == 0, 1), i % 3 == 0)).collect();
            (format!("synthetic (no {name})"), msgs)
        }
    }
}

/// Nanoseconds a read takes when it depends on the one before, over a random cycle through
/// 8 MiB: what a cache miss costs the machine. A decision misses the cache for every feature's
/// weight, so its figures mean little without this one: 170–200 ns on the VM the README's
/// figures come from, where the 32 MiB L3 cache it reports would answer in tens.
fn memory_latency_ns() -> f64 {
    const SLOTS: usize = (8 << 20) / 4;
    // One cycle through every slot in a scrambled order (Sattolo's shuffle, xorshift steps).
    let mut next: Vec<u32> = (0..SLOTS as u32).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..SLOTS).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        next.swap(i, (x % i as u64) as usize);
    }
    let reads = 2_000_000;
    let start = std::time::Instant::now();
    let mut at = 0u32;
    for _ in 0..reads {
        at = next[at as usize];
    }
    std::hint::black_box(at);
    start.elapsed().as_secs_f64() / reads as f64 * 1e9
}

fn bench(c: &mut Criterion) {
    let model = warden_mail::engine::starter_model().expect("starter model");
    let engine = MailEngine::new(model, Config::default()).expect("default config");
    for corpus in ["spamassassin", "modern"] {
        let (label, msgs) = messages(corpus);
        let bytes: usize = msgs.iter().map(|m| m.0.len()).sum();
        eprintln!("{label}: {} messages, mean {:.1} KB", msgs.len(), bytes as f64 / msgs.len() as f64 / 1e3);
        eprintln!("memory latency before: {:.0} ns a dependent read over 8 MiB", memory_latency_ns());
        let mut g = c.benchmark_group(format!("classify/{label}"));
        g.throughput(Throughput::Elements(msgs.len() as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(20));
        g.bench_function("decide", |b| {
            b.iter(|| {
                for (m, _) in &msgs {
                    std::hint::black_box(engine.decide(m));
                }
            })
        });
        g.bench_function("features_only", |b| {
            b.iter(|| {
                for (m, _) in &msgs {
                    std::hint::black_box(engine.features(m));
                }
            })
        });
        let all: Vec<_> = msgs.iter().map(|(m, _)| engine.features(m)).collect();
        let distinct: usize = all.iter().map(|x| x.len()).sum();
        eprintln!("{label}: {:.0} distinct features per message", distinct as f64 / all.len() as f64);
        g.bench_function("score_only", |b| {
            b.iter(|| {
                for x in &all {
                    std::hint::black_box(engine.score(x));
                }
            })
        });
        drop(all);
        g.finish();
        eprintln!("memory latency after: {:.0} ns a dependent read over 8 MiB", memory_latency_ns());
        // Learning, on features extracted beforehand: the cost on top of classify.
        // `ftrl_step`: one FTRL-Proximal update per message (what every message costs).
        // `stream_with_rehearsal`: an empty model learning the stream in order with its true
        // labels, hard examples rehearsed, as `warden eval` does (the amortised cost).
        let feats: Vec<_> = msgs.iter().take(2000).map(|(m, spam)| (engine.features(m), *spam)).collect();
        let mut g = c.benchmark_group(format!("learn/{label}"));
        g.throughput(Throughput::Elements(feats.len() as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.bench_function("ftrl_step", |b| {
            let mut learner = warden_learn::Ftrl::new(warden_learn::FtrlParams::default());
            b.iter(|| {
                for (x, spam) in &feats {
                    let score = learner.predict(x);
                    learner.learn_scored(x, warden_core::Label::of(*spam), score);
                }
            })
        });
        g.bench_function("stream_with_rehearsal", |b| {
            b.iter_batched(
                || {
                    warden_learn::Model::new(
                        <warden_mail::MailKind as warden_core::Kind>::NAME,
                        warden_learn::LearnerSpec::Ftrl(warden_learn::FtrlParams::default()),
                        serde_json::Value::Null,
                        warden_learn::RehearsalParams::default(),
                    )
                },
                |mut model| {
                    for (x, spam) in &feats {
                        model.learn(x, warden_core::Label::of(*spam));
                    }
                    model
                },
                criterion::BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
