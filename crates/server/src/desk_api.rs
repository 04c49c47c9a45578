//! The desk over HTTP (controller listener): the review queue, entity labels, the audit log.
//!
//! Viewers read; analysts (and admin tokens) also claim, resolve and label. Every change is in
//! the audit log under the caller's name.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use warden_core::FeatureVec;

use crate::auth::{Person, Role};
use crate::desk::{DeskError, EntityLabel, LabelOutcome, LabelSource, ReviewStatus, Verdict};
use crate::{ApiError, AppState};

/// The desk's routes (the caller's [`Person`] comes from `auth::person`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/review", get(list))
        .route("/v1/review/{id}", get(item))
        .route("/v1/review/{id}/claim", post(claim))
        .route("/v1/review/{id}/resolve", post(resolve))
        .route("/v1/labels", get(labels).post(set_label))
        .route("/v1/audit", get(audit))
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        let status = match e {
            DeskError::NoItem(_) => StatusCode::NOT_FOUND,
            DeskError::Conflict(_) => StatusCode::CONFLICT,
            DeskError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DeskError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn analyst(p: &Person) -> Result<(), ApiError> {
    match p.role {
        Role::Analyst => Ok(()),
        Role::Viewer => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is a viewer: claiming, resolving and labelling take an analyst's token", p.name),
        )),
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// Runs a store call off the async workers (each is a durable transaction).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DeskError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("desk task failed: {e}")))?
        .map_err(Into::into)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `open`, `claimed`, `resolved` (all when absent).
    status: Option<ReviewStatus>,
    /// At most this many, newest first (default 100).
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let desk = state.desk().clone();
    let items = blocking(move || desk.review_items(q.status, q.limit.unwrap_or(100).min(10_000))).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}

async fn item(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let desk = state.desk().clone();
    let item = blocking(move || desk.review_item(id)).await?;
    Ok(Json(serde_json::to_value(item).expect("items serialise")))
}

async fn claim(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let desk = state.desk().clone();
    let item = blocking(move || desk.claim(id, &person.name, now())).await?;
    Ok(Json(serde_json::to_value(item).expect("items serialise")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    label: Verdict,
    reason: String,
}

/// Labels an item: the model learns the label (as a correction when it overturns the
/// decision), then the item is resolved and the resolution audited.
async fn resolve(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    Path(id): Path<u64>,
    body: Result<Json<Resolve>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let r = json_body(body)?;
    if r.reason.trim().is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "give a `reason`: the audit log keeps why"));
    }
    let desk = state.desk().clone();
    let who = person.name.clone();
    let (item, (features, body)) =
        blocking(move || Ok((desk.review_item(id)?, desk.review_features(id)?))).await?;
    match (item.status, item.claimed_by.as_deref()) {
        (ReviewStatus::Resolved, _) => {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("review item {id} is resolved")));
        }
        (ReviewStatus::Claimed, Some(by)) if by != who => {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("review item {id} is claimed by {by}")));
        }
        _ => {}
    }
    let spam = r.label == Verdict::Spam;
    // The decision said spam (junk or worse) or ham (deliver): a label against it corrects it.
    let overturns = (item.action != "deliver") != spam;
    let live = state.live().clone();
    let x = if features.extractor == live.extractor() {
        FeatureVec::from_hashes(features.features)
    } else if let Some(raw) = &body {
        live.features(raw)
    } else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the model's extractor changed since this item was queued and its message was not kept \
             ([review] keep_bodies): resolve it without teaching by sending the message to /v1/mail/feedback",
        ));
    };
    let outcome = live.teach_as(features.message, x, spam, body.as_deref(), overturns).await?;
    let (outcome, record) = crate::api::describe(outcome);
    let desk = state.desk().clone();
    let reason = r.reason.clone();
    let item = blocking(move || desk.resolve(id, &who, r.label, &reason, now())).await?;
    Ok(Json(serde_json::json!({
        "item": item,
        "feedback": { "outcome": outcome, "record": record, "overturns_decision": overturns },
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelQuery {
    kind: Option<String>,
    entity: Option<String>,
}

async fn labels(
    State(state): State<AppState>,
    query: Result<Query<LabelQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let desk = state.desk().clone();
    let labels = blocking(move || desk.labels(q.kind.as_deref(), q.entity.as_deref())).await?;
    let now = now();
    let labels: Vec<serde_json::Value> = labels
        .into_iter()
        .map(|l| {
            let holds = l.holds(now);
            let mut v = serde_json::to_value(l).expect("labels serialise");
            v["in_force"] = holds.into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "labels": labels })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLabel {
    /// `domain`, `ip`, `address`, `host`, `account`, …
    kind: String,
    entity: String,
    label: String,
    reason: String,
    /// Seconds until it lapses (never when absent).
    ttl_secs: Option<u64>,
    /// Take the label away (a manual removal also keeps rules from setting it again until
    /// `ttl_secs` have passed).
    #[serde(default)]
    remove: bool,
}

async fn set_label(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    body: Result<Json<SetLabel>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let s = json_body(body)?;
    for (what, v) in [("kind", &s.kind), ("entity", &s.entity), ("label", &s.label), ("reason", &s.reason)] {
        if v.trim().is_empty() || v.len() > 512 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`{what}` must be 1 to 512 characters"),
            ));
        }
    }
    let at = now();
    let label = EntityLabel {
        kind: s.kind.trim().to_lowercase(),
        entity: s.entity.trim().to_lowercase(),
        label: s.label.trim().to_owned(),
        active: !s.remove,
        source: LabelSource::Manual,
        by: person.name,
        reason: s.reason,
        at,
        expires: s.ttl_secs.map(|t| at.saturating_add(t)),
    };
    let desk = state.desk().clone();
    let stored = label.clone();
    let outcome = blocking(move || desk.set_label(&stored)).await?;
    let previous = match outcome {
        LabelOutcome::Stored(p) => p,
        LabelOutcome::Overridden => unreachable!("manual labels are never overridden"),
    };
    Ok(Json(serde_json::json!({ "label": label, "previous": previous })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Entries after this sequence number (default 0: from the oldest kept).
    after: Option<u64>,
    /// At most this many (default 10,000).
    limit: Option<usize>,
}

/// The audit log as JSON lines, oldest first.
async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let desk = state.desk().clone();
    let limit = q.limit.unwrap_or(10_000);
    let lines = blocking(move || {
        let mut out = Vec::new();
        let mut n = 0;
        desk.audit_after(q.after.unwrap_or(0), |e| {
            if n < limit {
                serde_json::to_writer(&mut out, &e).expect("entries serialise");
                out.push(b'\n');
                n += 1;
            }
        })?;
        Ok(out)
    })
    .await?;
    Ok(([("content-type", "application/x-ndjson")], Body::from(lines)).into_response())
}
