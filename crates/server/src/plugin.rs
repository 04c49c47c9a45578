//! Plug-ins: kinds that bring routes, listeners and state of their own to the server — mail,
//! with its check and feedback routes, Rspamd's protocol, the milter and its live model
//! (`warden-mail-serve`). The server knows them only through [`Plugin`]; the binary lists
//! them. A JSON kind needs none of this: [`crate::kinds`] serves it on the generic routes.

use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::kinds::Resolution;
use crate::metrics::Metrics;
use crate::settings::{RulesConfig, Settings};
use crate::{ApiError, AppState, ServerError};

/// A boxed future, for the trait's asynchronous parts.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a plug-in's reload puts in force, once every part of the reload has checked.
pub type Commit = Box<dyn FnOnce() -> Result<(), ServerError> + Send>;

/// A listener of a plug-in's own (mail's milter), bound with the server's.
#[derive(Debug)]
pub struct PluginListener {
    /// Its name in logs and metrics (`milter`): one of [`Plugin::listeners`].
    pub name: &'static str,
    /// The socket.
    pub listener: tokio::net::TcpListener,
}

/// A plug-in's routes, by the guard each group goes behind (see [`crate::scan_router`] and
/// [`crate::controller_router`]).
#[derive(Default)]
pub struct Routes {
    /// Scanning listener, behind the checks' guard: open checks or a token, the body budget,
    /// a decision slot.
    pub checks: Router<AppState>,
    /// Scanning listener, behind a token, the body budget and a slot: routes that teach.
    pub scan_teach: Router<AppState>,
    /// Controller, behind the body budget, a slot and a token: routes that teach.
    pub controller_teach: Router<AppState>,
    /// Controller, behind a token: admin and statistics.
    pub controller_admin: Router<AppState>,
    /// Both listeners, without a token (`/ping`).
    pub open: Router<AppState>,
}

/// A kind with routes and state of its own.
pub trait Plugin: Send + Sync + 'static {
    /// Its kind's name (`mail`): its review items carry it.
    fn name(&self) -> &'static str;
    /// The configuration sections it reads ([`Settings::section`]).
    fn sections(&self) -> &'static [&'static str];
    /// Itself, for its handlers to find it in the state ([`AppState::plugin`]).
    fn as_any(&self) -> &dyn Any;
    /// Its routes.
    fn routes(&self) -> Routes;
    /// Its routes whose bodies are whole messages, up to `[limits] max_message_bytes` (others
    /// take a few fields).
    fn message_routes(&self) -> &'static [&'static str] {
        &[]
    }
    /// The names of its listeners (connection trackers are made for each).
    fn listeners(&self) -> &'static [&'static str] {
        &[]
    }
    /// Binds its listeners (those its settings turn on).
    fn bind(&self) -> BoxFuture<'_, std::io::Result<Vec<PluginListener>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Serves one of its listeners until `stop` turns true, then lets what is in flight finish
    /// within `drain`.
    fn serve(
        &self,
        listener: PluginListener,
        state: AppState,
        stop: tokio::sync::watch::Receiver<bool>,
        drain: Duration,
    ) -> BoxFuture<'static, ()> {
        let _ = (listener, state, stop, drain);
        Box::pin(async {})
    }
    /// Runs once the state is made (before serving, and again at each housekeeping pass):
    /// what a crash left to do. Returns notes for the log.
    fn start(&self, state: &AppState, at_start: bool) -> Result<Vec<String>, ServerError>;
    /// Its rule catalogue.
    fn catalogue(&self) -> &'static warden_rules::Catalogue;
    /// Its rule files, as `config` names them.
    fn rule_files(&self, config: &RulesConfig) -> Vec<PathBuf>;
    /// Puts a rule set in force.
    fn set_rules(&self, rules: Option<Arc<warden_rules::RuleSet>>);
    /// The rule set in force.
    fn rules(&self) -> Option<Arc<warden_rules::RuleSet>>;
    /// Checks the settings of a reload (and what else it reloads, such as a model file) and
    /// returns notes and what puts them in force: nothing is put in force before every part
    /// of the reload has checked.
    fn prepare_reload(&self, state: &AppState, next: &Settings)
    -> Result<(Vec<String>, Commit), ServerError>;
    /// Forgets what it keeps past its retention (housekeeping; `now` in Unix seconds).
    fn expire(&self, state: &AppState, now: u64) -> Result<(), ServerError>;
    /// Checkpoints its model; the fields it adds to `/v1/admin/checkpoint`'s answer.
    fn checkpoint(&self) -> Result<serde_json::Map<String, serde_json::Value>, ServerError>;
    /// Its last checkpoint, at shutdown, once its listeners and the desk are stopped.
    fn shutdown(&self) -> Result<(), ServerError>;
    /// Sets its figures in `metrics` before they are rendered; returns its stores' damage
    /// counts: (file, found, repaired).
    fn scrape(&self, metrics: &Metrics) -> Vec<(&'static str, u64, u64)>;
    /// What it adds to `/openapi.json`: `{"paths": {…}, "schemas": {…}}`.
    fn openapi(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Lines it adds to `/readyz`.
    fn ready(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether review items stored before items named their kind are its own (mail's are:
    /// it was the only kind).
    fn owns_unnamed_items(&self) -> bool {
        false
    }
    /// Resolves review item `item` of its kind (its `features`, and its message when kept):
    /// answers the item resolved and the `feedback` part of the answer.
    fn resolve<'a>(
        &'a self,
        state: &'a AppState,
        item: warden_desk::ReviewItem,
        features: warden_desk::ReviewFeatures,
        body: Option<Vec<u8>>,
        resolution: Resolution<'a>,
    ) -> BoxFuture<'a, Result<(warden_desk::ReviewItem, serde_json::Value), ApiError>>;
}
