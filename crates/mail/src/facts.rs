//! The facts of a message that analysts' rules read (`mail.*` in the rule catalogue).
//!
//! Plain values, not features: the sender's domain, the subject, the client's address.
//! URL domains come from the feature extraction's own URL pass (see
//! [`crate::extract::extract_with`]); everything else is read here from parsed headers,
//! which costs little.

use std::net::IpAddr;

use mail_parser::{HeaderName, MimeHeaders, PartType};

use crate::Mail;
use crate::domain::registrable_domain;
use crate::extract::headers::{auth_verdict, domain_of, first_address};

/// What rules can test about one message. Absent values are `None` (rules on them are false).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailFacts {
    /// The From address, lower case.
    pub from_address: Option<String>,
    /// Its registrable domain.
    pub from_domain: Option<String>,
    /// The registrable domain of Reply-To.
    pub reply_to_domain: Option<String>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// Registrable domains of the URLs in text and HTML (sorted, distinct).
    pub url_domains: Vec<String>,
    /// Attachment file names, lower case.
    pub attachment_names: Vec<String>,
    /// Raw size in bytes.
    pub size: usize,
    /// Addresses in To and Cc.
    pub recipients: usize,
    /// The client address of the newest Received hop (a server replaces it by the envelope's).
    pub client_ip: Option<IpAddr>,
    /// The HELO name of the newest Received hop (a server replaces it by the envelope's).
    pub helo: Option<String>,
    /// SPF verdict from the first Authentication-Results field that has one.
    pub spf: Option<String>,
    /// DKIM verdict, likewise.
    pub dkim: Option<String>,
    /// DMARC verdict, likewise.
    pub dmarc: Option<String>,
    /// An HTML part is present.
    pub has_html: bool,
    /// The named signals found (`BRAND_IMPERSONATION`, …; see FEATURES.md).
    pub signals: Vec<String>,
    /// Seconds since the server first saw mail from the From domain (0 for the first): the
    /// server's state, never the message's, so it is filled by the server and is no feature.
    pub from_domain_age: Option<u64>,
}

impl MailFacts {
    /// Reads the facts of `mail` (URL domains excepted: the extraction fills those).
    pub fn of(mail: &Mail<'_>) -> Self {
        let mut f = MailFacts { size: mail.raw().len() + mail.context().field_len(), ..MailFacts::default() };
        let Some(msg) = mail.message() else { return f };
        if let Some((_, Some(addr))) = first_address(msg.from()) {
            f.from_address = Some(addr.to_lowercase());
            f.from_domain = domain_of(addr).and_then(registrable_domain);
        }
        f.reply_to_domain = first_address(msg.reply_to())
            .and_then(|(_, a)| a)
            .and_then(domain_of)
            .and_then(registrable_domain);
        f.subject = msg.subject().map(str::to_owned);
        f.recipients = msg.to().map_or(0, |a| a.iter().count()) + msg.cc().map_or(0, |a| a.iter().count());
        let raw = msg.raw_message();
        if let Some(h) = msg.headers().iter().find(|h| h.name == HeaderName::Received) {
            let hop = crate::extract::received::parse(
                raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default(),
            );
            f.client_ip = hop.ip;
            f.helo = match hop.helo.or(hop.from) {
                Some(crate::extract::received::Host::Name(n)) => Some(n.to_ascii_lowercase()),
                Some(crate::extract::received::Host::Ip(ip)) => Some(ip.to_string()),
                None => None,
            };
        }
        let context = mail.context().auth_results.map(|v| (crate::Context::AUTH_RESULTS, v));
        let own = msg.headers_raw().take(200 - usize::from(context.is_some()));
        for (name, value) in context.into_iter().chain(own) {
            if name.eq_ignore_ascii_case("Authentication-Results") {
                for (slot, method) in [(&mut f.spf, "spf"), (&mut f.dkim, "dkim"), (&mut f.dmarc, "dmarc")] {
                    if slot.is_none() {
                        *slot = auth_verdict(value, method);
                    }
                }
            }
        }
        for part in msg.parts.iter().take(64) {
            f.has_html |= matches!(part.body, PartType::Html(_));
            if let Some(name) = part.attachment_name()
                && !matches!(part.body, PartType::Multipart(_))
            {
                f.attachment_names.push(name.to_lowercase());
            }
        }
        f
    }
}
