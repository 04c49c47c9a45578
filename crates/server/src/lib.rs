//! `warden serve`: the decision pipeline as a long-running service, for every kind.
//!
//! Two HTTP listeners, on Rspamd's ports so that an MTA configured for Rspamd can ask Warden
//! instead:
//! - the **scanning** listener (default 127.0.0.1:11333): checks and feedback — every JSON
//!   kind's (`POST /v1/<kind>/check`, `/v1/<kind>/feedback`) and the plug-ins' (mail's
//!   `/v1/mail/check`, Rspamd's `/checkv2`);
//! - the **controller** (default 127.0.0.1:11334): the desk (review, labels, audit, entities),
//!   the admin calls (`/v1/admin/reload`, `/v1/admin/checkpoint`) and the plug-ins' (Rspamd's
//!   `/learnspam`, `/learnham`, `/stat`).
//!
//! Both answer `/metrics`, `/healthz`, `/readyz` and `/openapi.json`. A plug-in
//! ([`plugin::Plugin`]: mail, in `warden-mail-serve`) brings routes, listeners (the milter)
//! and state of its own; this crate depends on no kind's crate, and the binary lists the kinds.
#![deny(missing_docs)]

mod admin;
mod auth;
mod budget;
pub mod conn;
mod desk_api;
pub mod effects;
mod error;
mod http;
pub mod kinds;
pub mod metrics;
mod openapi;
pub mod plugin;
mod reload;
pub mod replay;
pub mod settings;
pub mod text;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

pub use error::ServerError;
pub use http::{ApiError, Listeners, bind, controller_router, guarded, scan_router, serve};
pub use reload::load_rules_of;

pub use auth::tokens as auth_tokens;
pub use budget::{Budget, Held};
pub use metrics::Metrics;
pub use plugin::Plugin;
pub use settings::Settings;

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
    desk: Arc<warden_desk::Desk>,
    /// The data directory's identity (every store in it records it).
    data_id: String,
    /// The data directory, as opened (a reload's `[server] data_dir` waits for a restart).
    data_dir: PathBuf,
    /// The rules' window counters, kept across rule reloads.
    counters: Arc<dyn warden_rules::counters::CounterStore>,
    /// The desk's parts, through their interfaces.
    review: Arc<dyn warden_desk::state::ReviewQueue>,
    labels: Arc<dyn warden_desk::state::LabelStore>,
    audit: Arc<dyn warden_desk::state::AuditLog>,
    entities: Arc<dyn warden_desk::state::Entities>,
    decisions: Arc<dyn warden_desk::state::DecisionStore>,
    features: Arc<dyn warden_desk::state::FeatureStore>,
    taught: Arc<dyn warden_desk::state::TaughtLog>,
    /// The kinds served on the generic routes.
    kinds: RwLock<kinds::Registry>,
    /// The kinds with routes and state of their own.
    plugins: Vec<Arc<dyn Plugin>>,
    /// The webhooks' poster (`[webhooks] url`; read at start).
    poster: Option<webhooks::Poster>,
    /// Where addresses are (`[geoip]`).
    geo: RwLock<Arc<warden_geo::Geo>>,
    settings: RwLock<Arc<Settings>>,
    tokens: RwLock<Arc<Vec<String>>>,
    sources: Sources,
    metrics: Metrics,
    scan_slots: Arc<tokio::sync::Semaphore>,
    controller_slots: Arc<tokio::sync::Semaphore>,
    /// Bytes of requests and plug-ins' messages held, across listeners.
    budget: budget::Budget,
    /// Each listener's connections: scanning, controller, then the plug-ins'.
    trackers: Vec<(&'static str, Arc<conn::Tracker>)>,
}

/// What opening the data directory did, for the log.
#[derive(Debug, Default)]
pub struct StartReport {
    /// Things an operator should know (permissions tightened, an identity made or adopted, a
    /// torn journal tail cut off).
    pub notes: Vec<String>,
    /// What a repair did, and audit-key rotations (also in the audit log).
    pub repairs: Vec<String>,
    /// What the plug-ins did at start (lessons a crash left, taught).
    pub started: Vec<String>,
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Makes the plug-ins of a data directory being opened (mail takes its feedback store).
pub type MakePlugins<'a> = Box<
    dyn FnOnce(&mut warden_desk::datadir::DataDir, &Settings) -> Result<Vec<Arc<dyn Plugin>>, ServerError>
        + 'a,
>;

impl AppState {
    /// Opens the data directory of `settings` (refusing a damaged one unless `repair`), makes
    /// the plug-ins with `plugins` and the state every request shares, and starts the
    /// plug-ins (what a crash left to do). A repair is recorded in the audit log. `tokens` are
    /// the accepted bearer tokens (see [`auth::tokens`]).
    pub fn open(
        settings: Settings,
        tokens: Vec<String>,
        sources: Sources,
        repair: bool,
        plugins: MakePlugins<'_>,
    ) -> Result<(AppState, StartReport), ServerError> {
        let opts = warden_desk::datadir::Options {
            repair,
            audit_key_file: settings.audit.key_file.clone(),
            db_cache_bytes: settings.limits.db_cache_bytes,
        };
        let mut data = warden_desk::datadir::open(&settings.server.data_dir, &opts)?;
        let plugins = plugins(&mut data, &settings)?;
        let state =
            AppState::new(Arc::clone(&data.desk), data.id.clone(), plugins, settings, tokens, sources)?;
        let at = unix_now();
        let entries = data
            .repairs
            .iter()
            .map(|(kind, what)| warden_desk::AuditEntry {
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
        let mut started = Vec::new();
        for p in state.plugins() {
            started.extend(p.start(&state, true)?);
        }
        let repairs = data.repairs.into_iter().map(|(_, what)| what).collect();
        Ok((state, StartReport { notes: data.notes, repairs, started }))
    }

    /// Serves `desk` (of the data directory with identity `data_id`) and `plugins` with
    /// `settings`; `tokens` are the accepted bearer tokens.
    pub fn new(
        desk: Arc<warden_desk::Desk>,
        data_id: String,
        plugins: Vec<Arc<dyn Plugin>>,
        settings: Settings,
        tokens: Vec<String>,
        sources: Sources,
    ) -> Result<Self, ServerError> {
        let known: Vec<&str> = plugins.iter().flat_map(|p| p.sections().iter().copied()).collect();
        settings.check_sections(&known)?;
        let slots = |n| Arc::new(tokio::sync::Semaphore::new(n));
        let geo = RwLock::new(Arc::new(open_geo(&settings.geoip)?));
        let poster = webhooks::Poster::new(&settings.webhooks)?;
        desk.set_webhooks(poster.is_some(), settings.webhooks.max_queued);
        let metrics = Metrics::default();
        let cap = settings.limits.max_connections;
        let names = ["scan", "controller"]
            .into_iter()
            .chain(plugins.iter().flat_map(|p| p.listeners().iter().copied()));
        let trackers = names
            .map(|name| (name, conn::Tracker::new(name, cap, metrics.connections_closed.clone())))
            .collect();
        let r = &settings.review;
        desk.set_limits(r.max_items, r.max_subject_bytes, r.max_reason_bytes);
        let counters: Arc<dyn warden_rules::counters::CounterStore> =
            Arc::new(warden_rules::counters::LocalCounters::default());
        for p in &plugins {
            let files = p.rule_files(&settings.rules);
            p.set_rules(load_rules_of(&files, p.catalogue(), None, Some(&desk), &*counters)?);
        }
        Ok(AppState(Arc::new(Shared {
            geo,
            poster,
            counters,
            review: desk.clone(),
            labels: desk.clone(),
            audit: desk.clone(),
            entities: desk.clone(),
            decisions: desk.clone(),
            features: desk.clone(),
            taught: desk.clone(),
            kinds: Default::default(),
            plugins,
            desk,
            data_id,
            data_dir: settings.server.data_dir.clone(),
            scan_slots: slots(settings.limits.max_in_flight),
            controller_slots: slots(settings.limits.max_in_flight),
            budget: budget::Budget::new(settings.limits.max_bytes_in_flight),
            trackers,
            settings: RwLock::new(Arc::new(settings)),
            tokens: RwLock::new(Arc::new(tokens)),
            sources,
            metrics,
        })))
    }

    /// The plug-ins.
    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.0.plugins
    }

    /// The plug-in of type `P`, when it is served.
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        self.0.plugins.iter().find_map(|p| p.as_any().downcast_ref::<P>())
    }

    /// The plug-in of kind `name`, when it is served.
    pub fn plugin_named(&self, name: &str) -> Option<&Arc<dyn Plugin>> {
        self.0.plugins.iter().find(|p| p.name() == name)
    }

    /// The data directory's identity.
    pub fn data_id(&self) -> &str {
        &self.0.data_id
    }

    /// The data directory in use: the one opened at start, whatever a reload's settings say.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.0.data_dir
    }

    /// Where the sources of a reload are: the configuration file, the model file.
    pub fn sources(&self) -> &Sources {
        &self.0.sources
    }

    /// Where addresses are: the `[geoip]` databases in force.
    pub fn geo(&self) -> Arc<warden_geo::Geo> {
        Arc::clone(&self.0.geo.read().expect("not poisoned"))
    }

    /// The webhooks' poster, when `[webhooks] url` is set.
    pub fn webhook_poster(&self) -> Option<webhooks::Poster> {
        self.0.poster.clone()
    }

    /// The review queue.
    pub fn review(&self) -> &Arc<dyn warden_desk::state::ReviewQueue> {
        &self.0.review
    }

    /// Labels on entities.
    pub fn labels(&self) -> &Arc<dyn warden_desk::state::LabelStore> {
        &self.0.labels
    }

    /// Entities as a whole: what is kept about one, and its erasure.
    pub fn entities(&self) -> &Arc<dyn warden_desk::state::Entities> {
        &self.0.entities
    }

    /// Decisions remembered by event id.
    pub fn decisions(&self) -> &Arc<dyn warden_desk::state::DecisionStore> {
        &self.0.decisions
    }

    /// Features kept for later labels.
    pub fn features(&self) -> &Arc<dyn warden_desk::state::FeatureStore> {
        &self.0.features
    }

    /// What the models of JSON kinds learned.
    pub fn taught(&self) -> &Arc<dyn warden_desk::state::TaughtLog> {
        &self.0.taught
    }

    /// Serves `kind` on `/v1/<name>/check` and `/v1/<name>/feedback` (the binary lists the
    /// kinds; mail has routes of its own), after teaching its model every label it learned
    /// before; returns how many.
    pub fn register_kind(&self, kind: Arc<dyn kinds::Served>) -> Result<u64, kinds::KindError> {
        let n = kind.restore(self)?;
        let files = self.settings().rules.kinds.get(kind.name()).cloned().unwrap_or_default();
        let rules = self.kind_rules(&*kind, &files).map_err(|e| kinds::KindError::Bad(e.to_string()))?;
        kind.set_rules(rules);
        self.0.kinds.write().expect("not poisoned").add(kind);
        Ok(n)
    }

    /// Checkpoints the model of every kind on the generic routes (mail's is [`Live::checkpoint`]):
    /// each kind's name with the number of the last label its checkpoint holds, or why it failed.
    pub fn checkpoint_kinds(&self) -> Vec<(&'static str, Result<u64, kinds::KindError>)> {
        let served: Vec<_> = self.0.kinds.read().expect("not poisoned").all().to_vec();
        served.iter().map(|k| (k.name(), k.checkpoint(self))).collect()
    }

    /// The kind served under `name`.
    pub fn kind(&self, name: &str) -> Option<Arc<dyn kinds::Served>> {
        self.0.kinds.read().expect("not poisoned").get(name).cloned()
    }

    /// The names of the kinds on the generic routes.
    pub fn kind_names(&self) -> Vec<&'static str> {
        self.0.kinds.read().expect("not poisoned").names()
    }

    /// The audit log.
    pub fn audit(&self) -> &Arc<dyn warden_desk::state::AuditLog> {
        &self.0.audit
    }

    /// The analysts' desk: review queue, labels, audit log, counter journal.
    pub fn desk(&self) -> &Arc<warden_desk::Desk> {
        &self.0.desk
    }

    /// Deletes what the desk holds past its retention: audit entries (`[audit]
    /// retention_days`), review items and lapsed labels (`[review] retention_days`), and counter
    /// updates older than the longest window of the rules in force; and sender domains' first-seen
    /// times older than `[audit] first_seen_days`, history records and kept features past
    /// `[entities]`'s days, and decisions remembered by event id past `[events] remember_days`.
    /// Returns how many of the first four.
    pub fn expire_desk(&self) -> Result<[u64; 4], ServerError> {
        let s = self.settings();
        let now = unix_now();
        // Counter updates are kept for the longest window of any rules in force.
        let plugins = self.0.plugins.iter().filter_map(|p| p.rules());
        let kinds: Vec<_> =
            self.0.kinds.read().expect("not poisoned").all().iter().filter_map(|k| k.rules()).collect();
        let window = plugins.chain(kinds).map(|r| r.longest_window()).max().unwrap_or(0);
        for p in &self.0.plugins {
            p.expire(self, now)?;
        }
        let days_ago = |days: u64| now.saturating_sub(days.saturating_mul(86_400));
        self.0
            .desk
            .history_expire(days_ago(s.entities.history_days))
            .map_err(ServerError::desk("expiring entities' histories"))?;
        self.0
            .desk
            .expire_features(days_ago(s.entities.kept_features_days))
            .map_err(ServerError::desk("expiring features kept for later labels"))?;
        self.0
            .desk
            .expire_decisions(days_ago(s.events.remember_days))
            .map_err(ServerError::desk("expiring decisions remembered by event id"))?;
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

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The bytes of requests and messages held, across listeners.
    pub fn budget(&self) -> &budget::Budget {
        &self.0.budget
    }

    /// The rules' window counters.
    pub fn counters(&self) -> &Arc<dyn warden_rules::counters::CounterStore> {
        &self.0.counters
    }

    /// The connection tracker of `listener` (`scan`, `controller`, or a plug-in's).
    pub fn tracker(&self, listener: &str) -> &Arc<conn::Tracker> {
        let found = self.0.trackers.iter().find(|(name, _)| *name == listener);
        &found.unwrap_or_else(|| panic!("no listener is called {listener:?}")).1
    }

    /// The scanning and controller listeners' decision slots.
    pub fn slots(&self) -> [&Arc<tokio::sync::Semaphore>; 2] {
        [&self.0.scan_slots, &self.0.controller_slots]
    }
}

/// Takes `bytes` as each JSON body the HTTP API reads — feedback, an entity label, a
/// resolution, an event of a JSON kind (its `kind`, `id` and RFC 3339 `time`) — and as a labels
/// cursor, and checks the fields as the handlers do. For the
/// fuzzer (`fuzz/fuzz_targets/bodies.rs`): whatever the bytes, it returns.
#[doc(hidden)]
pub fn fuzz_json_bodies(bytes: &[u8]) {
    if let Ok(l) = serde_json::from_slice::<desk_api::SetLabel>(bytes) {
        let _ = l.check(warden_desk::limits::REASON);
    }
    if let Ok(r) = serde_json::from_slice::<desk_api::Resolve>(bytes) {
        let _ = r.check(warden_desk::limits::REASON);
    }
    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = kinds::common(&event);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = desk_api::unhex(text);
        let _ = text::check_field("field", text, 512);
        let _ = text::escape(text);
        let _ = text::json_for_terminal(text);
    }
}

/// Opens the `[geoip]` databases (none: every lookup answers "unknown").
pub fn open_geo(g: &settings::GeoipConfig) -> Result<warden_geo::Geo, ServerError> {
    Ok(warden_geo::Geo::open(&g.locations, &g.networks)?)
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
    out
}

/// A server state over a temporary data directory, and a one-call HTTP client: for this
/// crate's tests and the plug-ins' and kinds' (their dev-dependency turns on `testing`; no
/// release build has it).
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::connect_info::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use std::net::SocketAddr;

    use crate::{AppState, MakePlugins, Settings, Sources};

    /// The admin token of [`state_in`]'s state.
    pub const TOKEN: &str = "test-token-0123456789";
    /// An analyst's token ([`people`]).
    pub const ALICE: &str = "alice-token-0123456789";
    /// A viewer's token ([`people`]).
    pub const VIEWER: &str = "viewer-token-0123456789";

    /// `s` with an analyst, alice ([`ALICE`]), and a viewer, vic ([`VIEWER`]).
    pub fn people(mut s: Settings) -> Settings {
        use crate::settings::NamedToken;
        s.auth.analysts = vec![NamedToken { name: "alice".into(), token: ALICE.into() }];
        s.auth.viewers = vec![NamedToken { name: "vic".into(), token: VIEWER.into() }];
        s
    }

    /// A GET from loopback with `token`.
    pub async fn get(app: &Router, uri: &str, token: &str) -> (StatusCode, Vec<u8>) {
        let bearer = format!("Bearer {token}");
        call_from(app.clone(), [127, 0, 0, 1], "GET", uri, &[("authorization", &bearer)], b"").await
    }

    /// A JSON POST from loopback with `token`.
    pub async fn post(app: &Router, uri: &str, token: &str, body: &str) -> (StatusCode, Vec<u8>) {
        let bearer = format!("Bearer {token}");
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        call_from(app.clone(), [127, 0, 0, 1], "POST", uri, &headers, body.as_bytes()).await
    }

    /// A body read as JSON (the body itself in the panic when it is not).
    pub fn json(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
    }

    /// The defaults block of docs/serving.md, as a configuration file's text.
    pub fn documented_defaults() -> &'static str {
        let doc = include_str!("../../../docs/serving.md");
        doc.split("win over both. The defaults:\n\n```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/serving.md has the defaults block")
    }

    /// A state over `dir` with `settings`, serving no plug-in.
    pub fn state_in(dir: &std::path::Path, settings: Settings) -> AppState {
        state_with(dir, settings, Box::new(|_, _| Ok(Vec::new())))
    }

    /// A state over `dir` with `settings`, serving the plug-ins `plugins` makes.
    pub fn state_with(dir: &std::path::Path, mut settings: Settings, plugins: MakePlugins<'_>) -> AppState {
        settings.server.data_dir = dir.to_owned();
        AppState::open(settings, vec![TOKEN.to_owned()], Sources::default(), false, plugins).unwrap().0
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
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

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
        let app = crate::http::guarded(routes, &state, "scan");
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
        }
    }

    #[test]
    fn housekeeping_expires_histories_and_kept_features_past_their_days() {
        use warden_desk::state::{FeatureStore, HistoryStore};
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.entities.history_days = 1;
        settings.entities.kept_features_days = 2;
        let state = state_in(dir.path(), settings);
        let now = unix_now();
        let desk = state.desk();
        for (at, what) in [(now - 3 * 86_400, "old"), (now, "new")] {
            let r = warden_desk::HistoryRecord { at, data: what.as_bytes().to_vec() };
            desk.append("login", "u-1", &r, 10).unwrap();
        }
        let kept = |at| warden_desk::KeptFeatures { at, extractor: 1, features: vec![1] };
        desk.keep("account", &[("a-old", kept(now - 3 * 86_400)), ("a-mid", kept(now - 86_400 - 60))])
            .unwrap();
        state.expire_desk().unwrap();
        let left: Vec<Vec<u8>> =
            desk.recent("login", "u-1", 10).unwrap().into_iter().map(|r| r.data).collect();
        assert_eq!(left, [b"new".to_vec()], "a record past history_days goes");
        assert_eq!(FeatureStore::get(&**desk, "account", "a-old").unwrap(), None, "past kept_features_days");
        assert!(FeatureStore::get(&**desk, "account", "a-mid").unwrap().is_some(), "within them");
    }

    #[tokio::test]
    async fn geoip_databases_are_read_at_start_and_reload_and_readyz_names_them() {
        use warden_geo::write::{Value, Writer};
        let dir = tempfile::tempdir().unwrap();
        let readyz = |state: &AppState| {
            let app = scan_router(state.clone());
            async move { String::from_utf8(call(app, "GET", "/readyz", b"").await.1).unwrap() }
        };
        let state = state_in(dir.path(), Settings::default());
        assert!(readyz(&state).await.contains("geoip: no databases"), "{}", readyz(&state).await);

        let mut w = Writer::v6("GeoLite2-ASN");
        w.insert(
            "203.0.113.0".parse().unwrap(),
            24,
            &Value::map([("autonomous_system_number", Value::U32(3269))]),
        )
        .unwrap();
        let asn = dir.path().join("asn.mmdb");
        std::fs::write(&asn, w.to_bytes().unwrap()).unwrap();
        let config = dir.path().join("warden.toml");
        let data = dir.path().join("data2");
        std::fs::write(
            &config,
            format!(
                "[server]\ndata_dir = {:?}\n[geoip]\nnetworks = [{:?}]\n",
                data.display().to_string(),
                asn.display().to_string()
            ),
        )
        .unwrap();
        let settings = Settings::read(Some(&config), std::iter::empty()).unwrap();
        let sources = Sources { config: Some(config.clone()), ..Sources::default() };
        let state = {
            let s = testing::state_in(&data, settings.clone());
            let (desk, id) = (Arc::clone(s.desk()), s.data_id().to_owned());
            AppState::new(desk, id, Vec::new(), settings.clone(), vec![], sources).unwrap()
        };
        assert_eq!(state.geo().lookup("203.0.113.9".parse().unwrap()).asn, Some(3269));
        assert!(readyz(&state).await.contains("asn.mmdb (GeoLite2-ASN, IPv6)"), "{}", readyz(&state).await);

        // A damaged database: the reload is refused and the one in force stays.
        std::fs::write(&asn, b"not a database").unwrap();
        let err = state.reload().unwrap_err();
        assert!(err.to_string().starts_with("[geoip]: ") && err.to_string().contains("asn.mmdb"), "{err}");
        assert_eq!(state.geo().lookup("203.0.113.9".parse().unwrap()).asn, Some(3269));
        // And at start it is an error naming the file.
        let e = open_geo(&settings.geoip).unwrap_err();
        assert!(e.to_string().contains("asn.mmdb: not a MaxMind DB file"), "{e}");
    }
}
