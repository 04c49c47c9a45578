//! `warden serve`: the decision pipeline as a long-running service.
//!
//! Two HTTP listeners, on Rspamd's ports so that an MTA configured for Rspamd can ask Warden
//! instead:
//! - the **scanning** listener (default 127.0.0.1:11333): Warden's API (`POST /v1/mail/check`,
//!   `POST /v1/mail/feedback`) and Rspamd's normal worker (`POST /checkv2`, `GET /ping`);
//! - the **controller** (default 127.0.0.1:11334): Rspamd's `/learnspam`, `/learnham` and
//!   `/stat`, feedback, and the admin calls (`/v1/admin/reload`, `/v1/admin/checkpoint`).
//!
//! Both answer `/metrics`, `/healthz`, `/readyz` and `/openapi.json`. Decisions are CPU work
//! of about a tenth of a millisecond: small messages are decided on the async worker that
//! received them, large ones on the blocking pool so that one big message never stalls the
//! requests behind it.
#![deny(missing_docs)]

mod api;
mod auth;
mod budget;
pub mod conn;
pub mod datadir;
pub mod desk;
mod desk_api;
#[doc(hidden)]
pub mod dns_fixture;
mod error;
pub mod first_seen;
pub mod journal;
pub mod live;
pub mod mailauth;
pub mod metrics;
pub mod milter;
mod openapi;
mod redbfile;
mod rspamd;
mod seal;
pub mod settings;
pub mod store;
pub mod text;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::connect_info::ConnectInfo;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use warden_core::Decision;
use warden_mail::MailAction;

pub use error::ServerError;

pub use api::CheckReply;
pub use auth::tokens as auth_tokens;
pub use live::Live;
pub use metrics::Metrics;
pub use settings::Settings;

/// Messages up to this size are decided on the async worker; larger ones on the blocking pool.
const INLINE_BYTES: usize = 256 << 10;

/// Changes the command line makes to the settings.
pub type Overrides = Arc<dyn Fn(&mut Settings) + Send + Sync>;

/// Where the settings and the model came from, for a reload.
#[derive(Clone, Default)]
pub struct Sources {
    /// The configuration file, if any.
    pub config: Option<PathBuf>,
    /// The model file given on the command line, if any.
    pub model: Option<PathBuf>,
    /// What the command line overrides, applied again after each reload.
    pub overrides: Option<Overrides>,
}

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    live: Arc<Live>,
    desk: Arc<desk::Desk>,
    checker: RwLock<Arc<mailauth::Checker>>,
    settings: RwLock<Arc<Settings>>,
    tokens: RwLock<Arc<Vec<String>>>,
    sources: Sources,
    metrics: Metrics,
    /// Decisions by action, in `MailAction` order (for Rspamd's `/stat`).
    scanned: [AtomicU64; 4],
    scan_slots: Arc<tokio::sync::Semaphore>,
    controller_slots: Arc<tokio::sync::Semaphore>,
    /// The milter's own decision slots (`[milter] max_in_flight`).
    milter_slots: Arc<tokio::sync::Semaphore>,
    /// Bytes of requests and milter messages held, across listeners.
    budget: budget::Budget,
    /// Each listener's connections: scanning, controller, milter.
    trackers: [Arc<conn::Tracker>; 3],
    /// Outbox lessons a resolve handler is teaching now (the drain leaves them alone).
    teaching: std::sync::Mutex<std::collections::HashSet<u64>>,
}

/// What opening the data directory did, for the log.
#[derive(Debug, Default)]
pub struct StartReport {
    /// Things an operator should know (permissions tightened, an identity made or adopted, a
    /// torn journal tail cut off).
    pub notes: Vec<String>,
    /// What a repair did, and audit-key rotations (also in the audit log).
    pub repairs: Vec<String>,
    /// Resolutions' lessons taught from the outbox (left by a crash).
    pub lessons: usize,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl AppState {
    /// Opens the data directory of `settings` (refusing a damaged one unless `repair`), makes
    /// the live model — `model` when given, else the directory's checkpoint, else the starter
    /// model — and the state every request shares. A repair is recorded in the audit log, and
    /// lessons a crash left in the outbox are taught. `tokens` are the accepted bearer tokens
    /// (see [`auth::tokens`]).
    pub fn open(
        settings: Settings,
        model: Option<warden_learn::Model>,
        tokens: Vec<String>,
        sources: Sources,
        repair: bool,
    ) -> Result<(AppState, StartReport), ServerError> {
        let opts = datadir::Options {
            repair,
            audit_key_file: settings.audit.key_file.clone(),
            db_cache_bytes: settings.limits.db_cache_bytes,
        };
        let mut data = datadir::open(&settings.server.data_dir, &opts)?;
        let live = Live::open(
            &mut data,
            model,
            warden_engine::starter_model,
            settings.engine(),
            &settings.feedback,
        )?;
        let state = AppState::new(live, Arc::clone(&data.desk), settings, tokens, sources)?;
        let at = unix_now();
        let entries = data
            .repairs
            .iter()
            .map(|(kind, what)| desk::AuditEntry {
                at,
                kind: (*kind).to_owned(),
                actor: "warden".into(),
                reason: Some(what.clone()),
                ..Default::default()
            })
            .collect();
        state
            .desk()
            .audit_now(entries)
            .map_err(ServerError::desk("recording the repair in the audit log"))?;
        let lessons = state.teach_outbox(true)?;
        let repairs = data.repairs.into_iter().map(|(_, what)| what).collect();
        Ok((state, StartReport { notes: data.notes, repairs, lessons }))
    }

    /// Serves `live` and `desk` with `settings`; `tokens` are the accepted bearer tokens.
    pub fn new(
        live: Arc<Live>,
        desk: Arc<desk::Desk>,
        settings: Settings,
        tokens: Vec<String>,
        sources: Sources,
    ) -> Result<Self, ServerError> {
        let slots = |n| Arc::new(tokio::sync::Semaphore::new(n));
        let checker = RwLock::new(Arc::new(mailauth::Checker::new(&settings.mail_auth)?));
        let metrics = Metrics::default();
        let cap = settings.limits.max_connections;
        let trackers = ["scan", "controller", "milter"]
            .map(|name| conn::Tracker::new(name, cap, metrics.connections_closed.clone()));
        let r = &settings.review;
        desk.set_limits(r.max_items, r.max_subject_bytes, r.max_reason_bytes);
        live.set_rules(load_rules(&settings.rules.files, Some(&desk))?);
        Ok(AppState(Arc::new(Shared {
            checker,
            desk,
            scan_slots: slots(settings.limits.max_in_flight),
            controller_slots: slots(settings.limits.max_in_flight),
            milter_slots: slots(settings.milter.max_in_flight),
            budget: budget::Budget::new(settings.limits.max_bytes_in_flight),
            trackers,
            live,
            settings: RwLock::new(Arc::new(settings)),
            tokens: RwLock::new(Arc::new(tokens)),
            sources,
            metrics,
            scanned: Default::default(),
            teaching: Default::default(),
        })))
    }

    /// Teaches the outbox's lessons (resolutions whose lesson a crash or a full feedback queue
    /// kept from the store) and lets each go once stored; returns how many. With `strict` (at
    /// start) a damaged lesson is an error; otherwise it is skipped and counted. Blocks: call it
    /// off the async workers.
    pub fn teach_outbox(&self, strict: bool) -> Result<usize, ServerError> {
        let lessons = self.0.desk.outbox(strict).map_err(ServerError::desk("the desk's outbox"))?;
        let mut taught = 0;
        for (seq, l) in lessons {
            if !self.0.teaching.lock().expect("not poisoned").insert(seq) {
                continue; // a resolve handler is on it
            }
            let result = match self.lesson_features(&l) {
                Some(x) => self
                    .0
                    .live
                    .teach_blocking(l.message, x, l.spam, l.body.as_deref(), l.correction)
                    .map(Some),
                None => Ok(None),
            };
            self.0.teaching.lock().expect("not poisoned").remove(&seq);
            match result.map_err(|error| ServerError::Teach { item: l.item, error })? {
                Some(outcome) => api::count_feedback(self, Some(outcome)),
                None => tracing::warn!(
                    item = l.item,
                    "a resolution's lesson was made by another extractor and its message was not kept: it cannot be taught"
                ),
            }
            self.0
                .desk
                .clear_lesson(seq)
                .map_err(ServerError::desk("letting a taught lesson go from the outbox"))?;
            taught += 1;
        }
        Ok(taught)
    }

    /// A lesson's features as the live model extracts: as kept when the extractor is the same,
    /// made again from the kept message when not; `None` when neither is possible.
    fn lesson_features(&self, l: &desk::Lesson) -> Option<warden_core::FeatureVec> {
        if l.extractor == self.0.live.extractor() {
            Some(warden_core::FeatureVec::from_hashes(l.features.clone()))
        } else {
            l.body.as_deref().map(|raw| self.0.live.features(raw))
        }
    }

    /// Teaches one lesson of the outbox (a resolution just committed) and lets it go; answers
    /// what became of it. A lesson that cannot be stored now stays in the outbox: the next
    /// housekeeping pass or start teaches it.
    pub(crate) async fn teach_lesson(&self, seq: u64, l: desk::Lesson) -> serde_json::Value {
        if !self.0.teaching.lock().expect("not poisoned").insert(seq) {
            return serde_json::json!({ "outcome": "queued" }); // the outbox's drain is on it
        }
        let answer = match self.lesson_features(&l) {
            None => {
                serde_json::json!({ "outcome": "queued", "error": "the model's extractor changed: taught from the outbox" })
            }
            Some(x) => match api::teach(self, l.message, x, l.spam, l.body.as_deref(), l.correction).await {
                Ok(outcome) => {
                    let desk = Arc::clone(&self.0.desk);
                    match tokio::task::spawn_blocking(move || desk.clear_lesson(seq)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, lesson = seq, "a taught lesson stays in the outbox (taught again as a duplicate)")
                        }
                        Err(e) => tracing::warn!(error = %e, lesson = seq, "clearing a taught lesson failed"),
                    }
                    let (outcome, record) = api::describe(outcome);
                    serde_json::json!({ "outcome": outcome, "record": record })
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, item = l.item, "a resolution's lesson waits in the outbox");
                    serde_json::json!({ "outcome": "queued", "error": e.message })
                }
            },
        };
        self.0.teaching.lock().expect("not poisoned").remove(&seq);
        answer
    }

    /// The live model.
    pub fn live(&self) -> &Arc<Live> {
        &self.0.live
    }

    /// The analysts' desk: review queue, labels, audit log, counter journal.
    pub fn desk(&self) -> &Arc<desk::Desk> {
        &self.0.desk
    }

    /// Deletes what the desk holds past its retention: audit entries (`[audit]
    /// retention_days`), review items and lapsed labels (`[review] retention_days`), and counter
    /// updates older than the longest window of the rules in force; and sender domains' first-seen
    /// times older than `[audit] first_seen_days`. Returns how many of the first four.
    pub fn expire_desk(&self) -> Result<[u64; 4], ServerError> {
        let s = self.settings();
        let window = self.0.live.with_engine(|e| e.rules().map_or(0, |r| r.longest_window()));
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let before = now.saturating_sub(s.audit.first_seen_days.saturating_mul(86_400));
        self.0.live.first_seen().forget_before(before);
        self.0
            .desk
            .expire_first_seen(before)
            .map_err(ServerError::desk("forgetting sender domains' first-seen times"))?;
        self.0
            .desk
            .expire(now, s.audit.retention_days, s.review.retention_days, window)
            .map_err(ServerError::desk("expiring the desk's records"))
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.0.settings.read().expect("not poisoned"))
    }

    fn tokens(&self) -> Arc<Vec<String>> {
        Arc::clone(&self.0.tokens.read().expect("not poisoned"))
    }

    fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    fn budget(&self) -> &budget::Budget {
        &self.0.budget
    }

    fn tracker(&self, listener: &str) -> &Arc<conn::Tracker> {
        match listener {
            "scan" => &self.0.trackers[0],
            "controller" => &self.0.trackers[1],
            _ => &self.0.trackers[2],
        }
    }

    /// Runs the authentication checks `envelope` allows, then decides on `raw` (on the
    /// blocking pool when it is large) and counts the decision.
    async fn decide(
        &self,
        raw: Bytes,
        envelope: &mailauth::Envelope,
        endpoint: &str,
    ) -> Result<Checked, ApiError> {
        let checker = Arc::clone(&self.0.checker.read().expect("not poisoned"));
        let auth = checker.check(&raw, envelope).await;
        let prefix = auth.header.as_ref().map(|h| format!("Authentication-Results: {h}\r\n").into_bytes());
        let inline = raw.len() <= INLINE_BYTES;
        let mut c = if inline {
            self.0.live.check_with(&raw, prefix.as_deref(), Some(envelope))
        } else {
            let live = Arc::clone(&self.0.live);
            let envelope = envelope.clone();
            let raw = raw.clone();
            tokio::task::spawn_blocking(move || live.check_with(&raw, prefix.as_deref(), Some(&envelope)))
                .await
                .map_err(|e| ApiError::internal(format!("decision task failed: {e}")))?
        };
        if envelope.ip.is_some() {
            c.decision.reasons.push(auth_reason(&auth));
        }
        self.record(&mut c, &raw, endpoint, inline).await?;
        let (decision, id, model_version) = (c.decision, c.id, c.model_version);
        self.0.scanned[decision.action as usize].fetch_add(1, Ordering::Relaxed);
        self.metrics().decided(decision.action.as_str(), endpoint);
        Ok(Checked { decision, id, model_version, auth })
    }

    /// Writes what the desk keeps of a decision — its audit entry, its review item, its rules'
    /// counter updates and labels — and waits for what must be durable before the answer.
    async fn record(
        &self,
        c: &mut live::LiveCheck,
        raw: &Bytes,
        endpoint: &str,
        inline: bool,
    ) -> Result<(), ApiError> {
        let settings = self.settings();
        let [low, high] = settings.review.band;
        let uncertain = (low..=high).contains(&c.decision.probability);
        let review = uncertain || c.decision.review;
        let mut writes = desk::CheckWrites {
            audit_sync: settings.audit.sync_decisions,
            counts: std::mem::take(&mut c.counts),
            labels: std::mem::take(&mut c.labels),
            first_seen: std::mem::take(&mut c.first_seen),
            ..Default::default()
        };
        if settings.audit.decisions {
            writes.audit = Some(desk::AuditEntry {
                at: c.at,
                kind: "decision".into(),
                actor: format!("warden:{endpoint}"),
                message: Some(format!("{:032x}", c.id)),
                action: Some(c.decision.action.as_str().into()),
                score: Some(c.decision.score),
                probability: Some(c.decision.probability),
                // The names only (rules, the model, the feature families, GTUBE, AUTH): the
                // sentences and the evidence quote words of the message.
                reasons: c.decision.reasons.iter().map(|r| r.name.clone()).collect(),
                ..Default::default()
            });
        }
        if review {
            let mut why = Vec::new();
            if uncertain {
                why.push("uncertain".to_owned());
            }
            if c.decision.review {
                why.push("rule".to_owned());
            }
            writes.review = Some(self.review_item(c, raw, why, settings.review.keep_bodies, inline).await?);
        }
        // Review items, labels and counter updates are on disk before the answer (a crash
        // loses none that was answered); a decision's own audit entry only when configured.
        let must_wait = writes.waited_for();
        if !writes.is_empty() {
            let mut answer = self.0.desk.submit(writes);
            let stored = if must_wait {
                (&mut answer).await.unwrap_or(Err(desk::WriteError::WriterStopped))
            } else {
                // Refused at once (queue full, stopping) shows now; a later failure is logged
                // by the writer.
                answer.try_recv().unwrap_or(Ok(()))
            };
            if let Err(e) = stored {
                Metrics::count(&self.metrics().desk_failures, endpoint);
                if must_wait {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("decided, but its review, label or counter writes were not stored: {e}"),
                    ));
                }
                tracing::warn!(error = %e, "a decision's audit entry was not queued");
            }
        }
        Ok(())
    }

    /// A review item for a decision, with what an analyst needs to judge it.
    async fn review_item(
        &self,
        c: &live::LiveCheck,
        raw: &Bytes,
        why: Vec<String>,
        keep_body: bool,
        inline: bool,
    ) -> Result<desk::NewReview, ApiError> {
        let live = Arc::clone(&self.0.live);
        let (id, facts) = (c.id, c.facts.clone());
        let raw_owned = raw.clone();
        let work = move || {
            let facts = facts.unwrap_or_else(|| live.with_engine(|e| e.facts(&raw_owned)));
            let x = live.recent_features(id).unwrap_or_else(|| live.features(&raw_owned));
            (facts, x, live.extractor())
        };
        let (facts, x, extractor) = if inline {
            work()
        } else {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| ApiError::internal(format!("review task failed: {e}")))?
        };
        let d = &c.decision;
        let certainty = if why.iter().any(|w| w == "rule") {
            0
        } else {
            desk::certainty(d.probability, self.settings().review.band)
        };
        Ok(desk::NewReview {
            item: desk::ReviewItem {
                at: c.at,
                certainty,
                why,
                message: format!("{:032x}", c.id),
                action: d.action.as_str().into(),
                score: d.score,
                probability: d.probability,
                from_domain: facts.from_domain,
                subject: facts.subject,
                url_domains: facts.url_domains,
                attachments: facts.attachment_names,
                reasons: d.reasons.clone(),
                ..desk::ReviewItem::default()
            },
            features: desk::ReviewFeatures { message: c.id, extractor, features: x.hashes().to_vec() },
            body: keep_body.then(|| raw.to_vec()),
        })
    }

    /// Re-reads the configuration file and the environment, and the model file when one was
    /// given on the command line; applies what can change without a restart, atomically.
    /// Returns what changed, and what needs a restart.
    pub fn reload(&self) -> Result<Vec<String>, ServerError> {
        let mut next = Settings::read(self.0.sources.config.as_deref(), std::env::vars())?;
        if let Some(apply) = &self.0.sources.overrides {
            apply(&mut next);
        }
        next.check()?;
        let now = self.settings();
        let mut notes = Vec::new();
        if next.server != now.server || next.limits != now.limits {
            notes.push("[server] and [limits] take effect at the next restart".to_owned());
        }
        if next.milter.max_in_flight != now.milter.max_in_flight {
            notes.push("[milter] max_in_flight takes effect at the next restart".to_owned());
        }
        if next.audit.key_file != now.audit.key_file {
            notes.push("[audit] key_file takes effect at the next restart".to_owned());
        }
        let tokens = auth::tokens(&next)?;
        let model = (self.0.sources.model.as_ref())
            .map(|path| {
                warden_learn::Model::load(path)
                    .map_err(|error| ServerError::Model { path: path.clone(), error })
            })
            .transpose()?;
        // The thresholds in force are checked, against the model that will be live, before
        // anything is swapped: the file's may only rise once the model's fill the gaps.
        let own = match &model {
            Some(m) => warden_engine::ActionThresholds::of_model(m),
            None => self.0.live.with_engine(|e| warden_engine::ActionThresholds::of_model(e.model())),
        }
        .map_err(ServerError::ModelThresholds)?;
        next.thresholds.resolve(own.as_ref()).0.check().map_err(ServerError::Thresholds)?;
        if let (Some(model), Some(path)) = (model, &self.0.sources.model) {
            self.0.live.replace_model(model)?;
            notes.push(format!("model reloaded from {} and taught the stored feedback", path.display()));
        }
        let checker = mailauth::Checker::new(&next.mail_auth)?;
        // Rules are checked before anything is swapped: a set that fails leaves all as it was.
        let rules =
            load_rules(&next.rules.files, Some(&self.0.desk)).inspect_err(|_| self.rule_load_failed())?;
        self.0.metrics.rules_last_load_ok.set(1);
        if let Some(r) = &rules {
            notes.push(format!("{} rules loaded from {} files", r.rules().len(), r.files().len()));
        }
        self.0.live.set_rules(rules);
        self.0.live.set_config(next.engine())?;
        *self.0.checker.write().expect("not poisoned") = Arc::new(checker);
        *self.0.tokens.write().expect("not poisoned") = Arc::new(tokens);
        let r = &next.review;
        self.0.desk.set_limits(r.max_items, r.max_subject_bytes, r.max_reason_bytes);
        *self.0.settings.write().expect("not poisoned") = Arc::new(next);
        notes.push("configuration reloaded".to_owned());
        Ok(notes)
    }
}

impl AppState {
    fn rule_load_failed(&self) {
        self.0.metrics.rule_reload_failures.inc();
        self.0.metrics.rules_last_load_ok.set(0);
    }

    /// Loads the configured rule files again (the watcher's reload: nothing else changes).
    /// A set that fails to check is refused, counted, and the running one stays.
    pub fn reload_rules(&self) -> Result<usize, ServerError> {
        let rules = load_rules(&self.settings().rules.files, Some(&self.0.desk))
            .inspect_err(|_| self.rule_load_failed())?;
        self.0.metrics.rules_last_load_ok.set(1);
        let n = rules.as_ref().map_or(0, |r| r.rules().len());
        self.0.live.set_rules(rules);
        Ok(n)
    }

    /// The files the rules in force were read from, or the configured ones when none are in
    /// force: what the watcher looks at.
    pub fn rule_files(&self) -> Vec<std::path::PathBuf> {
        match self.0.live.with_engine(|e| e.rules().map(|r| r.files().to_vec())) {
            Some(files) => files,
            None => self.settings().rules.files.clone(),
        }
    }

    /// Watches the rule and list files, reloading the rules when one changes (every
    /// `[rules] watch_secs`; never when 0 or no rule files are configured).
    pub async fn watch_rules(self) {
        let mut last = None;
        loop {
            let secs = self.settings().rules.watch_secs;
            if secs == 0 || self.settings().rules.files.is_empty() {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            let stamp: Vec<Option<std::time::SystemTime>> = self
                .rule_files()
                .iter()
                .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
                .collect();
            if last.as_ref().is_some_and(|l| *l != stamp) {
                match self.reload_rules() {
                    Ok(n) => tracing::info!(rules = n, "rule files changed: rules reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "rule files changed but do not check: the running rules stay")
                    }
                }
            }
            last = Some(stamp);
        }
    }
}

/// Takes `bytes` as each JSON body the HTTP API reads — feedback, an entity label, a
/// resolution — and as a labels cursor, and checks the fields as the handlers do. For the
/// fuzzer (`fuzz/fuzz_targets/bodies.rs`): whatever the bytes, it returns.
#[doc(hidden)]
pub fn fuzz_json_bodies(bytes: &[u8]) {
    if let Ok(f) = serde_json::from_slice::<api::FeedbackJson>(bytes) {
        let _ = f.named();
    }
    if let Ok(l) = serde_json::from_slice::<desk_api::SetLabel>(bytes) {
        let _ = l.check(desk::limits::REASON);
    }
    if let Ok(r) = serde_json::from_slice::<desk_api::Resolve>(bytes) {
        let _ = r.check(desk::limits::REASON);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = desk_api::unhex(text);
        let _ = text::check_field("field", text, 512);
        let _ = text::escape(text);
        let _ = text::json_for_terminal(text);
    }
}

/// Warnings for settings that put Warden within reach of others without tokens of its own:
/// printed at start, loudly.
pub fn exposure_warnings(s: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    let beyond = |a: SocketAddr| !a.ip().to_canonical().is_loopback();
    if s.auth.tokens.is_empty() {
        for (name, addr) in [("scanning", s.server.listen), ("controller", s.server.controller)] {
            if beyond(addr) {
                out.push(format!(
                    "the {name} listener is on {addr}, beyond loopback, and [auth] tokens is empty: only the \
                     generated admin.token stands between it and whoever reaches the port; set [auth] tokens \
                     and keep the port behind a firewall"
                ));
            }
        }
    }
    if s.auth.open_checks == settings::OpenChecks::Any && beyond(s.server.listen) {
        out.push(format!(
            "checks are open to anyone who reaches {} ([auth] open_checks = \"any\")",
            s.server.listen
        ));
    }
    if s.milter.enabled && beyond(s.milter.listen) {
        out.push(format!(
            "the milter listens on {}, beyond loopback: the milter protocol has no authentication, so \
             anyone who reaches the port can have messages decided; keep it behind a firewall",
            s.milter.listen
        ));
    }
    out
}

/// Reads and checks rule files; `None` when there are none. Every error is in the message,
/// one per line, as `file:line:column: what (expected …)`. With a desk, the counters hash
/// under its key and are rebuilt from its journal (the updates within their windows), so that
/// a restart or a reload loses no count.
pub fn load_rules(
    files: &[std::path::PathBuf],
    desk: Option<&desk::Desk>,
) -> Result<Option<Arc<warden_rules::RuleSet>>, ServerError> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut rules =
        warden_rules::RuleSet::load(files, warden_mail::catalogue()).map_err(ServerError::Rules)?;
    if let Some(desk) = desk {
        rules.set_key_seed(desk.counter_seed());
        let window = rules.longest_window();
        if window > 0 {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            desk.counts_since(now.saturating_sub(window), |c| {
                rules.restore(&c.counter, c.entity, c.value, c.at);
            })
            .map_err(ServerError::desk("counter journal"))?;
        }
    }
    Ok(Some(Arc::new(rules)))
}

/// A decision with what came with it.
pub(crate) struct Checked {
    decision: Decision<MailAction>,
    id: u128,
    model_version: String,
    auth: mailauth::AuthReport,
}

/// The authentication checks as an informative reason (they weigh through the model's
/// `auth:` features, not here).
fn auth_reason(a: &mailauth::AuthReport) -> warden_core::Reason {
    let mut parts: Vec<String> = [("spf", &a.spf), ("dkim", &a.dkim), ("dmarc", &a.dmarc), ("arc", &a.arc)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    if !a.skipped.is_empty() {
        parts.push(format!("skipped: {}", a.skipped.join(", ")));
    }
    let what = if parts.is_empty() { "none ran".to_owned() } else { parts.join("; ") };
    warden_core::Reason::new(
        "AUTH",
        format!("Authentication checks (they weigh through SENDER): {what}."),
        0.0,
    )
}

/// The scanning listener's routes. A request passes its token check (or the open-checks
/// rule), then has its body read against the byte budget, then takes a decision slot.
pub fn scan_router(state: AppState) -> Router {
    let body = || from_fn_with_state((state.clone(), "scan"), budget::buffer_body);
    let checks = Router::new()
        .route("/v1/mail/check", post(api::check))
        .route("/checkv2", post(rspamd::checkv2))
        .route_layer(from_fn_with_state(state.clone(), auth::limit_scan))
        .route_layer(body())
        .route_layer(from_fn_with_state(state.clone(), auth::open_checks));
    let teach = Router::new()
        .route("/v1/mail/feedback", post(api::feedback))
        .route_layer(from_fn_with_state(state.clone(), auth::limit_scan))
        .route_layer(body())
        .route_layer(from_fn_with_state(state.clone(), auth::token_scan));
    guarded(common(checks.merge(teach)).route("/ping", get(rspamd::ping)), &state, "scan")
}

/// The controller's routes (token first, then the body, then a slot).
pub fn controller_router(state: AppState) -> Router {
    let body = || from_fn_with_state((state.clone(), "controller"), budget::buffer_body);
    let teach = Router::new()
        .route("/learnspam", post(rspamd::learn_spam))
        .route("/learnham", post(rspamd::learn_ham))
        .route("/v1/mail/feedback", post(api::feedback))
        .route_layer(from_fn_with_state(state.clone(), auth::limit_controller))
        .route_layer(body());
    let admin = teach
        .route("/stat", get(rspamd::stat))
        .route("/v1/admin/reload", post(api::reload))
        .route("/v1/admin/checkpoint", post(api::checkpoint))
        .route_layer(from_fn_with_state(state.clone(), auth::token_controller));
    let desk =
        desk_api::routes().route_layer(body()).route_layer(from_fn_with_state(state.clone(), auth::person));
    guarded(common(admin.merge(desk)).route("/ping", get(rspamd::ping)), &state, "controller")
}

/// The routes both listeners answer, without a token.
fn common(routes: Router<AppState>) -> Router<AppState> {
    routes
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/openapi.json", get(openapi::document))
}

/// What every listener's routes are wrapped in: the message size limit, the time limit of a
/// request (`client_timeout_ms`: a client that has not sent its whole message
/// by then gets 408), and a panic in a handler answered as 500 with a JSON error instead of a
/// dropped connection (no input is known to cause one: the extractors are fuzzed).
fn guarded(routes: Router<AppState>, state: &AppState, listener: &'static str) -> Router {
    let limits = state.settings().limits.clone();
    let timeout = Duration::from_millis(limits.client_timeout_ms);
    routes
        .layer(DefaultBodyLimit::max(limits.max_message_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(from_fn_with_state((state.clone(), listener), auth::count_timeouts))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("internal error while deciding (a bug: please report it)".into())
                .into_response()
        }))
        .with_state(state.clone())
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting and lets the
/// connections in flight finish their requests. A client gets `client_timeout_ms` to send its
/// request head (then the connection is closed) and as long for its body (then 408); a
/// connection with no request in flight is closed after `idle_timeout_ms`, and the listener
/// holds `max_connections` at most (`conn.rs`).
async fn serve_listener(
    listener: tokio::net::TcpListener,
    app: Router,
    state: AppState,
    name: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let limits = state.settings().limits.clone();
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let tracker = Arc::clone(state.tracker(name));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.client_timeout_ms));
    builder.http2().timer(TokioTimer::new());
    let mut errors = conn::AcceptErrors::new(name);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    errors.succeeded();
                    a
                }
                Err(e) => {
                    // Out of descriptors and the like: the listener itself is fine.
                    tokio::time::sleep(errors.failed(&e, &tracker)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(conn) = tracker.admit() else { continue };
        // An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d: it is a.b.c.d.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let (app, on) = (app.clone(), Arc::clone(&conn));
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let busy = on.busy();
            let answer = tower::ServiceExt::oneshot(app.clone(), req);
            async move {
                let response = answer.await?;
                // The connection stays busy until the answer's body is written.
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                        let _ = &busy;
                        frame
                    }))
                }))
            }
        });
        let served = graceful
            .watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        let tracker = Arc::clone(&tracker);
        tokio::spawn(async move {
            tokio::select! {
                _ = served => {}
                timed_out = conn.expired(idle) => {
                    if timed_out {
                        tracker.closed("idle");
                    }
                }
            }
            tracker.remove(&conn);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The bound listeners.
#[derive(Debug)]
pub struct Listeners {
    /// Scanning: Warden's API and Rspamd's normal worker.
    pub scan: tokio::net::TcpListener,
    /// Controller: learning, statistics, admin.
    pub controller: tokio::net::TcpListener,
    /// Milter, unless `[milter] enabled = false`.
    pub milter: Option<tokio::net::TcpListener>,
}

/// Binds the listeners of `state`'s settings.
pub async fn bind(state: &AppState) -> std::io::Result<Listeners> {
    let s = state.settings();
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
    };
    let milter = if s.milter.enabled { Some(bind(s.milter.listen).await?) } else { None };
    Ok(Listeners { scan: bind(s.server.listen).await?, controller: bind(s.server.controller).await?, milter })
}

/// Serves every listener until `stop` turns true; then drains them and writes a last
/// checkpoint.
pub async fn serve(
    state: AppState,
    listeners: Listeners,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let drain = Duration::from_millis(state.settings().limits.client_timeout_ms);
    let a = serve_listener(listeners.scan, scan_router(state.clone()), state.clone(), "scan", stop.clone());
    let b = serve_listener(
        listeners.controller,
        controller_router(state.clone()),
        state.clone(),
        "controller",
        stop.clone(),
    );
    let c = async {
        if let Some(l) = listeners.milter {
            milter::serve(l, state.clone(), stop, drain).await;
        }
    };
    tokio::join!(a, b, c);
    let live = Arc::clone(state.live());
    let desk = Arc::clone(state.desk());
    tokio::task::spawn_blocking(move || {
        desk.stop();
        live.shutdown()
    })
    .await?
    .map(|_| ())
    .map_err(ServerError::Checkpoint)
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    fn internal(message: String) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// A query string, JSON body or path segment that does not read: 400 with the reason (413 for
/// a body larger than its route takes), in the same JSON shape as every other error.
macro_rules! bad_request_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                // 400 for what does not read; 413 for a body past its limit.
                let status = match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, e.body_text())
            }
        }
    )*};
}
bad_request_from!(
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::PathRejection
);

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "message larger than the server's limit (max_message_bytes)".to_owned()
        } else {
            format!("cannot read the message: {}", e.body_text())
        };
        ApiError { status, message }
    }
}

impl From<live::FeedbackError> for ApiError {
    fn from(e: live::FeedbackError) -> Self {
        let status = match e {
            live::FeedbackError::Busy | live::FeedbackError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            live::FeedbackError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A server state over a temporary data directory, and a one-call HTTP client.
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;

    use super::*;

    pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    pub const TOKEN: &str = "test-token-0123456789";

    pub fn state_in(dir: &std::path::Path, mut settings: Settings) -> AppState {
        if settings.mail_auth.nameservers.is_empty() {
            // Never the system's resolver in a test: a loopback port where nothing answers.
            settings.mail_auth.nameservers = vec!["127.0.0.1:9".into()];
        }
        settings.server.data_dir = dir.to_owned();
        AppState::open(settings, None, vec![TOKEN.to_owned()], Sources::default(), false).unwrap().0
    }

    pub fn settings(max_message_bytes: usize) -> Settings {
        let mut s = Settings::default();
        s.limits.max_message_bytes = max_message_bytes;
        s
    }

    /// A request from `peer` with `headers`; answers the status and the body.
    pub async fn call_from(
        app: Router,
        peer: [u8; 4],
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::from(body.to_vec())).unwrap();
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        let res = tower::ServiceExt::oneshot(app, req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    /// A request from loopback without headers.
    pub async fn call(app: Router, method: &str, uri: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
        call_from(app, [127, 0, 0, 1], method, uri, &[], body).await
    }

    /// A call that must answer 200 with JSON.
    pub async fn call_ok(app: Router, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> serde_json::Value {
        let (status, body) = call_from(app, [127, 0, 0, 1], "POST", uri, headers, body).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_keeps_serving() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), Settings::default());
        let routes = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
        let app = guarded(routes, &state, "scan");
        let (status, body) = call(app.clone(), "GET", "/boom", b"").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("internal error"));
        assert_eq!(call(app, "GET", "/fine", b"").await, (StatusCode::OK, b"fine".to_vec()));
    }

    #[tokio::test]
    async fn health_endpoints_answer_on_both_listeners() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), Settings::default());
        for app in [scan_router(state.clone()), controller_router(state.clone())] {
            assert_eq!(call(app.clone(), "GET", "/healthz", b"").await.0, StatusCode::OK);
            assert_eq!(call(app.clone(), "GET", "/readyz", b"").await.0, StatusCode::OK);
            assert_eq!(call(app.clone(), "GET", "/ping", b"").await, (StatusCode::OK, b"pong\r\n".to_vec()));
        }
        let scan = scan_router(state);
        assert_eq!(call(scan, "GET", "/v1/mail/check", b"").await.0, StatusCode::METHOD_NOT_ALLOWED);
    }
}
