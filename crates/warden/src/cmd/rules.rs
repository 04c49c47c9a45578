//! `warden rules`: check rule files, list the fields rules can read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use warden_rules::{Catalogue, Mode, RuleSet};

/// What to do with rules.
#[derive(Subcommand)]
pub enum Rules {
    /// Check rule files: every error with file:line:column and what was expected; exit
    /// status 1 when any is found.
    Check {
        /// The rule files, checked together (rule names are unique across them).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the fields rules can read, with their types.
    Fields,
}

pub fn run(cmd: Rules) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::mail();
    match cmd {
        Rules::Check { files } => match RuleSet::load(&files, catalogue) {
            Ok(set) => {
                let shadow = set.rules().iter().filter(|r| r.mode == Mode::Shadow).count();
                let entries: usize = set.lists().map(|(_, l)| l.len()).sum();
                println!(
                    "ok: {} rules ({shadow} in shadow mode), {} lists ({entries} entries), {} catalogue version {}",
                    set.rules().len(),
                    set.lists().count(),
                    catalogue.kind,
                    catalogue.version
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
        Rules::Fields => {
            println!("# {} catalogue, version {}", catalogue.kind, catalogue.version);
            for f in catalogue.fields {
                println!("{:<24} {:<18} {}", f.name, f.ty.describe(), f.doc);
            }
            println!("# actions, mildest first: {}", catalogue.actions.join(", "));
            Ok(ExitCode::SUCCESS)
        }
    }
}
