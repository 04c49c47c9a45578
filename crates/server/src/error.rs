//! Why the server cannot start, reload, keep its desk or stop cleanly: one typed error for the
//! library's callers, each variant saying which step failed and carrying its cause. A variant's
//! message includes its cause's, as every message here does (logs and answers show one line),
//! so the cause is a field, not a `source()`: a report that walks the chain would say it twice.

use std::path::PathBuf;

use crate::settings::SettingsError;
use warden_desk::DeskError;
use warden_desk::datadir::DataDirError;

/// A failure of the server's state, as [`crate::AppState`] reports it.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory cannot be opened (damage, a foreign file, permissions).
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// A plug-in failed at a step (its own error, as it said it).
    #[error("{0}")]
    Plugin(Box<dyn std::error::Error + Send + Sync>),
    /// The configuration cannot be read or does not check.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The desk failed at a step.
    #[error("{step}: {error}")]
    Desk {
        /// What it was doing.
        step: &'static str,
        /// Why it failed.
        error: DeskError,
    },
    /// The model file given on the command line cannot be loaded.
    #[error("{}: {error}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// Why.
        error: warden_learn::ModelError,
    },
    /// `[rules.kinds]` names a kind that is not served, or one that reads no rules.
    #[error("{0}")]
    KindRules(String),
    /// `[webhooks]` cannot be used.
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::WebhookError),
    /// A `[geoip]` database cannot be used.
    #[error("[geoip]: {0}")]
    Geo(#[from] warden_geo::GeoError),
    /// The rule files do not check: every error, one a line (`file:line:column: what`).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<warden_rules::Diagnostic>),
    /// A file the server reads (the tokens) cannot be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A task of the server's own failed (it panicked).
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

impl ServerError {
    /// A desk failure at `step`.
    pub fn desk(step: &'static str) -> impl FnOnce(DeskError) -> ServerError {
        move |error| ServerError::Desk { step, error }
    }
}
