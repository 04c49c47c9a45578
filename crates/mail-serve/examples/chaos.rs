//! The load and the attacks of `bench/chaos.sh` and `bench/soak.sh`, against a running
//! `warden serve` (loopback only).
//!
//! ```text
//! chaos max    --scan ADDR --corpus LIST [--seconds 20] [--connections 16]
//! chaos steady --scan ADDR --corpus LIST --rate N --seconds S [--pid PID] [--rss-every 1]
//!              [--attack-after S --idle 1000 --stalled 256 --milter ADDR --floods 4]
//! ```
//! `max` sends checks back to back on `--connections` keep-alive connections and prints the
//! rate the server sustained. `steady` sends `--rate` checks a second for `--seconds`,
//! open-loop: each connection has its own schedule, and a check's latency runs from the time it
//! was due, not from when it was sent, so a server that stalls is charged for the checks that
//! waited (no coordinated omission). From `--attack-after` on it also holds `--idle` silent
//! connections, `--stalled` uploads that send their head and 12 bytes of a 1,000-byte body, and
//! `--floods` milter connections that send 1 MiB recipients until they are refused; each
//! attacker reconnects when the server closes it. With `--pid` it samples the server's resident
//! memory every `--rss-every` seconds. It prints a summary and a JSON line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warden_mail_serve::milter::{Command, Response};

struct Args {
    mode: String,
    scan: String,
    milter: Option<String>,
    corpus: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    pid: Option<u32>,
    rss_every: f64,
    attack_after: Option<f64>,
    idle: usize,
    stalled: usize,
    floods: usize,
}

fn args() -> Args {
    let mut a = Args {
        mode: String::new(),
        scan: String::new(),
        milter: None,
        corpus: String::new(),
        rate: 1000.0,
        seconds: 20.0,
        connections: 16,
        pid: None,
        rss_every: 1.0,
        attack_after: None,
        idle: 0,
        stalled: 0,
        floods: 0,
    };
    let mut it = std::env::args().skip(1);
    a.mode = it.next().unwrap_or_default();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = || value.parse::<f64>().unwrap_or_else(|_| panic!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--scan" => a.scan = value.clone(),
            "--milter" => a.milter = Some(value.clone()),
            "--corpus" => a.corpus = value.clone(),
            "--rate" => a.rate = num(),
            "--seconds" => a.seconds = num(),
            "--connections" => a.connections = num() as usize,
            "--pid" => a.pid = Some(num() as u32),
            "--rss-every" => a.rss_every = num(),
            "--attack-after" => a.attack_after = Some(num()),
            "--idle" => a.idle = num() as usize,
            "--stalled" => a.stalled = num() as usize,
            "--floods" => a.floods = num() as usize,
            _ => panic!("unknown flag {flag}"),
        }
    }
    assert!(matches!(a.mode.as_str(), "max" | "steady"), "the mode is max or steady");
    assert!(!a.scan.is_empty() && !a.corpus.is_empty(), "--scan and --corpus are needed");
    a
}

/// The messages of a list file (one path a line).
fn messages(list: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(list).unwrap_or_else(|e| panic!("{list}: {e}"));
    let all: Vec<Vec<u8>> =
        text.lines().filter(|l| !l.is_empty()).filter_map(|p| std::fs::read(p).ok()).collect();
    assert!(!all.is_empty(), "{list} names no readable message");
    all
}

/// One check on a keep-alive connection: the status and whether the server closes the
/// connection after it, or an error when the connection failed.
async fn check(stream: &mut TcpStream, buf: &mut Vec<u8>, body: &[u8]) -> std::io::Result<(u16, bool)> {
    let head =
        format!("POST /v1/mail/check HTTP/1.1\r\nHost: warden\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    buf.clear();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < end + length {
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok((status, head.contains("connection: close")))
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// Each answered check's latency by the minute it was due in (for the series).
    by_minute: Vec<(u32, u32)>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

/// A connection's share of the load: checks due every `period` from `start + offset` (or
/// back to back when `period` is zero) until `end`.
async fn connection(
    addr: String,
    bodies: Arc<Vec<Vec<u8>>>,
    first: usize,
    start: Instant,
    offset: Duration,
    period: Duration,
    end: Instant,
) -> Tally {
    let mut t = Tally::default();
    let mut buf = Vec::with_capacity(16 << 10);
    let mut stream: Option<TcpStream> = None;
    let mut n = 0u32;
    loop {
        let due = start + offset + period * n;
        if due >= end || Instant::now() >= end {
            return t;
        }
        tokio::time::sleep_until(due.into()).await;
        let body = &bodies[(first + n as usize) % bodies.len()];
        n += 1;
        if stream.is_none() {
            match TcpStream::connect(&addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                Err(_) => {
                    t.errors += 1;
                    continue;
                }
            }
        }
        let s = stream.as_mut().expect("connected");
        let sent = Instant::now();
        match check(s, &mut buf, body).await {
            Ok((status, close)) => {
                *t.statuses.entry(status).or_default() += 1;
                // Back to back, from the send; on a schedule, from when the check was due.
                let from = if period.is_zero() { sent } else { due };
                let us = from.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                t.latencies_us.push(us);
                t.by_minute.push(((due.saturating_duration_since(start).as_secs() / 60) as u32, us));
                if close {
                    stream = None;
                }
            }
            Err(_) => {
                t.errors += 1;
                stream = None;
            }
        }
    }
}

/// What the attackers did.
#[derive(Default)]
struct Attacks {
    idle_opened: AtomicU64,
    idle_closed_by_server: AtomicU64,
    stalled_opened: AtomicU64,
    stalled_answered: AtomicU64,
    floods_refused: AtomicU64,
    flood_recipients: AtomicU64,
    connect_failures: AtomicU64,
}

async fn idle(addr: String, a: Arc<Attacks>, end: Instant) {
    while Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            a.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        a.idle_opened.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 512];
        let left = end.saturating_duration_since(Instant::now());
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(left, s.read(&mut b)).await {
            a.idle_closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn stalled(addr: String, a: Arc<Attacks>, end: Instant) {
    while Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            a.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        a.stalled_opened.fetch_add(1, Ordering::Relaxed);
        let head = b"POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nSubject: sta";
        if s.write_all(head).await.is_err() {
            continue;
        }
        let mut b = [0u8; 512];
        let left = end.saturating_duration_since(Instant::now());
        if let Ok(Ok(n)) = tokio::time::timeout(left, s.read(&mut b)).await
            && n > 0
        {
            a.stalled_answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Milter connections that send recipients of 1 MiB until the server refuses one.
async fn flood(addr: String, a: Arc<Attacks>, end: Instant) {
    let big = format!("<{}@flood.example>", "r".repeat((1 << 20) - 64));
    while Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            a.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut buf = Vec::new();
        let opening = [
            Command::OptNeg { version: 6, actions: 0x1ff, protocol: 0 },
            Command::Connect {
                hostname: "flood.example".into(),
                address: Some("192.0.2.66".parse().unwrap()),
            },
            Command::Helo("flood.example".into()),
        ];
        let mut ok = true;
        for c in opening {
            ok &= ask(&mut s, &mut buf, &c).await.is_some();
        }
        while ok && Instant::now() < end {
            ok &= ask(&mut s, &mut buf, &Command::Mail(vec!["<f@flood.example>".into()])).await.is_some();
            loop {
                match ask(&mut s, &mut buf, &Command::Rcpt(vec![big.clone()])).await {
                    Some(Response::Continue) => {
                        a.flood_recipients.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {
                        a.floods_refused.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
        }
    }
}

/// Sends `c` and reads the one response it gets (`None`: the connection is gone).
async fn ask(s: &mut TcpStream, buf: &mut Vec<u8>, c: &Command) -> Option<Response> {
    let mut out = Vec::new();
    c.encode(&mut out);
    s.write_all(&out).await.ok()?;
    loop {
        if let Ok(Some(r)) = Response::decode(buf) {
            return Some(r);
        }
        if s.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let a = args();
    let bodies = Arc::new(messages(&a.corpus));
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(a.seconds);
    let (connections, period) = if a.mode == "max" {
        (a.connections, Duration::ZERO)
    } else {
        let c = a.connections.max(64);
        (c, Duration::from_secs_f64(c as f64 / a.rate))
    };
    let mut tasks = Vec::new();
    for i in 0..connections {
        let offset = period.mul_f64(i as f64 / connections as f64);
        let first = i * bodies.len() / connections;
        tasks.push(tokio::spawn(connection(
            a.scan.clone(),
            Arc::clone(&bodies),
            first,
            start,
            offset,
            period,
            end,
        )));
    }
    let attacks = Arc::new(Attacks::default());
    if let Some(after) = a.attack_after {
        let from = start + Duration::from_secs_f64(after);
        let (scan, milter) = (a.scan.clone(), a.milter.clone());
        let (idle_n, stalled_n, floods_n, at) = (a.idle, a.stalled, a.floods, Arc::clone(&attacks));
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            for _ in 0..idle_n {
                tokio::spawn(idle(scan.clone(), Arc::clone(&at), end));
            }
            for _ in 0..stalled_n {
                tokio::spawn(stalled(scan.clone(), Arc::clone(&at), end));
            }
            if let Some(m) = milter {
                for _ in 0..floods_n {
                    tokio::spawn(flood(m.clone(), Arc::clone(&at), end));
                }
            }
        });
    }
    let rss = a.pid.map(|pid| {
        let every = Duration::from_secs_f64(a.rss_every);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut next = start;
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                if let Some(kb) = rss_kb(pid) {
                    samples.push(((next - start).as_secs_f64(), kb));
                }
                next += every;
            }
            samples
        })
    });
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.expect("a load task");
        all.latencies_us.extend(t.latencies_us);
        all.by_minute.extend(t.by_minute);
        all.errors += t.errors;
        for (k, v) in t.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = a.seconds;
    all.latencies_us.sort_unstable();
    let answered: u64 = all.statuses.values().sum();
    let ok = all.statuses.get(&200).copied().unwrap_or(0);
    let samples = match rss {
        Some(h) => h.await.expect("the sampler"),
        None => Vec::new(),
    };
    let max_rss = samples.iter().map(|s| s.1).max().unwrap_or(0) as f64 / 1024.0;
    let l = &all.latencies_us;
    println!(
        "{}: {answered} checks answered in {elapsed:.0} s ({:.0}/s), {ok} with 200, statuses {:?}, {} failed",
        a.mode,
        answered as f64 / elapsed,
        all.statuses,
        all.errors
    );
    println!(
        "latency ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
        percentile(l, 0.5),
        percentile(l, 0.9),
        percentile(l, 0.99),
        percentile(l, 0.999),
        percentile(l, 1.0)
    );
    if a.attack_after.is_some() {
        let g = |x: &AtomicU64| x.load(Ordering::Relaxed);
        println!(
            "attacks: idle {} opened, {} closed by the server; stalled uploads {} opened, {} answered (408); \
             milter floods {} recipients of 1 MiB taken, {} refused; {} connects failed",
            g(&attacks.idle_opened),
            g(&attacks.idle_closed_by_server),
            g(&attacks.stalled_opened),
            g(&attacks.stalled_answered),
            g(&attacks.flood_recipients),
            g(&attacks.floods_refused),
            g(&attacks.connect_failures)
        );
    }
    if !samples.is_empty() {
        println!("server RSS MB: max {max_rss:.1} over {} samples", samples.len());
    }
    // p50 and p99 of each minute, by when the checks were due.
    let mut minutes: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (m, us) in &all.by_minute {
        minutes.entry(*m).or_default().push(*us);
    }
    let series: Vec<serde_json::Value> = minutes
        .into_iter()
        .map(|(m, mut v)| {
            v.sort_unstable();
            serde_json::json!([m, percentile(&v, 0.5), percentile(&v, 0.99)])
        })
        .collect();
    if series.len() > 1 {
        let line: Vec<String> =
            series.iter().map(|v| format!("{}:{:.0}", v[0], v[2].as_f64().unwrap_or(f64::NAN))).collect();
        println!("p99 ms by minute: {}", line.join(" "));
    }
    let json = serde_json::json!({
        "mode": a.mode, "seconds": elapsed, "answered": answered, "ok": ok, "failed": all.errors,
        "statuses": all.statuses, "rate": answered as f64 / elapsed,
        "p50_ms": percentile(l, 0.5), "p99_ms": percentile(l, 0.99), "p999_ms": percentile(l, 0.999), "max_ms": percentile(l, 1.0),
        "max_rss_mb": max_rss,
        "rss_kb": samples.iter().map(|(t, kb)| serde_json::json!([t, kb])).collect::<Vec<_>>(),
        "minutes_p50_p99_ms": series,
    });
    eprintln!("{json}");
}
