//! Lessons: what a resolution on the desk teaches the model, taught from the desk's outbox.

use std::sync::Arc;

use axum::http::StatusCode;
use warden_core::FeatureVec;
use warden_mail::MailLabel;

use warden_server::{ApiError, AppState, ServerError};

use crate::{MailError, MailServer, api};

impl MailServer {
    /// What `who` resolving `item` with `label` teaches: refused when `who` may not resolve it
    /// (the desk checks again in the resolution's transaction); a correction when the label goes
    /// against the decision (junk or worse said spam, deliver said ham); learned from the
    /// features the item kept, or from its kept message extracted again when the model's
    /// extractor changed since; refused when it has neither.
    pub(crate) fn resolution_lesson(
        &self,
        item: &warden_desk::ReviewItem,
        features: warden_desk::ReviewFeatures,
        body: Option<Vec<u8>>,
        who: &str,
        label: MailLabel,
    ) -> Result<warden_desk::Lesson, ApiError> {
        item.may_resolve(who)?;
        let overturns = (item.action != "deliver") != label.is_spam();
        let live = &self.live;
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
        Ok(warden_desk::Lesson {
            item: item.id,
            message: features.message,
            label: label.into(),
            correction: overturns,
            extractor: live.extractor(),
            features: x.hashes().to_vec(),
            body,
        })
    }

    /// Teaches the outbox's lessons (resolutions whose lesson a crash or a full feedback queue
    /// kept from the store) and lets each go once stored; returns how many. With `strict` (at
    /// start) a damaged lesson is an error; otherwise it is skipped and counted. Blocks: call it
    /// off the async workers.
    pub fn teach_outbox(&self, state: &AppState, strict: bool) -> Result<usize, ServerError> {
        let lessons = state.review().outbox(strict).map_err(MailError::desk("the desk's outbox"))?;
        let mut taught = 0;
        for (seq, l) in lessons {
            if !self.teaching.lock().expect("not poisoned").insert(seq) {
                continue; // a resolve handler is on it
            }
            let result = match self.lesson_features(&l) {
                Some(x) => {
                    self.live.teach_blocking(l.message, x, l.label, l.body.as_deref(), l.correction).map(Some)
                }
                None => Ok(None),
            };
            self.teaching.lock().expect("not poisoned").remove(&seq);
            match result.map_err(|error| MailError::Teach { item: l.item, error })? {
                Some(outcome) => api::count_feedback(state, Some(outcome)),
                None => tracing::warn!(
                    item = l.item,
                    "a resolution's lesson was made by another extractor and its message was not kept: it cannot be taught"
                ),
            }
            state
                .review()
                .clear_lesson(seq)
                .map_err(MailError::desk("letting a taught lesson go from the outbox"))?;
            taught += 1;
        }
        Ok(taught)
    }

    /// A lesson's features as the live model extracts: as kept when the extractor is the same,
    /// made again from the kept message when not; `None` when neither is possible.
    pub(crate) fn lesson_features(&self, l: &warden_desk::Lesson) -> Option<warden_core::FeatureVec> {
        if l.extractor == self.live.extractor() {
            Some(warden_core::FeatureVec::from_hashes(l.features.clone()))
        } else {
            l.body.as_deref().map(|raw| self.live.features(raw))
        }
    }

    /// Teaches one lesson of the outbox (a resolution just committed) and lets it go; answers
    /// what became of it. A lesson that cannot be stored now stays in the outbox: the next
    /// housekeeping pass or start teaches it.
    pub(crate) async fn teach_lesson(
        &self,
        state: &AppState,
        seq: u64,
        l: warden_desk::Lesson,
    ) -> serde_json::Value {
        if !self.teaching.lock().expect("not poisoned").insert(seq) {
            return serde_json::json!({ "outcome": "queued" }); // the outbox's drain is on it
        }
        let answer = match self.lesson_features(&l) {
            None => {
                serde_json::json!({ "outcome": "queued", "error": "the model's extractor changed: taught from the outbox" })
            }
            Some(x) => {
                match api::teach(state, l.message, x, l.label, l.body.as_deref(), l.correction).await {
                    Ok(outcome) => {
                        let review = Arc::clone(state.review());
                        match tokio::task::spawn_blocking(move || review.clear_lesson(seq)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, lesson = seq, "a taught lesson stays in the outbox (taught again as a duplicate)")
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, lesson = seq, "clearing a taught lesson failed")
                            }
                        }
                        let (outcome, record) = api::describe(outcome);
                        serde_json::json!({ "outcome": outcome, "record": record })
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.message, item = l.item, "a resolution's lesson waits in the outbox");
                        serde_json::json!({ "outcome": "queued", "error": e.message })
                    }
                }
            }
        };
        self.teaching.lock().expect("not poisoned").remove(&seq);
        answer
    }
}

/// Resolves mail's review item `item`: the resolution and its lesson are committed together
/// (the lesson in the desk's outbox), then the model learns the lesson (as a correction when it
/// overturns the decision) and the outbox lets it go. A resolution refused (409) teaches
/// nothing; one that stands is taught, at the latest at the next start.
pub(crate) async fn resolve(
    mail: &MailServer,
    state: &AppState,
    item: warden_desk::ReviewItem,
    features: warden_desk::ReviewFeatures,
    body: Option<Vec<u8>>,
    r: warden_server::kinds::Resolution<'_>,
) -> Result<(warden_desk::ReviewItem, serde_json::Value), ApiError> {
    let label: MailLabel = r.word.parse().map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let lesson = mail.resolution_lesson(&item, features, body, r.who, label)?;
    let overturns = lesson.correction;
    let review = Arc::clone(state.review());
    let (id, who, reason, now) = (item.id, r.who.to_owned(), r.reason.to_owned(), r.now);
    let taught = lesson.clone();
    let teach = warden_desk::Teach::Lesson(lesson);
    let resolved = tokio::task::spawn_blocking(move || {
        review.resolve(id, &who, label.as_str(), &reason, now, Some(teach))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut feedback = match resolved.lesson {
        Some(seq) => mail.teach_lesson(state, seq, taught).await,
        None => serde_json::json!({ "outcome": "none" }),
    };
    feedback["overturns_decision"] = overturns.into();
    Ok((resolved.item, feedback))
}
