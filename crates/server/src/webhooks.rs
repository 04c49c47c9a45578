//! Delivery of `[webhooks]`: the desk's outbox of entity changes posted, oldest first, to the
//! operator's service, each signed, each retried with growing waits until a 2xx answer.
//!
//! The signature is Stripe's scheme: header `Warden-Signature: t=UNIX,v1=HEX`, where HEX is
//! HMAC-SHA256 under the shared secret of `UNIX.` followed by the body; a receiver recomputes
//! it, compares in constant time, and refuses a `t` far from its clock (a replay). The event's
//! id is also in `Warden-Event`. Written on hyper's client and rustls (both already here for
//! the server and the DNS checks) rather than a full HTTP client crate: one POST is all it does.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::settings::WebhooksConfig;
use warden_desk::{Desk, WebhookEvent};

/// Where and how to post.
#[derive(Clone)]
pub struct Poster {
    uri: hyper::Uri,
    key: ring::hmac::Key,
    timeout: Duration,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster").field("uri", &self.uri).finish_non_exhaustive()
    }
}

/// Why the webhooks cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The secret file cannot be read or is too short.
    #[error("[webhooks] secret_file {path}: {why}")]
    Secret {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The URL is not one.
    #[error("[webhooks] url: {0}")]
    Url(String),
}

/// The signature header's value for `body` at `t`.
pub fn signature(key: &ring::hmac::Key, t: u64, body: &[u8]) -> String {
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!("t={t},v1={}", warden_store::feedback::hex(tag.as_ref()))
}

impl Poster {
    /// The poster `[webhooks]` describes; `None` when no url is set.
    pub fn new(c: &WebhooksConfig) -> Result<Option<Poster>, WebhookError> {
        let Some(url) = &c.url else { return Ok(None) };
        let uri: hyper::Uri = url.parse().map_err(|e| WebhookError::Url(format!("{url}: {e}")))?;
        let path =
            c.secret_file.as_ref().ok_or_else(|| WebhookError::Url("a url needs a secret_file".into()))?;
        let secret = std::fs::read(path)
            .map_err(|e| WebhookError::Secret { path: path.display().to_string(), why: e.to_string() })?;
        let secret = secret.trim_ascii();
        if secret.len() < 16 {
            return Err(WebhookError::Secret {
                path: path.display().to_string(),
                why: format!("{} bytes; a secret has at least 16", secret.len()),
            });
        }
        let tls = match uri.scheme_str() {
            Some("https") => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| WebhookError::Url(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
                Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
            }
            Some("http") => None,
            _ => return Err(WebhookError::Url(format!("{url}: not http:// or https://"))),
        };
        Ok(Some(Poster {
            uri,
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            timeout: Duration::from_millis(c.timeout_ms),
            tls,
        }))
    }

    /// Posts one event; `Ok` once the service answered 2xx.
    pub async fn post(&self, event: &WebhookEvent) -> Result<(), PostError> {
        let body = serde_json::to_vec(event).expect("events serialise");
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let sig = signature(&self.key, t, &body);
        tokio::time::timeout(self.timeout, self.send(body, sig, event.id))
            .await
            .map_err(|_| PostError::Timeout(self.timeout.as_millis() as u64))?
    }

    async fn send(&self, body: Vec<u8>, sig: String, id: u64) -> Result<(), PostError> {
        let host =
            self.uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = self.uri.port_u16().unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(PostError::Connect)?;
        let authority = self.uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "warden")
            .header("warden-signature", sig)
            .header("warden-event", id.to_string())
            .body(Full::new(Bytes::from(body)))
            .map_err(PostError::Request)?;
        let status = match &self.tls {
            None => exchange(TokioIo::new(tcp), request).await?,
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| PostError::Tls(e.to_string()))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| PostError::Tls(e.to_string()))?;
                exchange(TokioIo::new(stream), request).await?
            }
        };
        if status.is_success() { Ok(()) } else { Err(PostError::Status(status)) }
    }
}

/// Why an event was not taken (it is posted again later).
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No answer in `[webhooks] timeout_ms`.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The connection could not be made.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed (or the host is no name a certificate can hold).
    #[error("TLS: {0}")]
    Tls(String),
    /// The request could not be written (a URL that parsed but is no request target).
    #[error("request: {0}")]
    Request(hyper::http::Error),
    /// HTTP failed on the way.
    #[error("HTTP: {0}")]
    Http(hyper::Error),
    /// The service answered, but not 2xx.
    #[error("answered {0}")]
    Status(hyper::StatusCode),
}

async fn exchange<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<hyper::StatusCode, PostError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(PostError::Http)?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await.map_err(PostError::Http)?;
    let status = response.status();
    // The body is read (at most what the connection gives before it closes) and dropped.
    let _ = response.into_body().collect().await;
    driver.abort();
    Ok(status)
}

/// Posts the outbox's events in order, for ever: each is retried, with waits from
/// `retry_base_ms` doubling to `retry_max_secs`, until it is taken; then the next. `stop`
/// ends it between attempts.
pub async fn deliver(
    desk: Arc<Desk>,
    poster: Poster,
    c: WebhooksConfig,
    outcomes: prometheus_client::metrics::family::Family<
        crate::metrics::OutcomeLabels,
        prometheus_client::metrics::counter::Counter,
    >,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let base = Duration::from_millis(c.retry_base_ms);
    let max = Duration::from_secs(c.retry_max_secs);
    loop {
        let due = {
            let desk = Arc::clone(&desk);
            tokio::task::spawn_blocking(move || desk.webhooks_due(64)).await
        };
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the webhooks' outbox cannot be read");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        if due.is_empty() {
            // Woken by the next event; the tick covers one queued just before this wait.
            tokio::select! {
                _ = desk.webhooks_ready.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        for event in due {
            let mut wait = base;
            loop {
                match poster.post(&event).await {
                    Ok(()) => {
                        outcomes
                            .get_or_create(&crate::metrics::OutcomeLabels { outcome: "delivered".into() })
                            .inc();
                        let desk = Arc::clone(&desk);
                        let id = event.id;
                        if let Ok(Err(e)) =
                            tokio::task::spawn_blocking(move || desk.webhook_delivered(id)).await
                        {
                            tracing::error!(error = %e, id, "a delivered webhook event stays in the outbox");
                        }
                        break;
                    }
                    Err(e) => {
                        outcomes
                            .get_or_create(&crate::metrics::OutcomeLabels { outcome: "failed".into() })
                            .inc();
                        tracing::warn!(error = %e, id = event.id, retry_in_ms = wait.as_millis() as u64, "a webhook was not taken");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.changed() => return,
                        }
                        wait = (wait * 2).min(max);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::{HeaderMap, StatusCode};

    use super::*;
    use crate::Settings;
    use crate::testing::{TOKEN, call_from, state_in};

    const SECRET: &[u8] = b"a shared secret of 32 bytes long";

    /// A receiver on loopback: answers 500 to the first `fail` posts, 200 after, and hands every
    /// post (event header, signature header, body) to the test.
    async fn receiver(
        fail: usize,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, String, Vec<u8>)>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let seen = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (tx, seen) = (tx.clone(), Arc::clone(&seen));
                async move {
                    let header =
                        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let _ = tx.send((header("warden-event"), header("warden-signature"), body.to_vec()));
                    if seen.fetch_add(1, Ordering::SeqCst) < fail {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), rx)
    }

    fn verify(sig: &str, body: &[u8]) -> bool {
        let (t, v1) = sig.split_once(",v1=").unwrap();
        let t: u64 = t.strip_prefix("t=").unwrap().parse().unwrap();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(body);
        let tag: Vec<u8> =
            (0..v1.len()).step_by(2).map(|i| u8::from_str_radix(&v1[i..i + 2], 16).unwrap()).collect();
        ring::hmac::verify(&key, &msg, &tag).is_ok()
    }

    #[tokio::test]
    async fn changes_are_posted_in_order_signed_and_retried_until_taken() {
        let (url, mut posts) = receiver(2).await;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("webhook.secret");
        std::fs::write(&secret, [SECRET, b"\n"].concat()).unwrap();
        let mut settings = Settings::default();
        settings.webhooks.url = Some(url);
        settings.webhooks.secret_file = Some(secret);
        settings.webhooks.retry_base_ms = 5;
        let state = state_in(&dir.path().join("data"), settings);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let c = state.settings().webhooks.clone();
        let task = tokio::spawn(deliver(
            Arc::clone(state.desk()),
            state.webhook_poster().expect("a poster"),
            c,
            state.metrics().webhooks.clone(),
            stop,
        ));
        let controller = crate::controller_router(state.clone());
        let label = |entity: &str| {
            format!(
                r#"{{"kind": "account", "entity": "{entity}", "label": "abusive", "reason": "sent phishing"}}"#
            )
        };
        let bearer = format!("Bearer {TOKEN}");
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        for entity in ["a-1", "a-2"] {
            let (status, _) = call_from(
                controller.clone(),
                [127, 0, 0, 1],
                "POST",
                "/v1/labels",
                &headers,
                label(entity).as_bytes(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(posts.recv().await.expect("a post"));
        }
        let ids: Vec<&str> = got.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, ["1", "1", "1", "2"], "the first is retried until taken, then the next");
        for (_, sig, body) in &got {
            assert!(verify(sig, body), "signed with the shared secret: {sig}");
        }
        let event: serde_json::Value = serde_json::from_slice(&got[3].2).unwrap();
        assert_eq!(event["type"], "label.set");
        assert_eq!((event["entity_kind"].as_str(), event["entity"].as_str()), (Some("account"), Some("a-2")));
        assert_eq!(event["in_force"], true);
        let mut tampered = got[3].2.clone();
        tampered[0] = b' ';
        assert!(!verify(&got[3].1, &tampered), "a changed body fails the signature");

        // An erasure is a change too; it is posted once the one before it is let go.
        let (status, _) = call_from(
            controller,
            [127, 0, 0, 1],
            "DELETE",
            "/v1/entities/account/a-1?reason=request",
            &[("authorization", bearer.as_str())],
            b"",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (id, _, body) = posts.recv().await.expect("a post");
        assert_eq!(id, "3");
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["type"], "entity.erase");
        assert!(state.desk().webhooks_waiting().unwrap() <= 1, "delivered events leave the outbox");
        let failed = state
            .metrics()
            .webhooks
            .get_or_create(&crate::metrics::OutcomeLabels { outcome: "failed".into() })
            .get();
        assert_eq!(failed, 2);
        let (_, metrics) =
            crate::testing::call(crate::scan_router(state.clone()), "GET", "/metrics", b"").await;
        let metrics = String::from_utf8(metrics).unwrap();
        assert!(metrics.contains("warden_webhooks_total{outcome=\"failed\"} 2"), "{metrics}");
        assert!(metrics.contains("warden_webhooks_dropped 0"), "{metrics}");
        stop_tx.send(true).unwrap();
        task.await.unwrap();
    }

    #[test]
    fn events_wait_in_the_outbox_across_a_restart_and_only_when_webhooks_are_on() {
        let dir = tempfile::tempdir().unwrap();
        let label = warden_desk::EntityLabel {
            kind: "domain".into(),
            entity: "bulk.example".into(),
            label: "bulk".into(),
            active: true,
            source: warden_desk::LabelSource::Manual,
            by: "alice".into(),
            reason: "campaign 12".into(),
            at: 100,
            expires: None,
        };
        {
            let desk = warden_desk::datadir::open(dir.path(), &Default::default()).unwrap().desk;
            desk.set_label(&label).unwrap();
            assert_eq!(desk.webhooks_waiting().unwrap(), 0, "off: nothing is queued");
            desk.set_webhooks(true, 2);
            for at in [101, 102, 103] {
                desk.set_label(&warden_desk::EntityLabel { at, ..label.clone() }).unwrap();
            }
            assert_eq!(desk.webhooks_dropped(), 1, "at the cap the oldest goes");
            desk.stop();
        }
        let desk = warden_desk::datadir::open(dir.path(), &Default::default()).unwrap().desk;
        let due = desk.webhooks_due(10).unwrap();
        assert_eq!(
            due.iter().map(|e| e.at).collect::<Vec<_>>(),
            [102, 103],
            "kept across the restart, in order"
        );
        desk.webhook_delivered(due[0].id).unwrap();
        assert_eq!(desk.webhooks_waiting().unwrap(), 1);
    }

    #[test]
    fn a_url_needs_a_long_enough_secret() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "too short").unwrap();
        let mut c =
            WebhooksConfig { url: Some("http://127.0.0.1:9/hook".into()), ..WebhooksConfig::default() };
        let mut s = Settings::default();
        s.webhooks = c.clone();
        assert!(s.check().unwrap_err().to_string().contains("secret_file"));
        c.secret_file = Some(short);
        assert!(Poster::new(&c).unwrap_err().to_string().contains("at least 16"));
        s.webhooks = WebhooksConfig { url: Some("ftp://example/".into()), ..c };
        assert!(s.check().unwrap_err().to_string().contains("not an http"));
    }
}
