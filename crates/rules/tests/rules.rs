//! The rule language end to end: files in, outcomes and errors out.

use std::path::Path;

mod common;

use common::catalogue;
use warden_rules::{Mode, Record, RuleSet, Value};

fn compile(src: &str) -> Result<RuleSet, Vec<String>> {
    compile_in(src, Path::new("."))
}

fn compile_in(src: &str, dir: &Path) -> Result<RuleSet, Vec<String>> {
    RuleSet::compile(&[("t.rules", src, dir)], catalogue())
        .map_err(|ds| ds.iter().map(|d| d.to_string()).collect())
}

fn mail(fields: &[(&str, Value)]) -> Record {
    let mut r = Record::new(catalogue());
    for (k, v) in fields {
        r.set(k, v.clone()).unwrap();
    }
    r
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

const RULES: &str = r#"
# A rule file as an analyst writes it.
rule BIG_PROBABILITY {
  description: "the model is sure"
  owner: "desk"
  when: model.probability >= 0.9 && mail.size < 100000
  then: score +2.5
}
rule LOOKALIKE {
  when: mail.url_domains matches "^examp1e\\." || lower(mail.subject) contains "verify your account"
  then: score 3, review
}
rule BLOCK {
  when: mail.client_ip == "192.0.2.66"
  then: action reject
}
rule JUNKY {
  when: mail.from_domain in ["spam.example", "junk.example"] && !mail.has_html
  then: action junk, score -1
}
rule TRUSTED {
  when: mail.from_domain == "partner.example" && mail.dkim == "pass"
  then: allow
}
rule TRY_ME {
  mode: shadow
  when: len(mail.subject) > 3
  then: action reject, score 100
}
"#;

#[test]
fn rules_fire_with_their_effects_and_shadow_rules_never_act() {
    let set = compile(RULES).unwrap();
    assert_eq!(set.rules().len(), 6);
    assert_eq!(set.rules()[0].origin, "t.rules:3");
    assert_eq!(set.rules()[5].mode, Mode::Shadow);

    let out = set.evaluate(&mail(&[
        ("model.probability", Value::Float(0.95)),
        ("mail.size", Value::Int(5000)),
        ("mail.url_domains", Value::StrList(vec!["good.example".into(), "examp1e.com".into()])),
        ("mail.subject", s("Please VERIFY your account")),
        ("mail.client_ip", Value::Ip("192.0.2.66".parse().unwrap())),
        ("mail.from_domain", s("spam.example")),
        ("mail.has_html", Value::Bool(false)),
    ]));
    assert_eq!(out.fired, vec![0, 1, 2, 3]);
    assert_eq!(out.points, 2.5 + 3.0 - 1.0);
    let actions = catalogue().actions;
    assert_eq!(out.action.map(|a| actions[a]), Some("reject"), "the harshest forced action wins");
    assert!(out.review && !out.allow);
    assert_eq!(out.shadow_fired, vec![5], "evaluated and counted…");

    // …but a shadow rule alone changes nothing.
    let out = set.evaluate(&mail(&[("mail.subject", s("hello there"))]));
    assert_eq!((out.points, out.action, out.review, out.fired.len()), (0.0, None, false, 0));
    assert_eq!(out.shadow_fired, vec![5]);

    let out = set.evaluate(&mail(&[("mail.from_domain", s("partner.example")), ("mail.dkim", s("pass"))]));
    assert!(out.allow);
}

#[test]
fn missing_values_make_tests_false() {
    let set = compile(
        "rule A { when: mail.size > 0 then: score 1 }\n\
         rule B { when: mail.from_domain != \"x.example\" then: score 1 }\n\
         rule C { when: mail.client_ip != \"192.0.2.1\" then: score 1 }\n\
         rule D { when: !(mail.spf == \"pass\") then: score 1 }",
    )
    .unwrap();
    assert_eq!(set.evaluate(&mail(&[])).fired, vec![3], "only the negated test holds");
}

#[test]
fn lists_come_from_files_beside_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ips.txt"), "# bad networks\n203.0.113.0/24\n").unwrap();
    std::fs::write(dir.path().join("doms.txt"), "bad.example\n").unwrap();
    std::fs::write(dir.path().join("names.txt"), "(?i)\\.(exe|scr)$\n").unwrap();
    let set = compile_in(
        "list nets: ip = \"ips.txt\"\nlist doms: domain = \"doms.txt\"\nlist exes: regex = \"names.txt\"\n\
         rule NET { when: mail.client_ip in nets then: score 5 }\n\
         rule DOM { when: mail.url_domains in doms then: score 5 }\n\
         rule EXE { when: mail.attachment_names in exes then: action quarantine }",
        dir.path(),
    )
    .unwrap();
    let out = set.evaluate(&mail(&[
        ("mail.client_ip", Value::Ip("203.0.113.9".parse().unwrap())),
        ("mail.url_domains", Value::StrList(vec!["www.bad.example".into()])),
        ("mail.attachment_names", Value::StrList(vec!["invoice.PDF.EXE".into()])),
    ]));
    assert_eq!(out.fired, vec![0, 1, 2]);
    let out = set.evaluate(&mail(&[("mail.client_ip", Value::Ip("203.0.114.9".parse().unwrap()))]));
    assert!(out.fired.is_empty());
}

/// Each broken file gives one error at the right place, saying what was expected.
#[test]
fn errors_name_file_line_column_and_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        (
            "rule A {\n  when: mail.frm_domain == \"x\"\n  then: score 1\n}",
            "t.rules:2:9: unknown field `mail.frm_domain` (expected one of `mail.from_domain`",
        ),
        (
            "rule A {\n  when: mail.subject > 3\n  then: score 1\n}",
            "t.rules:2:9: type mismatch: this is a string (expected a number",
        ),
        (
            "rule A {\n  when: mail.subject matches \"(unclosed\"\n  then: score 1\n}",
            "t.rules:2:30: bad regular expression",
        ),
        (
            "rule A {\n  when: mail.client_ip in nowhere\n  then: score 1\n}",
            "t.rules:2:27: unknown list `nowhere`",
        ),
        (
            "rule A {\n  when: mail.size > 1\n  then: action burn\n}",
            "t.rules:3:9: unknown action `burn` (expected one of `deliver`",
        ),
        ("rule A {\n  when: mail.size > 1\n}", "t.rules:3:1: rule A has no `then`"),
        ("rule A {\n  when: mail.size > \n}", "t.rules:3:1: unexpected `}` (expected a value"),
        (
            "rule A { when: mail.size > 1 then: score 1 }\nrule A { when: mail.size > 2 then: score 1 }",
            "t.rules:2:6: rule A is already defined at t.rules:1",
        ),
        (
            "rule A {\n  when: mail.size\n  then: score 1\n}",
            "t.rules:2:9: type mismatch: this is a whole number (expected a condition",
        ),
        (
            "rule A {\n  when: mail.client_ip == \"nope\"\n  then: score 1\n}",
            "t.rules:2:27: \"nope\" is not an IP address",
        ),
        ("rule A {\n  colour: \"red\"\n}", "t.rules:2:3: unknown property `colour`"),
        (
            "list l: ip = \"/nonexistent/file\"\nrule A { when: mail.client_ip in l then: score 1 }",
            "t.rules:1:6: list `l`: /nonexistent/file:0: cannot read",
        ),
        ("rulez", "t.rules:1:1: unexpected `rulez` (expected `rule`, `list` or `counter`)"),
        ("rule", "t.rules:1:5: unexpected the end of the file (expected the rule's name)"),
        (
            "rule A { when: mail.size > -",
            "t.rules:1:29: unexpected the end of the file (expected a number after `-`)",
        ),
    ];
    for (src, want) in cases {
        let errs = compile(src).expect_err(src);
        assert!(errs.iter().any(|e| e.starts_with(want)), "{src:?}\n got {errs:?}\nwant {want}");
    }
}

#[test]
fn a_long_line_is_lexed_in_one_pass_and_columns_stay_right() {
    let many = "mail.size > 1 && ".repeat(20_000);
    let errs = compile(&format!("rule A {{ when: {many} mail.frm > 1 then: score 1 }}")).unwrap_err();
    let col = "rule A { when: ".len() + many.len() + " ".len() + 1;
    assert!(errs[0].starts_with(&format!("t.rules:1:{col}: unknown field `mail.frm`")), "{}", &errs[0][..80]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src =
        format!("rule A {{ when: {}mail.size > 1{} then: score 1 }}", "(".repeat(5000), ")".repeat(5000));
    let errs = compile(&src).unwrap_err();
    assert!(errs[0].contains("nest more than"), "{errs:?}");
    let src = format!("rule A {{ when: {}true then: score 1 }}", "!".repeat(5000));
    assert!(compile(&src).is_err());
}

#[test]
fn hits_are_counted_per_rule_and_timing_is_sampled() {
    let set = compile("rule A { when: mail.size > 10 then: score 1 }\nrule B { mode: shadow when: mail.size > 100 then: score 1 }").unwrap();
    for size in [5, 50, 500, 5000] {
        set.evaluate(&mail(&[("mail.size", Value::Int(size))]));
    }
    let figures: Vec<(String, u64, u64)> =
        set.figures().map(|(r, f)| (r.name.clone(), f.hits, f.samples)).collect();
    assert_eq!(
        figures,
        vec![("A".into(), 3, 1), ("B".into(), 2, 1)],
        "the first evaluation is the sampled one"
    );
}

#[test]
fn counters_count_per_entity_over_their_window_with_an_injected_clock() {
    let mut set = compile(
        "counter per_sender: count by mail.from_domain over 1h every 5m\n\
         counter senders_per_ip: distinct mail.from_domain by mail.client_ip over 1d every 1h\n\
         rule FLOOD { when: per_sender > 3 then: score 2 }\n\
         rule MANY_SENDERS { when: senders_per_ip >= 3 then: review }",
    )
    .unwrap();
    let clock = std::sync::Arc::new(warden_rules::counters::ManualClock::new(1_800_000_000));
    set.set_clock(clock.clone());
    let event = |dom: &str, ip: &str| {
        mail(&[("mail.from_domain", s(dom)), ("mail.client_ip", Value::Ip(ip.parse().unwrap()))])
    };
    for i in 0..3 {
        let out = set.evaluate(&event("Bulk.example", "192.0.2.1"));
        assert!(out.fired.is_empty(), "event {i}");
        clock.advance(60);
    }
    let r = event("bulk.example", "192.0.2.1");
    let out = set.evaluate(&r);
    assert_eq!(out.fired, vec![0], "the fourth within the hour, case folded");
    assert_eq!(set.rules()[0].explain_with(&set, &r, &out), "per_sender = 4");
    // An hour on, the first bucket (five minutes) is still read: counts are exact to a bucket.
    clock.advance(3600 - 180);
    assert_eq!(set.evaluate(&event("bulk.example", "192.0.2.1")).counters[0], Some(5.0));
    clock.advance(300);
    let out = set.evaluate(&event("bulk.example", "192.0.2.1"));
    assert!(out.fired.is_empty(), "an hour and a bucket later: {:?}", out.counters);
    set.evaluate(&event("a.example", "198.51.100.1"));
    set.evaluate(&event("b.example", "198.51.100.1"));
    assert!(!set.evaluate(&event("b.example", "198.51.100.1")).review, "two senders so far");
    assert!(set.evaluate(&event("c.example", "198.51.100.1")).review, "three senders from one address");
    let none = set.evaluate(&mail(&[]));
    assert_eq!(none.counters, vec![None, None], "no entity, no count: tests on it are false");
}

#[test]
fn counter_declarations_are_checked() {
    let cases: &[(&str, &str)] = &[
        (
            "counter c: count by mail.size over 1h",
            "t.rules:1:21: type mismatch: `mail.size` is a whole number",
        ),
        ("counter c: count by mail.nope over 1h", "t.rules:1:21: unknown field `mail.nope`"),
        (
            "counter c: count by mail.from_domain over 1h every 7m",
            "t.rules:1:52: a window of 3600 s in buckets of 420 s",
        ),
        ("counter c: count by mail.from_domain over 1 hour", "t.rules:1:45: unexpected `hour`"),
        (
            "counter c: count by mail.from_domain over 1h\ncounter c: count by mail.helo over 1h",
            "t.rules:2:9: counter `c` is declared twice",
        ),
        ("rule A { when: c > 1 then: score 1 }", "t.rules:1:16: unknown field `c`"),
        (
            "counter c: count by mail.from_domain over 1h\nrule A { when: c == \"x\" then: score 1 }",
            "t.rules:2:21: type mismatch: this is a string",
        ),
    ];
    for (src, want) in cases {
        let errs = compile(src).expect_err(src);
        assert!(errs.iter().any(|e| e.starts_with(want)), "{src:?}\n got {errs:?}\nwant {want}");
    }
}

#[test]
fn a_journal_of_counter_updates_rebuilds_the_counters_of_a_new_set() {
    let src = "counter per_sender: count by mail.from_domain over 1h every 5m\n\
               counter senders_per_ip: distinct mail.from_domain by mail.client_ip over 1d every 1h\n\
               rule FLOOD { when: per_sender > 3 then: score 2 }";
    let clock = std::sync::Arc::new(warden_rules::counters::ManualClock::new(1_800_000_000));
    let mut live = compile(src).unwrap();
    live.set_clock(clock.clone());
    live.set_key_seed(42);
    let event = |dom: &str, ip: &str| {
        mail(&[("mail.from_domain", s(dom)), ("mail.client_ip", Value::Ip(ip.parse().unwrap()))])
    };
    let names: Vec<String> = live.counter_names().map(str::to_owned).collect();
    assert_eq!(names, ["per_sender", "senders_per_ip"]);
    let mut journal = Vec::new();
    for i in 0..5 {
        let out = live.evaluate(&event(&format!("d{}.example", i % 3), "192.0.2.1"));
        journal.extend(out.counter_events.iter().map(|e| (names[e.counter].clone(), *e)));
        clock.advance(60);
    }
    assert_eq!(journal.len(), 10, "one update per counter per event");
    // A restarted server: a new set, the same seed, the journal replayed.
    let mut restarted = compile(src).unwrap();
    restarted.set_clock(clock.clone());
    restarted.set_key_seed(42);
    for (name, e) in &journal {
        assert!(restarted.restore(name, e.entity, e.value, e.at));
    }
    assert!(!restarted.restore("gone", 1, None, 1), "a counter no longer declared");
    let (a, b) = (
        live.evaluate(&event("d0.example", "192.0.2.1")),
        restarted.evaluate(&event("d0.example", "192.0.2.1")),
    );
    assert_eq!(a.counters, b.counters);
    let rounded: Vec<Option<f64>> = b.counters.iter().map(|c| c.map(f64::round)).collect();
    assert_eq!(rounded, [Some(3.0), Some(3.0)], "d0 three times; three senders from the address");
    // Another seed hashes entities apart: a journal is only good under its own key.
    let mut other = compile(src).unwrap();
    other.set_clock(clock.clone());
    for (name, e) in &journal {
        other.restore(name, e.entity, e.value, e.at);
    }
    assert_eq!(other.evaluate(&event("d0.example", "192.0.2.1")).counters[0], Some(1.0));
}

#[test]
fn a_reloaded_set_keeps_the_windows_of_the_counters_it_declares_again() {
    use warden_rules::counters::{CounterStore, LocalCounters, ManualClock};
    let per_sender = "counter per_sender: count by mail.from_domain over 1h every 5m\n";
    let clock = std::sync::Arc::new(ManualClock::new(1_800_000_000));
    let store = LocalCounters::default();
    let load = |src: &str| {
        let mut set = compile(src).unwrap();
        set.set_clock(clock.clone());
        let fresh = set.attach_counters(&store);
        (set, fresh)
    };
    let event = |dom: &str| mail(&[("mail.from_domain", s(dom))]);
    let (first, fresh) = load(&format!("{per_sender}rule FLOOD {{ when: per_sender > 3 then: score 2 }}"));
    assert_eq!(fresh, ["per_sender"], "a store that never held the counter makes it");
    for _ in 0..3 {
        first.evaluate(&event("bulk.example"));
        clock.advance(60);
    }
    // The rules change, the counter does not: it goes on from 3, with no journal replayed.
    let (second, fresh) = load(&format!("{per_sender}rule FLOOD {{ when: per_sender > 2 then: score 5 }}"));
    assert!(fresh.is_empty(), "{fresh:?}");
    let out = second.evaluate(&event("bulk.example"));
    assert_eq!(out.counters, [Some(4.0)]);
    assert_eq!(out.points, 5.0, "the new rule reads the kept window");
    assert_eq!(first.evaluate(&event("bulk.example")).counters, [Some(5.0)], "both sets share the state");
    // Another window, or another field, is another counter: it starts empty.
    let (wider, fresh) = load("counter per_sender: count by mail.from_domain over 2h every 10m\n");
    assert_eq!(fresh, ["per_sender"]);
    assert_eq!(wider.evaluate(&event("bulk.example")).counters, [Some(1.0)]);
    let (by_helo, fresh) = load("counter per_sender: count by mail.helo over 1h every 5m\n");
    assert_eq!(fresh, ["per_sender"]);
    assert_eq!(by_helo.evaluate(&mail(&[("mail.helo", s("mx.bulk.example"))])).counters, [Some(1.0)]);
    // Once only the wider one is in force, the store forgets the others.
    store.retain(&wider.counter_keys());
    let (_, fresh) = load(per_sender);
    assert_eq!(fresh, ["per_sender"], "a forgotten counter is made again");
    let (_, fresh) = load("counter per_sender: count by mail.from_domain over 2h every 10m\n");
    assert!(fresh.is_empty(), "the one kept is still there");
}

#[test]
fn label_effects_name_the_entity_and_are_checked() {
    let set = compile(
        "rule MARK { when: mail.subject contains \"bulk\" then: label mail.from_domain \"bulk-sender\" for 7d }\n\
         rule CLEAR { when: mail.subject contains \"sorry\" then: unlabel mail.client_ip \"suspect\" }\n\
         rule QUIET { mode: shadow when: mail.subject contains \"bulk\" then: label mail.from_domain \"x\" }",
    )
    .unwrap();
    let out =
        set.evaluate(&mail(&[("mail.from_domain", s("News.Example")), ("mail.subject", s("bulk offer"))]));
    assert_eq!(out.labels.len(), 1, "the shadow rule labels nothing: {:?}", out.labels);
    let l = &out.labels[0];
    assert_eq!(
        (l.field, l.entity.as_str(), l.label.as_str()),
        ("mail.from_domain", "news.example", "bulk-sender")
    );
    assert_eq!((l.ttl, l.remove, l.rule), (Some(7 * 86_400), false, 0));
    let out = set.evaluate(&mail(&[
        ("mail.subject", s("sorry")),
        ("mail.client_ip", Value::Ip("2001:db8::1".parse().unwrap())),
    ]));
    assert_eq!((out.labels[0].entity.as_str(), out.labels[0].remove), ("2001:db8::1", true));
    assert!(set.evaluate(&mail(&[("mail.subject", s("bulk"))])).labels.is_empty(), "no entity, no label");
    for (src, want) in [
        ("rule R { when: true then: label mail.size \"x\" }", "t.rules:1:33: type mismatch: `mail.size`"),
        ("rule R { when: true then: label mail.nope \"x\" }", "t.rules:1:33: unknown field `mail.nope`"),
        (
            "rule R { when: true then: label mail.helo x }",
            "t.rules:1:43: unexpected `x` (expected the label, a quoted string)",
        ),
    ] {
        let errors = compile(src).unwrap_err();
        assert!(errors[0].starts_with(want), "{src}: {errors:?}");
    }
}
