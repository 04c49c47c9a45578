//! `warden calibrate`: action thresholds set from labelled mail, for a target share of ham
//! not delivered.
//!
//! The model is held fixed (nothing is learned), so the scores are the ones the server would
//! give with it. `junk` is set where `--fpr` of the ham would not be delivered, `quarantine`
//! and `reject` where a tenth and a hundredth of that share would reach them. A share the ham
//! is too few to measure (fewer than one message) is said so: `junk` is then set above every
//! ham, and a harsher level keeps its built-in distance above the level below it.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use warden_corpus::metrics::{self, HamShareThreshold};
use warden_mail::engine::ActionThresholds;

#[derive(clap::Args)]
pub struct Args {
    /// A labelled corpus folder (labels.tsv or TREC index) the model did not learn from;
    /// repeat for more.
    #[arg(long = "corpus", required = true)]
    corpora: Vec<PathBuf>,
    #[command(flatten)]
    engine: super::EngineArgs,
    /// Analysts' rule files the server runs (their score counts, as in a decision).
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// The share of ham allowed to be not delivered (any action but `deliver`).
    #[arg(long, default_value_t = 0.001)]
    fpr: f64,
    /// Remove mailing-list and archive header fields first (as training did).
    #[arg(long)]
    strip_list_headers: bool,
    /// Write the `[thresholds]` block here (TOML, to include in the configuration file).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a copy of the model carrying these thresholds in its metadata here (they apply
    /// wherever a configuration file sets none).
    #[arg(long)]
    model_out: Option<PathBuf>,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One action level: its target share and what the corpora gave.
struct Level {
    name: &'static str,
    share: f64,
    /// Its built-in threshold.
    built: f64,
    found: HamShareThreshold,
    /// What the output says of a share the ham could not measure (empty when it could).
    note: String,
    /// The threshold written: the one found, or the fallback when the share is unmeasured.
    threshold: f64,
}

pub fn run(args: Args) -> Result<()> {
    anyhow::ensure!(
        args.fpr > 0.0 && args.fpr < 1.0,
        "--fpr is a share of the ham, above 0 and below 1 (0.001 is one in a thousand); got {}",
        args.fpr
    );
    let mut engine = args.engine.engine()?;
    engine.set_rules(super::offline_rules(&args.rules)?);
    let items = super::read_corpora(&args.corpora, None)?;
    let bar = super::progress(items.len(), "scoring");
    let (mut ham, mut spam, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    for item in &items {
        bar.inc(1);
        match std::fs::read(&item.path) {
            Ok(raw) => {
                let score = engine.decide(&super::prepare(&raw, args.strip_list_headers)).score;
                if item.spam { &mut spam } else { &mut ham }.push(score);
            }
            Err(e) => unreadable.push(format!("{}: {e}", item.path.display())),
        }
    }
    bar.finish_and_clear();
    for u in unreadable.iter().take(5) {
        eprintln!("warden: unreadable: {u}");
    }
    anyhow::ensure!(!ham.is_empty(), "the corpora hold no readable ham: thresholds are set on ham");

    let built_in = ActionThresholds::default();
    let mut levels: Vec<Level> = Vec::new();
    for (name, share, built) in [
        ("junk", args.fpr, built_in.junk),
        ("quarantine", args.fpr / 10.0, built_in.quarantine),
        ("reject", args.fpr / 100.0, built_in.reject),
    ] {
        let found =
            metrics::threshold_for_ham_share(&ham, share).expect("finite ham scores and a share in [0, 1)");
        let unmeasured = format!("  (unmeasured: {} ham cannot show a share of {}", ham.len(), pct(share));
        let (threshold, note) = match levels.last() {
            _ if found.measurable => (found.threshold, String::new()),
            None => (found.threshold, format!("{unmeasured}; set above every ham)")),
            // Unmeasured above junk: the built-in distance above the level below, or the
            // built-in threshold when that is higher.
            Some(below) => (
                (below.threshold + (built - below.built)).max(built).max(found.threshold),
                format!("{unmeasured}; the built-in distance above {})", below.name),
            ),
        };
        levels.push(Level { name, share, built, found, note, threshold });
    }
    let chosen = ActionThresholds {
        junk: levels[0].threshold,
        quarantine: levels[1].threshold,
        reject: levels[2].threshold,
    };
    chosen.check().context("the thresholds found do not rise from junk to reject")?;

    println!(
        "{} messages scored ({} ham, {} spam{}); target: {} of the ham not delivered",
        ham.len() + spam.len(),
        ham.len(),
        spam.len(),
        if unreadable.is_empty() { String::new() } else { format!(", {} unreadable", unreadable.len()) },
        pct(args.fpr)
    );
    println!("  level        share  threshold  ham at or above        spam at or above");
    for l in &levels {
        let n_at = ham.iter().filter(|&&s| s >= l.threshold).count();
        println!(
            "  {:<10} {:>7} {:>10.2}  {:>6} {:<15} {:>7}{}",
            l.name,
            pct(l.share),
            l.threshold,
            pct(n_at as f64 / ham.len() as f64),
            format!("({n_at} of {})", ham.len()),
            if spam.is_empty() { "n/a".into() } else { pct(metrics::share_at_or_above(&spam, l.threshold)) },
            l.note
        );
    }
    let block = thresholds_toml(&chosen, &args, ham.len(), spam.len());
    print!("\n{block}");
    if let Some(p) = &args.out {
        std::fs::write(p, &block).with_context(|| format!("cannot write {}", p.display()))?;
        eprintln!("warden: wrote {}", p.display());
    }
    if let Some(p) = &args.model_out {
        let mut model = engine.into_model();
        chosen.put_in_model(&mut model);
        model.save(p, model.meta.compact).with_context(|| format!("cannot write {}", p.display()))?;
        eprintln!("warden: wrote {} (the model, with these thresholds)", p.display());
    }
    if let Some(p) = &args.json {
        let report = json!({
            "corpora": args.corpora.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "fpr": args.fpr,
            "ham": ham.len(),
            "spam": spam.len(),
            "unreadable": unreadable.len(),
            "levels": levels.iter().map(|l| json!({
                "action": l.name,
                "share": l.share,
                "threshold": l.threshold,
                "measurable": l.found.measurable,
                "ham_not_delivered_share": metrics::share_at_or_above(&ham, l.threshold),
                "spam_share": if spam.is_empty() { None } else { Some(metrics::share_at_or_above(&spam, l.threshold)) },
            })).collect::<Vec<_>>(),
        });
        std::fs::write(p, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// The `[thresholds]` block, with where it came from in comments.
fn thresholds_toml(t: &ActionThresholds, args: &Args, ham: usize, spam: usize) -> String {
    let mut s = String::new();
    let corpora: Vec<String> = args.corpora.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(
        s,
        "# warden calibrate --fpr {}: {} ham, {} spam from {}",
        args.fpr,
        ham,
        spam,
        corpora.join(", ")
    );
    let _ = writeln!(
        s,
        "# model: {}",
        args.engine.model.as_ref().map_or("the starter model".to_owned(), |p| p.display().to_string())
    );
    let _ = writeln!(s, "[thresholds]");
    let _ = writeln!(s, "junk = {:.2}", t.junk);
    let _ = writeln!(s, "quarantine = {:.2}", t.quarantine);
    let _ = writeln!(s, "reject = {:.2}", t.reject);
    s
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p == 0.0 || p >= 1.0 { format!("{p:.1}%") } else { format!("{p:.3}%") }
}
