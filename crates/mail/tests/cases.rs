//! Regression cases as data: every `tests/cases/*.case` file at the root of the repository is a
//! message and what Warden must make of it, so an analyst adds a case without writing Rust.
//!
//! A case file is header lines, a line `---`, then the raw message:
//!
//! ```text
//! # why this case exists
//! rules: examples/rules/starter.rules      (rule files, relative to the repository; optional)
//! action: quarantine                       (the decision's action; optional)
//! reason: RULE:EXECUTABLE_ATTACHMENT       (a reason that must be there; repeatable)
//! no reason: RULE:BLOCKED_NETWORK          (a reason that must not be; repeatable)
//! review: true                             (optional)
//! ---
//! From: …
//! ```
//!
//! Decisions use the starter model and the default thresholds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use warden_mail::engine::{Config, MailEngine};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Checks one case; an `Err` says what differed.
fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let split = text.windows(5).position(|w| w == b"\n---\n").ok_or("no `---` line before the message")?;
    let head = std::str::from_utf8(&text[..split]).map_err(|e| e.to_string())?;
    let raw = &text[split + 5..];
    let mut engine =
        MailEngine::new(warden_mail::engine::starter_model().unwrap(), Config::default()).unwrap();
    let mut checks = Vec::new();
    for (n, line) in head.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or(format!("line {n}: expected `key: value`"))?;
        let value = value.trim();
        match key.trim() {
            "rules" => {
                let files: Vec<PathBuf> = value.split_whitespace().map(|f| root().join(f)).collect();
                let set =
                    warden_rules::RuleSet::load(&files, warden_mail::catalogue()).map_err(|errors| {
                        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
                    })?;
                engine.set_rules(Some(Arc::new(set)));
            }
            k @ ("action" | "reason" | "no reason" | "review") => {
                checks.push((n, k.to_owned(), value.to_owned()))
            }
            other => return Err(format!("line {n}: unknown key `{other}`")),
        }
    }
    let d = engine.decide_explained(raw);
    let names: Vec<&str> = d.reasons.iter().map(|r| r.name.as_str()).collect();
    for (n, key, value) in checks {
        let ok = match key.as_str() {
            "action" => d.action.as_str() == value,
            "reason" => names.contains(&value.as_str()),
            "no reason" => !names.contains(&value.as_str()),
            _ => d.review.to_string() == value,
        };
        if !ok {
            return Err(format!(
                "line {n}: expected {key} {value}; got action {}, review {}, reasons {names:?}",
                d.action.as_str(),
                d.review
            ));
        }
    }
    Ok(())
}

#[test]
fn every_case_file_holds() {
    let dir = root().join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 3, "the case folder is read");
    let failures: Vec<String> =
        cases.iter().filter_map(|c| run(c).err().map(|e| format!("{}: {e}", c.display()))).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The runner itself fails on a case that does not hold (so a passing suite means something).
#[test]
fn a_wrong_expectation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("wrong.case");
    let gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    std::fs::write(&case, format!("action: deliver\nreason: GTUBE\n---\nSubject: x\n\n{gtube}\n")).unwrap();
    let err = run(&case).unwrap_err();
    assert!(err.starts_with("line 1: expected action deliver; got action reject"), "{err}");
    std::fs::write(&case, "colour: red\n---\nSubject: x\n\nx\n").unwrap();
    assert_eq!(run(&case).unwrap_err(), "line 1: unknown key `colour`");
}
