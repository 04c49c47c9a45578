//! Rule evaluation cost: `cargo bench -p warden-rules --bench rules`.
//!
//! One event (a mail record) against: one rule of each cheap kind (a numeric comparison, a
//! lookup in a 200,000-entry CIDR list and in a 200,000-entry domain list, string tests),
//! 1,000 such rules together (a third comparisons, a third list lookups, a third string
//! tests), and, measured apart, a regular expression over the subject and window counters.

use std::fmt::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
#[path = "../tests/common/mod.rs"]
mod common;

use common::catalogue;
use warden_rules::{Record, RuleSet, Value};

fn record() -> Record {
    let mut r = Record::new(catalogue());
    let set = |r: &mut Record, k: &str, v: Value| r.set(k, v).unwrap();
    set(&mut r, "model.probability", Value::Float(0.42));
    set(&mut r, "model.score", Value::Float(-0.3));
    set(&mut r, "mail.size", Value::Int(5_400));
    set(&mut r, "mail.from_domain", Value::Str("mail.sender.example".into()));
    set(&mut r, "mail.subject", Value::Str("Your invoice for November is ready to view".into()));
    set(&mut r, "mail.client_ip", Value::Ip("198.51.100.77".parse().unwrap()));
    set(&mut r, "mail.url_domains", Value::StrList(vec!["sender.example".into(), "cdn.example".into()]));
    r
}

/// 200,000 /24 networks and 200,000 domains, none matching the record.
fn write_lists(dir: &Path) {
    let mut ips = String::new();
    let mut doms = String::new();
    for i in 0..200_000u32 {
        let _ = writeln!(ips, "{}.{}.{}.0/24", 10 + (i >> 16), (i >> 8) & 255, i & 255);
        let _ = writeln!(doms, "d{i}.blocked.example");
    }
    std::fs::write(dir.join("nets.txt"), ips).unwrap();
    std::fs::write(dir.join("doms.txt"), doms).unwrap();
}

const LISTS: &str = "list nets: ip = \"nets.txt\"\nlist doms: domain = \"doms.txt\"\n";

fn compile(dir: &Path, rules: &str) -> RuleSet {
    let src = format!("{LISTS}{rules}");
    RuleSet::compile(&[("bench.rules", &src, dir)], catalogue()).expect("bench rules check")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    let r = record();
    let single = [
        ("comparison", "model.probability > 0.9 && mail.size < 100000"),
        ("cidr_list_200k", "mail.client_ip in nets"),
        ("domain_list_200k", "mail.from_domain in doms"),
        ("string_contains", "mail.subject contains \"wire transfer\""),
        ("string_in", "mail.from_domain in [\"a.example\", \"b.example\", \"c.example\"]"),
        ("regex_subject", "mail.subject matches \"(?i)(urgent|wire|gift ?card).{0,20}(transfer|payment)\""),
    ];
    let mut g = c.benchmark_group("rule");
    g.throughput(Throughput::Elements(1));
    for (name, cond) in single {
        let set = compile(dir.path(), &format!("rule R {{ when: {cond} then: score 1 }}"));
        let mut out = Default::default();
        g.bench_function(name, |b| b.iter(|| set.evaluate_into(std::hint::black_box(&r), &mut out)));
    }
    g.finish();

    // Window counters, in memory: one update and one query per event (the same entity every
    // time, the worst case for its buckets; the lock is uncontended here).
    for (name, decl, cond) in [
        ("counter_count", "counter c: count by mail.from_domain over 1h every 5m", "c > 1000000"),
        (
            "counter_distinct",
            "counter c: distinct mail.url_domains by mail.client_ip over 1d every 2h",
            "c > 1000000",
        ),
    ] {
        let set = compile(dir.path(), &format!("{decl}\nrule R {{ when: {cond} then: score 1 }}"));
        let mut out = Default::default();
        let mut g = c.benchmark_group("rule");
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| b.iter(|| set.evaluate_into(std::hint::black_box(&r), &mut out)));
        g.finish();
    }

    let mut rules = String::new();
    for i in 0..1000 {
        let cond = match i % 6 {
            0 => format!("model.probability > 0.{:03}", 500 + i % 500),
            1 => format!("mail.size > {} && mail.size < {}", 100_000 + i, 200_000 + i),
            2 => "mail.client_ip in nets".to_owned(),
            3 => "mail.url_domains in doms".to_owned(),
            4 => format!("mail.subject contains \"word{i}\""),
            _ => format!("mail.from_domain ends_with \".x{i}.example\""),
        };
        let _ = writeln!(rules, "rule R{i} {{ when: {cond} then: score 0.1 }}");
    }
    let set = compile(dir.path(), &rules);
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(1));
    let mut out = Default::default();
    g.bench_function("1000_mixed", |b| b.iter(|| set.evaluate_into(std::hint::black_box(&r), &mut out)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
