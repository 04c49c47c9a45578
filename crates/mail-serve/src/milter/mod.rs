//! The milter: Warden inside Postfix's (or Sendmail's) SMTP conversation.
//!
//! Postfix sends the envelope, the header fields and the body; at the end of the message
//! Warden decides and answers, per `[milter]`:
//! - every accepted message gets `X-Spam-Status`, `X-Spam-Score`, `X-Warden-Action` and
//!   `X-Warden-Reasons`;
//! - `quarantine` puts it in the MTA's hold queue (or only marks it: `quarantine = "headers"`);
//! - `reject` refuses it with `550 5.7.1 …` (or holds it, or only marks it);
//! - when no decision can be made (internal error, time budget spent) it accepts with an
//!   `X-Warden-Error` header or answers 451, as `on_error` says; when the milter is full
//!   (`[milter] max_in_flight`, its own budget apart from the HTTP listeners') or the bytes in
//!   flight are spent (`[limits] max_bytes_in_flight`) it answers 451.
//!
//! What a connection keeps is bounded: the envelope counts against `[limits]
//! max_message_bytes` with the message (a recipient past it is answered `552 5.3.4`), a
//! message has `max_recipients` at most (one more is answered `452 4.5.3`), and bytes of the
//! message past the limit are not kept (the decision is made on the first
//! `max_message_bytes`). A connection must send its first command within `[limits]
//! idle_timeout_ms` and then one every `idle_timeout_secs`.
//!
//! A connection that breaks the protocol is closed and logged; the MTA then applies its
//! `milter_default_action`. Other connections are not affected.

pub mod codec;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_core::Decision;
use warden_mail::MailAction;

pub use codec::{Command, MilterError, Response};

use crate::MailServer;
use crate::settings::{MilterConfig, OnError, QuarantineAs, RejectAs};
use warden_server::{AppState, Budget, Held};

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
    max_recipients: usize,
    /// The message as received so far: header fields, blank line, body.
    message: Vec<u8>,
    /// Bytes of the message beyond `max_bytes`, not kept.
    dropped: usize,
    /// Bytes of the envelope kept (sender and recipients).
    envelope: usize,
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

/// A HELO name longer than a domain name may be (RFC 1035) is cut.
const MAX_HELO: usize = 255;
/// A buffer larger than this is given back to the allocator when it empties (a message's
/// between messages, the read buffer between packets): an idle connection holds little.
const KEEP_CAPACITY: usize = 8 << 10;

impl Session {
    /// A new connection; at most `max_bytes` of each message, envelope included, are kept
    /// for deciding, and at most `max_recipients` recipients.
    pub fn new(max_bytes: usize, max_recipients: usize) -> Self {
        Session {
            max_bytes,
            max_recipients,
            message: Vec::new(),
            dropped: 0,
            envelope: 0,
            client: None,
            helo: String::new(),
            mail_from: String::new(),
            rcpt: Vec::new(),
            queue_id: String::new(),
        }
    }

    /// How many of `bytes` fit in what is left of the limit.
    fn room(&self, bytes: usize) -> usize {
        bytes.min(self.max_bytes.saturating_sub(self.message.len() + self.envelope))
    }

    fn keep(&mut self, bytes: &[u8]) {
        let take = self.room(bytes.len());
        let want = self.message.len() + take;
        if want > self.message.capacity() {
            // Grown as a Vec grows, but never past the limit.
            let capacity = want.max(self.message.capacity() * 2).min(self.max_bytes);
            self.message.reserve_exact(capacity - self.message.len());
        }
        self.message.extend_from_slice(&bytes[..take]);
        self.dropped += bytes.len() - take;
    }

    /// The bytes this session holds: the message's buffer and the envelope.
    pub fn held_bytes(&self) -> usize {
        self.message.capacity() + self.envelope + self.helo.len()
    }

    /// The bytes `command` would add to [`Session::held_bytes`] (counted before it is taken).
    pub fn growth(&self, command: &Command) -> usize {
        let add = match command {
            Command::Header { name, value } => name.len() + value.len() + 4,
            Command::EndOfHeaders => 2,
            Command::Body(chunk) | Command::EndOfMessage(chunk) => chunk.len(),
            Command::Rcpt(args) | Command::Mail(args) => return args.first().map_or(0, String::len),
            Command::Helo(h) => return h.len().min(MAX_HELO),
            _ => return 0,
        };
        let want = self.message.len() + self.room(add);
        if want > self.message.capacity() {
            want.max(self.message.capacity() * 2).min(self.max_bytes) - self.message.capacity()
        } else {
            0
        }
    }

    /// Forgets the message (at a new MAIL FROM, after a verdict, on abort). The queue id is
    /// kept: the macros that carry it come just before the command they are for.
    pub fn reset_message(&mut self) {
        if self.message.capacity() > KEEP_CAPACITY {
            self.message = Vec::new();
        }
        self.message.clear();
        self.dropped = 0;
        self.envelope = 0;
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
                // An IPv4 client given as an IPv4-mapped IPv6 address is the IPv4 client.
                self.client = address.map(|a| a.to_canonical());
                Step::Reply(vec![Response::Continue])
            }
            Command::Helo(mut h) => {
                h.truncate(h.floor_char_boundary(MAX_HELO));
                self.helo = h;
                Step::Reply(vec![Response::Continue])
            }
            Command::Mail(args) => {
                self.reset_message();
                let from = args.into_iter().next().unwrap_or_default();
                if from.len() > self.max_bytes {
                    return Step::Reply(vec![too_big()]);
                }
                self.envelope = from.len();
                self.mail_from = from;
                Step::Reply(vec![Response::Continue])
            }
            Command::Rcpt(args) => {
                let Some(r) = args.into_iter().next() else { return Step::Reply(vec![Response::Continue]) };
                if self.rcpt.len() >= self.max_recipients {
                    return Step::Reply(vec![Response::ReplyCode(format!(
                        "452 4.5.3 Warden: too many recipients (at most {})",
                        self.max_recipients
                    ))]);
                }
                if self.room(r.len()) < r.len() {
                    return Step::Reply(vec![too_big()]);
                }
                self.envelope += r.len();
                self.rcpt.push(r);
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

fn too_big() -> Response {
    Response::ReplyCode("552 5.3.4 Warden: message and envelope exceed the size limit".into())
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
    let tracker = Arc::clone(state.tracker("milter"));
    let mut errors = warden_server::conn::AcceptErrors::new("milter");
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    errors.succeeded();
                    let Some(conn) = tracker.admit() else { continue };
                    let (state, tracker) = (state.clone(), Arc::clone(&tracker));
                    connections.spawn(async move {
                        match connection(stream, &state, &conn).await {
                            Ok(()) => {}
                            Err(ConnectionError::Idle(_) | ConnectionError::Handshake(_)) => tracker.closed("idle"),
                            Err(ConnectionError::Evicted) => {}
                            Err(e) => tracing::warn!(error = %e, "milter connection closed"),
                        }
                        tracker.remove(&conn);
                    });
                }
                Err(e) => tokio::time::sleep(errors.failed(&e, &tracker)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            // The guard `wait_for` answers is dropped inside: this future is sent to a task.
            _ = async { drop(stop.wait_for(|s| *s).await) } => break,
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
    #[error("no first command within {0} ms")]
    Handshake(u64),
    #[error("closed to make room for another connection")]
    Evicted,
    #[error("the connection ended inside a packet")]
    Truncated,
}

async fn connection(
    mut stream: tokio::net::TcpStream,
    state: &AppState,
    conn: &Arc<warden_server::conn::Conn>,
) -> Result<(), ConnectionError> {
    let settings = state.settings();
    let config = MailServer::of(state).settings().milter.clone();
    let handshake = settings.limits.idle_timeout_ms;
    let mut session = Session::new(settings.limits.max_message_bytes, config.max_recipients);
    let mut buf = Vec::with_capacity(KEEP_CAPACITY);
    let mut out = Vec::with_capacity(1024);
    let mut held = Held::default();
    let budget = state.budget();
    let mut started = false;
    loop {
        while let Some(command) = Command::decode(&mut buf)? {
            started = true;
            conn.touch();
            // What the session keeps counts against the bytes every listener shares. Only a
            // command that keeps bytes can be refused, and each of those gets a reply: the MTA's
            // commands and Warden's replies stay in step.
            let growth = session.growth(&command);
            let grown = session.held_bytes() + growth + buf.capacity();
            let responses = if growth > 0 && !budget.cover(&mut held, grown) {
                warden_server::Metrics::count(&state.metrics().memory_shed, "milter");
                session.reset_message();
                vec![tempfail("too much mail in flight")]
            } else {
                match session.on(command) {
                    Step::Reply(r) => r,
                    Step::Silent => continue,
                    Step::Close => return Ok(()),
                    Step::Decide => {
                        // Deciding, the connection is not idle: it is never closed to make room.
                        let _busy = conn.busy();
                        let reject = MailServer::of(state).live().with_engine(|e| e.thresholds().0.reject);
                        decide(&mut session, state, &config, reject).await
                    }
                }
            };
            Budget::shrink(&mut held, session.held_bytes() + buf.capacity());
            out.clear();
            for r in &responses {
                r.encode(&mut out);
            }
            stream.write_all(&out).await?;
        }
        let (wait, error) = if started {
            (Duration::from_secs(config.idle_timeout_secs), ConnectionError::Idle(config.idle_timeout_secs))
        } else {
            (Duration::from_millis(handshake), ConnectionError::Handshake(handshake))
        };
        if buf.is_empty() && buf.capacity() > KEEP_CAPACITY {
            buf = Vec::with_capacity(KEEP_CAPACITY);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(KEEP_CAPACITY);
        }
        if !budget.cover(&mut held, session.held_bytes() + buf.capacity()) {
            warden_server::Metrics::count(&state.metrics().memory_shed, "milter");
            return Err(ConnectionError::Io(std::io::Error::other("too much mail in flight")));
        }
        let n = tokio::select! {
            read = tokio::time::timeout(wait, stream.read_buf(&mut buf)) => read.map_err(|_| error)??,
            _ = conn.evicted() => return Err(ConnectionError::Evicted),
        };
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
    let Ok(_slot) = MailServer::of(state).milter_slots.try_acquire() else {
        warden_server::Metrics::count(&state.metrics().shed, "milter");
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
    match tokio::time::timeout(budget, MailServer::of(state).decide(state, raw, &envelope, "milter")).await {
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
            warden_server::Metrics::count(&state.metrics().timeouts, "milter");
            session.failed("time budget spent", config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(action: MailAction, score: f64) -> Decision<MailAction> {
        let reason = warden_core::Reason::new("MODEL\r\nX-Injected: 1", "", score);
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
        let mut s = Session::new(1 << 20, 1000);
        assert_eq!(conversation(&mut s), Step::Decide);
        assert_eq!(s.message(), b"Subject: hi\r\nFrom: a@example.org\r\n\r\nhello\r\nbye\r\n");
        assert_eq!(s.client, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            (s.mail_from.as_str(), s.rcpt.as_slice(), s.queue_id.as_str()),
            ("<a@example.org>", &["<b@example.net>".to_owned()][..], "4ABC12")
        );
        let mut small = Session::new(10, 1000);
        conversation(&mut small);
        assert_eq!(small.message(), b"Subject: h", "only max_bytes are kept");
    }

    #[tokio::test]
    async fn a_full_milter_tempfails_and_a_free_one_decides_whatever_the_http_listeners_hold() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::testing::state_in(dir.path(), warden_server::Settings::default());
        let config = MilterConfig::default();
        let mut s = Session::new(1 << 20, 1000);
        conversation(&mut s);
        let held = MailServer::of(&state).milter_slots.try_acquire_many(64).unwrap();
        // The HTTP listeners' slots are not the milter's.
        let _http = state.slots()[0].try_acquire_many(256).unwrap();
        let r = decide(&mut s, &state, &config, 10.0).await;
        assert!(
            matches!(&r[..], [Response::ReplyCode(c)] if c.starts_with("451 4.7.1") && c.contains("busy")),
            "{r:?}"
        );
        drop(held);
        conversation(&mut s);
        let r = decide(&mut s, &state, &config, 10.0).await;
        assert_eq!(r.last(), Some(&Response::Continue), "every HTTP slot taken, the milter decides: {r:?}");
        assert!(r.iter().any(|x| matches!(x, Response::AddHeader { name, .. } if name == "X-Spam-Status")));
    }

    #[test]
    fn recipients_are_capped_and_the_envelope_counts_against_the_message_limit() {
        let reply = |s: &mut Session, c| match s.on(c) {
            Step::Reply(r) => r,
            other => panic!("{other:?}"),
        };
        let mut s = Session::new(1 << 20, 3);
        reply(&mut s, Command::Mail(vec!["<a@example.org>".into()]));
        for i in 0..3 {
            assert_eq!(
                reply(&mut s, Command::Rcpt(vec![format!("<r{i}@example.net>")])),
                [Response::Continue]
            );
        }
        let r = reply(&mut s, Command::Rcpt(vec!["<r3@example.net>".into()]));
        assert!(matches!(&r[..], [Response::ReplyCode(c)] if c.starts_with("452 4.5.3")), "{r:?}");
        assert_eq!(s.rcpt.len(), 3);

        let mut s = Session::new(4096, 1000);
        reply(&mut s, Command::Mail(vec!["<a@example.org>".into()]));
        let big = format!("<{}@example.net>", "x".repeat(1500));
        assert_eq!(reply(&mut s, Command::Rcpt(vec![big.clone()])), [Response::Continue]);
        assert_eq!(reply(&mut s, Command::Rcpt(vec![big.clone()])), [Response::Continue]);
        let r = reply(&mut s, Command::Rcpt(vec![big]));
        assert!(matches!(&r[..], [Response::ReplyCode(c)] if c.starts_with("552 5.3.4")), "{r:?}");
        assert!(s.held_bytes() <= 4096 + MAX_HELO, "{}", s.held_bytes());
        // The message's room is what the envelope left.
        reply(&mut s, Command::Body(vec![b'm'; 4096]));
        assert_eq!(s.message().len() + 2 * 1514 + "<a@example.org>".len(), 4096);
        let before = s.held_bytes();
        assert_eq!(s.growth(&Command::Body(vec![b'm'; 100])), 0, "nothing more is kept");
        reply(&mut s, Command::Body(vec![b'm'; 100]));
        assert_eq!(s.held_bytes(), before);
        s.on(Command::Abort);
        assert!(s.held_bytes() <= KEEP_CAPACITY, "an aborted message gives back what it held");
        let mut s = Session::new(1 << 20, 1000);
        reply(&mut s, Command::Body(vec![b'm'; 300_000]));
        assert!(s.held_bytes() >= 300_000);
        s.on(Command::Abort);
        assert_eq!(s.held_bytes(), 0, "a large buffer is given back");
    }

    #[test]
    fn negotiation_asks_only_for_what_the_mta_offers() {
        let mut s = Session::new(100, 1000);
        let Step::Reply(r) = s.on(Command::OptNeg { version: 2, actions: 0x01, protocol: 0 }) else {
            panic!()
        };
        assert_eq!(r, [Response::OptNeg { version: 2, actions: 0x01, protocol: 0 }]);
    }

    #[test]
    fn verdicts_follow_the_configuration() {
        let config = MilterConfig::default();
        let mut s = Session::new(100, 1000);
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
