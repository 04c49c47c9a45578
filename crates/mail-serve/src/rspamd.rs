//! Rspamd's protocol: `POST /checkv2` and `GET /ping` on the scanning listener, `POST
//! /learnspam`, `POST /learnham` and `GET /stat` on the controller.
//!
//! The request is the raw message with the envelope in Rspamd's headers (`IP`, `Helo`, `From`,
//! `Rcpt`, …); the reply has Rspamd's shape, so `rspamc` and the MTA integrations written for
//! Rspamd read it unchanged. Warden's actions map onto Rspamd's as follows:
//!
//! | Warden       | Rspamd            | why |
//! |--------------|-------------------|-----|
//! | `deliver`    | `no action`       | |
//! | `junk`       | `add header`      | the MTA marks it and the mailbox files it as junk |
//! | `quarantine` | `rewrite subject` | Rspamd has no hold: the strongest mark that still delivers (the milter quarantines for real) |
//! | `reject`     | `reject`          | |
//!
//! The score is Warden's (model log-odds plus rule points) and `required_score` is the reject
//! threshold. Each reason is a symbol, with its contribution as the symbol's score.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;
use warden_core::Action;
use warden_mail::MailAction;

use warden_server::{ApiError, AppState};

use crate::MailServer;
use warden_store::feedback::Outcome;

/// Rspamd's word for a Warden action.
pub fn action_name(action: MailAction) -> &'static str {
    match action {
        MailAction::Deliver => "no action",
        MailAction::Junk => "add header",
        MailAction::Quarantine => "rewrite subject",
        MailAction::Reject => "reject",
    }
}

#[derive(Debug, Serialize)]
struct Symbol {
    name: String,
    score: f64,
    metric_score: f64,
    description: String,
    options: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CheckV2 {
    is_skipped: bool,
    score: f64,
    required_score: f64,
    action: &'static str,
    symbols: BTreeMap<String, Symbol>,
    messages: BTreeMap<String, String>,
    time_real: f64,
}

pub(crate) async fn checkv2(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CheckV2>, ApiError> {
    let start = Instant::now();
    let envelope = crate::mailauth::Envelope::from_headers(&headers);
    let d = MailServer::of(&state).decide(&state, body?, &envelope, "checkv2").await?.decision;
    let symbols = d
        .reasons
        .into_iter()
        .map(|r| {
            let symbol = Symbol {
                name: r.name.clone(),
                score: r.contribution,
                metric_score: r.contribution,
                description: r.description,
                // Rspamd's symbols carry what they matched as options: here the evidence.
                options: r.evidence.iter().map(|e| e.feature.clone()).collect(),
            };
            (r.name, symbol)
        })
        .collect();
    Ok(Json(CheckV2 {
        is_skipped: false,
        score: d.score,
        required_score: MailServer::of(&state).live().with_engine(|e| e.thresholds().0.reject),
        action: action_name(d.action),
        symbols,
        messages: BTreeMap::new(),
        time_real: start.elapsed().as_secs_f64(),
    }))
}

pub(crate) async fn ping() -> &'static str {
    "pong\r\n"
}

/// `POST /learnspam` on the controller: Rspamd's way to teach a message as spam.
pub(crate) async fn learn_spam(state: State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    learn(state, body, true).await
}

/// `POST /learnham` on the controller.
pub(crate) async fn learn_ham(state: State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    learn(state, body, false).await
}

/// Rspamd's answers: `{"success": true}`, or 208 with an error when the message already has
/// this label (as Rspamd says of a message its Bayes classifier has already learned).
async fn learn(State(state): State<AppState>, body: Result<Bytes, BytesRejection>, spam: bool) -> Response {
    let result = async {
        let body = body?;
        let (id, x) = crate::api::extract(&state, body.clone()).await?;
        crate::api::teach(&state, id, x, warden_core::Label::of(spam), Some(&body), false).await
    }
    .await;
    match result {
        Ok(Outcome::Duplicate { .. }) => {
            let label = if spam { "spam" } else { "ham" };
            let error = format!("message has been already learned as {label}, ignore it");
            (StatusCode::ALREADY_REPORTED, Json(serde_json::json!({ "error": error }))).into_response()
        }
        Ok(_) => Json(serde_json::json!({ "success": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /stat` in Rspamd's shape: decisions by Rspamd action, and what has been learned.
pub(crate) async fn stat(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let live = std::sync::Arc::clone(MailServer::of(&state).live());
    let store = tokio::task::spawn_blocking(move || live.store_stats())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (messages, learned_spam, learned_ham, version) = MailServer::of(&state).live().model_counts();
    let mut actions = serde_json::Map::new();
    let (mut scanned, mut ham) = (0, 0);
    for &a in MailAction::ALL {
        let n = MailServer::of(&state).scanned[a as usize].load(Ordering::Relaxed);
        scanned += n;
        if a == MailAction::Deliver {
            ham = n;
        }
        actions.insert(action_name(a).to_owned(), n.into());
    }
    actions.insert("soft reject".to_owned(), 0.into());
    let c = &MailServer::of(&state).live().counters;
    let learned = c.learned.load(Ordering::Relaxed) + c.corrected.load(Ordering::Relaxed);
    Ok(Json(serde_json::json!({
        "read_only": false,
        "scanned": scanned,
        "learned": learned,
        "actions": actions,
        "spam_count": scanned - ham,
        "ham_count": ham,
        "connections": 0,
        "control_connections": 0,
        "total_learns": messages,
        "statfiles": [
            { "symbol": "WARDEN_SPAM", "type": "warden", "revision": learned_spam, "users": 1, "languages": 0,
              "size": 0, "total": 0, "used": 0 },
            { "symbol": "WARDEN_HAM", "type": "warden", "revision": learned_ham, "users": 1, "languages": 0,
              "size": 0, "total": 0, "used": 0 },
        ],
        "fuzzy_hashes": {},
        "warden": {
            "model_version": version,
            "feedback_records": store.records,
            "feedback_last_record": store.last_seq,
            "feedback_duplicates": c.duplicates.load(Ordering::Relaxed),
            "feedback_replayed": c.replayed.load(Ordering::Relaxed),
            "feedback_skipped": c.skipped.load(Ordering::Relaxed),
            "checkpoints": c.checkpoints.load(Ordering::Relaxed),
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn actions_map_onto_rspamds_words_in_order_of_severity() {
        let names: Vec<_> = MailAction::ALL.iter().map(|&a| action_name(a)).collect();
        assert_eq!(names, ["no action", "add header", "rewrite subject", "reject"]);
    }

    #[tokio::test]
    async fn checkv2_answers_in_rspamds_shape() {
        let dir = tempfile::tempdir().unwrap();
        let app = warden_server::scan_router(state_in(dir.path(), warden_server::Settings::default()));
        let msg = format!("Subject: test\r\n\r\n{GTUBE}\r\n");
        let v = call_ok(app, "/checkv2", &[], msg.as_bytes()).await;
        assert_eq!(v["action"], "reject");
        assert_eq!(v["is_skipped"], false);
        assert_eq!(v["required_score"], 10.0);
        assert_eq!(v["symbols"]["GTUBE"]["name"], "GTUBE");
        assert!(v["symbols"]["MODEL"]["score"].is_number());
    }

    #[tokio::test]
    async fn required_score_is_the_reject_threshold_in_force() {
        let mut model = warden_mail::engine::starter_model().unwrap();
        warden_mail::engine::ActionThresholds { junk: 2.0, quarantine: 7.0, reject: 12.5 }
            .put_in_model(&mut model);
        let open = |mail: crate::MailSettings, dir: &std::path::Path| {
            let mut settings = warden_server::Settings::default();
            settings.server.data_dir = dir.to_owned();
            crate::testing::open(settings, mail, Some(model.clone()), warden_server::Sources::default())
        };
        let msg = b"Subject: lunch\r\n\r\nsee you at noon\r\n";
        // The model's own reject threshold, where the configuration sets none.
        let dir = tempfile::tempdir().unwrap();
        let v = call_ok(
            warden_server::scan_router(open(crate::MailSettings::default(), dir.path())),
            "/checkv2",
            &[],
            msg,
        )
        .await;
        assert_eq!(v["required_score"], 12.5);
        // The configuration's, when it sets one.
        let dir = tempfile::tempdir().unwrap();
        let mut mail = crate::MailSettings::default();
        mail.thresholds.reject = Some(11.0);
        let v = call_ok(warden_server::scan_router(open(mail, dir.path())), "/checkv2", &[], msg).await;
        assert_eq!(v["required_score"], 11.0);

        // A reload whose thresholds fall once the model's fill the gaps is refused whole; one
        // that rises takes effect.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("warden.toml");
        let mut settings = warden_server::Settings::default();
        settings.server.data_dir = dir.path().join("data");
        let sources = warden_server::Sources { config: Some(file.clone()), ..Default::default() };
        let state = crate::testing::open(settings, crate::MailSettings::default(), Some(model), sources);
        let nameservers = "[mail_auth]\nnameservers = [\"127.0.0.1:9\"]\n";
        let data = format!("[server]\ndata_dir = {:?}\n", dir.path().join("data"));
        std::fs::write(&file, format!("{data}{nameservers}[thresholds]\nreject = 5.0\n")).unwrap();
        let e = state.reload().unwrap_err();
        assert!(matches!(e, warden_server::ServerError::Plugin(_)), "{e:?}");
        assert!(e.to_string().starts_with("[thresholds]: "), "{e}");
        let v = call_ok(warden_server::scan_router(state.clone()), "/checkv2", &[], msg).await;
        assert_eq!(v["required_score"], 12.5);
        std::fs::write(&file, format!("{data}{nameservers}[thresholds]\nreject = 8.0\n")).unwrap();
        state.reload().unwrap();
        let v = call_ok(warden_server::scan_router(state), "/checkv2", &[], msg).await;
        assert_eq!(v["required_score"], 8.0);
    }

    #[tokio::test]
    async fn learning_through_the_controller_counts_in_stat_and_repeats_answer_208() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), warden_server::Settings::default());
        let app = warden_server::controller_router(state.clone());
        let pw = [("password", TOKEN)];
        let spam = b"Subject: win money\r\n\r\nclaim your prize now\r\n";
        let ham = b"Subject: lunch\r\n\r\nsee you at noon\r\n";
        let v = call_ok(app.clone(), "/learnspam", &pw, spam).await;
        assert_eq!(v["success"], true);
        call_ok(app.clone(), "/learnham", &pw, ham).await;
        let (status, body) = call_from(app.clone(), [127, 0, 0, 1], "POST", "/learnspam", &pw, spam).await;
        assert_eq!(status, StatusCode::ALREADY_REPORTED);
        assert!(String::from_utf8_lossy(&body).contains("already learned as spam"));
        let (status, _) = call(app.clone(), "POST", "/learnham", spam).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "learning needs the password");

        let scan = warden_server::scan_router(state.clone());
        call_ok(scan, "/checkv2", &[], spam).await;
        let (status, body) = call_from(app, [127, 0, 0, 1], "GET", "/stat", &pw, b"").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["scanned"], 1);
        assert_eq!(v["learned"], 2);
        assert_eq!(v["warden"]["feedback_records"], 2);
        assert_eq!(v["warden"]["feedback_duplicates"], 1);
    }
}
