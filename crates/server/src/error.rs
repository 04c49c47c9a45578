//! Why the server cannot start, reload, keep its desk or stop cleanly: one typed error for the
//! library's callers, each variant saying which step failed and carrying its cause. A variant's
//! message includes its cause's, as every message here does (logs and answers show one line),
//! so the cause is a field, not a `source()`: a report that walks the chain would say it twice.

use std::path::PathBuf;

use crate::live::{FeedbackError, LiveError};
use crate::settings::SettingsError;
use warden_desk::DeskError;
use warden_desk::datadir::DataDirError;

/// A failure of the server's state, as [`crate::AppState`] reports it.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory cannot be opened (damage, a foreign file, permissions).
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The live model cannot start, reload, take its configuration or checkpoint.
    #[error(transparent)]
    Live(#[from] LiveError),
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
    /// A resolution's lesson could not be taught.
    #[error("teaching review item {item}'s resolution: {error}")]
    Teach {
        /// The review item.
        item: u64,
        /// Why.
        error: FeedbackError,
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
    /// The thresholds in force cannot be used with the model.
    #[error("[thresholds]: {0}")]
    Thresholds(warden_mail::engine::ConfigError),
    /// The model's own thresholds cannot be used.
    #[error(transparent)]
    ModelThresholds(warden_mail::engine::ConfigError),
    /// The rule files do not check: every error, one a line (`file:line:column: what`).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<warden_rules::Diagnostic>),
    /// The authentication checker's settings cannot be used.
    #[error(transparent)]
    MailAuth(#[from] crate::mailauth::MailAuthError),
    /// A file the server reads (the tokens) cannot be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The last checkpoint, at shutdown, failed.
    #[error("last checkpoint failed: {0}")]
    Checkpoint(LiveError),
    /// A task of the server's own failed (it panicked).
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

impl ServerError {
    /// A desk failure at `step`.
    pub(crate) fn desk(step: &'static str) -> impl FnOnce(DeskError) -> ServerError {
        move |error| ServerError::Desk { step, error }
    }
}
