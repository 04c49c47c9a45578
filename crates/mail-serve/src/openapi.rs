//! Mail's part of `/openapi.json`: its routes and their schemas.

use serde_json::{Value, json};

fn error_response(what: &str) -> Value {
    json!({ "description": what, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn message_body() -> Value {
    json!({ "required": true, "description": "The raw message (RFC 5322 bytes).",
            "content": { "message/rfc822": { "schema": { "type": "string", "format": "binary" } } } })
}

fn envelope_headers() -> Value {
    json!([
        { "name": "IP", "in": "header", "schema": { "type": "string" }, "description": "The SMTP client's address" },
        { "name": "Helo", "in": "header", "schema": { "type": "string" } },
        { "name": "From", "in": "header", "schema": { "type": "string" }, "description": "Envelope sender (MAIL FROM)" },
        { "name": "Rcpt", "in": "header", "schema": { "type": "string" }, "description": "Envelope recipient; repeat the header for each" },
        { "name": "User", "in": "header", "schema": { "type": "string" } },
        { "name": "Queue-Id", "in": "header", "schema": { "type": "string" } }
    ])
}

/// `{"paths": {…}, "schemas": {…}}`.
pub(crate) fn spec() -> Value {
    let bearer = json!([{ "bearer": [] }]);
    let controller = json!([{ "bearer": [] }, { "password": [] }]);
    let text = |d: &str| json!({ "description": d, "content": { "text/plain": { "schema": { "type": "string" } } } });
    json!({
        "schemas": {
            "CheckReply": { "type": "object", "required": ["id", "action", "score", "probability", "reasons", "model_version", "elapsed_us"], "properties": {
                "id": { "type": "string", "description": "Keyed hash of the message (32 hex digits); feedback may name the message by it" },
                "action": { "type": "string", "enum": ["deliver", "junk", "quarantine", "reject"] },
                "score": { "type": "number", "description": "Log-odds the thresholds act on" },
                "probability": { "type": "number", "minimum": 0, "maximum": 1 },
                "reasons": { "type": "array", "items": { "$ref": "#/components/schemas/Reason" } },
                "model_version": { "type": "string" },
                "elapsed_us": { "type": "integer" } } },
            "FeedbackRequest": { "type": "object", "required": ["label"], "additionalProperties": false,
                "description": "Exactly one of id and message.",
                "properties": {
                    "id": { "type": "string", "description": "The id of a recent check" },
                    "message": { "type": "string", "description": "The raw message" },
                    "label": { "type": "string", "enum": ["spam", "ham"] } } },
            "FeedbackReply": { "type": "object", "required": ["id", "label", "outcome", "record"], "properties": {
                "id": { "type": "string" },
                "label": { "type": "string", "enum": ["spam", "ham"] },
                "outcome": { "type": "string", "enum": ["new", "correction", "duplicate"],
                    "description": "correction: the message had the other label and was learned again as a correction; duplicate: it had this label, nothing learned" },
                "record": { "type": "integer" } } }
        },
        "paths": {
        "/v1/mail/check": { "post": {
            "summary": "Decide on a message",
            "description": "Open to loopback clients by default ([auth] open_checks); others need a bearer token.",
            "parameters": envelope_headers(),
            "requestBody": message_body(),
            "responses": {
                "200": { "description": "The decision", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CheckReply" } } } },
                "401": error_response("A token is required"),
                "408": error_response("The request took longer than client_timeout_ms"),
                "413": error_response("The message (or its declared Content-Length, answered at once) is larger than max_message_bytes"),
                "503": error_response("max_in_flight requests are already being decided, or max_bytes_in_flight bytes are held; retry (Retry-After)")
            } } },
        "/v1/mail/feedback": { "post": {
            "summary": "Teach a label; durable and learned before the answer",
            "security": bearer,
            "parameters": [ { "name": "label", "in": "query", "schema": { "type": "string", "enum": ["spam", "ham"] },
                "description": "With a raw message body instead of JSON" } ],
            "requestBody": { "required": true, "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/FeedbackRequest" } },
                "message/rfc822": { "schema": { "type": "string", "format": "binary" } } } },
            "responses": {
                "200": { "description": "Stored and learned", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/FeedbackReply" } } } },
                "400": error_response("Malformed request"),
                "401": error_response("A token is required"),
                "404": error_response("No recent check has this id"),
                "503": error_response("Too many labels waiting, or stopping; nothing stored")
            } } },
        "/checkv2": { "post": {
            "summary": "Rspamd's check: the reply has Rspamd's shape (action in Rspamd's words, score, required_score, symbols)",
            "parameters": envelope_headers(), "requestBody": message_body(),
            "responses": { "200": { "description": "Rspamd's reply" }, "401": error_response("A token is required"), "413": error_response("Too large"),
                           "503": error_response("max_in_flight or max_bytes_in_flight reached; retry") } } },
        "/learnspam": { "post": { "summary": "Rspamd's learn as spam (controller)", "security": controller, "requestBody": message_body(),
            "responses": { "200": { "description": "{\"success\": true}" }, "208": error_response("Already learned with this label"), "401": error_response("A token is required") } } },
        "/learnham": { "post": { "summary": "Rspamd's learn as ham (controller)", "security": controller, "requestBody": message_body(),
            "responses": { "200": { "description": "{\"success\": true}" }, "208": error_response("Already learned with this label"), "401": error_response("A token is required") } } },
        "/stat": { "get": { "summary": "Rspamd's statistics (controller)", "security": controller,
            "responses": { "200": { "description": "Scanned and learned counts in Rspamd's shape, with Warden's own under `warden`" } } } },
        "/ping": { "get": { "summary": "Rspamd's liveness check", "responses": { "200": text("pong") } } },
        }
    })
}
