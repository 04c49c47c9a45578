//! `warden rules`: check rule files, list the fields rules can read.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use warden_corpus::metrics;
use warden_rules::{Mode, RuleSet};

/// What to do with rules.
#[derive(Subcommand)]
pub enum Rules {
    /// Check rule files: every error with file:line:column and what was expected; exit
    /// status 1 when any is found.
    Check {
        /// The rule files, checked together (rule names are unique across them).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The kind of event the rules are for (`mail`, `signup`).
        #[arg(long, default_value = "mail")]
        kind: String,
    },
    /// List the fields rules can read, with their types.
    Fields {
        /// The kind of event (`mail`, `signup`).
        #[arg(long, default_value = "mail")]
        kind: String,
    },
    /// Replay labelled corpora through an empty model learning online (as `warden eval`) plus
    /// the rules: per rule hits, precision and recall against the labels, and the ROC figures
    /// of the final score with and without the rules.
    Backtest(Backtest),
}

/// `warden rules backtest`'s arguments.
#[derive(clap::Args)]
pub struct Backtest {
    /// The rule files.
    #[arg(long = "rules", required = true)]
    rules: Vec<PathBuf>,
    /// A corpus folder (labels.tsv or TREC index); repeat for more, read in order.
    #[arg(long = "corpus", required = true)]
    corpora: Vec<PathBuf>,
    /// Shuffle the concatenated corpora with this seed.
    #[arg(long)]
    shuffle: Option<u64>,
    /// Remove mailing-list and archive header fields first (as `warden eval`).
    #[arg(long)]
    strip_list_headers: bool,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    learner: super::LearnerArgs,
}

/// The rule catalogue of kind `name`.
pub fn catalogue_of(name: &str) -> anyhow::Result<&'static warden_rules::Catalogue> {
    if name == "mail" {
        return Ok(warden_mail::catalogue());
    }
    let kinds = crate::kinds::all(&warden_server::Settings::default())?;
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let kind = kinds
        .iter()
        .find(|k| k.name() == name)
        .with_context(|| format!("no kind of event named {name:?} (kinds: mail, {})", names.join(", ")))?;
    kind.catalogue().with_context(|| format!("the {name} kind takes no rules"))
}

pub fn run(cmd: Rules) -> anyhow::Result<ExitCode> {
    match cmd {
        Rules::Check { files, kind } => match RuleSet::load(&files, catalogue_of(&kind)?) {
            Ok(set) => {
                let shadow = set.rules().iter().filter(|r| r.mode == Mode::Shadow).count();
                let entries: usize = set.lists().map(|(_, l)| l.len()).sum();
                println!(
                    "ok: {} rules ({shadow} in shadow mode), {} lists ({entries} entries), {} catalogue version {}",
                    set.rules().len(),
                    set.lists().count(),
                    set.catalogue().kind,
                    set.catalogue().version
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!("{} error{} found", errors.len(), if errors.len() == 1 { "" } else { "s" });
                Ok(ExitCode::from(1))
            }
        },
        Rules::Fields { kind } => {
            let catalogue = catalogue_of(&kind)?;
            println!("# {} catalogue, version {}", catalogue.kind, catalogue.version);
            for f in catalogue.fields {
                println!("{:<24} {:<18} {}", f.name, f.ty.describe(), f.doc);
            }
            println!("# actions, mildest first: {}", catalogue.actions.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Rules::Backtest(args) => backtest(args),
    }
}

/// The score a forced action stands for in the ROC figures: beyond any model score.
const FORCED: f64 = 1e6;

fn backtest(args: Backtest) -> anyhow::Result<ExitCode> {
    // Counters follow each message's Date, not the time of the backtest.
    let clock = std::sync::Arc::new(warden_rules::counters::ManualClock::new(0));
    let rules = match RuleSet::load(&args.rules, warden_mail::catalogue()) {
        Ok(mut r) => {
            r.set_clock(clock.clone());
            std::sync::Arc::new(r)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            anyhow::bail!("the rules do not check ({} errors)", errors.len());
        }
    };
    let config = warden_mail::engine::Config::default();
    let model = super::new_model(&args.learner, &config)?;
    let mut engine = warden_mail::engine::MailEngine::new(model, config)?;
    engine.set_rules(Some(rules.clone()));
    let items = super::read_corpora(&args.corpora, args.shuffle)?;
    let bar = super::progress(items.len(), "backtesting");
    let n = rules.rules().len();
    let (mut spam_hits, mut ham_hits) = (vec![0u64; n], vec![0u64; n]);
    let (mut with, mut without) = (Vec::with_capacity(items.len()), Vec::with_capacity(items.len()));
    for item in &items {
        bar.inc(1);
        let Ok(raw) = std::fs::read(&item.path) else { continue };
        let raw = super::prepare(&raw, args.strip_list_headers);
        if let Some(t) = date_of(&raw) {
            clock.set(t);
        }
        let d = engine.decide_detailed(&raw);
        let out = d.outcome.expect("the engine has rules");
        for &i in out.fired.iter().chain(&out.shadow_fired) {
            if item.spam { spam_hits[i] += 1 } else { ham_hits[i] += 1 }
        }
        let final_score = if out.allow {
            -FORCED
        } else if let Some(a) = out.action {
            // Deliver forced is the ham extreme; junk, quarantine and reject the spam one.
            if a == 0 { -FORCED } else { FORCED + a as f64 }
        } else {
            d.model_score + d.signal_points + out.points
        };
        with.push((final_score, item.spam));
        without.push((d.model_score + d.signal_points, item.spam));
        engine.learn_scored(&d.features, warden_mail::MailLabel::of(item.spam), d.model_score);
    }
    bar.finish_and_clear();
    anyhow::ensure!(!with.is_empty(), "no message could be read");
    let spam_total = with.iter().filter(|s| s.1).count() as u64;
    let ham_total = with.len() as u64 - spam_total;
    let roc = |scored: &[(f64, bool)]| {
        let curve = metrics::roc_curve(scored);
        json!({
            "one_minus_auc_pct": metrics::roc_auc(scored).map(|a| (1.0 - a) * 100.0),
            "fpr_at_recall_0.95": metrics::fpr_at_recall(&curve, 0.95),
            "recall_at_fpr_0.001": metrics::recall_at_fpr(&curve, 0.001),
        })
    };
    let per_rule: Vec<serde_json::Value> = rules
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let hits = spam_hits[i] + ham_hits[i];
            // A rule that lowers the score or allow-lists is judged by the ham it finds.
            let toward_ham = r.points() < 0.0
                || r.effects
                    .iter()
                    .any(|e| matches!(e, warden_rules::Effect::Allow | warden_rules::Effect::Action(0)));
            let (right, total) =
                if toward_ham { (ham_hits[i], ham_total) } else { (spam_hits[i], spam_total) };
            json!({
                "rule": r.name,
                "mode": if r.mode == Mode::Shadow { "shadow" } else { "enforce" },
                "toward": if toward_ham { "ham" } else { "spam" },
                "hits": hits,
                "spam": spam_hits[i],
                "ham": ham_hits[i],
                "precision": (hits > 0).then(|| right as f64 / hits as f64),
                "recall": (total > 0).then(|| right as f64 / total as f64),
            })
        })
        .collect();
    let report = json!({
        "rules": args.rules.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "corpora": args.corpora.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "shuffle": args.shuffle,
        "strip_list_headers": args.strip_list_headers,
        "messages": with.len(),
        "spam": spam_total,
        "ham": ham_total,
        "per_rule": per_rule,
        "without_rules": roc(&without),
        "with_rules": roc(&with),
    });
    println!("{} messages ({spam_total} spam, {ham_total} ham), an empty model learning online", with.len());
    println!(
        "{:<28} {:<8} {:>6} {:>6} {:>6} {:>10} {:>8}",
        "rule", "mode", "hits", "spam", "ham", "precision", "recall"
    );
    for r in &per_rule {
        let pct = |v: &serde_json::Value| v.as_f64().map_or("-".to_owned(), |x| format!("{:.2}%", x * 100.0));
        println!(
            "{:<28} {:<8} {:>6} {:>6} {:>6} {:>10} {:>8}  (toward {})",
            r["rule"].as_str().unwrap_or_default(),
            r["mode"].as_str().unwrap_or_default(),
            r["hits"].as_u64().unwrap_or_default(),
            r["spam"].as_u64().unwrap_or_default(),
            r["ham"].as_u64().unwrap_or_default(),
            pct(&r["precision"]),
            pct(&r["recall"]),
            r["toward"].as_str().unwrap_or_default()
        );
    }
    for (name, v) in [("without rules", &report["without_rules"]), ("with rules", &report["with_rules"])] {
        println!(
            "{name:<14} (1-AUC)% {:.4}  FPR at 95% recall {}  recall at 0.1% FPR {}",
            v["one_minus_auc_pct"].as_f64().unwrap_or(f64::NAN),
            v["fpr_at_recall_0.95"].as_f64().map_or("-".into(), |x| format!("{:.3}%", x * 100.0)),
            v["recall_at_fpr_0.001"].as_f64().map_or("-".into(), |x| format!("{:.2}%", x * 100.0)),
        );
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A message's Date as Unix seconds, when it has a readable one after 1970.
fn date_of(raw: &[u8]) -> Option<u64> {
    let config = warden_mail::MailConfig::default();
    let mail = warden_mail::Mail::parse(raw, &config);
    let t = mail.message()?.date()?.to_timestamp();
    u64::try_from(t).ok()
}
