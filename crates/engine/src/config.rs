//! Engine configuration: the `[thresholds]`, `[mail]` and `[explain]` sections of Warden's
//! configuration file. The file itself (with the server's sections and environment
//! overrides) is read by `warden_server::Settings`; every key is optional and unknown keys
//! are refused by name.

use serde::{Deserialize, Serialize};
use warden_core::{MailAction, Thresholds};
use warden_mail::MailConfig;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The values do not make sense together.
    #[error("invalid thresholds: {0}")]
    Thresholds(#[from] warden_core::ThresholdsError),
    /// The model learned from features this build no longer extracts.
    #[error(
        "the model learned from extractor version {model}, this build extracts version {this}: \
         its weights would be read against other features; train it again (warden train) or use \
         the build that made it"
    )]
    ExtractorVersion {
        /// The model's.
        model: u32,
        /// This build's.
        this: u32,
    },
}

/// Score thresholds of the mail actions, in log-odds (the score's unit). A message scoring at
/// or above a threshold gets that action (the harshest reached); below `junk` it is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdConfig {
    /// Junk folder from this score (default 1.0, P(spam) ≈ 0.73).
    pub junk: f64,
    /// Quarantine from this score (default 6.0, P(spam) ≈ 0.9975).
    pub quarantine: f64,
    /// Reject at SMTP time from this score (default 10.0, P(spam) ≈ 0.99995).
    pub reject: f64,
}

impl Default for ThresholdConfig {
    fn default() -> Self {
        ThresholdConfig { junk: 1.0, quarantine: 6.0, reject: 10.0 }
    }
}

impl ThresholdConfig {
    /// Checks that the thresholds rise from junk to reject.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.build().map(|_| ())
    }

    pub(crate) fn build(&self) -> Result<Thresholds<MailAction>, ConfigError> {
        Ok(Thresholds::new(
            MailAction::Deliver,
            vec![
                (self.junk, MailAction::Junk),
                (self.quarantine, MailAction::Quarantine),
                (self.reject, MailAction::Reject),
            ],
        )?)
    }
}

/// How decisions are explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// Model features listed in an explained decision's reasons (default 8).
    pub top_features: usize,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig { top_features: 8 }
    }
}

/// Warden's configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Action thresholds.
    pub thresholds: ThresholdConfig,
    /// Mail parsing limits.
    pub mail: MailConfig,
    /// Explanations.
    pub explain: ExplainConfig,
}
