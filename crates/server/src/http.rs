//! HTTP plumbing: the two listeners' routers and guards, the accept loop, and API errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::connect_info::ConnectInfo;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::plugin::{PluginListener, Routes};
use crate::{AppState, ServerError, admin, auth, budget, conn, desk_api, openapi};

/// The plug-ins' routes, all of them merged by group.
fn plugin_routes(state: &AppState) -> Routes {
    let mut all = Routes::default();
    for p in state.plugins() {
        let r = p.routes();
        all.checks = all.checks.merge(r.checks);
        all.scan_teach = all.scan_teach.merge(r.scan_teach);
        all.controller_teach = all.controller_teach.merge(r.controller_teach);
        all.controller_admin = all.controller_admin.merge(r.controller_admin);
        all.open = all.open.merge(r.open);
    }
    all
}

/// The scanning listener's routes. A request passes its token check (or the open-checks
/// rule), then has its body read against the byte budget, then takes a decision slot.
pub fn scan_router(state: AppState) -> Router {
    let body = || from_fn_with_state((state.clone(), "scan"), budget::buffer_body);
    let p = plugin_routes(&state);
    let checks = p
        .checks
        .route("/v1/{kind}/check", post(crate::kinds::check))
        .route_layer(from_fn_with_state(state.clone(), auth::limit_scan))
        .route_layer(body())
        .route_layer(from_fn_with_state(state.clone(), auth::open_checks));
    let teach = p
        .scan_teach
        .route("/v1/{kind}/feedback", post(crate::kinds::feedback))
        .route_layer(from_fn_with_state(state.clone(), auth::limit_scan))
        .route_layer(body())
        .route_layer(from_fn_with_state(state.clone(), auth::token_scan));
    guarded(common(checks.merge(teach)).merge(p.open), &state, "scan")
}

/// The controller's routes (token first, then the body, then a slot).
pub fn controller_router(state: AppState) -> Router {
    let body = || from_fn_with_state((state.clone(), "controller"), budget::buffer_body);
    let p = plugin_routes(&state);
    // A layer on no route is refused by axum: with no plug-in, there is nothing to guard.
    let teach = if p.controller_teach.has_routes() {
        p.controller_teach
            .route_layer(from_fn_with_state(state.clone(), auth::limit_controller))
            .route_layer(body())
    } else {
        p.controller_teach
    };
    let admin = p
        .controller_admin
        .merge(teach)
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/admin/checkpoint", post(admin::checkpoint))
        .route_layer(from_fn_with_state(state.clone(), auth::token_controller));
    let desk =
        desk_api::routes().route_layer(body()).route_layer(from_fn_with_state(state.clone(), auth::person));
    guarded(common(admin.merge(desk)).merge(p.open), &state, "controller")
}

/// The routes both listeners answer, without a token.
pub(crate) fn common(routes: Router<AppState>) -> Router<AppState> {
    routes
        .route("/metrics", get(admin::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(admin::readyz))
        .route("/openapi.json", get(openapi::document))
}

/// What every listener's routes are wrapped in: the message size limit, the time limit of a
/// request (`client_timeout_ms`: a client that has not sent its whole message
/// by then gets 408), and a panic in a handler answered as 500 with a JSON error instead of a
/// dropped connection (no input is known to cause one: the extractors are fuzzed).
pub fn guarded(routes: Router<AppState>, state: &AppState, listener: &'static str) -> Router {
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
pub(crate) async fn serve_listener(
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
    /// Scanning: checks and feedback.
    pub scan: tokio::net::TcpListener,
    /// Controller: the desk, learning, statistics, admin.
    pub controller: tokio::net::TcpListener,
    /// The plug-ins' own (mail's milter, unless `[milter] enabled = false`).
    pub plugins: Vec<PluginListener>,
}

/// Binds the listeners of `state`'s settings and its plug-ins'.
pub async fn bind(state: &AppState) -> std::io::Result<Listeners> {
    let s = state.settings();
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
    };
    let mut plugins = Vec::new();
    for p in state.plugins() {
        plugins.extend(p.bind().await?);
    }
    Ok(Listeners {
        scan: bind(s.server.listen).await?,
        controller: bind(s.server.controller).await?,
        plugins,
    })
}

/// Serves every listener until `stop` turns true; then drains them and writes the last
/// checkpoints.
pub async fn serve(
    state: AppState,
    listeners: Listeners,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let drain = Duration::from_millis(state.settings().limits.client_timeout_ms);
    if let Some(poster) = state.webhook_poster() {
        let c = state.settings().webhooks.clone();
        let outcomes = state.metrics().webhooks.clone();
        tokio::spawn(crate::webhooks::deliver(Arc::clone(state.desk()), poster, c, outcomes, stop.clone()));
    }
    let a = serve_listener(listeners.scan, scan_router(state.clone()), state.clone(), "scan", stop.clone());
    let b = serve_listener(
        listeners.controller,
        controller_router(state.clone()),
        state.clone(),
        "controller",
        stop.clone(),
    );
    let mut own = Vec::new();
    for l in listeners.plugins {
        if let Some(p) = state.plugins().iter().find(|p| p.listeners().contains(&l.name)) {
            own.push(p.serve(l, state.clone(), stop.clone(), drain));
        }
    }
    tokio::join!(a, b, futures_join(own));
    let kinds = state.clone();
    tokio::task::spawn_blocking(move || {
        for (kind, done) in kinds.checkpoint_kinds() {
            if let Err(e) = done {
                tracing::error!(kind, error = %e, "the kind's last checkpoint failed; its recorded labels are taught again at start");
            }
        }
        kinds.desk().stop();
        kinds.plugins().iter().try_for_each(|p| p.shutdown())
    })
    .await?
}

/// Waits for every future of `all`.
async fn futures_join(all: Vec<crate::plugin::BoxFuture<'static, ()>>) {
    let handles: Vec<_> = all.into_iter().map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What went wrong, for the caller.
    pub message: String,
}

impl ApiError {
    /// An answer of `status` saying `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    /// A 500 saying `message`.
    pub fn internal(message: String) -> Self {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
