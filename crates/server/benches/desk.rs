//! What the desk's writes cost: one durable commit of N checks' writes (audit entries, counter
//! updates), as the check path's writer makes it. `cargo bench -p warden-server --bench desk`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use warden_server::desk::{AuditEntry, CheckWrites, Desk, JournaledCount};

fn writes(i: u64, counters: bool) -> CheckWrites {
    CheckWrites {
        audit: Some(AuditEntry {
            at: 1_800_000_000 + i,
            kind: "decision".into(),
            actor: "warden:check".into(),
            message: Some(format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15)),
            action: Some("deliver".into()),
            score: Some(-3.25),
            probability: Some(0.037),
            reasons: vec!["MODEL".into(), "FEATURE:subject:lunch".into(), "FEATURE:hdr:mailer".into()],
            ..AuditEntry::default()
        }),
        counts: if counters {
            vec![JournaledCount {
                counter: "mails_per_sender".into(),
                entity: i % 97,
                value: None,
                at: 1_800_000_000 + i,
            }]
        } else {
            Vec::new()
        },
        ..CheckWrites::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(dir.path(), [1; 32]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut g = c.benchmark_group("desk_commit");
    g.sample_size(20);
    let mut i = 0u64;
    for batch in [1u64, 16] {
        for counters in [false, true] {
            g.throughput(Throughput::Elements(batch));
            let name = if counters { "audit+counter" } else { "audit" };
            g.bench_function(BenchmarkId::new(name, batch), |b| {
                b.iter(|| {
                    // A batch's writes are queued together, so the writer commits them at once.
                    let answers: Vec<_> = (0..batch)
                        .map(|_| {
                            i += 1;
                            desk.submit(writes(i, counters), true)
                        })
                        .collect();
                    rt.block_on(async {
                        for a in answers {
                            a.await.unwrap().unwrap();
                        }
                    })
                })
            });
        }
    }
    g.finish();
    desk.stop();
}

criterion_group!(benches, bench);
criterion_main!(benches);
