//! The admin calls and what every listener answers: reload, checkpoint, metrics, readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};

use crate::{ApiError, AppState};

pub(crate) async fn reload(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.clone();
    let notes = tokio::task::spawn_blocking(move || s.reload())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("reload refused, nothing changed: {e}"))
        })?;
    Ok(Json(serde_json::json!({ "reloaded": true, "notes": notes })))
}

/// `POST /v1/admin/checkpoint`: every model saved now — the plug-ins' (mail's answers
/// `last_record`) and each JSON kind's (`kinds`: the last label its checkpoint holds).
pub(crate) async fn checkpoint(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.clone();
    let (plugins, kinds) = tokio::task::spawn_blocking(move || {
        let plugins: Vec<_> = s.plugins().iter().map(|p| (p.name(), p.checkpoint())).collect();
        (plugins, s.checkpoint_kinds())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut answer = serde_json::Map::new();
    answer.insert("checkpoint".into(), true.into());
    for (name, done) in plugins {
        let fields =
            done.map_err(|e| ApiError::internal(format!("checkpoint of the {name} model failed: {e}")))?;
        answer.extend(fields);
    }
    let mut by_kind = serde_json::Map::new();
    for (kind, done) in kinds {
        let done =
            done.map_err(|e| ApiError::internal(format!("checkpoint of the {kind} model failed: {e}")))?;
        by_kind.insert(kind.into(), done.into());
    }
    answer.insert("kinds".into(), by_kind.into());
    Ok(Json(answer.into()))
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let max = state.settings().limits.max_in_flight;
    for (listener, slots) in [("scan", state.slots()[0]), ("controller", state.slots()[1])] {
        let busy = max.saturating_sub(slots.available_permits()) as i64;
        state
            .metrics()
            .in_flight
            .get_or_create(&crate::metrics::ListenerLabels { listener: listener.into() })
            .set(busy);
    }
    let desk = state.desk();
    let [desk_found, journal_found] = desk.damaged();
    let mut damaged = vec![
        (warden_desk::DESK_FILE, desk_found, desk.repaired()),
        (warden_store::journal::FILE, journal_found, 0),
    ];
    for p in state.plugins() {
        damaged.extend(p.scrape(state.metrics()));
    }
    let now = crate::metrics::Scrape {
        connections: state.0.trackers.iter().map(|(name, t)| (*name, t.open())).collect(),
        bytes_in_flight: state.budget().in_use(),
        damaged,
        review_open: state.review().open_items().unwrap_or(0),
        review_dropped: desk.review_dropped(),
        webhooks_waiting: desk.webhooks_waiting().unwrap_or(0),
        webhooks_dropped: desk.webhooks_dropped(),
    };
    let body = state.metrics().render(&now);
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// `GET /readyz`: ready, and what an operator should know of optional parts (the `[geoip]`
/// databases in use, or that there are none; what the plug-ins add).
pub(crate) async fn readyz(State(state): State<AppState>) -> String {
    let mut out = format!("ready\ngeoip: {}\n", state.geo().describe());
    for line in state.plugins().iter().flat_map(|p| p.ready()) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
