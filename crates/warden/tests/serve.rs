//! End-to-end: `warden serve` as a process, spoken to over loopback sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;
use warden_mail_serve::milter::{Command as Milter, Response};

#[test]
fn serve_decides_learns_and_stops_cleanly_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let v = json(request(&server.scan, "POST", "/v1/mail/check", &[], &example("gtube.eml")).unwrap());
    assert_eq!(v["action"], "reject");
    let v = json(request(&server.scan, "POST", "/checkv2", &[], &example("ham.eml")).unwrap());
    assert_eq!(v["action"], "no action", "{v}");
    let envelope = [("IP", "192.0.2.10"), ("Helo", "mx.example.org"), ("From", "<a@example.org>")];
    let v = json(request(&server.scan, "POST", "/v1/mail/check", &envelope, &example("ham.eml")).unwrap());
    assert_eq!(v["auth"]["spf"], "none", "the test's DNS knows no SPF record: {v}");
    assert!(v["reasons"].as_array().unwrap().iter().any(|r| r["name"] == "AUTH"), "{v}");
    assert_eq!(request(&server.scan, "GET", "/ping", &[], b"").unwrap(), (200, "pong\r\n".to_owned()));
    let auth = server.bearer();
    let v = json(
        request(
            &server.controller,
            "POST",
            "/learnspam",
            &[("Authorization", &auth)],
            &example("phishing.eml"),
        )
        .unwrap(),
    );
    assert_eq!(v["success"], true);
    let metrics = request(&server.scan, "GET", "/metrics", &[], b"").unwrap().1;
    assert!(metrics.contains("warden_decisions_total{action=\"reject\",endpoint=\"check\"} 1"), "{metrics}");
    assert!(metrics.contains("warden_feedback_total{outcome=\"new\"} 1"), "{metrics}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("stopped"), "{log}");

    // The shutdown checkpoint holds the lesson: nothing needs replaying at the next start.
    let server = Server::start(dir.path(), &[], &[]);
    let token = server.token.clone();
    let pw = [("Password", token.as_str())];
    let stat = json(request(&server.controller, "GET", "/stat", &pw, b"").unwrap());
    assert_eq!(stat["warden"]["feedback_records"], 1);
    assert_eq!(stat["warden"]["feedback_replayed"], 0, "{stat}");
    let (status, _) =
        request(&server.controller, "POST", "/learnspam", &pw, &example("phishing.eml")).unwrap();
    assert_eq!(status, 208, "already learned");
    server.stop();
}

#[test]
fn acknowledged_feedback_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (tx, rx) = std::sync::mpsc::channel::<(String, &'static str)>();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (tx, addr, auth) = (tx.clone(), server.scan.clone(), server.bearer());
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let label = if (t + i) % 2 == 0 { "spam" } else { "ham" };
                    let msg = format!("Subject: burst {t}-{i}\r\nFrom: s{t}@example.org\r\n\r\nmessage {i} of sender {t}\r\n");
                    let Ok((200, body)) =
                        request(&addr, "POST", &format!("/v1/mail/feedback?label={label}"), &[("Authorization", &auth)], msg.as_bytes())
                    else {
                        return; // the server is gone
                    };
                    let v: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(v["outcome"], "new", "{v}");
                    if tx.send((msg, label)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut acknowledged: Vec<(String, &str)> = rx.iter().take(150).collect();
    assert_eq!(acknowledged.len(), 150, "the senders stopped early");
    server.kill_9(); // with the four senders still sending
    for s in senders {
        s.join().unwrap();
    }
    acknowledged.extend(rx.try_iter());

    let server = Server::start(dir.path(), &[], &[]);
    let auth = server.bearer();
    let stat = json(request(&server.controller, "GET", "/stat", &[("Authorization", &auth)], b"").unwrap());
    let records = stat["warden"]["feedback_records"].as_u64().unwrap();
    eprintln!("{} acknowledged before the kill, {records} stored", acknowledged.len());
    assert!(records >= acknowledged.len() as u64, "{records} stored, {} acknowledged", acknowledged.len());
    assert_eq!(stat["warden"]["feedback_replayed"], records, "no checkpoint yet: every record learned again");
    for (msg, label) in &acknowledged {
        let v = json(
            request(
                &server.scan,
                "POST",
                &format!("/v1/mail/feedback?label={label}"),
                &[("Authorization", &auth)],
                msg.as_bytes(),
            )
            .unwrap(),
        );
        assert_eq!(v["outcome"], "duplicate", "an acknowledged label was lost: {msg:?}");
    }
    server.stop();
}

#[test]
fn sighup_reloads_the_configuration_and_keeps_it_when_the_new_one_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("warden.toml");
    std::fs::write(&cfg, "[thresholds]\njunk = 1.0\n").unwrap();
    let mut server = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()], &[]);
    let ham = example("ham.eml");
    assert_eq!(
        json(request(&server.scan, "POST", "/v1/mail/check", &[], &ham).unwrap())["action"],
        "deliver"
    );

    std::fs::write(&cfg, "[thresholds]\njunk = -50.0\nquarantine = -40.0\nreject = -30.0\n").unwrap();
    signal(&server.child, "HUP");
    server.wait_log("reloaded on SIGHUP");
    assert_eq!(json(request(&server.scan, "POST", "/v1/mail/check", &[], &ham).unwrap())["action"], "reject");

    std::fs::write(&cfg, "[thresholds]\njunky = 1.0\n").unwrap();
    signal(&server.child, "HUP");
    let line = server.wait_log("reload refused");
    assert!(line.contains("junky"), "{line}");
    assert_eq!(json(request(&server.scan, "POST", "/v1/mail/check", &[], &ham).unwrap())["action"], "reject");

    // The admin call does the same, synchronously.
    std::fs::write(&cfg, "").unwrap();
    let auth = server.bearer();
    let v = json(
        request(&server.controller, "POST", "/v1/admin/reload", &[("Authorization", &auth)], b"").unwrap(),
    );
    assert_eq!(v["reloaded"], true);
    assert_eq!(
        json(request(&server.scan, "POST", "/v1/mail/check", &[], &ham).unwrap())["action"],
        "deliver"
    );
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn stalled_malformed_and_truncated_requests_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[("WARDEN_LIMITS__CLIENT_TIMEOUT_MS", "300")]);
    // Half a body, then silence: 408 once client_timeout_ms has passed.
    let reply = raw_exchange(
        &server.scan,
        b"POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nSubject: par",
        false,
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    // Half a request head, then silence: the connection is closed.
    let reply = raw_exchange(&server.scan, b"POST /v1/mail/check HTTP/1.1\r\nHost:", false);
    assert!(!reply.contains("200 OK"), "{reply}");
    // Not HTTP at all.
    let reply = raw_exchange(&server.scan, b"\x00\x01garbage\r\n\r\n", true);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    // A body cut short by the client closing its side.
    let reply = raw_exchange(
        &server.scan,
        b"POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nSubject: cut",
        true,
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    // Still serving.
    let v = json(request(&server.scan, "POST", "/v1/mail/check", &[], &example("gtube.eml")).unwrap());
    assert_eq!(v["action"], "reject");
    let metrics = request(&server.scan, "GET", "/metrics", &[], b"").unwrap().1;
    assert!(metrics.contains("warden_timeouts_total{listener=\"scan\"} 1"), "{metrics}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn check_config_prints_the_settings_in_force_or_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(&cfg, "[limits]\nmax_in_flight = 64\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--check-config", "--config", cfg.to_str().unwrap()])
        .env("WARDEN_FEEDBACK__CHECKPOINT_SECS", "60")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["limits"]["max_in_flight"].as_integer(), Some(64));
    assert_eq!(printed["feedback"]["checkpoint_secs"].as_integer(), Some(60));
    assert!(!dir.path().join("warden-data").exists(), "checking writes nothing");

    std::fs::write(&cfg, "[limits]\nmax_in_flite = 64\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--check-config", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_in_flite") && err.contains("w.toml"), "{err}");
}

/// Rspamd's own client against Warden, when Debian's rspamd package is installed (`.ci/run`
/// installs it).
#[test]
fn rspamc_checks_and_learns_against_warden() {
    let Ok(rspamc) = which("rspamc") else {
        eprintln!("rspamc not installed: skipped (`.ci/run` installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[], &[]);
    let file = dir.path().join("gtube.eml");
    std::fs::write(&file, example("gtube.eml")).unwrap();
    let out = Command::new(&rspamc).args(["-h", &server.scan]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Action: reject") && text.contains("GTUBE") && text.contains("Score:"), "{text}");

    let out = Command::new(&rspamc)
        .args(["-h", &server.controller, "-P", &server.token, "learn_spam"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("success = true"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out =
        Command::new(&rspamc).args(["-h", &server.controller, "-P", &server.token, "stat"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Messages scanned: 1"), "{text}");
    server.stop();
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .ok_or(())
}

#[test]
fn the_milter_marks_ham_rejects_gtube_and_survives_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let mut mta = MilterClient::connect(&server.milter);
    let negotiated = mta.ask(&Milter::OptNeg { version: 6, actions: 0x1ff, protocol: 0x1f_ffff });
    assert!(matches!(negotiated[..], [Response::OptNeg { version: 6, actions: 0x21, .. }]), "{negotiated:?}");
    mta.ask(&Milter::Connect {
        hostname: "client.example".into(),
        address: Some("192.0.2.7".parse().unwrap()),
    });
    mta.ask(&Milter::Helo("client.example".into()));

    let ham = mta.message(&example("ham.eml"));
    let header = |rs: &[Response], name: &str| {
        rs.iter().find_map(|r| match r {
            Response::AddHeader { name: n, value } if n == name => Some(value.clone()),
            _ => None,
        })
    };
    assert!(header(&ham, "X-Spam-Status").is_some_and(|v| v.starts_with("No, score=")), "{ham:?}");
    assert_eq!(header(&ham, "X-Warden-Action").as_deref(), Some("deliver"));
    let auth = header(&ham, "Authentication-Results").expect("checks ran for a public client address");
    assert!(auth.starts_with("warden") && auth.contains("spf=none"), "{auth}");
    assert_eq!(ham.last(), Some(&Response::Continue));

    // A second message on the same connection.
    let gtube = mta.message(&example("gtube.eml"));
    assert!(matches!(&gtube[..], [Response::ReplyCode(c)] if c.starts_with("550 5.7.1")), "{gtube:?}");

    // Garbage: that connection is closed, the others go on.
    let mut bad = MilterClient::connect(&server.milter);
    bad.stream.write_all(&[0, 0, 0, 3, b'Z', 1, 2]).unwrap();
    let mut rest = Vec::new();
    bad.stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closed without an answer");
    let mut truncated = MilterClient::connect(&server.milter);
    truncated.stream.write_all(&[0, 0, 0, 50, b'L', b'S']).unwrap();
    truncated.stream.shutdown(std::net::Shutdown::Write).unwrap();
    truncated.stream.read_to_end(&mut rest).unwrap();

    let again = mta.message(&example("ham.eml"));
    assert_eq!(again.last(), Some(&Response::Continue));
    mta.send(&Milter::Quit);
    let metrics = request(&server.scan, "GET", "/metrics", &[], b"").unwrap().1;
    assert!(metrics.contains("warden_decisions_total{action=\"reject\",endpoint=\"milter\"} 1"), "{metrics}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("unknown milter command 'Z'") && log.contains("inside a packet"), "{log}");
}

#[test]
fn shutdown_finishes_the_request_in_flight_and_logs_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[], &[("WARDEN_SERVER__LOG_JSON", "true")]);
    let gtube = example("gtube.eml");
    let (head, tail) = gtube.split_at(gtube.len() / 2);
    let mut s = TcpStream::connect(&server.scan).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "POST /v1/mail/check HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", gtube.len()).unwrap();
    s.write_all(head).unwrap();
    // Once the server is reading that request (its body holds bytes of the budget), it is told
    // to stop. (A connection it has not begun to read is not in flight: shutdown closes it.)
    let reading = |metrics: &str| {
        metrics.lines().any(|l| l.strip_prefix("warden_bytes_in_flight ").is_some_and(|v| v.trim() != "0"))
    };
    while !reading(&request(&server.scan, "GET", "/metrics", &[], b"").unwrap().1) {}
    signal(&server.child, "TERM");
    let line = server.wait_log("stopping");
    let logged: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert!(logged["fields"]["message"].as_str().unwrap().contains("draining"), "{logged}");
    s.write_all(tail).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"action\":\"reject\""), "{reply}");
    let mut rest = String::new();
    server.stderr.read_to_string(&mut rest).unwrap();
    assert!(server.child.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("stopped"), "{rest}");
}

#[test]
fn reloads_under_load_drop_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let checks: Vec<_> = (0..2)
        .map(|_| {
            let addr = server.scan.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| request(&addr, "POST", "/v1/mail/check", &[], &example("ham.eml")).unwrap().0)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let auth = server.bearer();
    for _ in 0..20 {
        let v = json(
            request(&server.controller, "POST", "/v1/admin/reload", &[("Authorization", &auth)], b"")
                .unwrap(),
        );
        assert_eq!(v["reloaded"], true);
        signal(&server.child, "HUP");
    }
    for t in checks {
        assert!(t.join().unwrap().iter().all(|&s| s == 200), "every check answered 200 through the reloads");
    }
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}

/// What an answered check wrote (its review item, audit entry, counter updates and rule
/// labels) and what an analyst's acknowledged label set survive a `kill -9`.
#[test]
fn acknowledged_review_items_labels_and_counter_updates_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("desk.rules");
    std::fs::write(
        &rules,
        "counter per_sender: count by mail.from_domain over 1h every 1m\n\
         rule COUNTED { when: per_sender >= 1 then: score 0, label mail.from_domain \"seen\" for 1d }\n",
    )
    .unwrap();
    let cfg = dir.path().join("warden.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rules]\nfiles = [{:?}]\n[review]\nband = [0.0, 1.0]\n\
             [[auth.analysts]]\nname = \"alice\"\ntoken = \"alice-token-0123456789\"\n",
            rules.display().to_string()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["--config", cfg.to_str().unwrap()];
    let server = Server::start(&data, &args, &[]);
    let alice = ("Authorization", "Bearer alice-token-0123456789");
    let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
    let checkers: Vec<_> = (0..3)
        .map(|t| {
            let (tx, addr) = (tx.clone(), server.scan.clone());
            std::thread::spawn(move || {
                for i in 0..5000 {
                    let msg = format!(
                        "From: a@sender{t}.example\r\nSubject: note {i}\r\n\r\nmessage {i} from sender {t}\r\n"
                    );
                    let Ok((200, body)) = request(&addr, "POST", "/v1/mail/check", &[], msg.as_bytes()) else {
                        return; // the server is gone
                    };
                    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
                    if tx.send((t, id)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let labeller = {
        let addr = server.controller.clone();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            for i in 0..5000 {
                let body = format!(
                    r#"{{"kind": "account", "entity": "user{i}", "label": "suspect", "reason": "test {i}"}}"#
                );
                match request(
                    &addr,
                    "POST",
                    "/v1/labels",
                    &[alice, ("Content-Type", "application/json")],
                    body.as_bytes(),
                ) {
                    Ok((200, _)) => acknowledged.push(format!("user{i}")),
                    Ok((status, body)) => panic!("{status}: {body}"),
                    Err(_) => break,
                }
            }
            acknowledged
        })
    };
    drop(tx);
    let mut checked: Vec<(usize, String)> = rx.iter().take(300).collect();
    assert_eq!(checked.len(), 300, "the checkers stopped early");
    server.kill_9(); // with checks and labels still coming
    for c in checkers {
        c.join().unwrap();
    }
    checked.extend(rx.try_iter());
    let labelled = labeller.join().unwrap();
    assert!(!labelled.is_empty());

    let server = Server::start(&data, &args, &[]);
    let viewer = [alice];
    let items = every_page(&server.controller, "/v1/review", "items", &viewer);
    let queued: std::collections::HashSet<&str> =
        items.iter().map(|i| i["message"].as_str().unwrap()).collect();
    for (_, id) in &checked {
        assert!(queued.contains(id.as_str()), "an answered check's review item was lost: {id}");
    }
    let labels = every_page(&server.controller, "/v1/labels", "labels", &viewer);
    let held: std::collections::HashSet<&str> =
        labels.iter().map(|l| l["entity"].as_str().unwrap()).collect();
    for entity in &labelled {
        assert!(held.contains(entity.as_str()), "an acknowledged label was lost: {entity}");
    }
    for t in 0..3 {
        if checked.iter().any(|(s, _)| *s == t) {
            assert!(held.contains(format!("sender{t}.example").as_str()), "a rule's label was lost");
        }
    }
    let mut decisions = 0;
    let mut after = 0;
    loop {
        let uri = format!("/v1/audit?after={after}");
        let (_, page) = request(&server.controller, "GET", &uri, &viewer, b"").unwrap();
        let Some(last) = page.lines().last() else { break };
        after = serde_json::from_str::<Value>(last).unwrap()["seq"].as_u64().unwrap();
        decisions += page.lines().filter(|l| l.contains(r#""kind":"decision""#)).count();
    }
    assert!(decisions >= checked.len(), "{decisions} decisions audited, {} answered", checked.len());
    // Each sender's counter goes on from every answered check: the journal rebuilt it.
    for t in 0..3 {
        let answered = checked.iter().filter(|(s, _)| *s == t).count();
        let msg = format!("From: a@sender{t}.example\r\nSubject: after\r\n\r\nafter the restart\r\n");
        let v = json(request(&server.scan, "POST", "/v1/mail/check", &[], msg.as_bytes()).unwrap());
        let reason =
            v["reasons"].as_array().unwrap().iter().find(|r| r["name"] == "RULE:COUNTED").unwrap().clone();
        let text = reason["description"].as_str().unwrap();
        let count: usize = text.rsplit("per_sender = ").next().unwrap().trim().parse().unwrap();
        eprintln!("sender{t}: {answered} answered before the kill, counter now {count}");
        assert!(count > answered, "sender{t}: {answered} answered before the kill, counter {count} after it");
    }
    server.stop();
}

/// The desk from the command line: `warden review` against a running server, `warden audit
/// export` through it and, once it has stopped, from its data directory.
#[test]
fn analysts_work_the_queue_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("warden.toml");
    std::fs::write(
        &cfg,
        "[review]\nband = [0.0, 1.0]\n[[auth.analysts]]\nname = \"alice\"\ntoken = \"alice-token-0123456789\"\n\
         [[auth.viewers]]\nname = \"vic\"\ntoken = \"viewer-token-0123456789\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--config", cfg.to_str().unwrap()], &[]);
    let v = json(request(&server.scan, "POST", "/v1/mail/check", &[], &example("ham.eml")).unwrap());
    let message = v["id"].as_str().unwrap().to_owned();
    let url = format!("http://{}", server.controller);
    let warden = |token: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_URL", &url)
            .env("WARDEN_TOKEN", token)
            .output()
            .unwrap()
    };
    let list = warden("viewer-token-0123456789", &["review", "list", "--status", "open"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let table = String::from_utf8(list.stdout).unwrap();
    let row = table.lines().nth(1).unwrap_or_else(|| panic!("one item: {table}"));
    let id = row.split('\t').next().unwrap().to_owned();
    assert!(row.contains("uncertain"), "{row}");

    let refused =
        warden("viewer-token-0123456789", &["review", "resolve", &id, "--label", "ham", "--reason", "fine"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let done = warden(
        "alice-token-0123456789",
        &["review", "resolve", &id, "--label", "ham", "--reason", "a newsletter she asked for"],
    );
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let answer: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(answer["item"]["resolved_by"], "alice");

    let exported = dir.path().join("audit.jsonl");
    let out = warden("viewer-token-0123456789", &["audit", "export", "--out", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let live = std::fs::read_to_string(&exported).unwrap();
    let entries: Vec<Value> = live.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(entries.iter().any(|e| e["kind"] == "decision" && e["message"] == message.as_str()));
    assert!(entries.iter().any(|e| e["kind"] == "review.resolve"
        && e["actor"] == "alice"
        && e["reason"] == "a newsletter she asked for"));
    // While the server runs, its store is its own: the offline export says so.
    let busy = warden("", &["audit", "export", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(busy.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("export through it"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    server.stop();
    let offline = warden("", &["audit", "export", "--data-dir", data.to_str().unwrap()]);
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
    assert_eq!(
        String::from_utf8(offline.stdout).unwrap(),
        live,
        "the same log, read from the data directory"
    );
}

#[test]
fn sign_ups_are_decided_learned_from_and_their_identifiers_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let auth = server.bearer();
    let at = |minute: u32| format!("2026-03-02T10:{minute:02}:00Z");
    let event = |i: u32, email: &str| {
        serde_json::json!({"kind": "signup", "id": format!("s-{i}"), "time": at(i), "account": format!("Acct-{i}"),
            "email": email, "display_name": "Giuseppina Marchetti", "recovery_email": "g.marchetti.old@example.org",
            "ip": format!("198.51.100.{}", 10 + i), "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            "accept_language": "it-IT,it;q=0.9", "country": "IT", "asn": 64_600, "device_id": "dev-7f31c9aa",
            "captcha": "passed"})
        .to_string()
    };
    let check = |body: &str| {
        json(
            request(&server.scan, "POST", "/v1/signup/check", &[("Authorization", &auth)], body.as_bytes())
                .unwrap(),
        )
    };
    let first = check(&event(1, "giuseppina.marchetti1987@example.net"));
    assert_eq!(first["kind"], "signup");
    assert_eq!((first["id"].as_str(), first["entity"].as_str()), (Some("s-1"), Some("Acct-1")));
    assert!(first["action"].is_string() && first["probability"].is_number(), "{first}");
    assert!(first["model_version"].is_string(), "{first}");
    assert_eq!(first["repeated"], false);
    let again = check(&event(1, "giuseppina.marchetti1987@example.net"));
    assert_eq!((again["repeated"].as_bool(), &again["action"]), (Some(true), &first["action"]));
    // A malformed event names its field.
    let (status, body) = request(
        &server.scan,
        "POST",
        "/v1/signup/check",
        &[("Authorization", &auth)],
        br#"{"kind": "signup", "id": "s-x", "time": "2026-03-02T10:00:00Z", "account": "a", "ip": "300.1.1.1"}"#,
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`ip`"), "{body}");
    // JSON lines are answered line for line, in order, a bad line naming its field; a body past
    // 64 KiB is refused whole, before any of it is decided.
    let missing_time = r#"{"kind": "signup", "id": "s-y", "account": "a", "ip": "198.51.100.1"}"#;
    let batch = format!("{}\n\n{missing_time}\n", event(3, "giuseppina.marchetti1988@example.net"));
    let (status, body) =
        request(&server.scan, "POST", "/v1/signup/check", &[("Authorization", &auth)], batch.as_bytes())
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{body}");
    assert_eq!((lines[0]["id"].as_str(), lines[0]["action"].is_string()), (Some("s-3"), true), "{body}");
    assert_eq!(lines[1]["id"], "s-y");
    assert!(lines[1]["error"].as_str().unwrap().contains("`time`"), "{body}");
    let big: Vec<String> = (0..400).map(|i| event(4, &format!("bulk{i}@example.net"))).collect();
    let big = big.join("\n");
    assert!(big.len() > 64 << 10);
    let (status, body) =
        request(&server.scan, "POST", "/v1/signup/check", &[("Authorization", &auth)], big.as_bytes())
            .unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("65536 bytes"), "{body}");
    // The later verdict, by the kind's word for its entity: durable before it is acknowledged.
    let fb = |account: &str| {
        let body = format!(r#"{{"account": "{account}", "label": "abusive", "reason": "sent spam"}}"#);
        json(
            request(
                &server.scan,
                "POST",
                "/v1/signup/feedback",
                &[("Authorization", &auth)],
                body.as_bytes(),
            )
            .unwrap(),
        )
    };
    assert_eq!(fb("Acct-1")["outcome"], "learned");
    server.kill_9();

    let server = Server::start(dir.path(), &[], &[]);
    let auth = server.bearer();
    let labels = json(
        request(
            &server.controller,
            "GET",
            "/v1/labels?kind=account&entity=acct-1",
            &[("Authorization", &auth)],
            b"",
        )
        .unwrap(),
    );
    assert!(labels.to_string().contains("abusive"), "the verdict survived kill -9: {labels}");
    let body = event(2, "giuseppina.marchetti1990@example.net");
    let second = json(
        request(&server.scan, "POST", "/v1/signup/check", &[("Authorization", &auth)], body.as_bytes())
            .unwrap(),
    );
    assert_eq!(second["id"], "s-2", "{second}");
    server.stop();
    // No address, name, recovery address, device id or full IP anywhere in the data directory.
    let mut kept = Vec::new();
    for entry in walk(dir.path()) {
        kept.extend(std::fs::read(entry).unwrap());
    }
    for secret in [
        "giuseppina.marchetti1987",
        "Giuseppina",
        "marchetti",
        "g.marchetti.old",
        "dev-7f31c9aa",
        "198.51.100.11",
        "198.51.100.12",
    ] {
        let found = kept.windows(secret.len()).any(|w| w.eq_ignore_ascii_case(secret.as_bytes()));
        assert!(!found, "{secret:?} is in the data directory");
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
