//! Engine configuration: the `[thresholds]`, `[mail]` and `[explain]` sections of Warden's
//! configuration file. The file itself (with the server's sections and environment
//! overrides) is read by `warden_server::Settings`; every key is optional and unknown keys
//! are refused by name.

use crate::MailAction;
use crate::MailConfig;
use serde::{Deserialize, Serialize};
use warden_core::Thresholds;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The values do not make sense together.
    #[error("invalid thresholds: {0}")]
    Thresholds(#[from] warden_core::ThresholdsError),
    /// The thresholds in the model file's metadata cannot be used.
    #[error("the model's own thresholds: {0}")]
    ModelThresholds(String),
    /// A `[signals]` entry cannot be used.
    #[error("[signals]: {0}")]
    Signal(String),
    /// The model scores another kind of event.
    #[error("the model scores {model} events, not {this}")]
    Kind {
        /// The model's kind.
        model: String,
        /// This engine's.
        this: &'static str,
    },
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionThresholds {
    /// Junk folder from this score (built in: 1.0, P(spam) ≈ 0.73).
    pub junk: f64,
    /// Quarantine from this score (built in: 6.0, P(spam) ≈ 0.9975).
    pub quarantine: f64,
    /// Reject at SMTP time from this score (built in: 10.0, P(spam) ≈ 0.99995).
    pub reject: f64,
}

impl Default for ActionThresholds {
    /// The built-in thresholds.
    fn default() -> Self {
        ActionThresholds { junk: 1.0, quarantine: 6.0, reject: 10.0 }
    }
}

impl ActionThresholds {
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

    /// The thresholds a model file carries in its metadata, if any.
    pub fn of_model(model: &warden_learn::Model) -> Result<Option<ActionThresholds>, ConfigError> {
        let Some(v) = &model.meta.thresholds else { return Ok(None) };
        let t: ActionThresholds = serde_json::from_value(v.clone())
            .map_err(|e| ConfigError::ModelThresholds(format!("unreadable: {e}")))?;
        t.check().map_err(|e| ConfigError::ModelThresholds(e.to_string()))?;
        Ok(Some(t))
    }

    /// Writes these thresholds into a model's metadata (they apply where the configuration
    /// file sets none).
    pub fn put_in_model(&self, model: &mut warden_learn::Model) {
        model.meta.thresholds = Some(serde_json::to_value(self).expect("thresholds serialise"));
    }
}

/// Where a threshold in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    /// The configuration file's `[thresholds]` (or its environment override).
    Configuration,
    /// The model file's metadata (as `warden calibrate --model-out` writes it).
    Model,
    /// Built into Warden.
    BuiltIn,
}

/// The `[thresholds]` section: each key optional. A key left out comes from the model's own
/// thresholds when it carries them, else from the built-in ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdConfig {
    /// Junk folder from this score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junk: Option<f64>,
    /// Quarantine from this score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<f64>,
    /// Reject at SMTP time from this score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject: Option<f64>,
}

impl ThresholdConfig {
    /// Checks the thresholds the file sets against each other (the ones it leaves out are
    /// checked once they are known, when an engine is made).
    pub fn check(&self) -> Result<(), ConfigError> {
        let given = [
            (self.junk, MailAction::Junk),
            (self.quarantine, MailAction::Quarantine),
            (self.reject, MailAction::Reject),
        ];
        Thresholds::new(MailAction::Deliver, given.iter().filter_map(|(t, a)| t.map(|t| (t, *a))).collect())?;
        Ok(())
    }

    /// The thresholds in force, key by key: this configuration's, then `model`'s, then the
    /// built-in ones; with where each came from (junk, quarantine, reject).
    pub fn resolve(&self, model: Option<&ActionThresholds>) -> (ActionThresholds, [ThresholdSource; 3]) {
        let built = ActionThresholds::default();
        let pick = |config: Option<f64>, model: Option<f64>, built: f64| match (config, model) {
            (Some(c), _) => (c, ThresholdSource::Configuration),
            (None, Some(m)) => (m, ThresholdSource::Model),
            (None, None) => (built, ThresholdSource::BuiltIn),
        };
        let junk = pick(self.junk, model.map(|m| m.junk), built.junk);
        let quarantine = pick(self.quarantine, model.map(|m| m.quarantine), built.quarantine);
        let reject = pick(self.reject, model.map(|m| m.reject), built.reject);
        (
            ActionThresholds { junk: junk.0, quarantine: quarantine.0, reject: reject.0 },
            [junk.1, quarantine.1, reject.1],
        )
    }
}

/// How decisions are explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// The model's reasons listed at most in an explained decision, strongest first: its
    /// feature families (default 8, which is all of them).
    #[serde(alias = "top_features")]
    pub reasons: usize,
    /// The features named in each reason as its evidence (default 3).
    pub evidence: usize,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig { reasons: 8, evidence: 3 }
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
    /// Points a named signal adds to the score, by name (`PADDED_SUBJECT = 0.5`), in place of
    /// its built-in points (`crate::extract::SIGNALS`); 0 leaves it to the model.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub signals: std::collections::BTreeMap<String, f64>,
}

impl Config {
    /// The points of each named signal: the built-in ones, with `[signals]` in their place.
    pub fn signal_points(&self) -> Result<Vec<(&'static str, f64)>, ConfigError> {
        let mut points = crate::extract::SIGNALS.to_vec();
        for (name, &value) in &self.signals {
            let Some(slot) = points.iter_mut().find(|(n, _)| n == name) else {
                let known: Vec<&str> = points.iter().map(|(n, _)| *n).collect();
                return Err(ConfigError::Signal(format!(
                    "no signal is called {name:?}; the signals are {}",
                    known.join(", ")
                )));
            };
            if !value.is_finite() || value.abs() > 100.0 {
                return Err(ConfigError::Signal(format!(
                    "{name} = {value}: points are a number from -100 to 100"
                )));
            }
            slot.1 = value;
        }
        Ok(points)
    }
}
