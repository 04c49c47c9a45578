//! Who may call what, and how many at once.
//!
//! Feedback, learning, statistics and admin calls need a bearer token
//! (`Authorization: Bearer …`); the controller also takes it in Rspamd's `Password` header,
//! which `rspamc -P` sends. Checks need none from the clients `[auth] open_checks` names
//! (loopback by default). A call without a valid token gets 401 and is counted.
//!
//! Each listener decides at most `[limits] max_in_flight` requests at once; one more gets 503
//! at once (load shedding) instead of joining a queue that would only grow.

use std::net::SocketAddr;
use std::path::Path;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::settings::{OpenChecks, Settings};
use crate::{ApiError, AppState, Metrics};

/// The tokens of `settings`, or, when it names none, the one in `<data_dir>/admin.token`
/// (made at first start, mode 0600).
pub fn tokens(settings: &Settings) -> std::io::Result<Vec<String>> {
    if !settings.auth.tokens.is_empty() {
        return Ok(settings.auth.tokens.iter().map(|t| t.trim().to_owned()).collect());
    }
    Ok(vec![admin_token(&settings.server.data_dir)?])
}

/// The generated token of a data directory, made when absent.
pub fn admin_token(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 16 => Ok(t.trim().to_owned()),
        Ok(_) => Err(std::io::Error::other(format!("{}: shorter than 16 characters", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let mut b = [0u8; 24];
            getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
            let token = warden_store::feedback::hex(&b);
            warden_store::feedback::write_private(&path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Whether the request carries one of `tokens` (compared in constant time).
fn has_token(headers: &HeaderMap, tokens: &[String], password_header: bool) -> bool {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let password = if password_header { headers.get("password").and_then(|v| v.to_str().ok()) } else { None };
    [bearer, password].into_iter().flatten().any(|given| {
        tokens.iter().any(|t| constant_time_eq::constant_time_eq(t.as_bytes(), given.trim().as_bytes()))
    })
}

fn unauthorized(state: &AppState, listener: &str) -> Response {
    Metrics::count(&state.metrics().unauthorized, listener);
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a token is required: send `Authorization: Bearer <token>` (see [auth] tokens, or \
         admin.token in the data directory)",
    )
    .into_response();
    r.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
    r
}

/// Feedback on the scanning listener: a bearer token.
pub(crate) async fn token_scan(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if has_token(req.headers(), &state.tokens(), false) {
        next.run(req).await
    } else {
        unauthorized(&state, "scan")
    }
}

/// Everything on the controller: a bearer token or Rspamd's `Password` header.
pub(crate) async fn token_controller(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if has_token(req.headers(), &state.tokens(), true) {
        next.run(req).await
    } else {
        unauthorized(&state, "controller")
    }
}

/// What a person may do at the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Read review items, labels and the audit log.
    Viewer,
    /// And work the queue and set labels.
    Analyst,
}

/// Who is calling a desk endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// The name the audit log records.
    pub name: String,
    pub role: Role,
}

/// The desk's endpoints: an analyst's or viewer's token (or an admin token, acting as
/// `admin` with an analyst's rights), as a bearer token only — Rspamd's `Password` header is
/// for Rspamd's own endpoints. The caller is passed on as a [`Person`].
pub(crate) async fn person(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let auth = &state.settings().auth;
    let one = |t: &str| vec![t.trim().to_owned()];
    let found = if has_token(req.headers(), &state.tokens(), false) {
        Some(Person { name: "admin".into(), role: Role::Analyst })
    } else {
        let analysts = auth.analysts.iter().map(|p| (p, Role::Analyst));
        let viewers = auth.viewers.iter().map(|p| (p, Role::Viewer));
        analysts
            .chain(viewers)
            .find(|(p, _)| has_token(req.headers(), &one(&p.token), false))
            .map(|(p, role)| Person { name: p.name.clone(), role })
    };
    match found {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => unauthorized(&state, "controller"),
    }
}

/// Checks: open to the clients `open_checks` names, a token for the others.
pub(crate) async fn open_checks(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical());
    let open = match state.settings().auth.open_checks {
        OpenChecks::Any => true,
        OpenChecks::Loopback => peer.is_some_and(|ip| ip.is_loopback()),
        OpenChecks::None => false,
    };
    if open || has_token(req.headers(), &state.tokens(), false) {
        next.run(req).await
    } else {
        unauthorized(&state, "scan")
    }
}

async fn limit(state: &AppState, controller: bool, req: Request, next: Next) -> Response {
    let (slots, listener) =
        if controller { (&state.0.controller_slots, "controller") } else { (&state.0.scan_slots, "scan") };
    let Ok(_slot) = slots.try_acquire() else {
        Metrics::count(&state.metrics().shed, listener);
        let mut r = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight (max_in_flight); retry",
        )
        .into_response();
        r.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        return r;
    };
    let start = std::time::Instant::now();
    let response = next.run(req).await;
    state
        .metrics()
        .latency
        .get_or_create(&crate::metrics::ListenerLabels { listener: listener.into() })
        .observe(start.elapsed().as_secs_f64());
    response
}

/// At most `max_in_flight` decisions at once on the scanning listener.
pub(crate) async fn limit_scan(State(state): State<AppState>, req: Request, next: Next) -> Response {
    limit(&state, false, req, next).await
}

/// At most `max_in_flight` learning calls at once on the controller.
pub(crate) async fn limit_controller(State(state): State<AppState>, req: Request, next: Next) -> Response {
    limit(&state, true, req, next).await
}

/// Counts the requests that ran out of time (408).
pub(crate) async fn count_timeouts(
    State((state, listener)): State<(AppState, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let response = next.run(req).await;
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        Metrics::count(&state.metrics().timeouts, listener);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// A state serving the test kind, and an event of it.
    fn probe_state(dir: &std::path::Path, settings: Settings) -> crate::AppState {
        let state = state_in(dir, settings);
        state
            .register_kind(std::sync::Arc::new(crate::kinds::Pipeline::new(crate::kinds::probe::Probe)))
            .unwrap();
        state
    }

    fn event(id: &str) -> String {
        let now =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
        format!(r#"{{"kind": "probe", "id": "{id}", "time": "{now}", "account": "a-1", "words": ["hello"]}}"#)
    }

    #[tokio::test]
    async fn feedback_without_a_token_is_refused_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let state = probe_state(dir.path(), Settings::default());
        let app = crate::scan_router(state.clone());
        let body = br#"{"entity": "a-1", "label": "abusive"}"#;
        let json = ("content-type", "application/json");
        for headers in [vec![json], vec![json, ("authorization", "Bearer wrong-token-0123456789")]] {
            let (status, _) =
                call_from(app.clone(), [127, 0, 0, 1], "POST", "/v1/probe/feedback", &headers, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let metrics = String::from_utf8(call(app.clone(), "GET", "/metrics", b"").await.1).unwrap();
        assert!(metrics.contains("warden_unauthorized_total{listener=\"scan\"} 2"), "{metrics}");
        let bearer = format!("Bearer {TOKEN}");
        let (status, _) = call_from(
            app,
            [127, 0, 0, 1],
            "POST",
            "/v1/probe/feedback",
            &[json, ("authorization", &bearer)],
            body,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn checks_are_open_to_loopback_only_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let state = probe_state(dir.path(), Settings::default());
        let app = crate::scan_router(state);
        let check = |peer: [u8; 4], id: &str, headers: Vec<(&'static str, String)>| {
            let (app, body) = (app.clone(), event(id));
            async move {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                call_from(app, peer, "POST", "/v1/probe/check", &headers, body.as_bytes()).await.0
            }
        };
        assert_eq!(check([127, 0, 0, 1], "e-1", vec![]).await, StatusCode::OK);
        assert_eq!(check([10, 0, 0, 7], "e-2", vec![]).await, StatusCode::UNAUTHORIZED);
        let bearer = vec![("authorization", format!("Bearer {TOKEN}"))];
        assert_eq!(check([10, 0, 0, 7], "e-3", bearer).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_controller_takes_rspamds_password_header() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), Settings::default());
        let app = crate::controller_router(state);
        let checkpoint = "/v1/admin/checkpoint";
        assert_eq!(call(app.clone(), "POST", checkpoint, b"").await.0, StatusCode::UNAUTHORIZED);
        let (status, _) =
            call_from(app, [127, 0, 0, 1], "POST", checkpoint, &[("password", TOKEN)], b"").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn beyond_max_in_flight_requests_are_shed_with_503_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.limits.max_in_flight = 1;
        let state = probe_state(dir.path(), settings);
        let app = crate::scan_router(state.clone());
        // An upload still coming holds no slot: its body has not arrived.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
        let body = axum::body::Body::from_stream(tokio_stream_from(rx));
        let mut req = axum::http::Request::post("/v1/probe/check").body(body).unwrap();
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
        let first = tokio::spawn(tower::ServiceExt::oneshot(app.clone(), req));
        let slow = event("e-slow");
        let (start, rest) = slow.split_at(10);
        tx.send(Ok(axum::body::Bytes::from(start.to_owned()))).await.unwrap();
        let check = |id: &str| {
            let (app, body) = (app.clone(), event(id));
            async move { call(app, "POST", "/v1/probe/check", body.as_bytes()).await }
        };
        assert_eq!(check("e-1").await.0, StatusCode::OK, "the stalled upload took no slot");
        tx.send(Ok(axum::body::Bytes::from(rest.to_owned()))).await.unwrap();
        drop(tx);
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        // The one slot held (a decision in progress): one more is shed at once.
        let held = state.slots()[0].try_acquire().unwrap();
        let (status, body) = check("e-2").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(String::from_utf8_lossy(&body).contains("max_in_flight"));
        drop(held);
        assert_eq!(check("e-3").await.0, StatusCode::OK);
        let metrics = String::from_utf8(call(app, "GET", "/metrics", b"").await.1).unwrap();
        assert!(metrics.contains("warden_shed_total{listener=\"scan\"} 1"), "{metrics}");
    }

    /// A stream of the channel's items.
    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_core::Stream<Item = T> + Send {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[test]
    fn a_data_directory_makes_its_token_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.server.data_dir = dir.path().join("data");
        let first = tokens(&s).unwrap();
        assert_eq!(first.len(), 1);
        assert!(first[0].len() >= 32);
        assert_eq!(tokens(&s).unwrap(), first, "the same token after a restart");
        s.auth.tokens = vec!["configured-token-0123".into()];
        assert_eq!(tokens(&s).unwrap(), ["configured-token-0123"]);
    }
}
