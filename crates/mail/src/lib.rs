//! The mail event: hostile RFC 5322/MIME bytes in, hashed features out.
//!
//! Every input that can be read gets features, whatever it is: a message that mail-parser
//! cannot read at all still yields character n-grams of its raw bytes. Work is bounded: only
//! the first [`MailConfig::max_scan_bytes`] of a message are parsed and only the first
//! [`MailConfig::max_part_bytes`] of each part are analysed, so a part of many megabytes costs
//! no more than a small one. The features themselves are listed in `FEATURES.md` at the root of
//! the repository; [`extract`] holds one module per signal.
#![deny(missing_docs)]

pub mod brands;
pub mod catalogue;
mod config;
mod domain;
pub mod engine;
pub mod explain;
pub mod extract;
mod facts;
mod kind;
mod raw;

pub use catalogue::catalogue;
pub use config::MailConfig;
pub use facts::MailFacts;
pub use kind::{MailAction, MailKind, MailLabel};
pub use raw::{
    LIST_HEADER_PREFIXES, TRACE_HEADER_PREFIXES, is_gtube, strip_header_fields, strip_list_headers,
    strip_mbox_from_line,
};

use mail_parser::{Message, MessageParser};
use warden_core::{Event, FeatureSink};

/// The version of the extraction code: raised whenever a change makes the same message yield
/// other features, so that features stored by an older build are known to be stale (the
/// settings alone do not say it).
pub const EXTRACTOR_VERSION: u32 = 6;

/// The parser, built once (building one fills a table of header parsers). It parses the
/// fields the extractor reads; every other field, Received included, stays raw: a message may
/// carry dozens of Received fields and only the newest few are looked at, so `extract`
/// parses those itself.
static PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
    use mail_parser::HeaderName;
    MessageParser::new()
        .with_minimal_headers()
        .header_id(HeaderName::MessageId)
        .header_id(HeaderName::ReturnPath)
        .header_address(HeaderName::Sender)
        // Every other field's value is read from the raw bytes when needed; converting each
        // to text up front cost a UTF-8 pass and often an allocation per field.
        .default_header_ignore()
});

/// A mail message ready for feature extraction: the raw bytes (bounded prefix) and, when
/// they could be read as a message, their parsed form.
pub struct Mail<'a> {
    raw: &'a [u8],
    parsed: Option<Message<'a>>,
    config: &'a MailConfig,
    context: Context<'a>,
}

/// What the receiving side knows of a message besides its bytes, handed to extraction as data
/// rather than written into a copy of the message and parsed back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context<'a> {
    /// The value of an `Authentication-Results` field the receiving side wrote (Warden's own
    /// SPF, DKIM and DMARC checks). Extraction reads it as the message's first header field:
    /// the features are those of the message with `Authentication-Results: <value>` CRLF
    /// written at its head, counted in its size and in its limits the same way.
    pub auth_results: Option<&'a str>,
}

impl Context<'_> {
    /// The name of the field [`Context::auth_results`] stands for.
    pub const AUTH_RESULTS: &'static str = "Authentication-Results";

    /// The bytes the context's field would take at the head of the message (0 without one).
    pub fn field_len(&self) -> usize {
        self.auth_results.map_or(0, |v| Self::AUTH_RESULTS.len() + 2 + v.len() + 2)
    }

    /// The context's field as it would be written at the head of the message.
    pub fn field(&self) -> Option<String> {
        self.auth_results.map(|v| format!("{}: {v}\r\n", Self::AUTH_RESULTS))
    }
}

impl<'a> Mail<'a> {
    /// Parses `bytes`. Never fails and never panics: unreadable input is kept raw.
    pub fn parse(bytes: &'a [u8], config: &'a MailConfig) -> Self {
        Self::parse_in(bytes, config, Context::default())
    }

    /// Parses `bytes` received with `context` (see [`Context`]): the scan limit counts the
    /// context's field, as it would count it at the head of the message.
    pub fn parse_in(bytes: &'a [u8], config: &'a MailConfig, context: Context<'a>) -> Self {
        let bytes = strip_mbox_from_line(bytes);
        let room = config.max_scan_bytes.saturating_sub(context.field_len());
        let raw = &bytes[..bytes.len().min(room)];
        let parsed = PARSER.parse(raw);
        Mail { raw, parsed, config, context }
    }

    /// What the receiving side told of the message besides its bytes.
    pub fn context(&self) -> Context<'a> {
        self.context
    }

    /// The bytes that were analysed (without any mbox `From ` line, cut at the scan limit).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The parsed message, when the bytes could be read as one.
    pub fn message(&self) -> Option<&Message<'a>> {
        self.parsed.as_ref()
    }

    /// The configuration the message was parsed with.
    pub fn config(&self) -> &MailConfig {
        self.config
    }

    /// True when the message carries the GTUBE test string.
    pub fn is_gtube(&self) -> bool {
        is_gtube(self.raw)
    }
}

impl Event for Mail<'_> {
    type Kind = MailKind;

    fn extract(&self, sink: &mut dyn FeatureSink) {
        extract::extract(self, sink);
    }
}
