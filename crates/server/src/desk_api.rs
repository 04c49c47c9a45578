//! The desk over HTTP (controller listener): the review queue, entity labels, the audit log.
//!
//! Viewers read; analysts (and admin tokens) also claim, resolve and label. Every change is in
//! the audit log under the caller's name.

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::text::FieldError;

use crate::auth::{Person, Role};
use crate::{ApiError, AppState};
use warden_desk::{DeskError, EntityLabel, LabelOutcome, LabelSource, MAX_PAGE, ReviewStatus};

/// The desk's routes (the caller's [`Person`] comes from `auth::person`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/review", get(list))
        .route("/v1/review/{id}", get(item))
        .route("/v1/review/{id}/claim", post(claim))
        .route("/v1/review/{id}/resolve", post(resolve))
        .route("/v1/labels", get(labels).post(set_label))
        .route("/v1/audit", get(audit))
        .route("/v1/entities/{kind}/{id}", get(entity).delete(erase))
        .route("/v1/{kind}/{view}", get(view))
        .route("/v1/{kind}/{view}/{id}", get(view_item))
        .route("/v1/{kind}/{view}/{id}/label", post(label_view_item))
        // A desk request is a few fields: a larger body is refused (413) before it is read.
        .layer(DefaultBodyLimit::max(DESK_BODY_BYTES))
}

/// The largest body a desk endpoint takes.
pub(crate) const DESK_BODY_BYTES: usize = 64 << 10;

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        let status = match e {
            DeskError::NoItem(_) => StatusCode::NOT_FOUND,
            DeskError::Conflict(_) => StatusCode::CONFLICT,
            DeskError::Store(_) | DeskError::Damaged(_) => StatusCode::INTERNAL_SERVER_ERROR,
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

fn bad(message: impl ToString) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message.to_string())
}

/// A page size: `limit` (default `default`), at most [`MAX_PAGE`].
fn page_size(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        0 => Err(bad("`limit` must be at least 1")),
        n if n > MAX_PAGE => Err(bad(format!("`limit` is at most {MAX_PAGE}: page with `after`"))),
        n => Ok(n),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `open`, `claimed`, `resolved` (all when absent).
    status: Option<ReviewStatus>,
    /// The previous page's `next`: items older than it.
    after: Option<u64>,
    /// At most this many, newest first (default 100, at most 1,000).
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query?;
    let limit = page_size(q.limit, 100)?;
    let review = Arc::clone(state.review());
    let page = blocking(move || review.page(q.status, q.after, limit)).await?;
    Ok(Json(serde_json::json!({ "items": page.items, "next": page.next })))
}

async fn item(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id?;
    let review = Arc::clone(state.review());
    let item = blocking(move || review.item(id)).await?;
    Ok(Json(serde_json::to_value(item).expect("items serialise")))
}

async fn claim(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let Path(id) = id?;
    let review = Arc::clone(state.review());
    let item = blocking(move || review.claim(id, &person.name, now())).await?;
    Ok(Json(serde_json::to_value(item).expect("items serialise")))
}

/// `POST /v1/review/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resolve {
    /// In the item's kind's words (`spam`/`ham` for mail).
    label: String,
    reason: String,
}

impl Resolve {
    /// Checks the fields: a reason of 1 to `max_reason` bytes, with nothing a terminal would
    /// obey.
    pub(crate) fn check(&self, max_reason: usize) -> Result<(), FieldError> {
        if self.reason.trim().is_empty() {
            return Err(FieldError::NoReason);
        }
        reason_bytes(&self.reason, max_reason)?;
        crate::text::check_field("reason", &self.reason, max_reason)
    }
}

/// Labels an item. The resolution and its lesson are committed together (the lesson in the
/// desk's outbox), then the model learns the lesson (as a correction when it overturns the
/// decision) and the outbox lets it go. A resolution refused (409) teaches nothing; one that
/// stands is taught, at the latest at the next start.
async fn resolve(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    id: Result<Path<u64>, PathRejection>,
    body: Result<Json<Resolve>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let Path(id) = id?;
    let Json(r) = body?;
    r.check(state.settings().review.max_reason_bytes).map_err(bad)?;
    let review = Arc::clone(state.review());
    let who = person.name.clone();
    let (item, (features, body)) = blocking(move || Ok((review.item(id)?, review.features(id)?))).await?;
    let when = now();
    // A plug-in's item (mail's) is resolved by the plug-in: what it teaches is its own. Items
    // stored before kinds were named carry none: they are the plug-in's that says so.
    let plugin = match item.kind.as_deref() {
        Some(kind) => state.plugin_named(kind),
        None => state.plugins().iter().find(|p| p.owns_unnamed_items()),
    };
    if let Some(plugin) = plugin {
        let r = crate::kinds::Resolution { who: &who, word: &r.label, reason: &r.reason, now: when };
        let (item, feedback) = plugin.resolve(&state, item, features, body, r).await?;
        return Ok(Json(serde_json::json!({ "item": item, "feedback": feedback })));
    }
    // A JSON kind's is a verdict on its entity, taught in one write.
    let kind = item.kind.clone().unwrap_or_default();
    let served = state.kind(&kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("review item {id} is of kind {kind:?}, which this server does not serve"),
        )
    })?;
    let st = state.clone();
    let (item, feedback) = blocking(move || {
        let r = crate::kinds::Resolution { who: &who, word: &r.label, reason: &r.reason, now: when };
        Ok(served.resolve(&st, &item, features, r))
    })
    .await??;
    Ok(Json(serde_json::json!({ "item": item, "feedback": feedback })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelQuery {
    kind: Option<String>,
    /// One entity's labels (with `kind`).
    entity: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    /// At most this many (default 1,000).
    limit: Option<usize>,
}

/// `GET /v1/entities/{kind}/{id}`: what is kept about an entity now — the labels in force,
/// every label record, whether features are kept for a label still to come.
async fn entity(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<warden_desk::EntityState>, ApiError> {
    let Path((kind, id)) = path?;
    check_entity(&kind, &id)?;
    let entities = Arc::clone(state.entities());
    Ok(Json(blocking(move || entities.state(&kind, &id, now())).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseQuery {
    /// Why (an erasure request's reference): required, audited.
    reason: Option<String>,
}

/// `DELETE /v1/entities/{kind}/{id}?reason=…`: erases what is kept about an entity (its label
/// records, the features kept for it), audited with the caller and the reason. An analyst's.
async fn erase(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<EraseQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let Path((kind, id)) = path?;
    check_entity(&kind, &id)?;
    let Query(q) = query?;
    let reason =
        q.reason.filter(|r| !r.trim().is_empty()).ok_or_else(|| bad("give the erasure's `reason`"))?;
    crate::text::check_field("reason", &reason, state.settings().review.max_reason_bytes).map_err(bad)?;
    let entities = Arc::clone(state.entities());
    let who = person.name.clone();
    let (k, e) = (kind.clone(), id.clone());
    let erased = blocking(move || entities.erase(&k, &e, &who, &reason, now())).await?;
    // And what the kinds remember of it in memory (a sign-up's place in its cluster).
    let (k, e) = (kind.to_lowercase(), id.to_lowercase());
    let served: Vec<_> = state.kind_names().into_iter().filter_map(|n| state.kind(n)).collect();
    let forgotten: u64 = served.iter().map(|s| s.erase(&k, &e)).sum();
    Ok(Json(
        serde_json::json!({ "kind": k, "entity": e, "erased": erased, "forgotten_in_memory": forgotten }),
    ))
}

/// A kind served on the generic routes and one of its views, or a 404 naming what there is.
fn kind_view(state: &AppState, kind: &str, view: &str) -> Result<Arc<dyn crate::kinds::Served>, ApiError> {
    let served = state.kind(kind).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no kind of event named {kind:?} has views"))
    })?;
    if !served.views().contains(&view) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the {kind} kind has no view {view:?} (its views: {})", served.views().join(", ")),
        ));
    }
    Ok(served)
}

/// `GET /v1/{kind}/{view}`: a kind's view for analysts (sign-ups' `clusters`).
async fn view(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path((kind, view)) = path?;
    let served = kind_view(&state, &kind, &view)?;
    let v = crate::kinds::blocking(move || served.view(&view, None)).await?;
    v.map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "nothing to show"))
}

/// `GET /v1/{kind}/{view}/{id}`: one item of a kind's view (a cluster).
async fn view_item(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path((kind, view, id)) = path?;
    crate::text::check_field("id", &id, 256).map_err(bad)?;
    let served = kind_view(&state, &kind, &view)?;
    let wanted = id.clone();
    let v = crate::kinds::blocking(move || served.view(&view, Some(&wanted))).await?;
    v.map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no item {id:?}")))
}

/// What an analyst's label on a whole item of a view says.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewLabel {
    /// In the kind's label words.
    label: String,
    /// Why: audited.
    reason: String,
}

/// `POST /v1/{kind}/{view}/{id}/label {label, reason}`: an analyst labels every entity of an
/// item (a cluster's accounts) at once: each label set and audited, posted to the webhooks,
/// and learned from the entity's kept features. An analyst's.
async fn label_view_item(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<ViewLabel>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let Path((kind, view, id)) = path?;
    crate::text::check_field("id", &id, 256).map_err(bad)?;
    let Json(b) = body.map_err(|e| bad(e.body_text()))?;
    crate::text::check_field("reason", &b.reason, state.settings().review.max_reason_bytes).map_err(bad)?;
    let served = kind_view(&state, &kind, &view)?;
    let st = state.clone();
    let who = person.name.clone();
    let (item, label) = (id.clone(), b.label.clone());
    let done = crate::kinds::blocking(move || -> Result<serde_json::Value, ApiError> {
        let entities = served
            .view_entities(&view, &item)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no item {item:?}")))?;
        let reason = format!("{} (all of {item})", b.reason);
        let mut learned = 0;
        for e in &entities {
            learned += u64::from(served.judge(&st, e, &label, &who, &reason, now())?);
        }
        Ok(serde_json::json!({ "item": item, "label": label, "entities": entities.len(), "learned": learned }))
    })
    .await??;
    Ok(Json(done))
}

/// An entity's kind and id as a path gives them: printable, bounded.
fn check_entity(kind: &str, id: &str) -> Result<(), ApiError> {
    crate::text::check_field("kind", kind, 64).map_err(bad)?;
    crate::text::check_field("id", id, warden_desk::limits::NAME).map_err(bad)?;
    Ok(())
}

async fn labels(
    State(state): State<AppState>,
    query: Result<Query<LabelQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query?;
    if q.entity.is_some() && q.kind.is_none() {
        return Err(bad("give `kind` with `entity`"));
    }
    let limit = page_size(q.limit, MAX_PAGE)?;
    let after = q.after.as_deref().map(unhex).transpose().map_err(bad)?;
    let labels = Arc::clone(state.labels());
    let page = blocking(move || labels.page(q.kind.as_deref(), q.entity.as_deref(), after.as_deref(), limit))
        .await?;
    let now = now();
    let labels: Vec<serde_json::Value> = page
        .items
        .into_iter()
        .map(|l| {
            let holds = l.holds(now);
            let mut v = serde_json::to_value(l).expect("labels serialise");
            v["in_force"] = holds.into();
            v
        })
        .collect();
    let next = page.next.map(|k| warden_store::feedback::hex(k.as_bytes()));
    Ok(Json(serde_json::json!({ "labels": labels, "next": next })))
}

/// A labels cursor back to the key it stands for.
pub(crate) fn unhex(s: &str) -> Result<String, FieldError> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    bytes.and_then(|b| String::from_utf8(b).ok()).ok_or(FieldError::BadCursor)
}

/// `POST /v1/labels`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetLabel {
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

impl SetLabel {
    /// Checks the fields: each not blank and within its length, in characters; nothing a
    /// terminal would obey; a reason of at most `max_reason` bytes.
    pub(crate) fn check(&self, max_reason: usize) -> Result<(), FieldError> {
        crate::text::check_field("kind", &self.kind, 64)?;
        crate::text::check_field("entity", &self.entity, 512)?;
        crate::text::check_field("label", &self.label, 128)?;
        reason_bytes(&self.reason, max_reason)?;
        crate::text::check_field("reason", &self.reason, max_reason)
    }
}

/// A reason of at most `max` bytes (`[review] max_reason_bytes`).
fn reason_bytes(reason: &str, max: usize) -> Result<(), FieldError> {
    if reason.len() > max {
        return Err(FieldError::TooLong { field: "reason", count: reason.len(), max, unit: "bytes" });
    }
    Ok(())
}

async fn set_label(
    State(state): State<AppState>,
    Extension(person): Extension<Person>,
    body: Result<Json<SetLabel>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    analyst(&person)?;
    let Json(s) = body?;
    s.check(state.settings().review.max_reason_bytes).map_err(bad)?;
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
    let labels = Arc::clone(state.labels());
    let stored = label.clone();
    let outcome = blocking(move || labels.set(&stored)).await?;
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
    /// At most this many (default and most 1,000).
    limit: Option<usize>,
}

/// The audit log as JSON lines, oldest first: one page, read alone.
async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let limit = page_size(q.limit, MAX_PAGE)?;
    let (desk, audit) = (state.desk().clone(), Arc::clone(state.audit()));
    // Decisions' entries are committed in gathered batches: see every one answered so far.
    desk.flush().await.map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let lines = blocking(move || {
        let mut out = Vec::new();
        for e in audit.page(q.after.unwrap_or(0), limit)? {
            serde_json::to_writer(&mut out, &e).expect("entries serialise");
            out.push(b'\n');
        }
        Ok(out)
    })
    .await?;
    Ok(([("content-type", "application/x-ndjson")], Body::from(lines)).into_response())
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::settings::Settings;
    use crate::testing::*;

    #[tokio::test]
    async fn an_entity_is_seen_and_erased_through_the_api_by_an_analyst_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), people(Settings::default()));
        let controller = crate::controller_router(state.clone());
        let label =
            r#"{"kind": "account", "entity": "A-81f3", "label": "abusive", "reason": "sent phishing"}"#;
        assert_eq!(post(&controller, "/v1/labels", ALICE, label).await.0, StatusCode::OK);
        let (status, body) = get(&controller, "/v1/entities/account/a-81f3", VIEWER).await;
        assert_eq!(status, StatusCode::OK, "a viewer may look");
        let seen = json(&body);
        assert_eq!(seen["in_force"], serde_json::json!(["abusive"]));
        assert_eq!(seen["labels"][0]["reason"], "sent phishing");

        let delete = |token: &'static str, uri: &'static str| {
            let controller = controller.clone();
            async move {
                let bearer = format!("Bearer {token}");
                call_from(controller, [127, 0, 0, 1], "DELETE", uri, &[("authorization", &bearer)], b"").await
            }
        };
        let uri = "/v1/entities/account/A-81F3?reason=erasure%20request%2017";
        assert_eq!(delete(VIEWER, uri).await.0, StatusCode::FORBIDDEN, "a viewer may not erase");
        let (status, body) = delete(ALICE, "/v1/entities/account/a-81f3").await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "an erasure says why: {}",
            String::from_utf8_lossy(&body)
        );
        let (status, body) = delete(ALICE, uri).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(json(&body)["erased"]["labels"], 1);
        let after = json(&get(&controller, "/v1/entities/account/a-81f3", VIEWER).await.1);
        assert_eq!(after["labels"], serde_json::json!([]));
        let audit = String::from_utf8(get(&controller, "/v1/audit", VIEWER).await.1).unwrap();
        let erase =
            audit.lines().map(|l| json(l.as_bytes())).find(|e| e["kind"] == "entity.erase").expect("audited");
        assert_eq!(
            (erase["actor"].as_str(), erase["reason"].as_str()),
            (Some("alice"), Some("erasure request 17"))
        );
        assert!(!audit.contains("a-81f3"), "the audit log names the entity by keyed hash only");
    }
}
