//! Engine configuration: a TOML file, every key optional, unknown keys refused by name.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use warden_core::{MailAction, Thresholds};
use warden_mail::MailConfig;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration (the message names the key and position).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// The values do not make sense together.
    #[error("invalid thresholds: {0}")]
    Thresholds(#[from] warden_core::ThresholdsError),
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

impl Config {
    /// Reads and checks a TOML configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        config.thresholds.build()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_override_defaults_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(&p, "[thresholds]\njunk = 2.5\n[mail]\nmax_part_bytes = 1000\n").unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.thresholds.junk, 2.5);
        assert_eq!(c.thresholds.reject, ThresholdConfig::default().reject);
        assert_eq!(c.mail.max_part_bytes, 1000);

        std::fs::write(&p, "[thresholds]\njunky = 2.5\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("junky") && e.contains("w.toml"), "{e}");

        std::fs::write(&p, "[thresholds]\njunk = 20.0\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("thresholds"), "{e}");
    }
}
