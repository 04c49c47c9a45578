//! Mail on Warden's server: a plug-in ([`warden_server::Plugin`]) that brings mail's routes
//! (`POST /v1/mail/check`, `/v1/mail/feedback`), Rspamd's protocol (`/checkv2`, `/ping`,
//! `/learnspam`, `/learnham`, `/stat`), the milter for Postfix and Sendmail, live SPF, DKIM,
//! DMARC and ARC checks, and the live model with its feedback store, checkpoints and the
//! desk's lessons. The server itself knows no mail.
#![deny(missing_docs)]

mod api;
mod check;
#[cfg(test)]
mod desk_tests;
#[doc(hidden)]
pub mod dns_fixture;
mod lessons;
pub mod live;
pub mod mailauth;
pub mod milter;
mod openapi;
mod rspamd;
pub mod settings;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::routing::{get, post};
use warden_server::plugin::{BoxFuture, Commit, PluginListener, Routes};
use warden_server::{ApiError, AppState, Plugin, ServerError, Settings};

pub use api::CheckReply;
pub use live::Live;
pub use settings::MailSettings;

/// Why mail's part of the server cannot start, reload or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The live model cannot start, reload, take its configuration or checkpoint.
    #[error(transparent)]
    Live(#[from] live::LiveError),
    /// Mail's settings do not check.
    #[error(transparent)]
    Settings(#[from] warden_server::settings::SettingsError),
    /// The thresholds in force cannot be used with the model.
    #[error("[thresholds]: {0}")]
    Thresholds(warden_mail::engine::ConfigError),
    /// The model's own thresholds cannot be used.
    #[error(transparent)]
    ModelThresholds(warden_mail::engine::ConfigError),
    /// The authentication checker's settings cannot be used.
    #[error(transparent)]
    MailAuth(#[from] mailauth::MailAuthError),
    /// A resolution's lesson could not be taught.
    #[error("teaching review item {item}'s resolution: {error}")]
    Teach {
        /// The review item.
        item: u64,
        /// Why.
        error: live::FeedbackError,
    },
    /// The desk failed at a step.
    #[error("{step}: {error}")]
    Desk {
        /// What it was doing.
        step: &'static str,
        /// Why it failed.
        error: warden_desk::DeskError,
    },
    /// The last checkpoint, at shutdown, failed.
    #[error("last checkpoint failed: {0}")]
    Checkpoint(live::LiveError),
}

impl From<MailError> for ServerError {
    fn from(e: MailError) -> Self {
        ServerError::Plugin(Box::new(e))
    }
}

impl MailError {
    fn desk(step: &'static str) -> impl FnOnce(warden_desk::DeskError) -> MailError {
        move |error| MailError::Desk { step, error }
    }
}

/// Mail served: the live model and what mail's routes share.
pub struct MailServer {
    live: Arc<Live>,
    settings: RwLock<Arc<MailSettings>>,
    checker: RwLock<Arc<mailauth::Checker>>,
    /// Decisions by action, in `MailAction` order (for Rspamd's `/stat`).
    scanned: [AtomicU64; 4],
    /// The milter's own decision slots (`[milter] max_in_flight`).
    milter_slots: Arc<tokio::sync::Semaphore>,
    /// Outbox lessons a resolve handler is teaching now (the drain leaves them alone).
    teaching: Mutex<HashSet<u64>>,
}

impl std::fmt::Debug for MailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailServer")
    }
}

impl MailServer {
    /// Mail over the data directory being opened (it takes the feedback store): the live
    /// model is `model` when given, else the directory's checkpoint, else the starter model.
    pub fn open(
        data: &mut warden_desk::datadir::DataDir,
        model: Option<warden_learn::Model>,
        settings: &Settings,
    ) -> Result<Arc<MailServer>, ServerError> {
        let mail = MailSettings::of(settings).map_err(MailError::from)?;
        let live =
            Live::open(data, model, warden_mail::engine::starter_model, mail.engine(), &settings.feedback)
                .map_err(MailError::from)?;
        MailServer::new(live, mail)
    }

    /// Mail serving `live` with `settings`.
    pub fn new(live: Arc<Live>, settings: MailSettings) -> Result<Arc<MailServer>, ServerError> {
        let checker = mailauth::Checker::new(&settings.mail_auth).map_err(MailError::from)?;
        Ok(Arc::new(MailServer {
            live,
            checker: RwLock::new(Arc::new(checker)),
            scanned: Default::default(),
            milter_slots: Arc::new(tokio::sync::Semaphore::new(settings.milter.max_in_flight)),
            teaching: Default::default(),
            settings: RwLock::new(Arc::new(settings)),
        }))
    }

    /// The plug-in as the server's state holds it.
    pub fn of(state: &AppState) -> &MailServer {
        state.plugin::<MailServer>().expect("mail's routes are served with mail's plug-in")
    }

    /// The live model.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Mail's settings in force.
    pub fn settings(&self) -> Arc<MailSettings> {
        Arc::clone(&self.settings.read().expect("not poisoned"))
    }
}

impl Plugin for MailServer {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn sections(&self) -> &'static [&'static str] {
        settings::SECTIONS
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn routes(&self) -> Routes {
        Routes {
            checks: axum::Router::new()
                .route("/v1/mail/check", post(api::check))
                .route("/checkv2", post(rspamd::checkv2)),
            scan_teach: axum::Router::new().route("/v1/mail/feedback", post(api::feedback)),
            controller_teach: axum::Router::new()
                .route("/learnspam", post(rspamd::learn_spam))
                .route("/learnham", post(rspamd::learn_ham))
                .route("/v1/mail/feedback", post(api::feedback)),
            controller_admin: axum::Router::new().route("/stat", get(rspamd::stat)),
            open: axum::Router::new().route("/ping", get(rspamd::ping)),
        }
    }

    fn message_routes(&self) -> &'static [&'static str] {
        &["/v1/mail/check", "/checkv2", "/v1/mail/feedback", "/learnspam", "/learnham"]
    }

    fn listeners(&self) -> &'static [&'static str] {
        &["milter"]
    }

    fn bind(&self) -> BoxFuture<'_, std::io::Result<Vec<PluginListener>>> {
        let m = self.settings().milter.clone();
        Box::pin(async move {
            if !m.enabled {
                return Ok(Vec::new());
            }
            let listener = tokio::net::TcpListener::bind(m.listen)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", m.listen)))?;
            Ok(vec![PluginListener { name: "milter", listener }])
        })
    }

    fn serve(
        &self,
        listener: PluginListener,
        state: AppState,
        stop: tokio::sync::watch::Receiver<bool>,
        drain: Duration,
    ) -> BoxFuture<'static, ()> {
        Box::pin(milter::serve(listener.listener, state, stop, drain))
    }

    fn start(&self, state: &AppState, at_start: bool) -> Result<Vec<String>, ServerError> {
        let taught = self.teach_outbox(state, at_start)?;
        Ok(match taught {
            0 => Vec::new(),
            n => vec![format!("{n} resolutions' lessons waiting in the outbox were taught")],
        })
    }

    fn catalogue(&self) -> &'static warden_rules::Catalogue {
        warden_mail::catalogue()
    }

    fn rule_files(&self, config: &warden_server::settings::RulesConfig) -> Vec<std::path::PathBuf> {
        // `[rules] files` are mail's: the first kind's, named before kinds were.
        config.files.clone()
    }

    fn set_rules(&self, rules: Option<Arc<warden_rules::RuleSet>>) {
        self.live.set_rules(rules);
    }

    fn rules(&self) -> Option<Arc<warden_rules::RuleSet>> {
        self.live.with_engine(|e| e.rules().cloned())
    }

    fn prepare_reload(
        &self,
        state: &AppState,
        next: &Settings,
    ) -> Result<(Vec<String>, Commit), ServerError> {
        let mut notes = Vec::new();
        let mail = MailSettings::of(next).map_err(MailError::from)?;
        if mail.milter.max_in_flight != self.settings().milter.max_in_flight {
            notes.push("[milter] max_in_flight takes effect at the next restart".to_owned());
        }
        let path = state.sources().model.clone();
        let model = (path.as_ref())
            .map(|path| {
                warden_learn::Model::load(path)
                    .map_err(|error| ServerError::Model { path: path.clone(), error })
            })
            .transpose()?;
        // The thresholds in force are checked, against the model that will be live, before
        // anything is swapped: the file's may only rise once the model's fill the gaps.
        let own = match &model {
            Some(m) => warden_mail::engine::ActionThresholds::of_model(m),
            None => self.live.with_engine(|e| warden_mail::engine::ActionThresholds::of_model(e.model())),
        }
        .map_err(MailError::ModelThresholds)?;
        mail.thresholds.resolve(own.as_ref()).0.check().map_err(MailError::Thresholds)?;
        if let (Some(model), Some(path)) = (model, &path) {
            self.live.replace_model(model).map_err(MailError::from)?;
            notes.push(format!("model reloaded from {} and taught the stored feedback", path.display()));
        }
        let checker = mailauth::Checker::new(&mail.mail_auth).map_err(MailError::from)?;
        let live = Arc::clone(&self.live);
        let state = state.clone();
        let commit: Commit = Box::new(move || {
            let me = MailServer::of(&state);
            live.set_config(mail.engine()).map_err(MailError::from)?;
            *me.checker.write().expect("not poisoned") = Arc::new(checker);
            *me.settings.write().expect("not poisoned") = Arc::new(mail);
            Ok(())
        });
        Ok((notes, commit))
    }

    fn expire(&self, state: &AppState, now: u64) -> Result<(), ServerError> {
        let days = state.settings().audit.first_seen_days;
        let before = now.saturating_sub(days.saturating_mul(86_400));
        self.live.first_seen().forget_before(before);
        state
            .desk()
            .expire_first_seen(before)
            .map_err(MailError::desk("forgetting sender domains' first-seen times"))?;
        Ok(())
    }

    fn checkpoint(&self) -> Result<serde_json::Map<String, serde_json::Value>, ServerError> {
        let seq = self.live.checkpoint().map_err(MailError::from)?;
        let mut out = serde_json::Map::new();
        out.insert("last_record".into(), seq.into());
        Ok(out)
    }

    fn shutdown(&self) -> Result<(), ServerError> {
        self.live.shutdown().map(|_| ()).map_err(|e| MailError::Checkpoint(e).into())
    }

    fn scrape(&self, metrics: &warden_server::Metrics) -> Vec<(&'static str, u64, u64)> {
        let live = &self.live;
        let (messages, _, _, _) = live.model_counts();
        let c = &live.counters;
        metrics.set_model(&warden_server::metrics::ModelFigures {
            created: live.with_engine(|e| e.model().meta.created.clone()),
            messages,
            records: live.store_stats().ok().map(|s| s.records),
            replayed: c.replayed.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
        });
        metrics.set_rules(self.rules().as_deref());
        let [found, repaired] = live.store_damage();
        vec![(warden_store::feedback::FILE, found, repaired)]
    }

    fn openapi(&self) -> serde_json::Value {
        openapi::spec()
    }

    fn owns_unnamed_items(&self) -> bool {
        true
    }

    fn resolve<'a>(
        &'a self,
        state: &'a AppState,
        item: warden_desk::ReviewItem,
        features: warden_desk::ReviewFeatures,
        body: Option<Vec<u8>>,
        r: warden_server::kinds::Resolution<'a>,
    ) -> BoxFuture<'a, Result<(warden_desk::ReviewItem, serde_json::Value), ApiError>> {
        Box::pin(lessons::resolve(self, state, item, features, body, r))
    }
}

/// Takes `bytes` as mail's feedback body, and checks it as its handler does. For the fuzzer
/// (`fuzz/fuzz_targets/bodies.rs`): whatever the bytes, it returns.
#[doc(hidden)]
pub fn fuzz_json_bodies(bytes: &[u8]) {
    if let Ok(f) = serde_json::from_slice::<api::FeedbackJson>(bytes) {
        let _ = f.named();
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A server state serving mail over a temporary data directory.
    use std::sync::Arc;

    pub use warden_server::testing::{TOKEN, call, call_from, call_ok};
    use warden_server::{AppState, Settings};

    use crate::{MailServer, MailSettings};

    pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    /// A state serving mail over `dir`, with `settings` and mail's `mail`.
    pub fn mail_state(dir: &std::path::Path, mut settings: Settings, mail: MailSettings) -> AppState {
        settings.server.data_dir = dir.to_owned();
        open(settings, mail, None, warden_server::Sources::default())
    }

    /// A state serving mail over `settings`' data directory, with mail's `mail`, the live
    /// model `model` (else the starter) and `sources` for reloads.
    pub fn open(
        mut settings: Settings,
        mut mail: MailSettings,
        model: Option<warden_learn::Model>,
        sources: warden_server::Sources,
    ) -> AppState {
        if mail.mail_auth.nameservers.is_empty() {
            // Never the system's resolver in a test: a loopback port where nothing answers.
            mail.mail_auth.nameservers = vec!["127.0.0.1:9".into()];
        }
        mail.write(&mut settings);
        let plugins: warden_server::MakePlugins = Box::new(move |data, s| {
            let m: Arc<dyn warden_server::Plugin> = MailServer::open(data, model, s)?;
            Ok(vec![m])
        });
        AppState::open(settings, vec![TOKEN.to_owned()], sources, false, plugins).unwrap().0
    }

    /// A state serving mail over `dir` with `settings` (mail's defaults).
    pub fn state_in(dir: &std::path::Path, settings: Settings) -> AppState {
        mail_state(dir, settings, MailSettings::default())
    }

    pub fn settings(max_message_bytes: usize) -> Settings {
        let mut s = Settings::default();
        s.limits.max_message_bytes = max_message_bytes;
        s
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::testing::*;

    #[tokio::test]
    async fn mails_routes_are_served_on_their_listeners_and_described() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), warden_server::Settings::default());
        let (scan, controller) =
            (warden_server::scan_router(state.clone()), warden_server::controller_router(state.clone()));
        for app in [scan.clone(), controller.clone()] {
            assert_eq!(call(app.clone(), "GET", "/ping", b"").await, (StatusCode::OK, b"pong\r\n".to_vec()));
        }
        assert_eq!(call(scan.clone(), "GET", "/v1/mail/check", b"").await.0, StatusCode::METHOD_NOT_ALLOWED);
        let doc: serde_json::Value =
            serde_json::from_slice(&call(scan.clone(), "GET", "/openapi.json", b"").await.1).unwrap();
        assert!(doc["components"]["schemas"]["CheckReply"].is_object(), "mail's schemas are merged in");
        let paths = doc["paths"].as_object().unwrap();
        for route in
            ["/v1/mail/check", "/v1/mail/feedback", "/checkv2", "/learnspam", "/learnham", "/stat", "/ping"]
        {
            let ops = paths.get(route).unwrap_or_else(|| panic!("{route} is not described"));
            for method in ops.as_object().unwrap().keys() {
                let mut found = false;
                for app in [scan.clone(), controller.clone()] {
                    let status = call(app, &method.to_uppercase(), route, b"").await.0;
                    found |= status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED;
                }
                assert!(found, "{method} {route} is described but no listener answers it");
            }
        }
        // Mail's checks take whole messages; a desk body is a few fields.
        let big = vec![b'a'; 100 << 10];
        let (status, _) = call(scan, "POST", "/v1/mail/check", &big).await;
        assert_eq!(status, StatusCode::OK, "a 100 KiB message is decided");
    }
}
