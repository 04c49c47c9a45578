//! Rspamd's normal-worker protocol: `POST /checkv2` and `GET /ping`.
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

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use warden_core::MailAction;

use crate::{ApiError, AppState};

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
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CheckV2>, ApiError> {
    let start = Instant::now();
    let d = state.decide(body?).await?;
    let symbols = d
        .reasons
        .into_iter()
        .map(|r| {
            let symbol = Symbol {
                name: r.name.clone(),
                score: r.contribution,
                metric_score: r.contribution,
                description: r.description,
                options: Vec::new(),
            };
            (r.name, symbol)
        })
        .collect();
    Ok(Json(CheckV2 {
        is_skipped: false,
        score: d.score,
        required_score: state.engine.config().thresholds.reject,
        action: action_name(d.action),
        symbols,
        messages: BTreeMap::new(),
        time_real: start.elapsed().as_secs_f64(),
    }))
}

pub(crate) async fn ping() -> &'static str {
    "pong\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_onto_rspamds_words_in_order_of_severity() {
        let all = [MailAction::Deliver, MailAction::Junk, MailAction::Quarantine, MailAction::Reject];
        let names: Vec<_> = all.iter().map(|&a| action_name(a)).collect();
        assert_eq!(names, ["no action", "add header", "rewrite subject", "reject"]);
    }
}
