//! `warden`: the command line. Wiring only; the work lives in the library crates.

mod cmd;
mod kinds;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Warden: spam and abuse decisions, explained.
#[derive(Parser)]
#[command(name = "warden", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The learning method of a new model.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum LearnerArg {
    /// FTRL-Proximal logistic regression (the default: calibrated, best ranked).
    Ftrl,
    /// Multinomial naive Bayes (for comparison).
    Nb,
}

/// How `eval` splits the corpus.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Mode {
    /// TREC immediate feedback: classify each message, then learn its label.
    Online,
    /// Learn the first 80%, score the last 20%.
    Split,
}

#[derive(Subcommand)]
enum Command {
    /// Decide on messages: one JSON line per input, in argument order.
    Classify(cmd::classify::Args),
    /// Train a model on labelled corpora.
    Train(cmd::train::Args),
    /// Evaluate on labelled corpora: ROC figures, calibration, speed, memory.
    Eval(cmd::eval::Args),
    /// Set the action thresholds from labelled mail for a target share of ham not delivered.
    Calibrate(cmd::calibrate::Args),
    /// Where addresses are: look them up in the `[geoip]` databases, or make an ASN database.
    #[command(subcommand)]
    Geoip(cmd::geoip::Geoip),
    /// Check that corpora hold no message of reserved sets (by Message-ID and body hash).
    Provenance(cmd::provenance::Args),
    /// Serve decisions over HTTP: Warden's API and Rspamd's protocol.
    Serve(cmd::serve::Args),
    /// List a message's features with their weights, strongest first (tab-separated).
    Features {
        /// Model file (default: the starter model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Remove mailing-list and archive header fields first.
        #[arg(long)]
        strip_list_headers: bool,
        /// The message (`-` for standard input).
        file: PathBuf,
    },
    /// Inspect a model file: its metadata and, given corpora, its strongest features.
    Model {
        /// The model file (the starter model when omitted).
        model: Option<PathBuf>,
        /// Configuration file (TOML): its `[thresholds]` come before the model's own.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Name the strongest features found in these corpora (the model holds no names).
        #[arg(long = "features-from")]
        features_from: Vec<PathBuf>,
        /// How many features to list on each side.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Only features present in at least this many of the corpora's messages.
        #[arg(long, default_value_t = 20)]
        min_messages: u32,
        /// Remove mailing-list and archive header fields before naming features.
        #[arg(long)]
        strip_list_headers: bool,
    },
    /// Analysts' rules: check files, list the fields they can read.
    #[command(subcommand)]
    Rules(cmd::rules::Rules),
    /// The review queue of a running server: list, show, claim and resolve items.
    #[command(subcommand)]
    Review(cmd::desk::Review),
    /// Labels on entities (domains, addresses, accounts) in a running server.
    #[command(subcommand)]
    Labels(cmd::desk::Labels),
    /// The audit log: every decision and analyst action.
    #[command(subcommand)]
    Audit(cmd::desk::Audit),
    /// A kind of event's own commands: `warden <kind> check|eval|synth` (see `warden <kind>
    /// --help`; the kinds besides mail are listed in `crates/warden/src/kinds.rs`).
    #[command(external_subcommand)]
    Kind(Vec<String>),
    /// Write a synthetic labelled corpus (for tests and memory runs).
    Synth {
        /// Folder to write into (created).
        #[arg(long)]
        out: PathBuf,
        /// Messages to write.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify(a) => cmd::classify::run(a),
        Command::Train(a) => cmd::train::run(a).map(|()| ExitCode::SUCCESS),
        Command::Eval(a) => cmd::eval::run(a).map(|()| ExitCode::SUCCESS),
        Command::Calibrate(a) => cmd::calibrate::run(a).map(|()| ExitCode::SUCCESS),
        Command::Provenance(a) => cmd::provenance::run(a),
        Command::Geoip(a) => cmd::geoip::run(a),
        Command::Serve(a) => cmd::serve::run(a).map(|()| ExitCode::SUCCESS),
        Command::Features { model, config, strip_list_headers, file } => {
            cmd::features(model.as_deref(), config.as_deref(), strip_list_headers, &file)
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Model { model, config, features_from, top, min_messages, strip_list_headers } => {
            cmd::model_info(
                model.as_deref(),
                config.as_deref(),
                &features_from,
                top,
                min_messages,
                strip_list_headers,
            )
            .map(|()| ExitCode::SUCCESS)
        }
        Command::Rules(r) => cmd::rules::run(r),
        Command::Review(r) => cmd::desk::review(r),
        Command::Labels(l) => cmd::desk::labels(l),
        Command::Audit(a) => cmd::desk::audit(a),
        Command::Kind(args) => cmd::kind::run(&args, &kinds::all),
        Command::Synth { out, count, seed } => (|| {
            std::fs::create_dir_all(&out)?;
            warden_corpus::synth::write_corpus(&out, count, seed)?;
            eprintln!("wrote {count} messages and labels.tsv to {}", out.display());
            Ok(ExitCode::SUCCESS)
        })(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warden: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
