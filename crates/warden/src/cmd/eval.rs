//! `warden eval`: the TREC immediate-feedback protocol (or an 80/20 split) over labelled
//! corpora, with ROC figures, calibration, speed and memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use warden_core::sigmoid;
use warden_corpus::metrics;
use warden_mail::engine::MailEngine;

use crate::Mode;

#[derive(clap::Args)]
pub struct Args {
    /// A corpus folder (labels.tsv or TREC index); repeat for more, read in order.
    #[arg(long = "corpus", required = true)]
    corpora: Vec<PathBuf>,
    /// Start from this model instead of an empty one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// `online`: classify each message, then learn it. `split`: learn 80%, score 20%.
    #[arg(long, value_enum, default_value_t = Mode::Online)]
    mode: Mode,
    /// Shuffle the concatenated corpora with this seed.
    #[arg(long)]
    shuffle: Option<u64>,
    /// Remove the header fields mailing lists and archives add (List-*, Precedence, Sender,
    /// X-Mailing-List, X-BeenThere, Delivered-To, X-Original-To, X-Spam-*, X-Rspamd-*)
    /// before anything sees the message.
    #[arg(long)]
    strip_list_headers: bool,
    #[command(flatten)]
    learner: super::LearnerArgs,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the ROC curve (log-scale false-positive axis) as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write each scored message as `path<TAB>label<TAB>score` here.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let config = super::load_config(args.config.as_deref())?;
    let items = super::read_corpora(&args.corpora, args.shuffle)?;
    let model = match &args.model {
        Some(p) => super::load_model(Some(p))?,
        None => super::new_model(&args.learner, &config)?,
    };
    let learner_name = match model.meta.learner {
        warden_learn::LearnerSpec::Ftrl(_) => "ftrl",
        warden_learn::LearnerSpec::NaiveBayes { .. } => "naive_bayes",
    };
    let mut engine = MailEngine::new(model, config)?;
    let train_until = match args.mode {
        Mode::Online => 0,
        Mode::Split => items.len() * 4 / 5,
    };
    let bar = super::progress(items.len(), "evaluating");
    let mut scored: Vec<(f64, bool)> = Vec::with_capacity(items.len());
    let mut score_lines = args.scores.as_ref().map(|_| String::new());
    let mut busy = Duration::ZERO;
    let mut processed = 0u64;
    let mut unreadable = Vec::new();
    let mut coverage: Vec<f64> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        bar.inc(1);
        let raw = match std::fs::read(&item.path) {
            Ok(r) => r,
            Err(e) => {
                unreadable.push(format!("{}: {e}", item.path.display()));
                continue;
            }
        };
        let raw = super::prepare(&raw, args.strip_list_headers);
        if i >= train_until {
            // The explanation a decision would give, before the message is learned; outside
            // the timed part (it is what a server's explained decision adds).
            let explained =
                engine.decide_explained_features_with(&raw, warden_mail::Context::default(), |_| {});
            coverage.push(engine.reasons_coverage(&explained));
        }
        let started = Instant::now();
        let x = engine.features(&raw);
        let score = engine.score(&x);
        if i >= train_until {
            scored.push((score, item.spam));
            if let Some(lines) = &mut score_lines {
                let label = if item.spam { "spam" } else { "ham" };
                lines.push_str(&format!("{}\t{label}\t{score:.6}\n", item.path.display()));
            }
        }
        if args.mode == Mode::Online || i < train_until {
            engine.learn_scored(&x, warden_mail::MailLabel::of(item.spam), score);
        }
        busy += started.elapsed();
        processed += 1;
    }
    bar.finish_and_clear();
    anyhow::ensure!(!scored.is_empty(), "no message could be read and scored");

    let curve = metrics::roc_curve(&scored);
    let auc = metrics::roc_auc(&scored);
    let probs: Vec<(f64, bool)> = scored.iter().map(|&(s, l)| (sigmoid(s), l)).collect();
    let spam = scored.iter().filter(|s| s.1).count();
    let fpr_at: serde_json::Map<String, serde_json::Value> = [0.90, 0.95, 0.99]
        .iter()
        .map(|&r| (format!("{r:.2}"), json!(metrics::fpr_at_recall(&curve, r))))
        .collect();
    let recall_at: serde_json::Map<String, serde_json::Value> =
        [0.001, 0.01].iter().map(|&f| (format!("{f}"), json!(metrics::recall_at_fpr(&curve, f)))).collect();
    let report = json!({
        "corpora": args.corpora.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "mode": match args.mode { Mode::Online => "online", Mode::Split => "split" },
        "shuffle": args.shuffle,
        "strip_list_headers": args.strip_list_headers,
        "learner": learner_name,
        "messages": scored.len(),
        "spam": spam,
        "ham": scored.len() - spam,
        "unreadable": unreadable.len(),
        "roc_auc": auc,
        "one_minus_auc_pct": auc.map(|a| (1.0 - a) * 100.0),
        "fpr_at_recall": fpr_at,
        "recall_at_fpr": recall_at,
        "log_loss": metrics::log_loss(&probs),
        "reasons_cover_half": coverage.iter().filter(|&&c| c >= 0.5).count() as f64 / coverage.len().max(1) as f64,
        "reasons_coverage_median": median(&mut coverage),
        "reliability": metrics::reliability(&probs),
        "msgs_per_sec": processed as f64 / busy.as_secs_f64().max(1e-9),
        "peak_rss_mb": super::peak_rss_mb(),
    });
    print_summary(&report);
    for u in unreadable.iter().take(5) {
        eprintln!("warden: unreadable: {u}");
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let (Some(p), Some(lines)) = (&args.scores, score_lines) {
        std::fs::write(p, lines).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &args.plot {
        let title = format!(
            "ROC: {} ({} mode, 1-AUC = {:.4}%)",
            args.corpora.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" + "),
            report["mode"].as_str().unwrap_or(""),
            report["one_minus_auc_pct"].as_f64().unwrap_or(f64::NAN)
        );
        std::fs::write(p, warden_corpus::plot::roc_svg(&curve, &title))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

fn print_summary(r: &serde_json::Value) {
    let pct = |v: &serde_json::Value| v.as_f64().map_or("n/a".into(), |x| format!("{:.3}%", x * 100.0));
    println!(
        "{} messages ({} spam, {} ham), {} mode{}, learner {}",
        r["messages"],
        r["spam"],
        r["ham"],
        r["mode"].as_str().unwrap_or(""),
        r["shuffle"].as_u64().map_or(String::new(), |s| format!(", shuffle {s}")),
        r["learner"].as_str().unwrap_or("")
    );
    println!(
        "  ROC AUC         {:.6}   (1-AUC)% = {:.4}",
        r["roc_auc"].as_f64().unwrap_or(f64::NAN),
        r["one_minus_auc_pct"].as_f64().unwrap_or(f64::NAN)
    );
    for k in ["0.90", "0.95", "0.99"] {
        println!("  FPR at {k} recall  {}", pct(&r["fpr_at_recall"][k]));
    }
    for k in ["0.001", "0.01"] {
        println!("  recall at FPR {k:<5} {}", pct(&r["recall_at_fpr"][k]));
    }
    println!("  log-loss        {:.4}", r["log_loss"].as_f64().unwrap_or(f64::NAN));
    println!(
        "  reasons         cover half the log-odds in {:.1}% of decisions (median coverage {:.2})",
        r["reasons_cover_half"].as_f64().unwrap_or(f64::NAN) * 100.0,
        r["reasons_coverage_median"].as_f64().unwrap_or(f64::NAN)
    );
    println!("  calibration     predicted → observed spam (count)");
    for b in r["reliability"].as_array().into_iter().flatten() {
        println!(
            "    {:.1}–{:.1}   {:.3} → {:.3} ({})",
            b["from"].as_f64().unwrap_or(0.0),
            b["to"].as_f64().unwrap_or(0.0),
            b["mean_predicted"].as_f64().unwrap_or(0.0),
            b["observed_spam"].as_f64().unwrap_or(0.0),
            b["count"]
        );
    }
    println!(
        "  speed           {:.0} msgs/s (features + score + learn, one core)",
        r["msgs_per_sec"].as_f64().unwrap_or(0.0)
    );
    println!("  peak RSS        {:.1} MB", r["peak_rss_mb"].as_f64().unwrap_or(0.0));
}

/// The median of `v` (NaN when empty).
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}
