//! Sign-up decisions in process, one core: `cargo run --release -p warden-signup --example bench
//! [EVENTS]` (default 100,000 simulated sign-ups, seed 301). Prints the time a sign-up takes
//! through the whole kind (read, features, memory, clusters, model, decision) and through its
//! parts, the clusterer's share of a core at 100 sign-ups a second, and the memory held per
//! remembered sign-up. Each figure is the best of three passes, each over fresh state.

use std::time::Instant;

use warden_server::kinds::{Context, JsonKind, Pipeline, Served};
use warden_signup::cluster::Clusterer;
use warden_signup::event::parse;
use warden_signup::features::Derived;
use warden_signup::kind::Signups;
use warden_signup::memory::{HORIZON, Memory};

fn best(mut pass: impl FnMut() -> f64) -> f64 {
    (0..3).map(|_| pass()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut events = warden_signup::synth::population(301, n).events;
    events.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    let objects: Vec<serde_json::Map<String, serde_json::Value>> =
        events.iter().map(|e| e.as_object().expect("an object").clone()).collect();
    let at = |e: &serde_json::Value| {
        let t = time::OffsetDateTime::parse(
            e["time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        );
        t.unwrap().unix_timestamp() as u64
    };
    let times: Vec<u64> = events.iter().map(at).collect();
    let geo = warden_geo::Geo::none();
    let per = |secs: f64| secs / n as f64 * 1e6;

    let door = best(|| {
        let started = Instant::now();
        for o in &objects {
            let s = parse(o).expect("simulated events read");
            let d = Derived::of(&s, &[]);
            std::hint::black_box(warden_signup::features::features(&s, &d));
        }
        started.elapsed().as_secs_f64()
    });
    let memory = best(|| {
        let mut m = Memory::new(1, HORIZON);
        let started = Instant::now();
        for (o, t) in objects.iter().zip(&times) {
            let s = parse(o).expect("simulated events read");
            let d = Derived::of(&s, &[]);
            let mut sink = warden_core::HashedSink::new();
            std::hint::black_box(warden_signup::features::recent(&mut m, &s, &d, *t, None, &mut sink));
        }
        started.elapsed().as_secs_f64()
    });
    let mut clusters_bytes = 0;
    let clusters = best(|| {
        let parsed: Vec<_> = objects.iter().map(|o| parse(o).expect("read")).collect();
        let derived: Vec<_> = parsed.iter().map(|s| Derived::of(s, &[])).collect();
        let mut c = Clusterer::new(1, warden_signup::kind::starter_clusters());
        let started = Instant::now();
        for ((s, d), t) in parsed.iter().zip(&derived).zip(&times) {
            std::hint::black_box(c.add(s.account, *t, s, d, None, None));
            c.decided(s.account, 0.1, *t);
            std::hint::black_box(c.take());
        }
        let secs = started.elapsed().as_secs_f64();
        clusters_bytes = c.bytes();
        secs
    });
    let mut kind_bytes = 0;
    let whole = best(|| {
        let kind = Pipeline::new(Signups::default());
        let started = Instant::now();
        for e in &events {
            std::hint::black_box(
                kind.decide(e, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 1 }).expect("decided"),
            );
            std::hint::black_box(kind.later());
        }
        let secs = started.elapsed().as_secs_f64();
        kind_bytes = kind.kind().memory_bytes();
        secs
    });
    println!("{n} simulated sign-ups (seed 301), one core, best of three passes:");
    println!(
        "  whole decision (read, features, memory, clusters, model, rules none): {:.1} µs, {:.0}/s",
        per(whole),
        n as f64 / whole
    );
    println!("  the event read and its features at the door: {:.1} µs", per(door));
    println!("  the memory of recent sign-ups (features and counting): {:.1} µs", per(memory) - per(door));
    println!("  the clusterer (links, clusters, scoring): {:.1} µs", per(clusters));
    println!("  clustering at 100 sign-ups/s: {:.2}% of a core", per(clusters) * 100.0 / 1e6 * 100.0);
    println!(
        "  memory held: {:.1} MB in all, {:.0} bytes a remembered sign-up (clusters {:.0})",
        kind_bytes as f64 / 1e6,
        kind_bytes as f64 / n as f64,
        clusters_bytes as f64 / n as f64
    );
}
