//! The check path: authentication, the decision, and what the desk keeps of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::http::StatusCode;
use warden_core::Decision;
use warden_mail::MailAction;

use warden_server::metrics::Metrics;
use warden_server::{ApiError, AppState};

use crate::{MailServer, live, mailauth};

/// Messages up to this size are decided on the async worker; larger ones on the blocking pool.
pub(crate) const INLINE_BYTES: usize = 256 << 10;

impl MailServer {
    /// Runs the authentication checks `envelope` allows, then decides on `raw` (on the
    /// blocking pool when it is large) and counts the decision.
    pub(crate) async fn decide(
        &self,
        state: &AppState,
        raw: Bytes,
        envelope: &mailauth::Envelope,
        endpoint: &str,
    ) -> Result<Checked, ApiError> {
        let checker = Arc::clone(&self.checker.read().expect("not poisoned"));
        let auth = checker.check(&raw, envelope).await;
        let inline = raw.len() <= INLINE_BYTES;
        let mut c = if inline {
            self.live.check_with(&raw, auth.header.as_deref(), Some(envelope))
        } else {
            let live = Arc::clone(&self.live);
            let envelope = envelope.clone();
            let raw = raw.clone();
            let header = auth.header.clone();
            tokio::task::spawn_blocking(move || live.check_with(&raw, header.as_deref(), Some(&envelope)))
                .await
                .map_err(|e| ApiError::internal(format!("decision task failed: {e}")))?
        };
        if envelope.ip.is_some() {
            c.decision.reasons.push(auth_reason(&auth));
        }
        self.record(state, &mut c, &raw, endpoint, inline).await?;
        let (decision, id, model_version) = (c.decision, c.id, c.model_version);
        self.scanned[decision.action as usize].fetch_add(1, Ordering::Relaxed);
        state.metrics().decided(decision.action.as_str(), endpoint);
        Ok(Checked { decision, id, model_version, auth })
    }

    /// Writes what the desk keeps of a decision — its audit entry, its review item, its rules'
    /// counter updates and labels — and waits for what must be durable before the answer.
    pub(crate) async fn record(
        &self,
        state: &AppState,
        c: &mut live::LiveCheck,
        raw: &Bytes,
        endpoint: &str,
        inline: bool,
    ) -> Result<(), ApiError> {
        let settings = state.settings();
        let [low, high] = settings.review.band;
        let uncertain = (low..=high).contains(&c.decision.probability);
        let review = uncertain || c.decision.review;
        let mut writes = warden_desk::CheckWrites {
            audit_sync: settings.audit.sync_decisions,
            counts: std::mem::take(&mut c.counts),
            labels: std::mem::take(&mut c.labels),
            first_seen: std::mem::take(&mut c.first_seen),
            ..Default::default()
        };
        if settings.audit.decisions {
            writes.audit = Some(warden_desk::AuditEntry {
                at: c.at,
                kind: "decision".into(),
                actor: format!("warden:{endpoint}"),
                message: Some(format!("{:032x}", c.id)),
                action: Some(c.decision.action.as_str().into()),
                score: Some(c.decision.score),
                probability: Some(c.decision.probability),
                // The names only (rules, the model, the feature families, GTUBE, AUTH): the
                // sentences and the evidence quote words of the message.
                reasons: c.decision.reasons.iter().map(|r| r.name.clone()).collect(),
                ..Default::default()
            });
        }
        if review {
            let mut why = Vec::new();
            if uncertain {
                why.push("uncertain".to_owned());
            }
            if c.decision.review {
                why.push("rule".to_owned());
            }
            writes.review =
                Some(self.review_item(state, c, raw, why, settings.review.keep_bodies, inline).await?);
        }
        // Review items, labels and counter updates are on disk before the answer (a crash
        // loses none that was answered); a decision's own audit entry only when configured.
        let must_wait = writes.waited_for();
        if !writes.is_empty() {
            let mut answer = state.desk().submit(writes);
            let stored = if must_wait {
                (&mut answer).await.unwrap_or(Err(warden_desk::WriteError::WriterStopped))
            } else {
                // Refused at once (queue full, stopping) shows now; a later failure is logged
                // by the writer.
                answer.try_recv().unwrap_or(Ok(()))
            };
            if let Err(e) = stored {
                Metrics::count(&state.metrics().desk_failures, endpoint);
                if must_wait {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("decided, but its review, label or counter writes were not stored: {e}"),
                    ));
                }
                tracing::warn!(error = %e, "a decision's audit entry was not queued");
            }
        }
        Ok(())
    }

    /// A review item for a decision, with what an analyst needs to judge it.
    pub(crate) async fn review_item(
        &self,
        state: &AppState,
        c: &live::LiveCheck,
        raw: &Bytes,
        why: Vec<String>,
        keep_body: bool,
        inline: bool,
    ) -> Result<warden_desk::NewReview, ApiError> {
        let live = Arc::clone(&self.live);
        let (id, facts) = (c.id, c.facts.clone());
        let raw_owned = raw.clone();
        let work = move || {
            let facts = facts.unwrap_or_else(|| live.with_engine(|e| e.facts(&raw_owned)));
            let x = live.recent_features(id).unwrap_or_else(|| live.features(&raw_owned));
            (facts, x, live.extractor())
        };
        let (facts, x, extractor) = if inline {
            work()
        } else {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| ApiError::internal(format!("review task failed: {e}")))?
        };
        let d = &c.decision;
        let certainty = if why.iter().any(|w| w == "rule") {
            0
        } else {
            warden_desk::certainty(d.probability, state.settings().review.band)
        };
        Ok(warden_desk::NewReview {
            item: warden_desk::ReviewItem {
                at: c.at,
                certainty,
                why,
                kind: Some("mail".into()),
                message: format!("{:032x}", c.id),
                action: d.action.as_str().into(),
                score: d.score,
                probability: d.probability,
                from_domain: facts.from_domain,
                subject: facts.subject,
                url_domains: facts.url_domains,
                attachments: facts.attachment_names,
                reasons: d.reasons.clone(),
                ..warden_desk::ReviewItem::default()
            },
            features: warden_desk::ReviewFeatures { message: c.id, extractor, features: x.hashes().to_vec() },
            body: keep_body.then(|| raw.to_vec()),
        })
    }
}

/// A decision with what came with it.
pub(crate) struct Checked {
    pub(crate) decision: Decision<MailAction>,
    pub(crate) id: u128,
    pub(crate) model_version: String,
    pub(crate) auth: mailauth::AuthReport,
}

/// The authentication checks as an informative reason (they weigh through the model's
/// `auth:` features, not here).
pub(crate) fn auth_reason(a: &mailauth::AuthReport) -> warden_core::Reason {
    let mut parts: Vec<String> = [("spf", &a.spf), ("dkim", &a.dkim), ("dmarc", &a.dmarc), ("arc", &a.arc)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    if !a.skipped.is_empty() {
        parts.push(format!("skipped: {}", a.skipped.join(", ")));
    }
    let what = if parts.is_empty() { "none ran".to_owned() } else { parts.join("; ") };
    warden_core::Reason::new(
        "AUTH",
        format!("Authentication checks (they weigh through SENDER): {what}."),
        0.0,
    )
}
