//! Prints the clusters the sign-up kind finds in an event file, with how pure they are by the
//! labels: `cargo run --release -p warden-signup --example clusters -- EVENTS LABELS [MODEL]`.
//! A development aid for the clusterer's links and the cluster model; the figures that count are
//! `warden signup eval`'s.

use std::collections::HashMap;

use warden_server::kinds::{Context, Pipeline, Served};
use warden_signup::kind::Signups;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [events, labels, rest @ ..] = args.as_slice() else {
        eprintln!("usage: clusters EVENTS LABELS [MODEL]");
        std::process::exit(2);
    };
    let mut kind = Signups::default();
    if let Some(m) = rest.first() {
        let path = std::path::Path::new(m);
        kind.start_with(warden_learn::Model::load(path).expect("a model"));
        let beside = warden_server::kinds::own_model_path(path, "clusters");
        if beside.exists() {
            kind.start_clusters_with(warden_learn::Model::load(&beside).expect("a cluster model"));
        }
    }
    let mut group: HashMap<String, (bool, String)> = HashMap::new();
    for line in std::fs::read_to_string(labels).expect("labels").lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() >= 2 {
            group.insert(f[0].to_lowercase(), (f[1] == "abusive", f.get(2).unwrap_or(&"").to_string()));
        }
    }
    let pipeline = Pipeline::new(kind);
    let geo = warden_geo::Geo::none();
    let mut all: Vec<serde_json::Value> = std::fs::read_to_string(events)
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    all.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    for e in &all {
        let _ = pipeline.decide(e, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 1 });
        pipeline.later();
    }
    pipeline.kind().with_clusters(|c| {
        let Some(c) = c else { return };
        let (members, clusters) = c.len();
        println!("{members} accounts remembered, {clusters} clusters");
        let mut pure = [0usize; 3];
        for cl in c.clusters() {
            let m = c.members(cl.id);
            let bad = m.iter().filter(|a| group.get(&a.to_lowercase()).is_some_and(|g| g.0)).count();
            let kind = if bad == 0 {
                0
            } else if bad == m.len() {
                2
            } else {
                1
            };
            pure[kind] += m.len();
        }
        println!(
            "accounts in legitimate-only clusters {}, mixed {}, abusive-only {}",
            pure[0], pure[1], pure[2]
        );
        for cl in c.clusters().into_iter().take(40) {
            let m = c.members(cl.id);
            let mut groups: HashMap<&str, usize> = HashMap::new();
            for a in &m {
                let g = group.get(&a.to_lowercase()).map_or("?", |g| {
                    if g.1.is_empty() { if g.0 { "bad" } else { "-" } } else { g.1.as_str() }
                });
                *groups.entry(g).or_default() += 1;
            }
            let mut groups: Vec<_> = groups.into_iter().collect();
            groups.sort_by_key(|g| std::cmp::Reverse(g.1));
            groups.truncate(4);
            println!(
                "c-{} size {} p {:.3} links {:?} merged {} {:?}",
                cl.id,
                cl.size(),
                cl.probability,
                cl.links(),
                cl.merged.len(),
                groups
            );
        }
    });
}
