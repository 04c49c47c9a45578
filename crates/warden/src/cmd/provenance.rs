//! `warden provenance`: whether training corpora hold messages of the sets kept for
//! independent evaluation (or of any other set), by Message-ID and by body hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use warden_corpus::provenance::{self, Index};

#[derive(clap::Args)]
pub struct Args {
    /// A corpus to check (labels.tsv, a TREC index, or a folder of messages); repeat for more.
    #[arg(long = "corpus", required = true)]
    corpora: Vec<PathBuf>,
    /// A set it must not overlap (same forms); repeat for more.
    #[arg(long = "reserved", required = true)]
    reserved: Vec<PathBuf>,
    /// Overlaps listed at most (all are counted).
    #[arg(long, default_value_t = 20)]
    show: usize,
}

/// Exit status 0 when no message overlaps, 1 when some do.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut index = Index::default();
    let mut unreadable = 0usize;
    let mut reserved = 0usize;
    for r in &args.reserved {
        for path in provenance::messages_under(r).with_context(|| format!("cannot list {}", r.display()))? {
            match std::fs::read(&path) {
                Ok(raw) => {
                    index.add(&path, provenance::fingerprint(&raw));
                    reserved += 1;
                }
                Err(_) => unreadable += 1,
            }
        }
    }
    let (mut checked, mut overlaps) = (0usize, Vec::new());
    for c in &args.corpora {
        for path in provenance::messages_under(c).with_context(|| format!("cannot list {}", c.display()))? {
            let Ok(raw) = std::fs::read(&path) else {
                unreadable += 1;
                continue;
            };
            checked += 1;
            if let Some(o) = index.find(&path, &provenance::fingerprint(&raw)) {
                overlaps.push(o);
            }
        }
    }
    for o in overlaps.iter().take(args.show) {
        println!("{}\t{}\t{}", o.message.display(), o.matches.display(), o.by);
    }
    if overlaps.len() > args.show {
        println!("… and {} more", overlaps.len() - args.show);
    }
    eprintln!(
        "warden: {checked} messages checked against {reserved} reserved: {} found in them{}",
        overlaps.len(),
        if unreadable > 0 { format!(" ({unreadable} files unreadable)") } else { String::new() }
    );
    Ok(if overlaps.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
