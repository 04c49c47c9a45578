//! The milter: Warden inside Postfix's (or Sendmail's) SMTP conversation.
//!
//! Postfix sends the envelope, the header fields and the body; at the end of the message
//! Warden decides and answers, per `[milter]`:
//! - every accepted message gets `X-Spam-Status`, `X-Spam-Score`, `X-Warden-Action` and
//!   `X-Warden-Reasons`;
//! - `quarantine` puts it in the MTA's hold queue (or only marks it: `quarantine = "headers"`);
//! - `reject` refuses it with `550 5.7.1 …` (or holds it, or only marks it);
//! - when no decision can be made (internal error, time budget spent) it accepts with an
//!   `X-Warden-Error` header or answers 451, as `on_error` says; when the server is full
//!   (`max_in_flight`) it answers 451.
//!
//! A connection that breaks the protocol is closed and logged; the MTA then applies its
//! `milter_default_action`. Other connections are not affected.

pub mod codec;

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_core::{Decision, MailAction};

pub use codec::{Command, MilterError, Response};

use crate::AppState;
use crate::settings::{MilterConfig, OnError, QuarantineAs, RejectAs};

/// What the session needs next.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Send these responses.
    Reply(Vec<Response>),
    /// Nothing to send (macros, abort).
    Silent,
    /// The message is complete: decide on [`Session::message`], then send [`Session::verdict`].
    Decide,
    /// The MTA is closing the connection.
    Close,
}

/// One MTA connection's state: the envelope and the message being received. Pure: no I/O,
/// so that tests and the fuzzer drive it directly.
#[derive(Debug)]
pub struct Session {
    max_bytes: usize,
    /// The message as received so far: header fields, blank line, body.
    message: Vec<u8>,
    /// Bytes of the message beyond `max_bytes`, not kept.
    dropped: usize,
    /// The client's address, when the MTA said.
    pub client: Option<IpAddr>,
    /// HELO name.
    pub helo: String,
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt: Vec<String>,
    /// The MTA's queue id (macro `i`), for logs.
    pub queue_id: String,
}

impl Session {
    /// A new connection; at most `max_bytes` of each message are kept for deciding.
    pub fn new(max_bytes: usize) -> Self {
        Session {
            max_bytes,
            message: Vec::new(),
            dropped: 0,
            client: None,
            helo: String::new(),
            mail_from: String::new(),
            rcpt: Vec::new(),
            queue_id: String::new(),
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = self.max_bytes.saturating_sub(self.message.len());
        let take = bytes.len().min(room);
        self.message.extend_from_slice(&bytes[..take]);
        self.dropped += bytes.len() - take;
    }

    /// Forgets the message (at a new MAIL FROM, after a verdict, on abort). The queue id is
    /// kept: the macros that carry it come just before the command they are for.
    fn reset_message(&mut self) {
        self.message.clear();
        self.dropped = 0;
        self.mail_from.clear();
        self.rcpt.clear();
    }

    /// Takes one command.
    pub fn on(&mut self, command: Command) -> Step {
        use codec::{actions, steps};
        match command {
            Command::OptNeg { version, actions: offered, protocol } => Step::Reply(vec![Response::OptNeg {
                version: version.min(codec::VERSION),
                actions: offered & (actions::ADD_HEADERS | actions::QUARANTINE),
                protocol: protocol & (steps::NO_UNKNOWN | steps::NO_DATA),
            }]),
            Command::Macros { pairs, .. } => {
                if let Some((_, id)) = pairs.iter().find(|(k, _)| k == "i") {
                    self.queue_id = id.chars().filter(char::is_ascii_alphanumeric).take(32).collect();
                }
                Step::Silent
            }
            Command::Connect { address, .. } => {
                self.client = address;
                Step::Reply(vec![Response::Continue])
            }
            Command::Helo(h) => {
                self.helo = h;
                Step::Reply(vec![Response::Continue])
            }
            Command::Mail(args) => {
                self.reset_message();
                self.mail_from = args.into_iter().next().unwrap_or_default();
                Step::Reply(vec![Response::Continue])
            }
            Command::Rcpt(args) => {
                if let Some(r) = args.into_iter().next() {
                    self.rcpt.push(r);
                }
                Step::Reply(vec![Response::Continue])
            }
            Command::Header { name, value } => {
                let mut line = Vec::with_capacity(name.len() + value.len() + 4);
                line.extend_from_slice(name.as_bytes());
                line.push(b':');
                if !value.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                    line.push(b' ');
                }
                line.extend_from_slice(&value);
                line.extend_from_slice(b"\r\n");
                self.keep(&line);
                Step::Reply(vec![Response::Continue])
            }
            Command::EndOfHeaders => {
                self.keep(b"\r\n");
                Step::Reply(vec![Response::Continue])
            }
            Command::Body(chunk) => {
                self.keep(&chunk);
                Step::Reply(vec![Response::Continue])
            }
            Command::EndOfMessage(chunk) => {
                self.keep(&chunk);
                Step::Decide
            }
            Command::Data | Command::Unknown(_) => Step::Reply(vec![Response::Continue]),
            Command::Abort => {
                self.reset_message();
                Step::Silent
            }
            Command::QuitNewConnection => {
                self.reset_message();
                self.client = None;
                self.helo.clear();
                Step::Silent
            }
            Command::Quit => Step::Close,
        }
    }

    /// The message received (at most `max_bytes` of it).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The responses for a decision, per the configuration; the message state is reset.
    pub fn verdict(
        &mut self,
        d: &Decision<MailAction>,
        required: f64,
        config: &MilterConfig,
    ) -> Vec<Response> {
        self.reset_message();
        let hold = Response::Quarantine(format!("Warden: {} (score {:.2})", d.action.as_str(), d.score));
        let marked = |mut extra: Vec<Response>| {
            let mut out = headers(d, required);
            out.append(&mut extra);
            out.push(Response::Continue);
            out
        };
        match d.action {
            MailAction::Deliver | MailAction::Junk => marked(vec![]),
            MailAction::Quarantine => match config.quarantine {
                QuarantineAs::Quarantine => marked(vec![hold]),
                QuarantineAs::Headers => marked(vec![]),
            },
            MailAction::Reject => match config.reject {
                RejectAs::Reject => vec![Response::ReplyCode(format!("550 {}", config.reject_message))],
                RejectAs::Quarantine => marked(vec![hold]),
                RejectAs::Headers => marked(vec![]),
            },
        }
    }

    /// The responses when no decision could be made.
    pub fn failed(&mut self, why: &str, config: &MilterConfig) -> Vec<Response> {
        self.reset_message();
        match config.on_error {
            OnError::Accept => vec![
                Response::AddHeader { name: "X-Warden-Error".into(), value: format!("not checked: {why}") },
                Response::Continue,
            ],
            OnError::Tempfail => vec![tempfail(why)],
        }
    }
}

fn tempfail(why: &str) -> Response {
    Response::ReplyCode(format!("451 4.7.1 Warden: {why}; try again later"))
}

/// A header value made safe: printable ASCII only, at most `max` bytes.
fn header_safe(s: &str, max: usize) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(max).collect();
    out.truncate(out.trim_end().len());
    out
}

fn headers(d: &Decision<MailAction>, required: f64) -> Vec<Response> {
    let spam = if d.action > MailAction::Deliver { "Yes" } else { "No" };
    let reasons: Vec<String> =
        d.reasons.iter().map(|r| format!("{}({:+.2})", r.name, r.contribution)).collect();
    let h = |name: &str, value: String| Response::AddHeader { name: name.into(), value };
    vec![
        h("X-Spam-Status", format!("{spam}, score={:.2} required={required:.2}", d.score)),
        h("X-Spam-Score", format!("{:.2}", d.score)),
        h("X-Warden-Action", d.action.as_str().into()),
        h("X-Warden-Reasons", header_safe(&reasons.join(", "), 900)),
    ]
}

/// Serves milter connections on `listener` until `stop` turns true, then waits up to
/// `drain` for open connections to finish their message.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
    drain: Duration,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    connections.spawn(async move {
                        if let Err(e) = connection(stream, &state).await {
                            tracing::warn!(error = %e, "milter connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "milter accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await;
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error(transparent)]
    Protocol(#[from] MilterError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no command for {0} s")]
    Idle(u64),
    #[error("the connection ended inside a packet")]
    Truncated,
}

async fn connection(mut stream: tokio::net::TcpStream, state: &AppState) -> Result<(), ConnectionError> {
    let settings = state.settings();
    let config = settings.milter.clone();
    let mut session = Session::new(settings.limits.max_message_bytes);
    let mut buf = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(1024);
    loop {
        while let Some(command) = Command::decode(&mut buf)? {
            let responses = match session.on(command) {
                Step::Reply(r) => r,
                Step::Silent => continue,
                Step::Close => return Ok(()),
                Step::Decide => decide(&mut session, state, &config, settings.thresholds.reject).await,
            };
            out.clear();
            for r in &responses {
                r.encode(&mut out);
            }
            stream.write_all(&out).await?;
        }
        let idle = Duration::from_secs(config.idle_timeout_secs);
        let n = tokio::time::timeout(idle, stream.read_buf(&mut buf))
            .await
            .map_err(|_| ConnectionError::Idle(config.idle_timeout_secs))??;
        if n == 0 {
            return if buf.is_empty() { Ok(()) } else { Err(ConnectionError::Truncated) };
        }
    }
}

async fn decide(
    session: &mut Session,
    state: &AppState,
    config: &MilterConfig,
    required: f64,
) -> Vec<Response> {
    let Ok(_slot) = state.0.scan_slots.try_acquire() else {
        crate::Metrics::count(&state.metrics().shed, "milter");
        session.reset_message();
        return vec![tempfail("server busy")];
    };
    let raw = axum::body::Bytes::copy_from_slice(session.message());
    let budget = Duration::from_millis(config.time_budget_ms);
    let envelope = crate::mailauth::Envelope {
        ip: session.client,
        helo: session.helo.clone(),
        mail_from: crate::mailauth::bare(&session.mail_from),
        rcpt: session.rcpt.iter().map(|r| crate::mailauth::bare(r)).collect(),
    };
    match tokio::time::timeout(budget, state.decide(raw, &envelope, "milter")).await {
        Ok(Ok(c)) => {
            let d = &c.decision;
            tracing::debug!(queue_id = %session.queue_id, id = %format!("{:032x}", c.id), action = d.action.as_str(), "milter decision");
            let mut responses = session.verdict(d, required, config);
            if let Some(h) = c.auth.header {
                // Before the final response (a 550 has none of Warden's headers: nothing to add to).
                if responses.len() > 1 {
                    let at = responses.len() - 1;
                    // One line: MTAs differ in how they take folded values from a milter.
                    let value = h.split_whitespace().collect::<Vec<_>>().join(" ");
                    responses
                        .insert(at, Response::AddHeader { name: "Authentication-Results".into(), value });
                }
            }
            responses
        }
        Ok(Err(e)) => {
            tracing::error!(error = ?e, "milter decision failed");
            session.failed("internal error", config)
        }
        Err(_) => {
            crate::Metrics::count(&state.metrics().timeouts, "milter");
            session.failed("time budget spent", config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(action: MailAction, score: f64) -> Decision<MailAction> {
        let reason = warden_core::Reason {
            name: "MODEL\r\nX-Injected: 1".into(),
            description: String::new(),
            contribution: score,
        };
        Decision { action, score, probability: 0.5, reasons: vec![reason], review: false }
    }

    fn conversation(session: &mut Session) -> Step {
        let steps = [
            Command::OptNeg { version: 6, actions: 0x1ff, protocol: 0x1f_ffff },
            Command::Macros { for_command: b'M', pairs: vec![("i".into(), "4ABC12".into())] },
            Command::Connect { hostname: "c.example".into(), address: Some("192.0.2.1".parse().unwrap()) },
            Command::Helo("c.example".into()),
            Command::Mail(vec!["<a@example.org>".into()]),
            Command::Rcpt(vec!["<b@example.net>".into()]),
            Command::Header { name: "Subject".into(), value: b"hi".to_vec() },
            Command::Header { name: "From".into(), value: b" a@example.org".to_vec() },
            Command::EndOfHeaders,
            Command::Body(b"hello\r\n".to_vec()),
        ];
        for c in steps {
            session.on(c);
        }
        session.on(Command::EndOfMessage(b"bye\r\n".to_vec()))
    }

    #[test]
    fn a_conversation_rebuilds_the_message_and_its_envelope() {
        let mut s = Session::new(1 << 20);
        assert_eq!(conversation(&mut s), Step::Decide);
        assert_eq!(s.message(), b"Subject: hi\r\nFrom: a@example.org\r\n\r\nhello\r\nbye\r\n");
        assert_eq!(s.client, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            (s.mail_from.as_str(), s.rcpt.as_slice(), s.queue_id.as_str()),
            ("<a@example.org>", &["<b@example.net>".to_owned()][..], "4ABC12")
        );
        let mut small = Session::new(10);
        conversation(&mut small);
        assert_eq!(small.message(), b"Subject: h", "only max_bytes are kept");
    }

    #[tokio::test]
    async fn a_full_server_tempfails_and_a_free_one_decides() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::Settings::default();
        settings.limits.max_in_flight = 1;
        let state = crate::testing::state_in(dir.path(), settings);
        let config = MilterConfig::default();
        let mut s = Session::new(1 << 20);
        conversation(&mut s);
        let held = state.0.scan_slots.try_acquire().unwrap();
        let r = decide(&mut s, &state, &config, 10.0).await;
        assert!(
            matches!(&r[..], [Response::ReplyCode(c)] if c.starts_with("451 4.7.1") && c.contains("busy")),
            "{r:?}"
        );
        drop(held);
        conversation(&mut s);
        let r = decide(&mut s, &state, &config, 10.0).await;
        assert_eq!(r.last(), Some(&Response::Continue), "{r:?}");
        assert!(r.iter().any(|x| matches!(x, Response::AddHeader { name, .. } if name == "X-Spam-Status")));
    }

    #[test]
    fn negotiation_asks_only_for_what_the_mta_offers() {
        let mut s = Session::new(100);
        let Step::Reply(r) = s.on(Command::OptNeg { version: 2, actions: 0x01, protocol: 0 }) else {
            panic!()
        };
        assert_eq!(r, [Response::OptNeg { version: 2, actions: 0x01, protocol: 0 }]);
    }

    #[test]
    fn verdicts_follow_the_configuration() {
        let config = MilterConfig::default();
        let mut s = Session::new(100);
        let r = s.verdict(&decision(MailAction::Deliver, -3.0), 10.0, &config);
        assert_eq!(r.len(), 5);
        assert_eq!(
            r[0],
            Response::AddHeader {
                name: "X-Spam-Status".into(),
                value: "No, score=-3.00 required=10.00".into()
            }
        );
        let Response::AddHeader { value, .. } = &r[3] else { panic!() };
        assert_eq!(value, "MODEL??X-Injected: 1(-3.00)", "no line break reaches a header");
        assert_eq!(r[4], Response::Continue);

        let r = s.verdict(&decision(MailAction::Reject, 12.0), 10.0, &config);
        assert_eq!(r, [Response::ReplyCode("550 5.7.1 Message rejected as spam".into())]);
        let held = MilterConfig { reject: RejectAs::Quarantine, ..config.clone() };
        let r = s.verdict(&decision(MailAction::Reject, 12.0), 10.0, &held);
        assert!(matches!(r[4], Response::Quarantine(_)) && r[5] == Response::Continue, "{r:?}");
        let r = s.verdict(&decision(MailAction::Quarantine, 7.0), 10.0, &config);
        assert!(matches!(r[4], Response::Quarantine(_)), "{r:?}");
        let r = s.verdict(&decision(MailAction::Junk, 2.0), 10.0, &config);
        assert!(r.iter().all(|r| !matches!(r, Response::Quarantine(_))));

        let r = s.failed("time budget spent", &config);
        assert_eq!(r[1], Response::Continue);
        let strict = MilterConfig { on_error: OnError::Tempfail, ..config };
        let r = s.failed("time budget spent", &strict);
        assert!(matches!(&r[0], Response::ReplyCode(c) if c.starts_with("451 4.7.1")), "{r:?}");
    }
}
