//! The subcommands, and what they share: configuration, models, corpora.

pub mod calibrate;
pub mod classify;
pub mod desk;
pub mod eval;
pub mod geoip;
pub mod kind;
pub mod provenance;
pub mod rules;
pub mod serve;
pub mod train;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use warden_corpus::{Corpus, Item};
use warden_learn::{FtrlParams, LearnerSpec, Model, RehearsalParams};
use warden_mail::engine::Config;

use crate::LearnerArg;

/// The model and configuration a deciding command runs with.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// Model file (default: the starter model built into the binary).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl EngineArgs {
    /// The engine these arguments describe.
    pub fn engine(&self) -> Result<warden_mail::engine::MailEngine> {
        engine(self.model.as_deref(), self.config.as_deref())
    }
}

/// The engine of a model file (or the starter model) and a configuration file (or defaults).
pub fn engine(model: Option<&Path>, config: Option<&Path>) -> Result<warden_mail::engine::MailEngine> {
    Ok(warden_mail::engine::MailEngine::new(load_model(model)?, load_config(config)?)?)
}

/// The engine's part of the configuration file (or the defaults), with the environment's
/// `WARDEN_<SECTION>__<KEY>` overrides.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    let settings = warden_server::Settings::read(path, std::env::vars())?;
    crate::kinds::check_settings(&settings)?;
    Ok(warden_mail_serve::MailSettings::of(&settings)?.engine())
}

/// A model file, or the starter model that ships in the binary.
pub fn load_model(path: Option<&Path>) -> Result<Model> {
    match path {
        Some(p) => Model::load(p).with_context(|| format!("cannot load model {}", p.display())),
        None => warden_mail::engine::starter_model().context("the built-in starter model is damaged"),
    }
}

/// How to build an empty model.
#[derive(clap::Args, Debug, Clone)]
pub struct LearnerArgs {
    /// Learning method.
    #[arg(long, value_enum, default_value_t = LearnerArg::Ftrl)]
    pub learner: LearnerArg,
    /// Table size exponent: 2^bits weight slots.
    #[arg(long, default_value_t = FtrlParams::default().bits)]
    pub bits: u8,
    /// FTRL learning-rate scale.
    #[arg(long, default_value_t = FtrlParams::default().alpha)]
    pub alpha: f64,
    /// FTRL learning-rate smoothing.
    #[arg(long, default_value_t = FtrlParams::default().beta)]
    pub beta: f64,
    /// FTRL L1 regularisation.
    #[arg(long, default_value_t = FtrlParams::default().l1)]
    pub l1: f64,
    /// FTRL L2 regularisation.
    #[arg(long, default_value_t = FtrlParams::default().l2)]
    pub l2: f64,
    /// Hard examples kept for rehearsal (0 turns rehearsal off).
    #[arg(long, default_value_t = RehearsalParams::default().capacity)]
    pub rehearsal_capacity: usize,
    /// Buffered hard examples learned again after each new hard one.
    #[arg(long, default_value_t = RehearsalParams::default().replays)]
    pub rehearsal_replays: usize,
    /// An example is hard when its true label had less than this probability.
    #[arg(long, default_value_t = RehearsalParams::default().hard_below)]
    pub rehearsal_hard_below: f64,
}

/// An empty model of the chosen learner.
pub fn new_model(args: &LearnerArgs, config: &Config) -> Result<Model> {
    let bits = args.bits;
    anyhow::ensure!((8..=28).contains(&bits), "--bits must be between 8 and 28");
    let spec = match args.learner {
        LearnerArg::Ftrl => LearnerSpec::Ftrl(FtrlParams {
            bits,
            alpha: args.alpha,
            beta: args.beta,
            l1: args.l1,
            l2: args.l2,
        }),
        LearnerArg::Nb => LearnerSpec::NaiveBayes { bits },
    };
    let extractor = serde_json::to_value(&config.mail).expect("mail config serialises");
    let rehearsal = RehearsalParams {
        capacity: args.rehearsal_capacity,
        replays: args.rehearsal_replays,
        hard_below: args.rehearsal_hard_below,
    };
    Ok(Model::new(<warden_mail::MailKind as warden_core::Kind>::NAME, spec, extractor, rehearsal))
}

/// The corpora's items, concatenated in order, then shuffled when a seed is given.
pub fn read_corpora(paths: &[PathBuf], shuffle: Option<u64>) -> Result<Vec<Item>> {
    anyhow::ensure!(!paths.is_empty(), "give at least one --corpus");
    let mut items = Vec::new();
    for p in paths {
        let c = Corpus::open(p)?;
        anyhow::ensure!(!c.items.is_empty(), "{}: the corpus lists no message", p.display());
        items.extend(c.items);
    }
    if let Some(seed) = shuffle {
        warden_corpus::shuffle(&mut items, seed);
    }
    Ok(items)
}

/// Applies `--strip-list-headers` when asked.
pub fn prepare(raw: &[u8], strip: bool) -> Cow<'_, [u8]> {
    if strip { warden_mail::strip_list_headers(raw) } else { Cow::Borrowed(raw) }
}

/// A progress bar on a terminal; hidden otherwise.
pub fn progress(len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Reads a message from a file, or standard input for `-`.
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        Ok(v)
    } else {
        std::fs::read(path)
    }
}

/// Prints a message's features with their weights.
pub fn features(model: Option<&Path>, config: Option<&Path>, strip: bool, file: &Path) -> Result<()> {
    let engine = engine(model, config)?;
    let raw = read_input(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut out = String::new();
    for (name, weight) in engine.named_features(&prepare(&raw, strip)) {
        out.push_str(&format!("{weight:+.4}\t{}\n", name.escape_debug()));
    }
    print!("{out}");
    Ok(())
}

/// Prints a model's metadata and, given corpora, its strongest features by name.
pub fn model_info(
    path: Option<&Path>,
    config: Option<&Path>,
    corpora: &[PathBuf],
    top: usize,
    min_messages: u32,
    strip: bool,
) -> Result<()> {
    let started = std::time::Instant::now();
    let model = load_model(path)?;
    let elapsed = started.elapsed();
    let mut v = serde_json::to_value(&model.meta)?;
    v["load_ms"] = serde_json::json!((elapsed.as_secs_f64() * 1e3 * 100.0).round() / 100.0);
    // The thresholds a decision with this model and configuration uses, and where each is from.
    let (t, from) = load_config(config)?
        .thresholds
        .resolve(warden_mail::engine::ActionThresholds::of_model(&model)?.as_ref());
    v["thresholds_in_force"] = serde_json::json!({
        "junk": { "value": t.junk, "from": from[0] },
        "quarantine": { "value": t.quarantine, "from": from[1] },
        "reject": { "value": t.reject, "from": from[2] },
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    if corpora.is_empty() {
        return Ok(());
    }
    let engine = warden_mail::engine::MailEngine::new(model, Config::default())?;
    let items = read_corpora(corpora, None)?;
    let bar = progress(items.len(), "naming features");
    let mut seen: std::collections::HashMap<String, (f64, u32)> = std::collections::HashMap::new();
    for item in &items {
        bar.inc(1);
        let Ok(raw) = std::fs::read(&item.path) else { continue };
        for (name, w) in engine.named_features(&prepare(&raw, strip)) {
            seen.entry(name).or_insert((w, 0)).1 += 1;
        }
    }
    bar.finish_and_clear();
    let mut all: Vec<(String, f64, u32)> =
        seen.into_iter().filter(|(_, (_, c))| *c >= min_messages).map(|(n, (w, c))| (n, w, c)).collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let show = |rows: &mut dyn Iterator<Item = &(String, f64, u32)>, title: &str| {
        println!("\n{title}\n  weight   messages  feature");
        for (n, w, c) in rows {
            println!("  {w:+.3}  {c:>8}  {}", n.escape_debug());
        }
    };
    show(&mut all.iter().take(top), "strongest toward spam:");
    show(&mut all.iter().rev().take(top), "strongest toward ham:");
    Ok(())
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The mail rules in `files`, checked, for a command that runs without a server (no desk: the
/// counters start empty); `None` when there are none.
pub fn offline_rules(files: &[PathBuf]) -> Result<Option<std::sync::Arc<warden_rules::RuleSet>>> {
    if files.is_empty() {
        return Ok(None);
    }
    let rules = warden_rules::RuleSet::load(files, warden_mail::catalogue()).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the rules do not check:\n{}", lines.join("\n"))
    })?;
    Ok(Some(std::sync::Arc::new(rules)))
}
