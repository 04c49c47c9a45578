//! `warden classify`: one JSON line per input, in argument order.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use warden_engine::MailEngine;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (default: the starter model built into the binary).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Messages to classify; `-` reads one from standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let config = super::load_config(args.config.as_deref())?;
    let engine = MailEngine::new(super::load_model(args.model.as_deref())?, config)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        let read = super::read_input(file);
        let line = match read {
            Ok(raw) => {
                let d = engine.decide_explained(&raw);
                json!({
                    "file": name,
                    "action": d.action,
                    "score": d.score,
                    "probability": d.probability,
                    "reasons": d.reasons,
                })
            }
            Err(e) => {
                failed = true;
                json!({ "file": name, "error": e.to_string() })
            }
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
