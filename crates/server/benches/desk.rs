//! What the desk's writes cost, as the check path's writer makes them: N checks' audit entries
//! in one durable database commit, and N checks' counter updates in one durable journal
//! append. `cargo bench -p warden-server --bench desk`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use warden_desk::{AuditEntry, CheckWrites};
use warden_store::journal::JournaledCount;

fn writes(i: u64, counters: bool) -> CheckWrites {
    if counters {
        return CheckWrites {
            counts: vec![JournaledCount {
                counter: "mails_per_sender".into(),
                entity: i % 97,
                value: None,
                at: 1_800_000_000 + i,
            }],
            ..CheckWrites::default()
        };
    }
    CheckWrites {
        // Waited for, so that each batch is committed at once.
        audit_sync: true,
        audit: Some(AuditEntry {
            at: 1_800_000_000 + i,
            kind: "decision".into(),
            actor: "warden:check".into(),
            message: Some(format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15)),
            action: Some("deliver".into()),
            score: Some(-3.25),
            probability: Some(0.037),
            reasons: vec!["MODEL".into(), "TEXT".into(), "LAYOUT".into()],
            ..AuditEntry::default()
        }),
        ..CheckWrites::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let desk = warden_desk::datadir::open(dir.path(), &Default::default()).unwrap().desk;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut g = c.benchmark_group("desk");
    g.sample_size(20);
    let mut i = 0u64;
    for batch in [1u64, 16] {
        for counters in [false, true] {
            g.throughput(Throughput::Elements(batch));
            let name = if counters { "journal_counter_update" } else { "db_audit_entry" };
            g.bench_function(BenchmarkId::new(name, batch), |b| {
                b.iter(|| {
                    // A batch's writes are queued together, so the writer commits them at once.
                    let answers: Vec<_> = (0..batch)
                        .map(|_| {
                            i += 1;
                            desk.submit(writes(i, counters))
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
