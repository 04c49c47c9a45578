//! The desk through mail: review items of uncertain messages, resolved and learned; rules'
//! labels on entities.

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use warden_server::Settings;
    use warden_server::testing::{ALICE, VIEWER, get, json, people, post};

    use crate::testing::*;

    const MESSAGE: &[u8] = b"From: Billing <billing@invoices.example>\r\nTo: you@example.org\r\n\
Subject: Your invoice 4471 is ready\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <a1@invoices.example>\r\n\r\n\
Hello,\r\n\r\nyour invoice 4471 for October is attached. Pay within 30 days at\r\n\
http://pay.invoices.example/4471 to keep your account active.\r\n\r\nRegards,\r\nBilling\r\n";

    const UNRELATED: &[u8] = b"From: Sam <sam@friends.example>\r\nTo: you@example.org\r\n\
Subject: lunch on thursday?\r\nDate: Mon, 2 Nov 2026 11:00:00 +0000\r\nMessage-ID: <b2@friends.example>\r\n\r\n\
Are we still on for lunch on Thursday? The new noodle place opened near the station.\r\n";

    async fn probability(app: &axum::Router, raw: &[u8]) -> f64 {
        call_ok(app.clone(), "/v1/mail/check", &[], raw).await["probability"].as_f64().unwrap()
    }

    /// The review round trip: an uncertain message is queued; an analyst labels it through the
    /// API; the label is audited with who, when and why; and the model moves toward the label
    /// by more than an ordinary lesson on an unrelated message moves it.
    #[tokio::test]
    async fn an_uncertain_message_is_queued_labelled_audited_and_learned() {
        // Where the starter model puts the message, to set the band around it.
        let probe = tempfile::tempdir().unwrap();
        let p0 =
            probability(&warden_server::scan_router(state_in(probe.path(), Settings::default())), MESSAGE)
                .await;
        let mut settings = people(Settings::default());
        settings.review.band = [(p0 - 0.01).max(0.0), (p0 + 0.01).min(1.0)];
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), settings.clone());
        let (scan, controller) =
            (warden_server::scan_router(state.clone()), warden_server::controller_router(state.clone()));

        assert_eq!(probability(&scan, MESSAGE).await, p0);
        let pu = probability(&scan, UNRELATED).await;
        assert!(
            !(settings.review.band[0]..=settings.review.band[1]).contains(&pu),
            "the unrelated message is sure: {pu}"
        );
        let (status, body) = get(&controller, "/v1/review?status=open", VIEWER).await;
        assert_eq!(status, StatusCode::OK);
        let items = json(&body)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1, "only the uncertain message: {items:?}");
        let item = &items[0];
        assert_eq!(item["why"], serde_json::json!(["uncertain"]));
        assert_eq!(item["from_domain"], "invoices.example");
        assert_eq!(item["subject"], "Your invoice 4471 is ready");
        assert_eq!(item["url_domains"], serde_json::json!(["invoices.example"]));
        assert!(
            item["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "TEXT" && !r["evidence"].as_array().unwrap().is_empty())
        );
        let id = item["id"].as_u64().unwrap();

        // The label goes against where the model leans.
        let (label, toward_spam) = if p0 >= 0.5 { ("ham", false) } else { ("spam", true) };
        let resolve = format!(r#"{{"label": "{label}", "reason": "checked the sender's billing history"}}"#);
        let uri = format!("/v1/review/{id}/resolve");
        assert_eq!(
            post(&controller, &uri, VIEWER, &resolve).await.0,
            StatusCode::FORBIDDEN,
            "viewers only read"
        );
        assert_eq!(
            post(&controller, &uri, "nobody-0123456789abc", &resolve).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(post(&controller, &uri, ALICE, r#"{"label": "spam"}"#).await.0, StatusCode::BAD_REQUEST);
        let (status, _) = post(&controller, &format!("/v1/review/{id}/claim"), ALICE, "").await;
        assert_eq!(status, StatusCode::OK);
        let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let (status, body) = post(&controller, &uri, ALICE, &resolve).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let answer = json(&body);
        assert_eq!(answer["item"]["status"], "resolved");
        assert_eq!(post(&controller, &uri, ALICE, &resolve).await.0, StatusCode::CONFLICT, "resolved once");
        let p1 = probability(&scan, MESSAGE).await;

        // The audit log has it: who, when, why, and what it was before.
        let (status, body) = get(&controller, "/v1/audit", VIEWER).await;
        assert_eq!(status, StatusCode::OK);
        let entries: Vec<serde_json::Value> =
            String::from_utf8(body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let resolved =
            entries.iter().find(|e| e["kind"] == "review.resolve").expect("the resolution is audited");
        assert_eq!(resolved["actor"], "alice");
        assert_eq!(resolved["reason"], "checked the sender's billing history");
        assert_eq!(resolved["label"], label);
        assert!(resolved["previous"].as_str().unwrap().starts_with("decision:"));
        assert!(resolved["at"].as_u64().unwrap() >= before);
        assert!(entries.iter().any(|e| e["kind"] == "review.claim" && e["actor"] == "alice"));
        assert_eq!(entries.iter().filter(|e| e["kind"] == "decision").count(), 3, "every decision");

        // An ordinary lesson: the same label on the unrelated message, in a fresh server.
        let other = tempfile::tempdir().unwrap();
        let ordinary = warden_server::scan_router(state_in(other.path(), settings));
        let bearer = format!("Bearer {TOKEN}");
        call_ok(
            ordinary.clone(),
            &format!("/v1/mail/feedback?label={label}"),
            &[("authorization", &bearer)],
            UNRELATED,
        )
        .await;
        let p2 = probability(&ordinary, MESSAGE).await;
        eprintln!(
            "review round trip: p0 {p0:.4}, after the review {p1:.4}, after an unrelated lesson {p2:.4}"
        );
        let toward = |p: f64| if toward_spam { p - p0 } else { p0 - p };
        assert!(toward(p1) > 0.0, "the label moved the message toward {label}: {p0} → {p1}");
        assert!(
            toward(p1) > toward(p2).abs(),
            "the reviewed label moves it more ({p0} → {p1}) than an unrelated lesson does ({p0} → {p2})"
        );
    }

    #[tokio::test]
    async fn analysts_label_entities_and_rules_label_them_too() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("t.rules");
        std::fs::write(
            &rules,
            "rule MARK { when: mail.subject contains \"invoice\" then: label mail.from_domain \"billing\" for 1d }\n",
        )
        .unwrap();
        let mut settings = people(Settings::default());
        settings.rules.files = vec![rules];
        let state = state_in(&dir.path().join("data"), settings);
        let (scan, controller) =
            (warden_server::scan_router(state.clone()), warden_server::controller_router(state.clone()));
        probability(&scan, MESSAGE).await;
        let (_, body) = get(&controller, "/v1/labels?kind=domain&entity=invoices.example", VIEWER).await;
        let labels = json(&body)["labels"].as_array().unwrap().clone();
        assert_eq!(labels.len(), 1, "{labels:?}");
        assert_eq!(
            (labels[0]["by"].as_str(), labels[0]["in_force"].as_bool()),
            (Some("rule:MARK"), Some(true))
        );
        assert_eq!(labels[0]["source"], "automatic");
        // An analyst takes it away; the rule firing again does not put it back.
        let remove = r#"{"kind": "domain", "entity": "Invoices.Example", "label": "billing", "reason": "a real biller", "ttl_secs": 86400, "remove": true}"#;
        assert_eq!(post(&controller, "/v1/labels", VIEWER, remove).await.0, StatusCode::FORBIDDEN);
        let (status, body) = post(&controller, "/v1/labels", ALICE, remove).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(json(&body)["previous"]["by"], "rule:MARK");
        probability(&scan, MESSAGE).await;
        let (_, body) = get(&controller, "/v1/labels", VIEWER).await;
        let labels = json(&body)["labels"].as_array().unwrap().clone();
        assert_eq!((labels[0]["by"].as_str(), labels[0]["in_force"].as_bool()), (Some("alice"), Some(false)));
        let (status, body) = get(&controller, "/v1/review/abc", VIEWER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(json(&body)["error"].as_str().unwrap().contains("abc"), "a JSON error naming the bad id");
        let (status, body) = get(&controller, "/v1/review?status=maybe", VIEWER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(json(&body)["error"].is_string());
        let bad = r#"{"kind": "domain", "entity": "", "label": "x", "reason": "y"}"#;
        assert_eq!(post(&controller, "/v1/labels", ALICE, bad).await.0, StatusCode::BAD_REQUEST);
    }

    /// An item stored before items named their kind is mail's: mail resolves and teaches it.
    #[tokio::test]
    async fn an_item_stored_before_kinds_were_named_is_resolved_as_mails() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), people(Settings::default()));
        let live = crate::MailServer::of(&state).live();
        let id = live.message_key(MESSAGE);
        let item = warden_desk::NewReview {
            item: warden_desk::ReviewItem {
                at: 1,
                why: vec!["uncertain".into()],
                message: format!("{id:032x}"),
                action: "deliver".into(),
                ..Default::default()
            },
            features: warden_desk::ReviewFeatures {
                message: id,
                extractor: live.extractor(),
                features: live.features(MESSAGE).hashes().to_vec(),
            },
            body: None,
        };
        assert_eq!(item.item.kind, None, "as stored before kinds were named");
        let effects = warden_desk::DecisionEffects { review: Some(item), ..Default::default() };
        state.desk().record_decision("legacy", "m-1", 1, b"{}", effects).unwrap();
        let controller = warden_server::controller_router(state.clone());
        let listed = json(&get(&controller, "/v1/review", VIEWER).await.1);
        let n = listed["items"][0]["id"].as_u64().unwrap();
        let (status, body) = post(
            &controller,
            &format!("/v1/review/{n}/resolve"),
            ALICE,
            r#"{"label": "spam", "reason": "kit"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let done = json(&body);
        assert_eq!(done["feedback"]["outcome"], "correction", "spam against deliver: {done}");
        assert_eq!(done["feedback"]["overturns_decision"], true);
        assert_eq!(live.store_stats().unwrap().records, 1, "mail's feedback store has the lesson");
    }
}
