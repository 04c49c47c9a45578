//! Live authentication checks: SPF, DKIM, DMARC and ARC (mail-auth), when the envelope gives
//! the client's address.
//!
//! Lookups go through one hickory resolver (the system's, or `[mail_auth] nameservers`) with
//! its own cache, and all four checks share one time budget: SPF, DKIM and ARC run at once,
//! DMARC after SPF and DKIM. A check that has not finished when the budget is spent is
//! reported as skipped, with why; so is every check when there is no client address, when the
//! client is on loopback or a private network (`skip_private`), or when checks are off. The
//! verdicts go into an `Authentication-Results` field written as a receiving MTA would; the
//! decision sees it like any other header field (`auth:spf=pass`, …), and the milter adds it
//! to the message.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator};
use serde::{Deserialize, Serialize};

/// `[mail_auth]`: the live checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailAuthConfig {
    /// Run the checks when the client's address is known (default true).
    pub enabled: bool,
    /// Resolvers to ask, `IP` or `IP:PORT` (default: those of /etc/resolv.conf).
    pub nameservers: Vec<String>,
    /// Time for all four checks of one message, in milliseconds (default 1,500).
    pub budget_ms: u64,
    /// The name in `Authentication-Results` (default "warden").
    pub authserv_id: String,
    /// No checks for clients on loopback or private networks: local submission (default true).
    pub skip_private: bool,
}

impl Default for MailAuthConfig {
    fn default() -> Self {
        MailAuthConfig {
            enabled: true,
            nameservers: Vec::new(),
            budget_ms: 1_500,
            authserv_id: "warden".into(),
            skip_private: true,
        }
    }
}

/// The SMTP envelope of a message, as Rspamd's request headers or the milter give it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// HELO/EHLO name.
    pub helo: String,
    /// MAIL FROM, without angle brackets (empty for a bounce).
    pub mail_from: String,
    /// RCPT TO addresses.
    pub rcpt: Vec<String>,
}

impl Envelope {
    /// From Rspamd's request headers: `IP`, `Helo`, `From`, `Rcpt` (repeatable).
    pub fn from_headers(h: &axum::http::HeaderMap) -> Envelope {
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
        Envelope {
            // An IPv4 client written as ::ffff:a.b.c.d is a.b.c.d (SPF, rules and the
            // private-network check all take it as IPv4).
            ip: text("ip").parse::<std::net::IpAddr>().ok().map(|ip| ip.to_canonical()),
            helo: text("helo").to_owned(),
            mail_from: bare(text("from")),
            rcpt: h.get_all("rcpt").iter().filter_map(|v| v.to_str().ok()).map(bare).collect(),
        }
    }
}

/// An address without its angle brackets and ESMTP parameters.
pub fn bare(s: &str) -> String {
    let s = s.trim();
    let s = s.split_once('>').map_or(s, |(a, _)| a);
    s.trim_start_matches('<').trim().to_owned()
}

/// What the checks found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuthReport {
    /// SPF verdict (`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spf: Option<String>,
    /// DKIM verdict of the best signature (`pass` if any passed; `none` when unsigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim: Option<String>,
    /// DMARC verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<String>,
    /// ARC verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc: Option<String>,
    /// Checks not run, each with why (`"spf: time budget spent"`).
    pub skipped: Vec<String>,
    /// The `Authentication-Results` value (without the field name), when a check ran.
    #[serde(skip)]
    pub header: Option<String>,
}

impl AuthReport {
    fn skip_all(why: &str) -> AuthReport {
        AuthReport {
            skipped: ["spf", "dkim", "dmarc", "arc"].iter().map(|c| format!("{c}: {why}")).collect(),
            ..Default::default()
        }
    }
}

/// Runs the checks.
pub struct Checker {
    config: MailAuthConfig,
    authenticator: Option<MessageAuthenticator>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Why an authentication checker cannot be made from its settings.
#[derive(Debug, thiserror::Error)]
pub enum MailAuthError {
    /// The system's resolver configuration cannot be read.
    #[error("system resolver: {0}")]
    SystemResolver(String),
    /// The resolver cannot be made from the configured name servers.
    #[error("resolver: {0}")]
    Resolver(String),
    /// A configured name server is not an address.
    #[error("[mail_auth] nameservers: {0:?} is not IP or IP:PORT")]
    NameServer(String),
}

impl Checker {
    /// A checker per `config`; its resolver is made here (no lookup happens yet).
    pub fn new(config: &MailAuthConfig) -> Result<Checker, MailAuthError> {
        if !config.enabled {
            return Ok(Checker { config: config.clone(), authenticator: None });
        }
        let mut opts = ResolverOpts::default();
        // The budget bounds the whole check; one slow server must not eat all of it.
        opts.timeout = Duration::from_millis((config.budget_ms / 3).max(50));
        opts.attempts = 1;
        opts.cache_size = 8192;
        let authenticator = if config.nameservers.is_empty() {
            MessageAuthenticator::new_system_conf()
                .map_err(|e| MailAuthError::SystemResolver(e.to_string()))?
        } else {
            let mut servers = Vec::new();
            for s in &config.nameservers {
                let (ip, port) = parse_server(s)?;
                let mut ns = NameServerConfig::udp_and_tcp(ip);
                for c in &mut ns.connections {
                    c.port = port;
                }
                servers.push(ns);
            }
            MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), opts)
                .map_err(|e| MailAuthError::Resolver(e.to_string()))?
        };
        Ok(Checker { config: config.clone(), authenticator: Some(authenticator) })
    }

    /// Checks `raw` as received from `envelope`'s client, within the budget.
    pub async fn check(&self, raw: &[u8], envelope: &Envelope) -> AuthReport {
        let Some(auth) = &self.authenticator else { return AuthReport::skip_all("checks are off") };
        let Some(ip) = envelope.ip else { return AuthReport::skip_all("no client address") };
        if self.config.skip_private && is_local(ip) {
            return AuthReport::skip_all("local client");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.budget_ms);
        let host = self.config.authserv_id.as_str();
        let helo = if envelope.helo.is_empty() { "unknown" } else { envelope.helo.as_str() };
        let mail_from = envelope.mail_from.as_str();
        let mut report = AuthReport::default();
        let late = |check: &str| format!("{check}: time budget spent");
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            let spf = tokio::time::timeout_at(
                deadline,
                auth.verify_spf(SpfParameters::verify(ip, helo, host, mail_from)),
            );
            match spf.await {
                Ok(s) => report.spf = Some(spf_word(s.result())),
                Err(_) => report.skipped.push(late("spf")),
            }
            for c in ["dkim", "dmarc", "arc"] {
                report.skipped.push(format!("{c}: the message does not parse"));
            }
            return report;
        };
        let (spf, dkim, arc) = tokio::join!(
            tokio::time::timeout_at(
                deadline,
                auth.verify_spf(SpfParameters::verify(ip, helo, host, mail_from))
            ),
            tokio::time::timeout_at(deadline, auth.verify_dkim(&message)),
            tokio::time::timeout_at(deadline, auth.verify_arc(&message)),
        );
        let from_domain = message.from().rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
        let mail_from_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let mut results = AuthenticationResults::new(host);
        match &spf {
            Ok(s) => {
                report.spf = Some(spf_word(s.result()));
                results = results.with_spf_mailfrom_result(s, ip, mail_from, helo);
            }
            Err(_) => report.skipped.push(late("spf")),
        }
        match &dkim {
            Ok(d) => {
                report.dkim = Some(dkim_word(d));
                results = results.with_dkim_results(d, &from_domain);
            }
            Err(_) => report.skipped.push(late("dkim")),
        }
        match &arc {
            Ok(a) => {
                report.arc = Some(dkim_result_word(a.result()));
                results = results.with_arc_result(a, ip);
            }
            Err(_) => report.skipped.push(late("arc")),
        }
        if let (Ok(spf), Ok(dkim)) = (&spf, &dkim) {
            let params =
                mail_auth::dmarc::verify::DmarcParameters::new(&message, dkim, mail_from_domain, spf);
            match tokio::time::timeout_at(deadline, auth.verify_dmarc(params)).await {
                Ok(d) => {
                    report.dmarc = Some(dmarc_word(&d.result()));
                    results = results.with_dmarc_result(&d);
                }
                Err(_) => report.skipped.push(late("dmarc")),
            }
        } else {
            report.skipped.push("dmarc: needs SPF and DKIM, which did not finish".into());
        }
        if report.spf.is_some() || report.dkim.is_some() || report.arc.is_some() {
            report.header = Some(results.to_string());
        }
        report
    }
}

fn parse_server(s: &str) -> Result<(IpAddr, u16), MailAuthError> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Ok((sa.ip(), sa.port()));
    }
    s.parse::<IpAddr>().map(|ip| (ip, 53)).map_err(|_| MailAuthError::NameServer(s.to_owned()))
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

// The RFC 8601 result words (mail-auth spells them only in its reporting feature).

fn spf_word(r: mail_auth::SpfResult) -> String {
    use mail_auth::SpfResult as S;
    match r {
        S::Pass => "pass",
        S::Fail => "fail",
        S::SoftFail => "softfail",
        S::Neutral => "neutral",
        S::TempError => "temperror",
        S::PermError => "permerror",
        S::None => "none",
    }
    .into()
}

fn dkim_result_word(r: &mail_auth::DkimResult) -> String {
    use mail_auth::DkimResult as D;
    match r {
        D::Pass => "pass",
        D::Neutral(_) => "neutral",
        D::Fail(_) => "fail",
        D::PermError(_) => "permerror",
        D::TempError(_) => "temperror",
        D::None => "none",
    }
    .into()
}

fn dkim_word(outputs: &[mail_auth::DkimOutput<'_>]) -> String {
    if outputs.iter().any(|o| o.result() == &mail_auth::DkimResult::Pass) {
        return "pass".into();
    }
    outputs.first().map_or_else(|| "none".into(), |o| dkim_result_word(o.result()))
}

fn dmarc_word(r: &DmarcResult) -> String {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mail_auth::common::crypto::Ed25519Key;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::dkim::DkimSigner;

    use super::*;
    use crate::dns_fixture::DnsFixture;

    const BODY: &str = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: lunch\r\n\
                        Message-ID: <1@example.org>\r\n\r\nSee you at noon.\r\n";

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                out.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        out
    }

    /// A DNS server publishing example.org's SPF, DKIM key and DMARC policy, and a message
    /// signed with that key.
    fn example_org() -> (DnsFixture, Vec<u8>) {
        let key = Ed25519Key::from_pkcs8_der(&Ed25519Key::generate_pkcs8().unwrap()).unwrap();
        let public = base64(&key.public_key());
        let signature = DkimSigner::from_key(key)
            .domain("example.org")
            .selector("sel")
            .headers(["From", "To", "Subject"])
            .sign(BODY.as_bytes())
            .unwrap();
        let zone: HashMap<String, Vec<String>> = [
            ("example.org", "v=spf1 ip4:192.0.2.10 -all".to_owned()),
            ("sel._domainkey.example.org", format!("v=DKIM1; k=ed25519; p={public}")),
            ("_dmarc.example.org", "v=DMARC1; p=reject".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), vec![v]))
        .collect();
        (DnsFixture::start(zone), format!("{}{BODY}", signature.to_header()).into_bytes())
    }

    fn checker(dns: &DnsFixture, budget_ms: u64) -> Checker {
        Checker::new(&MailAuthConfig {
            nameservers: vec![dns.addr.to_string()],
            budget_ms,
            ..Default::default()
        })
        .unwrap()
    }

    fn from(ip: &str) -> Envelope {
        Envelope {
            ip: ip.parse().ok(),
            helo: "mx.example.org".into(),
            mail_from: "alice@example.org".into(),
            rcpt: vec![],
        }
    }

    #[tokio::test]
    async fn spf_dkim_and_dmarc_are_checked_against_a_loopback_dns_server() {
        let (dns, signed) = example_org();
        let c = checker(&dns, 5_000);
        let r = c.check(&signed, &from("192.0.2.10")).await;
        assert_eq!(
            (r.spf.as_deref(), r.dkim.as_deref(), r.dmarc.as_deref()),
            (Some("pass"), Some("pass"), Some("pass")),
            "{r:?}"
        );
        assert_eq!(r.arc.as_deref(), Some("none"));
        assert!(r.skipped.is_empty(), "{r:?}");
        let header = r.header.unwrap();
        assert!(
            header.starts_with("warden")
                && header.contains("spf=pass")
                && header.contains("dkim=pass")
                && header.contains("dmarc=pass"),
            "{header}"
        );

        // Another client, and the body changed on the way: SPF fails, the DKIM body hash does
        // not verify (RFC 6376 calls that neutral), and so DMARC fails.
        let tampered = String::from_utf8(signed).unwrap().replace("noon", "midnight");
        let r = c.check(tampered.as_bytes(), &from("198.51.100.1")).await;
        assert_eq!(
            (r.spf.as_deref(), r.dkim.as_deref(), r.dmarc.as_deref()),
            (Some("fail"), Some("neutral"), Some("fail")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn without_an_answering_resolver_the_checks_end_at_the_budget_and_say_what_was_skipped() {
        let silent = DnsFixture::silent();
        let c = checker(&silent, 300);
        let r = c.check(BODY.as_bytes(), &from("192.0.2.10")).await;
        assert_eq!(r.spf, None);
        assert!(r.skipped.iter().any(|s| s == "spf: time budget spent"), "{r:?}");
        assert!(r.skipped.iter().any(|s| s.starts_with("dmarc:")), "{r:?}");
        assert_eq!(r.dkim.as_deref(), Some("none"), "an unsigned message needs no lookup");
    }

    #[tokio::test]
    async fn no_address_a_local_client_or_checks_off_skip_everything() {
        let silent = DnsFixture::silent();
        let c = checker(&silent, 300);
        for (env, why) in [
            (Envelope::default(), "no client address"),
            (from("10.1.2.3"), "local client"),
            (from("::1"), "local client"),
        ] {
            let r = c.check(BODY.as_bytes(), &env).await;
            assert_eq!(r.skipped.len(), 4, "{r:?}");
            assert!(r.skipped.iter().all(|s| s.ends_with(why)), "{r:?}");
            assert!(r.header.is_none());
        }
        let off = Checker::new(&MailAuthConfig { enabled: false, ..Default::default() }).unwrap();
        assert!(off.check(BODY.as_bytes(), &from("192.0.2.10")).await.skipped[0].ends_with("checks are off"));
    }

    #[test]
    fn envelope_headers_are_read_as_rspamd_sends_them() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("IP", "192.0.2.10".parse().unwrap());
        h.insert("Helo", "mx.example.org".parse().unwrap());
        h.insert("From", "<alice@example.org> SIZE=100".parse().unwrap());
        h.append("Rcpt", "<b@example.net>".parse().unwrap());
        h.append("Rcpt", "c@example.net".parse().unwrap());
        let e = Envelope::from_headers(&h);
        assert_eq!(
            e,
            Envelope {
                ip: "192.0.2.10".parse().ok(),
                helo: "mx.example.org".into(),
                mail_from: "alice@example.org".into(),
                rcpt: vec!["b@example.net".into(), "c@example.net".into()]
            }
        );
    }
}
