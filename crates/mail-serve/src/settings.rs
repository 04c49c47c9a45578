//! Mail's sections of the configuration file — `[thresholds]`, `[mail]`, `[explain]`,
//! `[signals]` (the engine's), `[milter]`, `[mail_auth]` — read from the server's settings
//! ([`warden_server::Settings::section`]) and checked here.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use warden_mail::MailConfig;
use warden_mail::engine::{Config, ExplainConfig, ThresholdConfig};
use warden_server::Settings;
use warden_server::settings::SettingsError;

use crate::mailauth::MailAuthConfig;

/// The sections mail reads.
pub const SECTIONS: &[&str] = &["thresholds", "mail", "explain", "signals", "milter", "mail_auth"];

/// Mail's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailSettings {
    /// Action thresholds.
    pub thresholds: ThresholdConfig,
    /// Mail parsing limits (a model's own extractor settings take precedence).
    pub mail: MailConfig,
    /// Explanations.
    pub explain: ExplainConfig,
    /// Points of the named signals, by name, in place of the built-in ones.
    pub signals: std::collections::BTreeMap<String, f64>,
    /// The milter for Postfix and Sendmail.
    pub milter: MilterConfig,
    /// Live SPF, DKIM, DMARC and ARC checks.
    pub mail_auth: MailAuthConfig,
}

impl MailSettings {
    /// Mail's sections of `s`, checked (against each other and against the server's
    /// listeners).
    pub fn of(s: &Settings) -> Result<MailSettings, SettingsError> {
        let m = MailSettings {
            thresholds: s.section("thresholds")?,
            mail: s.section("mail")?,
            explain: s.section("explain")?,
            signals: s.section("signals")?,
            milter: s.section("milter")?,
            mail_auth: s.section("mail_auth")?,
        };
        m.check(s)?;
        Ok(m)
    }

    /// Writes these sections into `s` (what `--check-config` shows; a test's values).
    pub fn write(&self, s: &mut Settings) {
        s.set_section("thresholds", &self.thresholds);
        s.set_section("mail", &self.mail);
        s.set_section("explain", &self.explain);
        s.set_section("signals", &self.signals);
        s.set_section("milter", &self.milter);
        s.set_section("mail_auth", &self.mail_auth);
    }

    /// The engine's part.
    pub fn engine(&self) -> Config {
        Config {
            thresholds: self.thresholds.clone(),
            mail: self.mail.clone(),
            explain: self.explain.clone(),
            signals: self.signals.clone(),
        }
    }

    fn check(&self, s: &Settings) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        if let Err(e) = self.thresholds.check() {
            return bad(format!("[thresholds]: {e}"));
        }
        if let Err(e) = self.engine().signal_points() {
            return bad(e.to_string());
        }
        let m = &self.milter;
        if m.enabled && m.listen.port() != 0 && [s.server.listen, s.server.controller].contains(&m.listen) {
            return bad(format!(
                "[milter]: listen {} is already the scanning or controller listener",
                m.listen
            ));
        }
        if m.time_budget_ms == 0 || m.idle_timeout_secs == 0 || m.max_in_flight == 0 || m.max_recipients == 0
        {
            return bad(
                "[milter]: time_budget_ms, idle_timeout_secs, max_in_flight and max_recipients must be above 0".into(),
            );
        }
        if m.reject_message.contains(['\r', '\n', '\0']) {
            return bad("[milter]: reject_message must be one line".into());
        }
        let a = &self.mail_auth;
        if a.budget_ms == 0 || a.authserv_id.trim().is_empty() || a.authserv_id.contains([';', '\r', '\n']) {
            return bad("[mail_auth]: budget_ms must be above 0 and authserv_id a plain name".into());
        }
        for n in &a.nameservers {
            if n.parse::<SocketAddr>().is_err() && n.parse::<std::net::IpAddr>().is_err() {
                return bad(format!("[mail_auth]: nameserver {n:?} is not IP or IP:PORT"));
            }
        }
        Ok(())
    }
}

/// Warnings for mail's settings that put Warden within reach of others: printed at start.
pub fn exposure_warnings(m: &MailSettings) -> Vec<String> {
    let mut out = Vec::new();
    if m.milter.enabled && !m.milter.listen.ip().to_canonical().is_loopback() {
        out.push(format!(
            "the milter listens on {}, beyond loopback: the milter protocol has no authentication, so \
             anyone who reaches the port can have messages decided; keep it behind a firewall",
            m.milter.listen
        ));
    }
    out
}

/// What the milter does with a message Warden would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectAs {
    /// Refuse it at SMTP time with 550 and a reason (the default).
    Reject,
    /// Accept it into the MTA's hold queue.
    Quarantine,
    /// Accept it with Warden's headers only.
    Headers,
}

/// What the milter does with a message Warden would quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineAs {
    /// The MTA's hold queue (the default).
    Quarantine,
    /// Accept it with Warden's headers only.
    Headers,
}

/// What the milter answers when it cannot decide (internal error, time budget spent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Accept, with an `X-Warden-Error` header saying why it was not checked (the default).
    Accept,
    /// 451: the sending server tries again later.
    Tempfail,
}

/// `[milter]`: Warden in the MTA's SMTP conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MilterConfig {
    /// Listen for milter connections (default true).
    pub enabled: bool,
    /// Where (default 127.0.0.1:11332, Rspamd's proxy port).
    pub listen: SocketAddr,
    /// Messages Warden would reject (default `reject`).
    pub reject: RejectAs,
    /// Messages Warden would quarantine (default `quarantine`).
    pub quarantine: QuarantineAs,
    /// When no decision can be made (default `accept`). A full milter (`max_in_flight`) always
    /// answers tempfail: the sender retries when the load has passed.
    pub on_error: OnError,
    /// Messages decided at once by the milter (default 64): its own budget, apart from the
    /// HTTP listeners'. One more is answered 451 at once.
    pub max_in_flight: usize,
    /// Recipients of one message at most (default 1,000); one more is answered
    /// `452 4.5.3`. Envelope data counts against `[limits] max_message_bytes` with the
    /// message: a recipient past it is answered `552 5.3.4`.
    pub max_recipients: usize,
    /// Time to decide on one message, in milliseconds (default 5,000).
    pub time_budget_ms: u64,
    /// Seconds an MTA connection may stay silent before it is closed (default 600).
    pub idle_timeout_secs: u64,
    /// The text of the 550 reply (default "5.7.1 Message rejected as spam").
    pub reject_message: String,
}

impl Default for MilterConfig {
    fn default() -> Self {
        MilterConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 11332)),
            reject: RejectAs::Reject,
            quarantine: QuarantineAs::Quarantine,
            on_error: OnError::Accept,
            max_in_flight: 64,
            max_recipients: 1000,
            time_budget_ms: 5_000,
            idle_timeout_secs: 600,
            reject_message: "5.7.1 Message rejected as spam".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MailSettings, SECTIONS};
    use warden_server::Settings;

    fn read(text: &str) -> Result<MailSettings, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(&p, text).unwrap();
        let s = Settings::load(Some(&p), Vec::<(String, String)>::new()).map_err(|e| e.to_string())?;
        s.check_sections(SECTIONS).map_err(|e| e.to_string())?;
        MailSettings::of(&s).map_err(|e| e.to_string())
    }

    /// Mail's sections of the defaults docs/serving.md shows are mail's defaults.
    #[test]
    fn the_documented_defaults_are_mails_defaults() {
        let block = warden_server::testing::documented_defaults();
        assert_eq!(read(block).unwrap(), MailSettings::default());
        for section in ["[milter]", "[mail_auth]"] {
            assert!(block.contains(section), "{section} is documented");
        }
    }

    #[test]
    fn mails_sections_are_read_and_bad_values_refused_clearly() {
        let m = read("[thresholds]\njunk = 2.5\n[milter]\nmax_in_flight = 8\n").unwrap();
        assert_eq!((m.thresholds.junk, m.thresholds.reject), (Some(2.5), None));
        assert_eq!(m.milter.max_in_flight, 8);
        for (text, needle) in [
            ("[thresholds]\njunk = 7.0\nquarantine = 6.0\n", "thresholds"),
            ("[thresholds]\njunk2 = 1.0\n", "(from file"),
            ("[signals]\nPADDED_SUBJEKT = 1.0\n", "no signal is called \"PADDED_SUBJEKT\""),
            ("[signals]\nPADDED_SUBJECT = 1e9\n", "from -100 to 100"),
            ("[signals]\nPADDED_SUBJECT = \"high\"\n", "signals"),
            ("[milter]\nmax_in_flight = 0\n", "above 0"),
            ("[milter]\nlisten = \"127.0.0.1:11333\"\n", "already the scanning"),
            ("[mail_auth]\nnameservers = [\"resolver\"]\n", "not IP"),
            ("[mial]\nmax_parts = 4\n", "`mial` (in file"),
        ] {
            let e = read(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn written_sections_read_back_the_same() {
        let mut m = MailSettings::default();
        m.thresholds.junk = Some(1.5);
        m.milter.reject_message = "5.7.1 no".into();
        let mut s = Settings::default();
        m.write(&mut s);
        assert_eq!(MailSettings::of(&s).unwrap(), m);
        let toml = s.to_toml_without_secrets().unwrap();
        assert!(toml.contains("[milter]") && toml.contains("5.7.1 no"), "{toml}");
    }
}
