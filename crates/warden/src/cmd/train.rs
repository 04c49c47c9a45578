//! `warden train`: learn labelled corpora, save a model.

use std::path::PathBuf;

use anyhow::{Context, Result};
use warden_mail::engine::MailEngine;

#[derive(clap::Args)]
pub struct Args {
    /// A corpus folder (labels.tsv or TREC index); repeat for more, read in order.
    #[arg(long = "corpus", required = true)]
    corpora: Vec<PathBuf>,
    /// Where to write the model (atomically).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    learner: super::LearnerArgs,
    /// Shuffle the concatenated corpora with this seed before learning.
    #[arg(long)]
    shuffle: Option<u64>,
    /// A corpus learned after the `--corpus` ones, in its index order (time order, for a corpus
    /// listed so), never shuffled and never stripped of list fields (direct mail, whose
    /// List-Unsubscribe is the sender's own); repeat for more, learned in order. `CORPUS@0..60`
    /// takes the first 60% of it.
    #[arg(long = "then", value_name = "CORPUS")]
    then: Vec<PathBuf>,
    /// Passes over the data.
    #[arg(long, default_value_t = 1)]
    passes: u32,
    /// Remove mailing-list and archive header fields before learning (see `eval`).
    #[arg(long)]
    strip_list_headers: bool,
    /// Keep only non-zero weights in the file (smaller; predictions identical).
    #[arg(long)]
    compact: bool,
    /// Configuration file (TOML): its [mail] settings shape the features.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let config = super::load_config(args.config.as_deref())?;
    let mut items: Vec<(warden_corpus::Item, bool)> = super::read_corpora(&args.corpora, args.shuffle)?
        .into_iter()
        .map(|i| (i, args.strip_list_headers))
        .collect();
    if !args.then.is_empty() {
        items.extend(super::read_corpora(&args.then, None)?.into_iter().map(|i| (i, false)));
    }
    let model = super::new_model(&args.learner, &config)?;
    let mut engine = MailEngine::new(model, config)?;
    let bar = super::progress(items.len() * args.passes as usize, "training");
    let mut unreadable = 0;
    for _ in 0..args.passes {
        for (item, strip) in &items {
            bar.inc(1);
            let Ok(raw) = std::fs::read(&item.path) else {
                unreadable += 1;
                continue;
            };
            engine.learn(&super::prepare(&raw, *strip), warden_mail::MailLabel::of(item.spam));
        }
    }
    bar.finish_and_clear();
    let mut model = engine.into_model();
    model.meta.trained_on = args.corpora.iter().chain(&args.then).map(|p| p.display().to_string()).collect();
    model.save(&args.out, args.compact).with_context(|| format!("cannot save {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "learned {} messages ({} spam, {} ham{}); wrote {} ({:.1} MB)",
        model.meta.messages,
        model.meta.abusive,
        model.meta.legitimate,
        if unreadable > 0 { format!(", {unreadable} unreadable skipped") } else { String::new() },
        args.out.display(),
        size as f64 / 1e6
    );
    Ok(())
}
