//! `GET /openapi.json`: the HTTP API described in OpenAPI 3.1.
//!
//! Written out here rather than derived: the API is small, and a derive crate would put its
//! annotations on every handler for a document that changes once a release. A test checks
//! that every route the routers answer is described.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn error_response(what: &str) -> Value {
    json!({ "description": what, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// The document: the server's routes, and each plug-in's ([`crate::Plugin::openapi`]).
pub fn spec(plugins: &[std::sync::Arc<dyn crate::Plugin>]) -> Value {
    let bearer = json!([{ "bearer": [] }]);
    let controller = json!([{ "bearer": [] }, { "password": [] }]);
    let text = |d: &str| json!({ "description": d, "content": { "text/plain": { "schema": { "type": "string" } } } });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Warden",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Spam and abuse decisions. The scanning listener (default 127.0.0.1:11333) serves checks \
                and feedback; the controller (default 127.0.0.1:11334) serves learning, statistics and admin calls."
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "password": { "type": "apiKey", "in": "header", "name": "Password", "description": "Rspamd's controller password header (controller only)" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "Reason": { "type": "object", "required": ["name", "description", "contribution"], "properties": {
                    "name": { "type": "string" }, "description": { "type": "string" }, "contribution": { "type": "number" } } },
            }
        },
        "paths": {
            "/v1/admin/reload": { "post": { "summary": "Reload configuration (and the --model file) without dropping a request (controller)", "security": controller,
                "responses": { "200": { "description": "What changed" }, "400": error_response("The new configuration is invalid; nothing changed") } } },
            "/v1/admin/checkpoint": { "post": { "summary": "Write a model checkpoint now (controller)", "security": controller,
                "responses": { "200": { "description": "`last_record`: the last feedback record mail's checkpoint holds; `kinds`: for each JSON kind, the last recorded label its checkpoint (`<data_dir>/<kind>.wdm`) holds" } } } },
            "/v1/review": { "get": { "summary": "Review items, newest first (controller; viewer, analyst or admin token)", "security": bearer,
                "parameters": [
                    { "name": "status", "in": "query", "schema": { "type": "string", "enum": ["open", "claimed", "resolved"] } },
                    { "name": "after", "in": "query", "schema": { "type": "integer" }, "description": "The previous page's `next`: items older than it" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 100, "minimum": 1, "maximum": 1000 } }],
                "responses": { "200": { "description": "{\"items\": [ReviewItem], \"next\": cursor or null}: the kind (`mail`, `signup`, …) and, for a JSON kind, the entity; sender and URL domains, subject (at most max_subject_bytes), attachments, action, score, probability, certainty, reasons, status, who claimed or resolved it. Only the page is read; a damaged item is skipped and counted" },
                               "400": error_response("A bad status or cursor, or a limit above 1,000"),
                               "401": error_response("A token is required") } } },
            "/v1/review/{id}": { "get": { "summary": "One review item (controller; viewer)", "security": bearer,
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                "responses": { "200": { "description": "The item" }, "404": error_response("No such item") } } },
            "/v1/review/{id}/claim": { "post": { "summary": "Take an item (controller; analyst)", "security": bearer,
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                "responses": { "200": { "description": "The item, claimed" }, "403": error_response("A viewer's token"),
                               "404": error_response("No such item"), "409": error_response("Claimed by someone else, or resolved") } } },
            "/v1/review/{id}/resolve": { "post": { "summary": "Label an item: the model learns it (as a correction when it overturns the decision), the audit log keeps who, when, why and the previous value (controller; analyst)", "security": bearer,
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["label", "reason"], "additionalProperties": false,
                    "properties": { "label": { "type": "string", "description": "In the item's kind's words: spam or ham for mail, abusive or legitimate for accounts" }, "reason": { "type": "string", "maxLength": 4096, "description": "At most max_reason_bytes bytes; no control or bidirectional characters" } } } } } },
                "responses": { "200": { "description": "{item, feedback: {outcome, record, overturns_decision}}; outcome `queued` when the lesson waits in the outbox (taught at the next housekeeping pass or start). A JSON kind's item: {item, feedback: {outcome: learned|none}}, its entity labelled as feedback labels it" },
                               "400": error_response("No reason, a reason too long or with control characters, or a bad label"),
                               "403": error_response("A viewer's token"), "404": error_response("No such item"), "409": error_response("Claimed by someone else, or resolved: nothing is taught"),
                               "413": error_response("A body over 64 KiB") } } },
            "/v1/labels": {
                "get": { "summary": "Labels on entities, with `in_force` (controller; viewer)", "security": bearer,
                    "parameters": [{ "name": "kind", "in": "query", "schema": { "type": "string" } },
                                   { "name": "entity", "in": "query", "schema": { "type": "string" }, "description": "With `kind`" },
                                   { "name": "after", "in": "query", "schema": { "type": "string" }, "description": "The previous page's `next`" },
                                   { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 1000, "minimum": 1, "maximum": 1000 } }],
                    "responses": { "200": { "description": "{\"labels\": [EntityLabel], \"next\": cursor or null}" }, "400": error_response("`entity` without `kind`, a bad cursor, or a limit above 1,000") } },
                "post": { "summary": "Set or remove a label by hand; it overrides rules' changes to the same label until it lapses (controller; analyst)", "security": bearer,
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["kind", "entity", "label", "reason"], "additionalProperties": false,
                        "properties": { "kind": { "type": "string" }, "entity": { "type": "string" }, "label": { "type": "string" }, "reason": { "type": "string" },
                                        "ttl_secs": { "type": "integer" }, "remove": { "type": "boolean" } } } } } },
                    "responses": { "200": { "description": "{label, previous}" },
                                   "400": error_response("A field empty, too long (kind 64, entity 512, label 128 characters; reason max_reason_bytes bytes) or holding control or bidirectional characters"),
                                   "403": error_response("A viewer's token"), "413": error_response("A body over 64 KiB") } } },
            "/v1/{kind}/check": { "post": { "summary": "Decide on an event of a kind served on the generic routes (each kind's crate documents its fields): one JSON object with `kind`, `id`, `time` (RFC 3339), answered with its decision; or JSON lines, answered line for line (a bad line gets `{id, error}`). The same id again gets the same decision (`repeated: true`) and counts once (scanning)",
                "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } }, "application/x-ndjson": {} } },
                "responses": { "200": { "description": "{kind, id, entity, time, action, score, probability, review, reasons, repeated}" }, "400": error_response("A missing or bad field, named"), "404": error_response("No such kind is served") } } },
            "/v1/{kind}/feedback": { "post": { "summary": "A later verdict on an entity, in the kind's label words: set on the entity (audited, posted to webhooks) and learned from the features kept for it (scanning; token)", "security": bearer,
                "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["entity", "label"], "properties": { "entity": { "type": "string" }, "label": { "type": "string" }, "reason": { "type": "string" } } } } } },
                "responses": { "200": { "description": "{entity, label, outcome: learned | not_kept}" }, "400": error_response("A missing or bad field, or a label word the kind does not have"), "404": error_response("No such kind is served") } } },
            "/v1/{kind}/{view}": { "get": { "summary": "A kind's view for analysts, whole: sign-ups' `clusters` (the 100 largest: id, size, probability, verdict, created, last, links, merged; and `total`) (controller; viewer)", "security": bearer,
                "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" } }, { "name": "view", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "The view" }, "404": error_response("No such kind or view") } } },
            "/v1/{kind}/{view}/{id}": { "get": { "summary": "One item of a kind's view: a sign-up cluster with its members, shared attributes, features, probability and history (controller; viewer)", "security": bearer,
                "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" } }, { "name": "view", "in": "path", "required": true, "schema": { "type": "string" } }, { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "The item" }, "404": error_response("No such kind, view or item") } } },
            "/v1/{kind}/{view}/{id}/label": { "post": { "summary": "Labels every entity of an item at once (a cluster's accounts), in the kind's label words: each label set, audited, posted to webhooks and learned from the entity's kept features (controller; analyst)", "security": bearer,
                "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" } }, { "name": "view", "in": "path", "required": true, "schema": { "type": "string" } }, { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["label", "reason"], "properties": { "label": { "type": "string" }, "reason": { "type": "string" } } } } } },
                "responses": { "200": { "description": "{item, label, entities, learned}" }, "400": error_response("A bad label word or reason"), "403": error_response("A viewer's token"), "404": error_response("No such kind, view or item") } } },
            "/v1/entities/{kind}/{id}": {
                "get": { "summary": "What is kept about an entity: the labels in force (`in_force`), every label record, whether features are kept for a label still to come (controller; viewer)", "security": bearer,
                    "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" }, "description": "`account`, `domain`, `ip`, …" },
                                   { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": { "200": { "description": "{\"kind\", \"entity\", \"in_force\": [name], \"labels\": [EntityLabel], \"features_kept\": bool}" }, "400": error_response("A kind or id that is empty, too long or unprintable") } },
                "delete": { "summary": "Erase what is kept about an entity (its label records, the features kept for it); audited with the caller and the reason, the entity as a keyed hash (controller; analyst)", "security": bearer,
                    "parameters": [{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string" } },
                                   { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                                   { "name": "reason", "in": "query", "required": true, "schema": { "type": "string" }, "description": "Why: an erasure request's reference" }],
                    "responses": { "200": { "description": "{\"kind\", \"entity\", \"erased\": {\"labels\": n, \"features\": bool, \"history\": n}, \"forgotten_in_memory\": n (what the kinds held of it in memory: a sign-up in its cluster)}" }, "400": error_response("No reason"), "403": error_response("A viewer's token") } } },
            "/v1/audit": { "get": { "summary": "The audit log as JSON lines, oldest first: every decision and analyst action, identifiers as keyed hashes (controller; viewer)", "security": bearer,
                "parameters": [{ "name": "after", "in": "query", "schema": { "type": "integer", "default": 0 }, "description": "Entries after this sequence number: the last `seq` of the previous page" },
                               { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 1000, "minimum": 1, "maximum": 1000 } }],
                "responses": { "200": { "description": "application/x-ndjson; only the page is read" }, "400": error_response("A limit above 1,000") } } },
            "/healthz": { "get": { "summary": "Liveness", "responses": { "200": text("ok") } } },
            "/readyz": { "get": { "summary": "Readiness", "responses": { "200": text("ready") } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": text("Prometheus text exposition") } } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1" } } } }
        }
    });
    for p in plugins {
        let own = p.openapi();
        for (part, into) in [("paths", "/paths"), ("schemas", "/components/schemas")] {
            if let (Some(from), Some(to)) =
                (own[part].as_object(), doc.pointer_mut(into).and_then(Value::as_object_mut))
            {
                to.extend(from.clone());
            }
        }
    }
    doc
}

pub(crate) async fn document(axum::extract::State(state): axum::extract::State<crate::AppState>) -> Response {
    axum::Json(spec(state.plugins())).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::testing::*;

    #[tokio::test]
    async fn every_route_is_described_and_every_described_route_answers() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), crate::Settings::default());
        state
            .register_kind(std::sync::Arc::new(crate::kinds::Pipeline::new(crate::kinds::probe::Probe)))
            .unwrap();
        let (status, body) = call(crate::scan_router(state.clone()), "GET", "/openapi.json", b"").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, ops) in paths {
            for method in ops.as_object().unwrap().keys() {
                let method = method.to_uppercase();
                let mut found = false;
                for app in [crate::scan_router(state.clone()), crate::controller_router(state.clone())] {
                    // A kind's routes are tried with a kind that is served.
                    let (status, _) =
                        call(app, &method, &path.replace("/v1/{kind}/", "/v1/probe/"), b"").await;
                    found |= status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED;
                }
                assert!(found, "{method} {path} is described but no listener answers it");
            }
        }
        for route in [
            "/metrics",
            "/v1/review",
            "/v1/review/{id}/resolve",
            "/v1/labels",
            "/v1/audit",
            "/v1/entities/{kind}/{id}",
            "/v1/{kind}/check",
            "/v1/{kind}/feedback",
            "/v1/{kind}/{view}",
            "/v1/{kind}/{view}/{id}",
            "/v1/{kind}/{view}/{id}/label",
        ] {
            assert!(paths.contains_key(route), "{route} is not described");
        }
    }
}
