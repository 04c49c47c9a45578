//! Mail's own API: `POST /v1/mail/check` and `POST /v1/mail/feedback`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Json;
use serde::{Deserialize, Serialize};
use warden_core::{FeatureVec, Reason};
use warden_mail::{MailAction, MailLabel};

use warden_server::{ApiError, AppState};

use crate::MailServer;
use warden_store::feedback::Outcome;

/// The answer of `POST /v1/mail/check`.
#[derive(Debug, Serialize)]
pub struct CheckReply {
    /// The message's identity: a keyed hash of its bytes (32 hex digits); feedback may name
    /// the message by it.
    pub id: String,
    /// What to do.
    pub action: MailAction,
    /// What the thresholds acted on (log-odds).
    pub score: f64,
    /// The model's P(spam).
    pub probability: f64,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
    /// An analysts' rule asked for the message to be reviewed.
    pub review: bool,
    /// The model that decided: when it was saved and how many messages it has learned.
    pub model_version: String,
    /// Time from the request's arrival to the answer, in microseconds.
    pub elapsed_us: u64,
    /// The authentication checks: verdicts, and the checks skipped with why.
    pub auth: crate::mailauth::AuthReport,
}

pub(crate) async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CheckReply>, ApiError> {
    let start = Instant::now();
    let envelope = crate::mailauth::Envelope::from_headers(&headers);
    let c = MailServer::of(&state).decide(&state, body?, &envelope, "check").await?;
    let d = c.decision;
    Ok(Json(CheckReply {
        id: format!("{:032x}", c.id),
        action: d.action,
        score: d.score,
        probability: d.probability,
        reasons: d.reasons,
        review: d.review,
        model_version: c.model_version,
        elapsed_us: start.elapsed().as_micros() as u64,
        auth: c.auth,
    }))
}

/// `POST /v1/mail/feedback` as JSON: the message by id (from a recent check) or in full.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedbackJson {
    id: Option<String>,
    message: Option<String>,
    label: MailLabel,
}

/// What a JSON feedback body names: a recent check's id, or a whole message.
pub(crate) enum Named {
    Id(u128),
    Message(String),
}

impl FeedbackJson {
    /// Exactly one of `id` (32 hex digits) and `message`.
    pub(crate) fn named(self) -> Result<(Named, MailLabel), ApiError> {
        match (self.id, self.message) {
            (Some(id), None) => Ok((Named::Id(parse_id(&id)?), self.label)),
            (None, Some(m)) => Ok((Named::Message(m), self.label)),
            _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "give exactly one of `id` and `message`")),
        }
    }
}

/// A check's id: exactly 32 hex digits.
fn parse_id(id: &str) -> Result<u128, ApiError> {
    let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| u128::from_str_radix(id, 16).ok()).flatten().ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "`id` must be the 32 hex digits a check answered")
    })
}

/// `POST /v1/mail/feedback?label=…` with the raw message as the body.
#[derive(Debug, Deserialize)]
pub(crate) struct LabelQuery {
    label: Option<MailLabel>,
}

/// The answer to feedback.
#[derive(Debug, Serialize)]
pub(crate) struct FeedbackReply {
    /// The message's id.
    id: String,
    label: MailLabel,
    /// `new`, `correction` (it had the other label before: learned as a correction) or
    /// `duplicate` (it had this label already: not learned again).
    outcome: &'static str,
    /// The feedback record (for a duplicate, the earlier one).
    record: u64,
}

pub(crate) async fn feedback(
    State(state): State<AppState>,
    Query(query): Query<LabelQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FeedbackReply>, ApiError> {
    let body = body?;
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let (id, features, label, raw) = if is_json {
        let req: FeedbackJson = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("feedback JSON: {e}")))?;
        if query.label.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "give the label in the JSON or the query, not both",
            ));
        }
        match req.named()? {
            (Named::Id(id), label) => (id, by_id(&state, id)?, label, None),
            (Named::Message(m), label) => {
                let raw = Bytes::from(m);
                let (id, x) = extract(&state, raw.clone()).await?;
                (id, x, label, Some(raw))
            }
        }
    } else {
        let label = query.label.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "send JSON {\"id\" or \"message\", \"label\"}, or the raw message with ?label=spam|ham",
            )
        })?;
        let (id, x) = extract(&state, body.clone()).await?;
        (id, x, label, Some(body))
    };
    let outcome = teach(&state, id, features, label.into(), raw.as_deref(), false).await?;
    let (outcome, record) = describe(outcome);
    Ok(Json(FeedbackReply { id: format!("{id:032x}"), label, outcome, record }))
}

/// Stores and learns a label (as a correction when `correction`), counting the outcome.
pub(crate) async fn teach(
    state: &AppState,
    id: u128,
    x: FeatureVec,
    label: warden_core::Label,
    body: Option<&[u8]>,
    correction: bool,
) -> Result<Outcome, ApiError> {
    let result = MailServer::of(state).live().teach_as(id, x, label, body, correction).await;
    count_feedback(state, result.as_ref().ok().copied());
    Ok(result?)
}

/// Counts a label's outcome in `warden_feedback_total` (`None`: refused).
pub(crate) fn count_feedback(state: &AppState, outcome: Option<Outcome>) {
    let name = outcome.map_or("refused", |o| describe(o).0);
    state
        .metrics()
        .feedback
        .get_or_create(&warden_server::metrics::OutcomeLabels { outcome: name.into() })
        .inc();
}

/// An outcome's name and its record.
pub(crate) fn describe(outcome: Outcome) -> (&'static str, u64) {
    match outcome {
        Outcome::New { seq } => ("new", seq),
        Outcome::Correction { seq } => ("correction", seq),
        Outcome::Duplicate { seq } => ("duplicate", seq),
    }
}

/// The id and features of a message, extracted off the async workers when it is large.
pub(crate) async fn extract(state: &AppState, raw: Bytes) -> Result<(u128, FeatureVec), ApiError> {
    let inline = raw.len() <= crate::check::INLINE_BYTES;
    let live = std::sync::Arc::clone(MailServer::of(state).live());
    let work = move || (live.message_key(&raw), live.features(&raw));
    if inline {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("feature task failed: {e}")))
}

fn by_id(state: &AppState, key: u128) -> Result<FeatureVec, ApiError> {
    MailServer::of(state).live().recent_features(key).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no recent check has this id (the last {} are remembered); send the message instead",
                MailServer::of(state).live().recent_capacity()
            ),
        )
    })
}

impl From<crate::live::FeedbackError> for ApiError {
    fn from(e: crate::live::FeedbackError) -> Self {
        use crate::live::FeedbackError;
        let status = match e {
            FeedbackError::Busy | FeedbackError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            FeedbackError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use warden_server::Settings;

    fn auth() -> String {
        format!("Bearer {TOKEN}")
    }

    #[tokio::test]
    async fn check_answers_a_decision_with_its_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), Settings::default());
        let msg = format!("Subject: test\r\n\r\n{GTUBE}\r\n");
        let v =
            call_ok(warden_server::scan_router(state.clone()), "/v1/mail/check", &[], msg.as_bytes()).await;
        assert_eq!(v["action"], "reject");
        assert_eq!(v["id"], format!("{:032x}", MailServer::of(&state).live().message_key(msg.as_bytes())));
        assert_eq!(v["reasons"][0]["name"], "GTUBE");
        assert!(v["probability"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
        assert!(v["model_version"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn rules_apply_and_a_broken_rule_file_never_replaces_the_running_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("desk.rules");
        std::fs::write(
            &file,
            "rule BIG { description: \"big\" when: mail.size > 10 then: score 50, review }\n",
        )
        .unwrap();
        let mut settings = Settings::default();
        settings.rules.files = vec![file.clone()];
        let state = state_in(dir.path(), settings);
        let app = warden_server::scan_router(state.clone());
        let msg = b"From: a@shop.example\r\nSubject: hello\r\n\r\nhello there\r\n";
        let v = call_ok(app.clone(), "/v1/mail/check", &[], msg).await;
        assert_eq!(v["action"], "reject", "50 points");
        assert_eq!(v["review"], true);
        assert_eq!(v["reasons"][0]["name"], "RULE:BIG");
        assert_eq!(v["reasons"][0]["description"], format!("big: mail.size = {}", msg.len()));

        std::fs::write(&file, "rule BIG { when: mail.size > \"ten\" then: score 50 }\n").unwrap();
        let err = state.reload_rules().unwrap_err();
        assert!(matches!(err, crate::ServerError::Rules(ref d) if d.len() == 1), "{err:?}");
        assert!(err.to_string().contains("desk.rules:1:30: type mismatch"), "{err}");
        let v = call_ok(app.clone(), "/v1/mail/check", &[], msg).await;
        assert_eq!(v["reasons"][0]["name"], "RULE:BIG", "the running set stays");
        let metrics = String::from_utf8(call(app.clone(), "GET", "/metrics", b"").await.1).unwrap();
        assert!(metrics.contains("warden_rule_load_failures_total 1"), "{metrics}");
        assert!(metrics.contains("warden_rules_last_load_ok 0"), "{metrics}");
        assert!(metrics.contains("warden_rule_hits{rule=\"BIG\",mode=\"enforce\"} 2"), "{metrics}");

        std::fs::write(&file, "rule SMALL { mode: shadow when: mail.size < 10 then: action reject }\n")
            .unwrap();
        assert_eq!(state.reload_rules().unwrap(), 1);
        let v = call_ok(app.clone(), "/v1/mail/check", &[], msg).await;
        assert_ne!(v["reasons"][0]["name"], "RULE:BIG");
        assert_eq!(v["review"], false);
        let metrics = String::from_utf8(call(app.clone(), "GET", "/metrics", b"").await.1).unwrap();
        assert!(
            metrics.contains("warden_rules_last_load_ok 1") && metrics.contains("warden_rules 1"),
            "{metrics}"
        );
        assert!(state.rule_files().contains(&file));

        // The envelope's client and HELO are what rules read, over the message's Received.
        std::fs::write(&file, "rule ENV { when: mail.client_ip == \"10.1.2.3\" && mail.helo == \"relay.example\" then: score 1 }\n")
            .unwrap();
        assert_eq!(state.reload_rules().unwrap(), 1);
        let received = b"Received: from other.example ([192.0.2.9]) by mx.example with ESMTP; Tue, 3 Nov 2026 10:00:00 +0000\r\nSubject: hi\r\n\r\nhi\r\n";
        let v = call_ok(app.clone(), "/v1/mail/check", &[], received).await;
        assert_ne!(v["reasons"][0]["name"], "RULE:ENV", "without an envelope the Received hop counts");
        let v =
            call_ok(app, "/v1/mail/check", &[("IP", "10.1.2.3"), ("Helo", "Relay.Example")], received).await;
        assert_eq!(v["reasons"][0]["name"], "RULE:ENV");
        assert_eq!(
            v["reasons"][0]["description"],
            "mail.client_ip = 10.1.2.3, mail.helo = \"relay.example\""
        );
    }

    #[tokio::test]
    async fn a_rule_reload_keeps_the_counters_windows_and_rebuilds_a_changed_counter_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flood.rules");
        let rules = |window: &str, rule: &str| {
            format!(
                "counter per_sender: count by mail.from_domain over {window}\n\
                 rule {rule} {{ description: \"flood\" when: per_sender >= 1 then: score 0.1 }}\n"
            )
        };
        std::fs::write(&file, rules("1h", "FLOOD")).unwrap();
        let mut settings = Settings::default();
        settings.rules.files = vec![file.clone()];
        let state = state_in(dir.path(), settings);
        let app = warden_server::scan_router(state.clone());
        let msg = b"From: a@bulk.example\r\nSubject: hello\r\n\r\nhello there\r\n";
        let count = |v: &serde_json::Value| {
            let reasons = v["reasons"].as_array().unwrap();
            let r =
                reasons.iter().find(|r| r["name"].as_str().is_some_and(|n| n.starts_with("RULE:"))).unwrap();
            r["description"].as_str().unwrap().to_owned()
        };
        for _ in 0..2 {
            call_ok(app.clone(), "/v1/mail/check", &[], msg).await;
        }
        // Other rules, the same counter: its window goes on, counted once (not again from the
        // journal on top of what the store kept).
        std::fs::write(&file, rules("1h", "FLOOD_AGAIN")).unwrap();
        assert_eq!(state.reload_rules().unwrap(), 1);
        let v = call_ok(app.clone(), "/v1/mail/check", &[], msg).await;
        assert_eq!(count(&v), "flood: per_sender = 3");
        // Another window is another counter: the store does not hold it, the journal rebuilds it.
        std::fs::write(&file, rules("2h", "FLOOD_WIDER")).unwrap();
        assert_eq!(state.reload_rules().unwrap(), 1);
        let v = call_ok(app, "/v1/mail/check", &[], msg).await;
        assert_eq!(count(&v), "flood: per_sender = 4");
    }

    #[tokio::test]
    async fn large_messages_are_decided_off_the_async_workers() {
        let dir = tempfile::tempdir().unwrap();
        let app = warden_server::scan_router(state_in(dir.path(), settings(1 << 20)));
        let mut msg = b"Subject: big\r\n\r\n".to_vec();
        msg.resize(crate::check::INLINE_BYTES + 1000, b'a');
        let v = call_ok(app, "/v1/mail/check", &[], &msg).await;
        assert!(v["action"].is_string());
    }

    #[tokio::test]
    async fn oversized_messages_get_413_and_a_json_error() {
        let dir = tempfile::tempdir().unwrap();
        let app = warden_server::scan_router(state_in(dir.path(), settings(100)));
        let (status, body) = call(app.clone(), "POST", "/v1/mail/check", &[b'x'; 500]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("max_message_bytes"));
        let (status, _) = call(app, "POST", "/checkv2", &[b'x'; 500]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn garbage_still_gets_a_decision() {
        let dir = tempfile::tempdir().unwrap();
        let app = warden_server::scan_router(state_in(dir.path(), Settings::default()));
        let v = call_ok(app, "/v1/mail/check", &[], &[0xff, 0x00, 0xfe, b'\n', 0x80]).await;
        assert!(v["action"].is_string(), "{v}");
    }

    #[tokio::test]
    async fn feedback_by_id_or_message_is_learned_once_and_contradictions_correct_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), Settings::default());
        let app = warden_server::scan_router(state.clone());
        let msg = "Subject: cheap meds\r\nFrom: a@b.example\r\n\r\nbuy cheap meds today\r\n";
        let before = call_ok(app.clone(), "/v1/mail/check", &[], msg.as_bytes()).await;
        let id = before["id"].as_str().unwrap().to_owned();
        let a = auth();
        let headers = [("content-type", "application/json"), ("authorization", a.as_str())];
        let by_id = serde_json::json!({"id": id, "label": "spam"}).to_string();
        let v = call_ok(app.clone(), "/v1/mail/feedback", &headers, by_id.as_bytes()).await;
        assert_eq!(
            (v["outcome"].as_str(), v["record"].as_u64(), v["id"].as_str()),
            (Some("new"), Some(1), Some(&*id))
        );
        let after = call_ok(app.clone(), "/v1/mail/check", &[], msg.as_bytes()).await;
        assert!(after["score"].as_f64() > before["score"].as_f64(), "learned: {before} {after}");

        // The same message in full, the same label: known, not learned again.
        let full = serde_json::json!({"message": msg, "label": "spam"}).to_string();
        let v = call_ok(app.clone(), "/v1/mail/feedback", &headers, full.as_bytes()).await;
        assert_eq!((v["outcome"].as_str(), v["record"].as_u64()), (Some("duplicate"), Some(1)));
        let same = call_ok(app.clone(), "/v1/mail/check", &[], msg.as_bytes()).await;
        assert_eq!(same["score"], after["score"]);

        // The raw message with the other label: a correction, which moves the score back.
        let raw_headers = [("authorization", a.as_str())];
        let (status, body) = call_from(
            app.clone(),
            [127, 0, 0, 1],
            "POST",
            "/v1/mail/feedback?label=ham",
            &raw_headers,
            msg.as_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((v["outcome"].as_str(), v["record"].as_u64()), (Some("correction"), Some(2)));
        let corrected = call_ok(app.clone(), "/v1/mail/check", &[], msg.as_bytes()).await;
        assert!(
            corrected["score"].as_f64() < before["score"].as_f64(),
            "{} {} {}",
            before["score"],
            after["score"],
            corrected["score"]
        );
        assert_eq!(MailServer::of(&state).live().store_stats().unwrap().records, 2);
    }

    #[tokio::test]
    async fn bad_feedback_requests_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let app = warden_server::scan_router(state_in(dir.path(), Settings::default()));
        let a = auth();
        let json = [("content-type", "application/json"), ("authorization", a.as_str())];
        for (headers, uri, body, status, needle) in [
            (&json[..], "/v1/mail/feedback", r#"{"label": "spam"}"#, StatusCode::BAD_REQUEST, "exactly one"),
            (
                &json[..],
                "/v1/mail/feedback",
                r#"{"id": "zz", "label": "spam"}"#,
                StatusCode::BAD_REQUEST,
                "32 hex",
            ),
            (
                &json[..],
                "/v1/mail/feedback",
                r#"{"id": "0123456789abcdef0123456789abcdef", "label": "ham"}"#,
                StatusCode::NOT_FOUND,
                "send the message",
            ),
            (
                &json[..],
                "/v1/mail/feedback",
                r#"{"message": "x", "label": "eggs"}"#,
                StatusCode::BAD_REQUEST,
                "unknown variant",
            ),
            (
                &json[..],
                "/v1/mail/feedback",
                r#"{"message": "x", "label": "spam", "extra": 1}"#,
                StatusCode::BAD_REQUEST,
                "extra",
            ),
            (
                &json[..1 + 1][1..],
                "/v1/mail/feedback",
                "Subject: x\r\n\r\nno label\r\n",
                StatusCode::BAD_REQUEST,
                "?label=",
            ),
        ] {
            let (got, body) =
                call_from(app.clone(), [127, 0, 0, 1], "POST", uri, headers, body.as_bytes()).await;
            let text = String::from_utf8_lossy(&body);
            assert_eq!(got, status, "{body:?}: {text}");
            assert!(text.contains(needle), "{text}");
        }
    }
}
