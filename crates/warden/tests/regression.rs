//! One test per way `warden serve` was broken by a hostile client or a damaged disk, each
//! named after what broke, with a line saying how it showed. They drive the real binary over
//! loopback sockets and its data directory's files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use warden_mail_serve::milter::{Command as Milter, Response};

const ALICE: &str = "alice-token-0123456789";

fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("warden.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every decision is queued for review (`review` adds to that section); alice is an analyst.
fn desk(review: &str) -> String {
    format!("[review]\nband = [0.0, 1.0]\n{review}[[auth.analysts]]\nname = \"alice\"\ntoken = \"{ALICE}\"\n")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The value of the first `/metrics` line that starts with `series`.
fn metric(addr: &str, series: &str) -> Option<f64> {
    let text = request(addr, "GET", "/metrics", &[], b"").unwrap().1;
    text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Whether the server closes `s` (EOF or reset) within `within`.
fn closed_within(mut s: TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue, // an HTTP/2 server speaks first (SETTINGS, then GOAWAY)
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Polls `done` until it holds or `within` has passed (a deadline, not a sleep to wait out).
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::yield_now();
    }
    done()
}

fn audit(server: &Server, token: &str) -> Vec<Value> {
    let (status, text) =
        request(&server.controller, "GET", "/v1/audit", &[("Authorization", &bearer(token))], b"").unwrap();
    assert_eq!(status, 200, "{text}");
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Teaches the phishing example as spam through Rspamd's controller endpoint.
fn learn_phishing(server: &Server) {
    let auth = bearer(&server.token);
    let (status, body) = request(
        &server.controller,
        "POST",
        "/learnspam",
        &[("Authorization", &auth)],
        &example("phishing.eml"),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
}

fn check(server: &Server, raw: &[u8]) -> Value {
    json(request(&server.scan, "POST", "/v1/mail/check", &[], raw).unwrap())
}

/// Teaches `raw` as spam through the controller; returns the status.
fn label_spam(server: &Server, raw: &[u8]) -> u16 {
    let auth = bearer(&server.token);
    let (status, _) =
        request(&server.controller, "POST", "/v1/mail/feedback?label=spam", &[("Authorization", &auth)], raw)
            .unwrap();
    status
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!("From: Someone <someone@sender.example>\r\nTo: you@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n")
        .into_bytes()
}

/// A HTTP/1.1 head that promises `length` bytes of body, and `sent` of them.
fn stalled_upload(addr: &str, length: usize, sent: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n").unwrap();
    s.write_all(sent).unwrap();
    s
}

/// Sockets that sent nothing, or only the HTTP/2 preface, stayed open past 300 s (and
/// the milter's too): each listener now closes a connection idle past idle_timeout_ms.
#[test]
fn idle_and_h2c_connections_were_never_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[("WARDEN_LIMITS__IDLE_TIMEOUT_MS", "500")]);
    let silent = TcpStream::connect(&server.scan).unwrap();
    let mut preface = TcpStream::connect(&server.scan).unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let milter = TcpStream::connect(&server.milter).unwrap();
    let mut kept_alive = TcpStream::connect(&server.controller).unwrap();
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    kept_alive.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    for (what, s) in
        [("silent", silent), ("h2 preface", preface), ("milter", milter), ("between requests", kept_alive)]
    {
        assert!(closed_within(s, Duration::from_secs(15)), "a {what} connection was never closed");
    }
    let counted = eventually(Duration::from_secs(5), || {
        metric(&server.scan, "warden_connections_closed_total{listener=\"milter\",why=\"idle\"}") == Some(1.0)
    });
    assert!(counted, "the milter's idle connection is counted");
}

/// Under `ulimit -n`, idle sockets left /healthz unanswered and the log filled with
/// `accept failed: Too many open files` (~25 lines/s): out of descriptors, the server now
/// closes its idlest connection, and logs the failures at most every 10 s.
#[test]
fn out_of_descriptors_health_checks_hung_and_the_log_filled() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(dir.path(), Launch { nofile: Some((96, 96)), ..Launch::default() }).unwrap();
    let idle: Vec<TcpStream> = (0..150).map(|_| TcpStream::connect(&server.scan).unwrap()).collect();
    let mut s = TcpStream::connect(&server.scan).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    let read = s.read_to_string(&mut reply);
    assert!(
        read.is_ok() && reply.starts_with("HTTP/1.1 200"),
        "/healthz with the descriptors spent: {read:?} {reply:?}"
    );
    drop(idle);
    let (_, log) = server.stop();
    let lines = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(lines <= 3, "{lines} accept-failure lines:\n{log}");
}

/// The descriptor limit was left as the shell set it: the server now raises its soft
/// limit to the hard one at start.
#[test]
fn the_descriptor_limit_was_never_raised() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::launch(dir.path(), Launch { nofile: Some((256, 8192)), ..Launch::default() }).unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["8192", "8192"], "{line}");
}

/// 800 RCPT packets of 1 MiB on one connection took RSS from 269 to 1,026 MB: recipients
/// are now capped (452 4.5.3) and the envelope counts against the message's byte limit
/// (552 5.3.4).
#[test]
fn milter_recipients_were_all_kept_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-message-bytes", "100000"], &[]);
    let mut m = MilterClient::connect(&server.milter);
    m.ask(&Milter::OptNeg { version: 6, actions: 0x1ff, protocol: 0 });
    m.ask(&Milter::Connect { hostname: "c.example".into(), address: Some("192.0.2.1".parse().unwrap()) });
    m.ask(&Milter::Helo("c.example".into()));
    m.ask(&Milter::Mail(vec!["<a@example.org>".into()]));
    for i in 0..1000 {
        assert_eq!(
            m.ask(&Milter::Rcpt(vec![format!("<r{i}@x.example>")])),
            [Response::Continue],
            "recipient {i}"
        );
    }
    let r = m.ask(&Milter::Rcpt(vec!["<r1000@x.example>".into()]));
    assert!(matches!(&r[..], [Response::ReplyCode(c)] if c.starts_with("452 4.5.3")), "the 1,001st: {r:?}");
    m.ask(&Milter::Mail(vec!["<a@example.org>".into()]));
    let big = format!("<{}@x.example>", "r".repeat(30_000));
    for i in 0..3 {
        assert_eq!(m.ask(&Milter::Rcpt(vec![big.clone()])), [Response::Continue], "large recipient {i}");
    }
    let r = m.ask(&Milter::Rcpt(vec![big]));
    assert!(
        matches!(&r[..], [Response::ReplyCode(c)] if c.starts_with("552 5.3.4")),
        "past 100,000 bytes: {r:?}"
    );
}

/// 256 uploads that sent their head and stalled made checks answer 503 and the milter
/// 451: a slot is now taken only once the body has arrived, and the milter has its own.
#[test]
fn stalled_uploads_took_every_check_slot() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[("WARDEN_LIMITS__MAX_IN_FLIGHT", "4")]);
    let stalled: Vec<TcpStream> =
        (0..8).map(|_| stalled_upload(&server.scan, 1000, b"Subject: par")).collect();
    // The server has read every stalled head: either their slots are taken (as they were) or
    // their bytes are held.
    let read = eventually(Duration::from_secs(10), || {
        metric(&server.scan, "warden_in_flight{listener=\"scan\"}") == Some(4.0)
            || metric(&server.scan, "warden_bytes_in_flight").is_some_and(|b| b >= 8000.0)
    });
    assert!(read, "the server never read the stalled heads");
    let (status, body) = request(&server.scan, "POST", "/v1/mail/check", &[], &example("ham.eml")).unwrap();
    assert_eq!(status, 200, "a whole check beside 8 stalled uploads: {body}");
    let mut m = MilterClient::connect(&server.milter);
    m.ask(&Milter::OptNeg { version: 6, actions: 0x1ff, protocol: 0 });
    let r = m.message(&example("ham.eml"));
    assert_eq!(r.last(), Some(&Response::Continue), "the milter decided: {r:?}");
    drop(stalled);
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The data directory was made 0755 and its stores 0644, and an existing loose directory
/// was never tightened: now 0700 and 0600 always, tightened at start with a log line.
#[test]
fn the_data_directory_was_world_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[], &[]);
    learn_phishing(&server);
    server.stop();
    assert_eq!(mode(&dir), 0o700, "the directory");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.iter().any(|f| f.ends_with("model.wdm")) && files.len() >= 6, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let loose = tmp.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(loose.join("admin.token"), "0123456789abcdef0123\n").unwrap();
    std::fs::set_permissions(loose.join("admin.token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Server::start(&loose, &[], &[]);
    assert!(server.early.contains("tightened to 0700"), "{}", server.early);
    assert_eq!((mode(&loose), mode(&loose.join("admin.token"))), (0o700, 0o600));
}

/// Overwrites the length of the journal's `n`th record (1, 2, …).
fn damage_journal_record(path: &Path, n: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let (mut at, head) = if bytes.starts_with(b"WDNJ") { (32, 12) } else { (0, 4) };
    for _ in 1..n {
        at += head + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    bytes[at..at + 4].copy_from_slice(&[0xff; 4]);
    std::fs::write(path, bytes).unwrap();
}

/// The count a rule's reason gives for `per_sender` after one more check from one.example.
fn counted(server: &Server) -> usize {
    let v = check(server, &message("count me", "one more"));
    let reason =
        v["reasons"].as_array().unwrap().iter().find(|r| r["name"] == "RULE:COUNTED").unwrap().clone();
    reason["description"].as_str().unwrap().rsplit("per_sender = ").next().unwrap().trim().parse().unwrap()
}

/// Overwriting the length of the 3rd record cut the journal from 1,989 to 78 bytes: 49
/// acknowledged updates lost, logged as a torn last record. Each record now has a checksum;
/// damage in the middle refuses start, and a repair keeps every record after it.
#[test]
fn one_damaged_journal_record_threw_away_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("count.rules");
    std::fs::write(
        &rules,
        "counter per_sender: count by mail.from_domain over 1h every 1m\n\
         rule COUNTED { when: per_sender >= 1 then: score 0 }\n",
    )
    .unwrap();
    let cfg = config(tmp.path(), &format!("[rules]\nfiles = [{:?}]\n", rules.display().to_string()));
    let dir = tmp.path().join("data");
    let args = ["--config", cfg.to_str().unwrap()];
    let server = Server::start(&dir, &args, &[]);
    for _ in 0..29 {
        counted(&server);
    }
    assert_eq!(counted(&server), 30);
    server.stop();
    damage_journal_record(&dir.join("counters.journal"), 3);
    let refused =
        Server::launch(&dir, Launch { args: &args, ..Launch::default() }).err().expect("start refused");
    assert!(refused.contains("counters.journal") && refused.contains("offset"), "{refused}");
    assert!(refused.contains("--repair"), "the way out is named: {refused}");
    let repair = ["--config", cfg.to_str().unwrap(), "--repair"];
    let server = Server::launch(&dir, Launch { args: &repair, ..Launch::default() }).unwrap();
    assert!(server.early.contains("damaged region"), "{}", server.early);
    assert_eq!(counted(&server), 30, "29 of the 30 updates kept, and this one");
    let entries = audit(&server, &server.token.clone());
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "repair" && e["reason"].as_str().unwrap().contains("counters.journal"))
    );
}

/// Deleting or emptying feedback.redb started the server with no labels and no warning;
/// so did losing desk.redb or secret.key. Each file now knows its siblings: a lost one
/// refuses start, and `--repair` starts anyway, audited.
#[test]
fn a_lost_store_went_unnoticed() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 4] = [
        ("feedback.redb", |d| std::fs::remove_file(d.join("feedback.redb")).unwrap()),
        ("feedback.redb", |d| std::fs::write(d.join("feedback.redb"), b"").unwrap()),
        ("desk.redb", |d| std::fs::remove_file(d.join("desk.redb")).unwrap()),
        ("secret.key", |d| std::fs::remove_file(d.join("secret.key")).unwrap()),
    ];
    for (file, damage) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start(&dir, &[], &[]);
        learn_phishing(&server);
        server.stop();
        damage(&dir);
        let refused = Server::launch(&dir, Launch::default()).err();
        let refused = refused.unwrap_or_else(|| panic!("started without {file}"));
        assert!(refused.contains(file) && refused.contains("--repair"), "{file}: {refused}");
        let server = Server::launch(&dir, Launch { args: &["--repair"], ..Launch::default() }).unwrap();
        let entries = audit(&server, &server.token.clone());
        assert!(
            entries.iter().any(|e| e["kind"] == "repair" && e["reason"].as_str().unwrap().contains(file)),
            "{file}: {entries:?}"
        );
    }
}

/// 12 concurrent resolves of one item: one 200 and eleven 409, yet all twelve stored and
/// learned: the resolution now commits first, with its lesson, in one transaction.
#[test]
fn concurrent_resolves_taught_refused_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &desk(""));
    let server = Server::start(&tmp.path().join("data"), &["--config", cfg.to_str().unwrap()], &[]);
    check(&server, &example("ham.eml"));
    let alice = bearer(ALICE);
    let items =
        json(request(&server.controller, "GET", "/v1/review", &[("Authorization", &alice)], b"").unwrap());
    let id = items["items"][0]["id"].as_u64().unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let resolvers: Vec<_> = (0..12)
        .map(|i| {
            let (addr, barrier, alice) = (server.controller.clone(), barrier.clone(), alice.clone());
            std::thread::spawn(move || {
                let label = if i % 2 == 0 { "spam" } else { "ham" };
                let body = format!(r#"{{"label": "{label}", "reason": "resolver {i}"}}"#);
                let headers = [("Authorization", alice.as_str()), ("Content-Type", "application/json")];
                barrier.wait();
                request(&addr, "POST", &format!("/v1/review/{id}/resolve"), &headers, body.as_bytes())
                    .unwrap()
                    .0
            })
        })
        .collect();
    let mut statuses: Vec<u16> = resolvers.into_iter().map(|t| t.join().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let token = server.token.clone();
    let stat = json(request(&server.controller, "GET", "/stat", &[("Password", &token)], b"").unwrap());
    assert_eq!(stat["warden"]["feedback_records"], 1, "one resolution, one lesson: {stat}");
    let resolutions = audit(&server, &token).into_iter().filter(|e| e["kind"] == "review.resolve").count();
    assert_eq!(resolutions, 1);
}

/// The desk had no cap and stored whole what it was given: 69,629 checks made a 285 MB
/// desk, a 0.9 MB subject was kept whole, a 20 MB reason accepted, and listings read
/// everything. Now: a capped queue, bounded fields, paged listings.
#[test]
fn the_desk_grew_without_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &desk("max_items = 5\n"));
    let server = Server::start(&tmp.path().join("data"), &["--config", cfg.to_str().unwrap()], &[]);
    let alice = bearer(ALICE);
    let auth = [("Authorization", alice.as_str())];
    let long = format!("LONG{}", "s".repeat(100_000));
    check(&server, &message(&long, "a long subject"));
    let items = json(request(&server.controller, "GET", "/v1/review", &auth, b"").unwrap());
    let subject = items["items"][0]["subject"].as_str().unwrap().to_owned();
    assert!(subject.starts_with("LONG") && subject.len() <= 998, "a subject of {} bytes", subject.len());
    for i in 0..10 {
        check(&server, &message(&format!("note {i}"), &"word ".repeat(i + 1)));
    }
    let open =
        json(request(&server.controller, "GET", "/v1/review?status=open&limit=1000", &auth, b"").unwrap());
    assert_eq!(open["items"].as_array().unwrap().len(), 5, "the cap");
    assert_eq!(metric(&server.scan, "warden_review_dropped"), Some(6.0));
    let first = json(request(&server.controller, "GET", "/v1/review?limit=2", &auth, b"").unwrap());
    let next = first["next"].as_u64().expect("a cursor");
    let second = json(
        request(&server.controller, "GET", &format!("/v1/review?limit=2&after={next}"), &auth, b"").unwrap(),
    );
    let ids = |v: &Value| {
        v["items"].as_array().unwrap().iter().map(|i| i["id"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert!(a.len() == 2 && b.len() == 2 && a[1] > b[0], "{a:?} then {b:?}");
    assert_eq!(request(&server.controller, "GET", "/v1/review?limit=5000", &auth, b"").unwrap().0, 400);
    let (_, log) = request(&server.controller, "GET", "/v1/audit?limit=1", &auth, b"").unwrap();
    assert_eq!(log.lines().count(), 1);
    let decisions = audit(&server, ALICE).iter().filter(|e| e["kind"] == "decision").count();
    assert_eq!(decisions, 11, "a decision whose review item the cap dropped is still audited");
    let json_auth = [("Authorization", alice.as_str()), ("Content-Type", "application/json")];
    let reason = format!(r#"{{"label": "spam", "reason": "{}"}}"#, "r".repeat(5000));
    let uri = format!("/v1/review/{}/resolve", a[0]);
    let (status, body) = request(&server.controller, "POST", &uri, &json_auth, reason.as_bytes()).unwrap();
    assert_eq!(status, 400, "a 5,000-byte reason: {body}");
    // A 20 MB body is refused by its declared length, before it is sent.
    let mut s = TcpStream::connect(&server.controller).unwrap();
    write!(
        s,
        "POST {uri} HTTP/1.1\r\nHost: x\r\nAuthorization: {alice}\r\nContent-Length: {}\r\n\r\n",
        20 << 20
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}

/// A subject with `ESC [31m` or `ESC ] 0;title BEL` reached the terminal of whoever ran
/// `warden review list`, and labels took CR, LF, NUL, ESC and U+202E.
#[test]
fn terminal_escapes_reached_the_analysts_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &desk(""));
    let server = Server::start(&tmp.path().join("data"), &["--config", cfg.to_str().unwrap()], &[]);
    check(&server, &message("\u{1b}[31mred\u{1b}]0;title\u{7} invoice\u{202e}fdp.exe", "pay now"));
    let url = format!("http://{}", server.controller);
    let warden = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .args(["--url", &url, "--token", ALICE])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    for out in
        [warden(&["review", "list"]), warden(&["review", "show", "1"]), warden(&["review", "list", "--json"])]
    {
        assert!(!out.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{out:?}");
        assert!(out.contains("red") && out.contains("invoice"), "{out}");
    }
    let alice = bearer(ALICE);
    let headers = [("Authorization", alice.as_str()), ("Content-Type", "application/json")];
    for (field, value) in [
        ("entity", "a\\rb"),
        ("entity", "a\\nb"),
        ("label", "a\\u0000b"),
        ("label", "x\\u001b[2J"),
        ("reason", "abc\\u202eexe"),
    ] {
        let mut v =
            serde_json::json!({"kind": "domain", "entity": "e.example", "label": "bulk", "reason": "seen"});
        v[field] = serde_json::from_str(&format!("\"{value}\"")).unwrap();
        let (status, body) =
            request(&server.controller, "POST", "/v1/labels", &headers, v.to_string().as_bytes()).unwrap();
        assert_eq!(status, 400, "{field} = {value}: {body}");
    }
}

/// 16 concurrent 30 MB checks peaked at 622 MB: what requests hold is now counted
/// against one byte budget across listeners, and past it a request is refused at once.
#[test]
fn memory_had_no_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--max-message-bytes", "1000000"],
        &[("WARDEN_LIMITS__MAX_BYTES_IN_FLIGHT", "1500000")],
    );
    // Heads that promise much and send nothing hold nothing.
    let promises: Vec<TcpStream> = (0..4).map(|_| stalled_upload(&server.scan, 400_000, b"")).collect();
    // An upload that has sent 900,000 of its 1,000,000 bytes holds them.
    let sent = [b"Subject: big\r\n\r\n".as_slice(), &vec![b'a'; 900_000]].concat();
    let holding = stalled_upload(&server.scan, 1_000_000, &sent);
    let held = eventually(Duration::from_secs(10), || {
        metric(&server.scan, "warden_bytes_in_flight").is_some_and(|b| b >= 900_000.0)
    });
    assert!(held, "the upload's bytes are held");
    assert!(
        metric(&server.scan, "warden_bytes_in_flight").unwrap() <= 1_100_000.0,
        "the promises hold nothing"
    );
    let (status, _) = request(&server.scan, "POST", "/v1/mail/check", &[], &example("ham.eml")).unwrap();
    assert_eq!(status, 200, "a small check still fits");
    // Refused by its declared length, at once: its bytes would take the budget past its end.
    let mut s = TcpStream::connect(&server.scan).unwrap();
    s.write_all(
        b"POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 600000\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 503") && reply.contains("max_bytes_in_flight"), "{reply}");
    let body = [b"Subject: another\r\n\r\n".as_slice(), &vec![b'a'; 600_000]].concat();
    drop((holding, promises));
    let freed =
        eventually(Duration::from_secs(10), || metric(&server.scan, "warden_bytes_in_flight") == Some(0.0));
    assert!(freed, "a closed upload gives its bytes back");
    assert_eq!(request(&server.scan, "POST", "/v1/mail/check", &[], &body).unwrap().0, 200);
}

/// Listening on `[::]`, IPv4 loopback clients arrived as `::ffff:127.0.0.1` and got 401
/// on checks, and SPF ran for `IP: ::ffff:127.0.0.1`.
#[test]
fn ipv4_mapped_loopback_clients_got_401() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(dir.path(), Launch { host: "::", ..Launch::default() }).unwrap();
    let port = server.scan.rsplit(':').next().unwrap();
    let v4 = format!("127.0.0.1:{port}");
    let (status, body) = request(&v4, "POST", "/v1/mail/check", &[], &example("ham.eml")).unwrap();
    assert_eq!(status, 200, "{body}");
    let v = json(
        request(&v4, "POST", "/v1/mail/check", &[("IP", "::ffff:127.0.0.1")], &example("ham.eml")).unwrap(),
    );
    assert!(v["auth"].get("spf").is_none(), "a loopback client is not checked: {v}");
    let reason = v["reasons"].as_array().unwrap().iter().find(|r| r["name"] == "AUTH").unwrap().clone();
    assert!(reason["description"].as_str().unwrap().contains("skipped"), "{reason}");
}

/// Replaces every `from` in a file by `to` (as long): a flip of the bytes that differ.
fn flip(path: &Path, from: &[u8], to: &[u8]) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let mut n = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + i..at + i + from.len()].copy_from_slice(to);
        at += i + from.len();
        n += 1;
    }
    std::fs::write(path, bytes).unwrap();
    n
}

/// Flipped bytes in feedback.redb gave no error and a replay built another model; flips in
/// desk.redb made `/v1/review` answer 500. Every record now has a checksum: start refuses on
/// damage it reads, a listing skips a damaged record and counts it.
#[test]
fn flipped_bytes_in_the_stores_were_read_as_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("feedback");
    let server = Server::start(&dir, &[], &[("WARDEN_FEEDBACK__KEEP_BODIES", "true")]);
    let labelled = message("a label", "MARKER-FEEDBACK-0001 with a body kept");
    assert_eq!(label_spam(&server, &labelled), 200);
    server.stop();
    assert!(flip(&dir.join("feedback.redb"), b"MARKER-FEEDBACK-0001", b"MARKER-FEEDBACK-0003") > 0);
    // A model from elsewhere is taught every stored record: the damaged one is read.
    let model = tmp.path().join("starter.wdm");
    warden_mail::engine::starter_model().unwrap().save(&model, false).unwrap();
    let args = ["--model", model.to_str().unwrap()];
    let refused = Server::launch(&dir, Launch { args: &args, ..Launch::default() }).err();
    let refused = refused.expect("start refused on a damaged record");
    assert!(refused.contains("feedback.redb") && refused.contains("record 1"), "{refused}");
    let args = ["--model", model.to_str().unwrap(), "--repair"];
    let server = Server::launch(&dir, Launch { args: &args, ..Launch::default() }).unwrap();
    assert!(server.early.contains("1 damaged records removed"), "{}", server.early);
    server.stop();

    // After a crash, redb checks its last commit and rolled a damaged one back without a word.
    // Commits are two-phase, so a crash cuts none and a last commit that fails is damage.
    let dir = tmp.path().join("crashed");
    let server = Server::start(&dir, &[], &[("WARDEN_FEEDBACK__KEEP_BODIES", "true")]);
    assert_eq!(label_spam(&server, &labelled), 200);
    server.kill_9();
    assert!(flip(&dir.join("feedback.redb"), b"MARKER-FEEDBACK-0001", b"MARKER-FEEDBACK-0003") > 0);
    let refused = Server::launch(&dir, Launch::default()).err().expect("start refused on a damaged commit");
    assert!(refused.contains("feedback.redb: its last commit does not verify"), "{refused}");
    assert!(refused.contains("the disk damaged it after it was acknowledged"), "{refused}");
    let server = Server::launch(&dir, Launch { args: &["--repair"], ..Launch::default() }).unwrap();
    let entries = audit(&server, &server.token.clone());
    let said = |what: &str| {
        entries.iter().any(|e| e["kind"] == "repair" && e["reason"].as_str().unwrap().contains(what))
    };
    assert!(said("rolled back") && said("the file as it was is kept as"), "{entries:?}");
    server.stop();

    let cfg = config(tmp.path(), &desk(""));
    let dir = tmp.path().join("desk");
    let args = ["--config", cfg.to_str().unwrap()];
    let server = Server::start(&dir, &args, &[]);
    check(&server, &message("MARKER-DESK-0002", "one"));
    check(&server, &message("an intact item", "two"));
    server.stop();
    assert!(flip(&dir.join("desk.redb"), b"MARKER-DESK-0002", b"MARKER-DESK-0004") > 0);
    let server = Server::start(&dir, &args, &[]);
    let alice = bearer(ALICE);
    let (status, body) =
        request(&server.controller, "GET", "/v1/review", &[("Authorization", &alice)], b"").unwrap();
    assert_eq!(status, 200, "{body}");
    let items = serde_json::from_str::<Value>(&body).unwrap()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "the damaged item is skipped, the other listed: {items:?}");
    assert_eq!(items[0]["subject"], "an intact item");
    assert_eq!(metric(&server.scan, "warden_damaged_records{file=\"desk.redb\"}"), Some(1.0));
}

/// `--check-config` printed tokens in clear.
#[test]
fn check_config_printed_tokens_in_clear() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--check-config"])
        .env("WARDEN_AUTH__TOKENS", r#"["secret-token-0123456789"]"#)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("[auth]"), "{text}");
    assert!(!text.contains("secret-token-0123456789"), "{text}");
}

/// Analysts' names were not checked: `admin`, `rule:MARK` or the same name twice muddled
/// the audit log.
#[test]
fn analyst_names_were_not_checked() {
    let tmp = tempfile::tempdir().unwrap();
    for (people, needle) in [
        ("[[auth.analysts]]\nname = \"admin\"\ntoken = \"aaaaaaaaaaaaaaaa1\"\n", "admin"),
        ("[[auth.analysts]]\nname = \"rule:MARK\"\ntoken = \"aaaaaaaaaaaaaaaa1\"\n", "rule:"),
        (
            "[[auth.analysts]]\nname = \"bob\"\ntoken = \"aaaaaaaaaaaaaaaa1\"\n[[auth.viewers]]\nname = \"Bob\"\ntoken = \"aaaaaaaaaaaaaaaa2\"\n",
            "twice",
        ),
    ] {
        let cfg = config(tmp.path(), people);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["serve", "--check-config", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{people}: {err}");
    }
}

/// The admin token opened the desk's endpoints in Rspamd's `Password` header, which the
/// OpenAPI document does not allow there.
#[test]
fn the_password_header_opened_desk_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let token = server.token.clone();
    assert_eq!(
        request(&server.controller, "GET", "/v1/review", &[("Password", &token)], b"").unwrap().0,
        401
    );
    assert_eq!(
        request(&server.controller, "GET", "/v1/review", &[("Authorization", &bearer(&token))], b"")
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        request(&server.controller, "GET", "/stat", &[("Password", &token)], b"").unwrap().0,
        200,
        "Rspamd's own"
    );
}

/// An oversized labels body answered 400 (it is 413), and "512 characters" counted
/// bytes.
#[test]
fn label_bodies_and_lengths_were_measured_wrongly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let auth = bearer(&server.token);
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let label = |entity: &str| {
        serde_json::json!({"kind": "domain", "entity": entity, "label": "bulk", "reason": "seen"}).to_string()
    };
    let accented = "é".repeat(300); // 300 characters, 600 bytes
    let (status, body) =
        request(&server.controller, "POST", "/v1/labels", &headers, label(&accented).as_bytes()).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, _) =
        request(&server.controller, "POST", "/v1/labels", &headers, label(&"é".repeat(600)).as_bytes())
            .unwrap();
    assert_eq!(status, 400, "600 characters");
    let big = label(&"x".repeat(200_000));
    assert_eq!(request(&server.controller, "POST", "/v1/labels", &headers, big.as_bytes()).unwrap().0, 413);
}

/// Labels taught by resolving a review item were missing from `warden_feedback_total`.
#[test]
fn labels_taught_by_resolve_were_not_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &desk(""));
    let server = Server::start(&tmp.path().join("data"), &["--config", cfg.to_str().unwrap()], &[]);
    check(&server, &example("ham.eml"));
    let alice = bearer(ALICE);
    let headers = [("Authorization", alice.as_str()), ("Content-Type", "application/json")];
    let (status, body) = request(
        &server.controller,
        "POST",
        "/v1/review/1/resolve",
        &headers,
        br#"{"label": "ham", "reason": "fine"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let metrics = request(&server.scan, "GET", "/metrics", &[], b"").unwrap().1;
    let taught: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("warden_feedback_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(taught, 1.0, "{metrics}");
}

/// A declared `Content-Length` above the limit was answered only after the 10 s client
/// timeout.
#[test]
fn an_oversized_content_length_waited_for_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-message-bytes", "1000"], &[]);
    let mut s = TcpStream::connect(&server.scan).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("an answer before the body is sent");
    assert_eq!(&head, b"HTTP/1.1 413");
}

/// Binding beyond loopback without tokens of one's own gave no warning.
#[test]
fn binding_beyond_loopback_without_tokens_was_silent() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--check-config", "--controller", "0.0.0.0:11334"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("WARNING") && err.contains("beyond loopback"), "{err}");
}
