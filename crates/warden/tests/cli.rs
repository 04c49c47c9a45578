//! End-to-end: the real `warden` binary in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden")).args(args).output().expect("warden runs")
}

/// `warden` with `args`, which must succeed.
fn warden_ok(args: &[&str]) -> Output {
    let out = warden(args);
    assert!(out.status.success(), "warden {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).display().to_string()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn synth(dir: &Path, count: u64, seed: u64) -> PathBuf {
    let c = dir.join(format!("synth{seed}"));
    let out = warden(&[
        "synth",
        "--out",
        c.to_str().unwrap(),
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    c
}

#[test]
fn classify_with_the_starter_model_answers_in_argument_order() {
    let files = [example("phishing.eml"), example("ham.eml"), example("gtube.eml")];
    let out = warden(&["classify", &files[0], &files[1], &files[2]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.as_str());
        for key in ["action", "score", "probability", "reasons"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
    assert_eq!(lines[2]["action"], "reject", "GTUBE is rejected");
    assert_eq!(lines[2]["reasons"][0]["name"], "GTUBE");
    assert_eq!(lines[1]["action"], "deliver");
    assert!(lines[0]["probability"].as_f64().unwrap() > lines[1]["probability"].as_f64().unwrap());
    let reasons = lines[0]["reasons"].as_array().unwrap();
    let text = reasons.iter().find(|r| r["name"] == "TEXT").expect("the words explain it");
    assert!(text["description"].as_str().unwrap().starts_with("The words of the subject and body weigh"));
    assert!(!text["evidence"].as_array().unwrap().is_empty(), "{text}");
}

#[test]
fn unreadable_inputs_give_an_error_line_and_a_failing_status() {
    let out = warden(&["classify", "/nonexistent/x.eml", &example("ham.eml")]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["file"], "/nonexistent/x.eml");
    assert!(lines[0]["error"].as_str().unwrap().contains("No such file"));
    assert_eq!(lines[1]["action"], "deliver", "later inputs are still classified");
}

#[test]
fn classify_reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["classify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        &std::fs::read(example("gtube.eml")).unwrap(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = json_lines(&out);
    assert_eq!(lines[0]["file"], "-");
    assert_eq!(lines[0]["action"], "reject");
}

#[test]
fn hostile_files_all_get_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = b"Subject: big\r\nContent-Type: text/html\r\n\r\n<p>".to_vec();
    big.extend(std::iter::repeat_n(b'x', 6 << 20));
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("garbage", (0..=255u8).cycle().take(5000).collect()),
        (
            "truncated",
            b"Content-Type: multipart/mixed; boundary=\"q\"\n\n--q\nContent-Type: text/pl".to_vec(),
        ),
        ("lf-only-mbox", b"From x Mon\nFrom: a@b.example\nSubject: lf\n\nbody\n".to_vec()),
        ("big", big),
    ];
    let mut paths = Vec::new();
    for (name, bytes) in &cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p.display().to_string());
    }
    let args: Vec<&str> = std::iter::once("classify").chain(paths.iter().map(String::as_str)).collect();
    let out = warden(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), cases.len());
    assert!(lines.iter().all(|l| l.get("action").is_some()), "{lines:?}");
}

#[test]
fn train_then_classify_and_eval_with_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path(), 300, 1);
    let model = dir.path().join("m.wdm");
    let out = warden(&[
        "train",
        "--corpus",
        corpus.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--bits",
        "16",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info = warden(&["model", model.to_str().unwrap()]);
    let meta: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(meta["messages"], 300);
    assert_eq!(meta["learner"]["ftrl"]["bits"], 16);

    // A fresh corpus from another seed: the trained model separates it.
    let test = synth(dir.path(), 200, 2);
    let json = dir.path().join("eval.json");
    let plot = dir.path().join("roc.svg");
    let out = warden(&[
        "eval",
        "--corpus",
        test.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--mode",
        "split",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["messages"], 40, "split mode scores the last 20%");
    assert!(r["roc_auc"].as_f64().unwrap() > 0.9, "{r}");
    for key in ["one_minus_auc_pct", "log_loss", "msgs_per_sec", "peak_rss_mb", "reasons_coverage_median"] {
        assert!(r[key].is_number(), "{key}: {r}");
    }
    let cover = r["reasons_cover_half"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&cover), "{r}");
    for k in ["0.90", "0.95", "0.99"] {
        assert!(r["fpr_at_recall"][k].is_number(), "fpr_at_recall {k}");
    }
    for k in ["0.001", "0.01"] {
        assert!(r["recall_at_fpr"][k].is_number(), "recall_at_fpr {k}");
    }
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<polyline"));
}

#[test]
fn online_eval_reads_trec_indexes_and_counts_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path(), 120, 3);
    // The same messages as a TREC index: `label ../path`, relative to the index file.
    let tsv = std::fs::read_to_string(corpus.join("labels.tsv")).unwrap();
    let full = corpus.join("full");
    std::fs::create_dir_all(&full).unwrap();
    let index: String = tsv
        .lines()
        .skip(1)
        .map(|l| {
            let (p, label) = l.split_once('\t').unwrap();
            format!("{label} ../{p}\n")
        })
        .collect();
    std::fs::write(full.join("index"), index).unwrap();
    std::fs::remove_file(corpus.join("labels.tsv")).unwrap();
    let json = dir.path().join("e.json");
    let out = warden(&[
        "eval",
        "--corpus",
        corpus.to_str().unwrap(),
        "--shuffle",
        "7",
        "--bits",
        "16",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["messages"], 120);
    assert_eq!(r["mode"], "online");
    assert_eq!(r["spam"].as_u64().unwrap() + r["ham"].as_u64().unwrap(), 120);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ROC AUC"));
}

#[test]
fn bad_configuration_and_models_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(&cfg, "[thresholds]\njunk = 1.0\nrejct = 5.0\n").unwrap();
    let out = warden(&["classify", "--config", cfg.to_str().unwrap(), &example("ham.eml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rejct") && err.contains("w.toml"), "{err}");

    let model = dir.path().join("bad.wdm");
    std::fs::write(&model, b"WARDEN\0M\x01\0\0\0garbage").unwrap();
    let out = warden(&["classify", "--model", model.to_str().unwrap(), &example("ham.eml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.wdm") && err.contains("corrupt"), "{err}");
}

#[test]
fn thresholds_from_configuration_change_the_action() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strict.toml");
    std::fs::write(&cfg, "[thresholds]\njunk = -50.0\nquarantine = -40.0\nreject = -30.0\n").unwrap();
    let out = warden(&["classify", "--config", cfg.to_str().unwrap(), &example("ham.eml")]);
    assert_eq!(json_lines(&out)[0]["action"], "reject");
}

#[test]
fn rules_check_accepts_the_example_and_names_each_error_with_its_place() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/starter.rules");
    let out = warden(&["rules", "check", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("ok: 5 rules (1 in shadow mode), 2 lists"), "{said}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rules");
    std::fs::write(&bad, "rule A {\n  when: mail.subject > 3\n  then: score 1\n}\nrule B {\n  when: mail.size > 1\n  then: action burn\n}\n").unwrap();
    let out = warden(&["rules", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = bad.display().to_string();
    assert!(err.contains(&format!("{file}:2:9: type mismatch")), "{err}");
    assert!(err.contains(&format!("{file}:7:9: unknown action `burn`")), "{err}");
    assert!(err.contains("2 errors found"), "{err}");
}

/// The example rules on the named signals check, and move the example phishing message from
/// the model's action to a harsher one with their reasons shown.
#[test]
fn the_signal_rules_example_checks_and_acts_on_the_phishing_example() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/signals.rules");
    let out = warden(&["rules", "check", rules.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plain = json_lines(&warden(&["classify", &example("phishing.eml")]))[0].clone();
    let ruled =
        json_lines(&warden(&["classify", "--rules", rules.to_str().unwrap(), &example("phishing.eml")]))[0]
            .clone();
    let names: Vec<&str> =
        ruled["reasons"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"RULE:BRAND_ON_A_STRANGERS_DOMAIN") && names.contains(&"RULE:ASKS_FOR_A_PASSWORD"),
        "{names:?}"
    );
    assert!(ruled["score"].as_f64().unwrap() >= plain["score"].as_f64().unwrap() + 3.0);
    assert_eq!(ruled["review"], true);
    let ham = json_lines(&warden(&["classify", "--rules", rules.to_str().unwrap(), &example("ham.eml")]))[0]
        .clone();
    assert!(
        !ham["reasons"].as_array().unwrap().iter().any(|r| r["name"].as_str().unwrap().starts_with("RULE:"))
    );
}

/// A phish whose only link is a QR code in an inline image: the code is read, its link named,
/// and the example rules add their points for a threat with a hidden link.
#[test]
fn the_quishing_example_names_the_link_in_its_qr_code() {
    let reasons = |v: &Value| -> Vec<(String, String)> {
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_owned(), r["description"].as_str().unwrap().to_owned()))
            .collect()
    };
    let plain = json_lines(&warden(&["classify", &example("quishing.eml")]))[0].clone();
    let found = reasons(&plain);
    let qr = found.iter().find(|r| r.0 == "QR_CODE_LINK").unwrap_or_else(|| panic!("{found:?}"));
    assert!(qr.1.contains("microsoft.com.mailbox-renew.xyz"), "{}", qr.1);
    assert!(found.iter().any(|r| r.0 == "LOOKALIKE_DOMAIN"), "{found:?}");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/signals.rules");
    let ruled =
        json_lines(&warden(&["classify", "--rules", rules.to_str().unwrap(), &example("quishing.eml")]))[0]
            .clone();
    assert!(reasons(&ruled).iter().any(|r| r.0 == "RULE:THREAT_AND_A_HIDDEN_LINK"), "{:?}", reasons(&ruled));
    assert_ne!(ruled["action"], "deliver");
}

#[test]
fn rules_backtest_counts_hits_against_the_labels_and_compares_roc() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path(), 300, 7);
    let rules = dir.path().join("bt.rules");
    std::fs::write(
        &rules,
        "rule ALL { when: mail.size > 0 then: score 0 }\nrule NONE { mode: shadow when: mail.size < 0 then: action reject }\n\
         rule SPAMMY { when: model.probability > 0.5 then: score 2 }\n",
    )
    .unwrap();
    let json = dir.path().join("bt.json");
    let out = warden(&[
        "rules",
        "backtest",
        "--rules",
        rules.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (messages, spam) = (v["messages"].as_u64().unwrap(), v["spam"].as_u64().unwrap());
    assert_eq!(messages, 300);
    let all = &v["per_rule"][0];
    assert_eq!(all["hits"].as_u64(), Some(messages), "a rule true for every message hits every message");
    assert_eq!(all["spam"].as_u64(), Some(spam));
    assert_eq!(all["precision"].as_f64(), Some(spam as f64 / messages as f64));
    assert_eq!(v["per_rule"][1]["hits"].as_u64(), Some(0));
    assert!(v["per_rule"][1]["precision"].is_null());
    for side in ["with_rules", "without_rules"] {
        assert!(v[side]["one_minus_auc_pct"].as_f64().is_some_and(|x| (0.0..=100.0).contains(&x)), "{side}");
    }
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("SPAMMY") && table.contains("with rules"), "{table}");
}

#[test]
fn calibrate_writes_thresholds_that_keep_the_ham_share() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path(), 400, 11);
    let (toml, report) = (dir.path().join("thresholds.toml"), dir.path().join("calibrate.json"));
    let corpus_arg = corpus.to_str().unwrap();
    let calibrate = ["calibrate", "--corpus", corpus_arg, "--fpr", "0.05"];
    warden_ok(
        &[&calibrate[..], &["--out", toml.to_str().unwrap(), "--json", report.to_str().unwrap()]].concat(),
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let junk = &report["levels"][0];
    assert_eq!((junk["action"].as_str(), junk["measurable"].as_bool()), (Some("junk"), Some(true)));

    // The written block is a configuration `classify` takes; with it, the corpus's ham is
    // not delivered in at most the share asked, and in the share the report gives.
    let labels = std::fs::read_to_string(corpus.join("labels.tsv")).unwrap();
    let ham: Vec<String> = labels
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, label)| *label == "ham")
        .map(|(path, _)| corpus.join(path).display().to_string())
        .collect();
    let mut args = vec!["classify", "--config", toml.to_str().unwrap()];
    args.extend(ham.iter().map(String::as_str));
    let decisions = json_lines(&warden(&args));
    assert_eq!(decisions.len(), ham.len());
    let not_delivered = decisions.iter().filter(|d| d["action"] != "deliver").count();
    assert!(not_delivered as f64 <= 0.05 * ham.len() as f64, "{not_delivered} of {}", ham.len());
    let reported = junk["ham_not_delivered_share"].as_f64().unwrap();
    assert!((reported - not_delivered as f64 / ham.len() as f64).abs() < 1e-9, "{reported}");
    // The thresholds rise, and those the ham cannot measure are said to be unmeasured.
    let t: Vec<f64> = (0..3).map(|i| report["levels"][i]["threshold"].as_f64().unwrap()).collect();
    assert!(t[0] <= t[1] && t[1] <= t[2], "{t:?}");
    assert_eq!(report["levels"][2]["measurable"], false, "0.05% of {} ham is not a message", ham.len());

    // A model carrying the thresholds decides as the configuration did, and says where its
    // thresholds come from; a configuration's own thresholds come first.
    let model = dir.path().join("calibrated.wdm");
    warden_ok(&[&calibrate[..], &["--model-out", model.to_str().unwrap()]].concat());
    let mut args = vec!["classify", "--model", model.to_str().unwrap()];
    args.extend(ham.iter().map(String::as_str));
    let with_model = json_lines(&warden(&args));
    let actions =
        |d: &[Value]| d.iter().map(|d| d["action"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(actions(&with_model), actions(&decisions));
    let info: Value = serde_json::from_slice(&warden(&["model", model.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(info["thresholds_in_force"]["junk"]["from"], "model");
    assert_eq!(info["thresholds_in_force"]["junk"]["value"].as_f64(), Some(t[0]));
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, "[thresholds]\njunk = -50.0\n").unwrap();
    let info = warden(&["model", model.to_str().unwrap(), "--config", strict.to_str().unwrap()]);
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let from: Vec<&str> = ["junk", "quarantine", "reject"]
        .iter()
        .map(|k| info["thresholds_in_force"][k]["from"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["configuration", "model", "model"]);
    let out = warden(&[
        "classify",
        "--model",
        model.to_str().unwrap(),
        "--config",
        strict.to_str().unwrap(),
        &ham[0],
    ]);
    assert_ne!(json_lines(&out)[0]["action"], "deliver");

    let out = warden(&["calibrate", "--corpus", corpus.to_str().unwrap(), "--fpr", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fpr is a share of the ham"));
}

#[test]
fn provenance_finds_copies_of_reserved_messages_in_a_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path(), 30, 21);
    let labels = std::fs::read_to_string(corpus.join("labels.tsv")).unwrap();
    let first = labels.lines().nth(1).unwrap().split('\t').next().unwrap();
    let original = std::fs::read(corpus.join(first)).unwrap();
    // The reserved set holds a copy re-exported with LF line ends (the corpus's are CRLF), in
    // a folder of its own, and a message of its own.
    let reserved = dir.path().join("reserved");
    std::fs::create_dir_all(reserved.join("sub")).unwrap();
    let original = String::from_utf8(original).unwrap();
    assert!(original.contains("\r\n"));
    std::fs::write(reserved.join("sub/copy.eml"), original.replace("\r\n", "\n")).unwrap();
    let own = "Message-ID: <own@reserved.example>\n\nA message of the reserved set alone, long enough to be compared by its body.\n";
    std::fs::write(reserved.join("own.eml"), own).unwrap();

    let out = warden(&[
        "provenance",
        "--corpus",
        corpus.to_str().unwrap(),
        "--reserved",
        reserved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "an overlap fails the check");
    let listed = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    assert!(
        lines[0].contains(first) && lines[0].contains("copy.eml") && lines[0].ends_with("message-id+body"),
        "{listed}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("30 messages checked against 2 reserved: 1 found"));

    std::fs::remove_file(reserved.join("sub/copy.eml")).unwrap();
    let out = warden(&[
        "provenance",
        "--corpus",
        corpus.to_str().unwrap(),
        "--reserved",
        reserved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = warden(&["provenance", "--corpus", corpus.to_str().unwrap(), "--reserved", "/nonexistent/set"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/set"));
}

#[test]
fn geoip_answers_from_the_databases_given_and_names_a_bad_address() {
    use warden_geo::write::{Value, Writer};
    let dir = tempfile::tempdir().unwrap();
    let mut city = Writer::v4("dbip-city-ipv4");
    let flat = Value::map([
        ("country_code", Value::str("IT")),
        ("city", Value::str("Rome")),
        ("timezone", Value::str("Europe/Rome")),
    ]);
    city.insert("203.0.113.0".parse().unwrap(), 24, &flat).unwrap();
    let path = dir.path().join("city.mmdb");
    std::fs::write(&path, city.to_bytes().unwrap()).unwrap();
    let out = warden(&[
        "geoip",
        "lookup",
        "--locations",
        path.to_str().unwrap(),
        "203.0.113.5",
        "192.0.2.1",
        "nope",
    ]);
    assert!(!out.status.success(), "an address that is not one fails the run");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "one line per address, in order");
    assert_eq!(lines[0]["country"], "IT");
    assert_eq!(lines[0]["time_zone"], "Europe/Rome");
    assert_eq!(lines[0]["asn"], serde_json::Value::Null, "no network database");
    assert_eq!(lines[1]["country"], serde_json::Value::Null);
    assert!(lines[2]["error"].as_str().unwrap().contains("not an IP address"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("city.mmdb (dbip-city-ipv4, IPv4)"), "{stderr}");

    let out = warden(&[
        "geoip",
        "lookup",
        "--networks",
        dir.path().join("missing.mmdb").to_str().unwrap(),
        "192.0.2.1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("missing.mmdb"), "the missing file is named");
}

#[test]
fn sign_ups_are_simulated_checked_trained_evaluated_and_backtested_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let out_s = out.to_str().unwrap();
    warden_ok(&["signup", "synth", "--seed", "7", "--events", "4000", "--out", out_s]);
    let (events, labels) = (out.join("events.jsonl"), out.join("labels.tsv"));
    let (e, l) = (events.to_str().unwrap(), labels.to_str().unwrap());
    let tsv = std::fs::read_to_string(&labels).unwrap();
    assert!(tsv.starts_with("entity\tlabel\tgroup\n") && tsv.contains("\tabusive\t"), "{}", &tsv[..200]);
    // check: one answer a line, in order, each with the contract's fields.
    let first: String =
        std::fs::read_to_string(&events).unwrap().lines().take(50).map(|l| format!("{l}\n")).collect();
    let few = dir.path().join("few.jsonl");
    std::fs::write(&few, format!("{first}{{\"kind\": \"signup\", \"id\": \"bad\"}}\n")).unwrap();
    let checked = warden(&["signup", "check", few.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1), "a refused line fails the run");
    let answers = json_lines(&checked);
    assert_eq!(answers.len(), 51);
    for a in &answers[..50] {
        for field in
            ["id", "action", "score", "probability", "reasons", "cluster", "model_version", "elapsed_us"]
        {
            assert!(a.get(field).is_some(), "{field} in {a}");
        }
    }
    assert_eq!((answers[50]["id"].as_str(), answers[50]["line"].as_u64()), (Some("bad"), Some(51)));
    // train, then evaluate with the trained model and a rule file.
    let model = dir.path().join("m.wdm");
    warden_ok(&[
        "signup",
        "train",
        "--fresh",
        "--events",
        e,
        "--labels",
        l,
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(dir.path().join("m.clusters.wdm").exists(), "the cluster model beside it");
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, format!("[signup]\nmodel = {:?}\n", model.to_str().unwrap())).unwrap();
    let rules = dir.path().join("signup.rules");
    std::fs::write(
        &rules,
        "rule NO_CAPTCHA { mode: shadow when: signup.captcha == \"failed\" then: action challenge }\n",
    )
    .unwrap();
    let ok = warden_ok(&["rules", "check", "--kind", "signup", rules.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("signup catalogue"));
    let fields =
        String::from_utf8_lossy(&warden_ok(&["rules", "fields", "--kind", "signup"]).stdout).into_owned();
    assert!(fields.contains("signup.network") && fields.contains("signup.email_class"), "{fields}");
    let report = dir.path().join("r.json");
    let c = config.to_str().unwrap();
    let r = rules.to_str().unwrap();
    let rp = report.to_str().unwrap();
    warden_ok(&["signup", "eval", "--events", e, "--labels", l, "--config", c, "--rules", r, "--json", rp]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!((v["events"].as_u64(), v["accounts"].as_u64()), (Some(4000), Some(4000)));
    for key in ["at_signup", "within_1h"] {
        assert!(v[key]["roc_auc"].as_f64().unwrap() > 0.9, "{key}: {v}");
        assert!(v[key]["recall_at_fpr"]["0.001"].is_number(), "{v}");
    }
    let groups = v["groups"].as_object().unwrap();
    assert!(
        groups.keys().any(|g| g.starts_with("burst-")) && groups.keys().any(|g| g.starts_with("company-"))
    );
    let rule = &v["rules"]["NO_CAPTCHA"];
    assert_eq!(rule["mode"], "shadow");
    assert!(rule["fired"].as_u64().unwrap() > 0, "{rule}");
    for key in ["events_per_sec", "peak_rss_mb", "bytes_per_signup_stored"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    // A rule on a field sign-ups do not have is named.
    std::fs::write(&rules, "rule X { when: mail.subject == \"x\" then: action block }\n").unwrap();
    let bad = warden(&["rules", "check", "--kind", "signup", rules.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("mail.subject"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
