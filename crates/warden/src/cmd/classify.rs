//! `warden classify`: one JSON line per input, in argument order.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    engine: super::EngineArgs,
    /// Analysts' rule files to apply (checked first; any error stops the run).
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Messages to classify; `-` reads one from standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut engine = args.engine.engine()?;
    engine.set_rules(super::offline_rules(&args.rules)?);
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
                    "review": d.review,
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
