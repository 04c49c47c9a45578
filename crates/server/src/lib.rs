//! `warden serve`: the decision pipeline over HTTP.
//!
//! The scanning listener answers Warden's own API (`POST /v1/mail/check`) and Rspamd's
//! normal-worker protocol (`POST /checkv2`, `GET /ping`), so that an MTA already configured
//! for Rspamd can ask Warden instead. Decisions are CPU work of about a tenth of a
//! millisecond: small messages are decided on the async worker that received them, large ones
//! on the blocking pool so that one big message never stalls the requests behind it.
#![deny(missing_docs)]

mod rspamd;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use warden_core::{Decision, MailAction, Reason};
use warden_engine::MailEngine;

/// Where and how the server listens.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    /// The scanning listener (default 127.0.0.1:11333, Rspamd's normal worker).
    pub listen: SocketAddr,
    /// Largest message accepted, in bytes (default 32 MiB); larger ones get 413.
    pub max_message_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { listen: SocketAddr::from(([127, 0, 0, 1], 11333)), max_message_bytes: 32 << 20 }
    }
}

/// Messages up to this size are decided on the async worker; larger ones on the blocking pool.
const INLINE_BYTES: usize = 256 << 10;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<MailEngine>,
    model_version: Arc<str>,
}

impl AppState {
    /// Serves decisions of `engine`.
    pub fn new(engine: MailEngine) -> Self {
        let meta = &engine.model().meta;
        let model_version = format!("{}/{}", meta.created, meta.messages).into();
        AppState { engine: Arc::new(engine), model_version }
    }

    /// Decides on `raw`, on the blocking pool when it is large.
    async fn decide(&self, raw: Bytes) -> Result<Decision<MailAction>, ApiError> {
        if raw.len() <= INLINE_BYTES {
            return Ok(self.engine.decide_explained(&raw));
        }
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || engine.decide_explained(&raw))
            .await
            .map_err(|e| ApiError::internal(format!("decision task failed: {e}")))
    }
}

/// The scanning listener's routes.
pub fn router(state: AppState, options: &ServerOptions) -> Router {
    let routes = Router::new()
        .route("/v1/mail/check", post(check))
        .route("/checkv2", post(rspamd::checkv2))
        .route("/ping", get(rspamd::ping))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .with_state(state);
    guarded(routes, options)
}

/// What every listener's routes are wrapped in: the message size limit, and a panic in a
/// handler answered as 500 with a JSON error instead of a dropped connection (no input is
/// known to cause one: the extractors are fuzzed).
fn guarded(routes: Router, options: &ServerOptions) -> Router {
    routes.layer(DefaultBodyLimit::max(options.max_message_bytes)).layer(
        tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("internal error while deciding (a bug: please report it)".into())
                .into_response()
        }),
    )
}

/// Serves on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: &ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, options)).with_graceful_shutdown(shutdown).await
}

/// The answer of `POST /v1/mail/check`.
#[derive(Debug, Serialize)]
pub struct CheckReply {
    /// The message's identity: the hex xxh3 of its bytes (feedback refers to it).
    pub id: String,
    /// What to do.
    pub action: MailAction,
    /// What the thresholds acted on (log-odds).
    pub score: f64,
    /// The model's P(spam).
    pub probability: f64,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
    /// The model that decided: when it was saved and how many messages it learned.
    pub model_version: String,
    /// Time spent deciding, in microseconds.
    pub elapsed_us: u64,
}

async fn check(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CheckReply>, ApiError> {
    let start = Instant::now();
    let raw = body?;
    let id = message_id(&raw);
    let d = state.decide(raw).await?;
    Ok(Json(CheckReply {
        id,
        action: d.action,
        score: d.score,
        probability: d.probability,
        reasons: d.reasons,
        model_version: state.model_version.to_string(),
        elapsed_us: start.elapsed().as_micros() as u64,
    }))
}

/// A message's identity for feedback: the hex xxh3 of its bytes.
pub fn message_id(raw: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(raw))
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn internal(message: String) -> Self {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    fn app(max_message_bytes: usize) -> Router {
        let engine = MailEngine::new(warden_engine::starter_model().unwrap(), Default::default()).unwrap();
        router(AppState::new(engine), &ServerOptions { max_message_bytes, ..Default::default() })
    }

    async fn call(app: Router, method: &str, uri: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let req = Request::builder().method(method).uri(uri).body(Body::from(body.to_vec())).unwrap();
        let res = app.oneshot(req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    /// A call that must answer 200 with JSON.
    async fn call_ok(app: Router, uri: &str, body: &[u8]) -> serde_json::Value {
        let (status, body) = call(app, "POST", uri, body).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test]
    async fn check_answers_a_decision_with_its_reasons() {
        let msg = format!("Subject: test\r\n\r\n{GTUBE}\r\n");
        let v = call_ok(app(1 << 20), "/v1/mail/check", msg.as_bytes()).await;
        assert_eq!(v["action"], "reject");
        assert_eq!(v["id"], message_id(msg.as_bytes()));
        assert_eq!(v["reasons"][0]["name"], "GTUBE");
        assert!(v["probability"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
        assert!(v["model_version"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn large_messages_are_decided_off_the_async_workers() {
        let mut msg = b"Subject: big\r\n\r\n".to_vec();
        msg.resize(INLINE_BYTES + 1000, b'a');
        let v = call_ok(app(1 << 20), "/v1/mail/check", &msg).await;
        assert!(v["action"].is_string());
    }

    #[tokio::test]
    async fn oversized_messages_get_413_and_a_json_error() {
        let (status, body) = call(app(100), "POST", "/v1/mail/check", &[b'x'; 500]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("max_message_bytes"));
        let (status, _) = call(app(100), "POST", "/checkv2", &[b'x'; 500]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn garbage_still_gets_a_decision() {
        let v = call_ok(app(1 << 20), "/v1/mail/check", &[0xff, 0x00, 0xfe, b'\n', 0x80]).await;
        assert!(v["action"].is_string(), "{v}");
    }

    #[tokio::test]
    async fn checkv2_answers_in_rspamds_shape() {
        let msg = format!("Subject: test\r\n\r\n{GTUBE}\r\n");
        let v = call_ok(app(1 << 20), "/checkv2", msg.as_bytes()).await;
        assert_eq!(v["action"], "reject");
        assert_eq!(v["is_skipped"], false);
        assert_eq!(v["required_score"], 10.0);
        assert_eq!(v["symbols"]["GTUBE"]["name"], "GTUBE");
        assert!(v["symbols"]["MODEL"]["score"].is_number());
        assert_eq!(call(app(100), "GET", "/ping", b"").await, (StatusCode::OK, b"pong\r\n".to_vec()));
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_keeps_serving() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let routes = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
        let app = guarded(routes, &ServerOptions::default());
        let (status, body) = call(app.clone(), "GET", "/boom", b"").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("internal error"));
        assert_eq!(call(app, "GET", "/fine", b"").await, (StatusCode::OK, b"fine".to_vec()));
    }

    #[tokio::test]
    async fn health_endpoints_answer() {
        assert_eq!(call(app(100), "GET", "/healthz", b"").await.0, StatusCode::OK);
        assert_eq!(call(app(100), "GET", "/readyz", b"").await.0, StatusCode::OK);
        assert_eq!(call(app(100), "GET", "/v1/mail/check", b"").await.0, StatusCode::METHOD_NOT_ALLOWED);
    }
}
