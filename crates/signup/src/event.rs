//! A sign-up event read from its JSON object. The contract:
//!
//! ```json
//! {"kind": "signup", "id": "s-1", "time": "2026-03-01T12:00:00Z", "account": "a-1",
//!  "email": "maria.rossi84@example.net", "display_name": "Maria Rossi",
//!  "recovery_email": "m.rossi@example.org", "ip": "203.0.113.7",
//!  "user_agent": "Mozilla/5.0 (...)", "accept_language": "it-IT,it;q=0.9",
//!  "country": "IT", "asn": 3269, "device_id": "d-81f3", "captcha": "passed"}
//! ```
//!
//! `kind`, `id` and `time` are read by the server's generic path before the kind sees the
//! event. Here: `account` and `ip` are required; every other field is optional, and `null` is
//! the same as absent. Unknown fields are ignored. A field of the wrong type, too long, or
//! holding what an identifier must not (control or bidirectional characters) refuses the event
//! with the field named. Free text (`display_name`, `user_agent`, `accept_language`) is taken
//! as sent, up to its length, whatever it holds: what it holds is for the shapes to describe.

use std::net::IpAddr;

use serde_json::{Map, Value};
use warden_server::kinds::BadField;

/// The most bytes of an address (RFC 5321's path limit, less its angle brackets).
pub const MAX_ADDRESS: usize = 254;
/// The most characters of an account id, a device id (the desk's limit on an entity's name).
pub const MAX_ID: usize = 255;
/// The most characters of a display name.
pub const MAX_NAME: usize = 256;
/// The most bytes of a user agent or an `Accept-Language` value.
pub const MAX_HEADER: usize = 1024;

/// An address split at its last `@`, the domain in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address<'a> {
    /// The local part, as sent.
    pub local: &'a str,
    /// The domain, lower case.
    pub domain: String,
}

/// What the captcha said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captcha {
    /// Solved.
    Passed,
    /// Failed.
    Failed,
    /// None was shown.
    None,
    /// The event does not say.
    Unknown,
}

/// A sign-up, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Signup<'a> {
    /// The service's own account id, kept as given (verdicts name it).
    pub account: &'a str,
    /// The address signed up with.
    pub email: Option<Address<'a>>,
    /// The name the person gave.
    pub display_name: Option<&'a str>,
    /// The recovery address.
    pub recovery_email: Option<Address<'a>>,
    /// The client's address.
    pub ip: IpAddr,
    /// The client's `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The client's `Accept-Language`.
    pub accept_language: Option<&'a str>,
    /// The country the edge placed the client in (ISO 3166 alpha-2, upper case).
    pub country: Option<[u8; 2]>,
    /// The autonomous system the edge placed the client in.
    pub asn: Option<u32>,
    /// The service's device id.
    pub device_id: Option<&'a str>,
    /// The captcha's outcome.
    pub captcha: Captcha,
}

/// Reads a sign-up from its event's fields.
pub fn parse(event: &Map<String, Value>) -> Result<Signup<'_>, BadField> {
    let account = identifier(event, "account")?.ok_or_else(|| BadField::new("account", "is missing"))?;
    let ip = text(event, "ip", 64)?.ok_or_else(|| BadField::new("ip", "is missing"))?;
    let ip: IpAddr = ip.trim().parse().map_err(|_| BadField::new("ip", "is not an IPv4 or IPv6 address"))?;
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is the IPv4 address.
    let ip = ip.to_canonical();
    let country = match text(event, "country", 8)? {
        None => None,
        Some(c) => match c.trim().as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
            }
            _ => return Err(BadField::new("country", "is not a two-letter country code")),
        },
    };
    let asn = match event.get("asn") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| BadField::new("asn", "is not a number from 0 to 4294967295"))?,
        ),
    };
    let captcha = match text(event, "captcha", 16)? {
        None => Captcha::Unknown,
        Some("passed") => Captcha::Passed,
        Some("failed") => Captcha::Failed,
        Some("none") => Captcha::None,
        Some(_) => return Err(BadField::new("captcha", "is not passed, failed or none")),
    };
    Ok(Signup {
        account,
        email: address(event, "email")?,
        display_name: free_text(event, "display_name", MAX_NAME)?,
        recovery_email: address(event, "recovery_email")?,
        ip,
        user_agent: text(event, "user_agent", MAX_HEADER)?,
        accept_language: text(event, "accept_language", MAX_HEADER)?,
        country,
        asn,
        device_id: identifier(event, "device_id")?,
        captcha,
    })
}

/// A string field of at most `max_bytes` bytes; `None` when absent or null.
fn text<'a>(
    event: &'a Map<String, Value>,
    field: &str,
    max_bytes: usize,
) -> Result<Option<&'a str>, BadField> {
    match event.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > max_bytes => {
            Err(BadField::new(field, format!("is longer than {max_bytes} bytes")))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(BadField::new(field, "is not a string")),
    }
}

/// Free text of at most `max` characters, whatever it holds.
fn free_text<'a>(
    event: &'a Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<&'a str>, BadField> {
    let s = text(event, field, max * 4)?;
    match s {
        Some(s) if s.chars().count() > max => {
            Err(BadField::new(field, format!("is longer than {max} characters")))
        }
        s => Ok(s),
    }
}

/// An identifier: printable, not blank, at most [`MAX_ID`] characters.
fn identifier<'a>(event: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, BadField> {
    let Some(s) = text(event, field, MAX_ID * 4)? else { return Ok(None) };
    warden_server::text::check_field(field, s, MAX_ID)
        .map_err(|e| BadField::new(field, without_field(&e.to_string())))?;
    Ok(Some(s))
}

/// An address: printable, at most [`MAX_ADDRESS`] bytes, one local part and one domain.
fn address<'a>(event: &'a Map<String, Value>, field: &'static str) -> Result<Option<Address<'a>>, BadField> {
    let Some(s) = text(event, field, MAX_ADDRESS)? else { return Ok(None) };
    warden_server::text::check_field(field, s, MAX_ADDRESS)
        .map_err(|e| BadField::new(field, without_field(&e.to_string())))?;
    let (local, domain) = s.trim().rsplit_once('@').ok_or_else(|| BadField::new(field, "has no @"))?;
    if local.is_empty() || domain.is_empty() || domain.contains(char::is_whitespace) {
        return Err(BadField::new(field, "is not local@domain"));
    }
    Ok(Some(Address { local, domain: domain.trim_end_matches('.').to_lowercase() }))
}

/// A field check's message without its leading field name (the error names it once).
fn without_field(message: &str) -> String {
    message.split_once(' ').map_or(message, |(_, rest)| rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::{Address, Captcha, parse};
    use serde_json::{Map, Value, json};

    fn event(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn contract() -> Value {
        json!({"kind": "signup", "id": "s-1", "time": "2026-03-01T12:00:00Z", "account": "a-1",
            "email": "maria.rossi84@Example.NET", "display_name": "Maria Rossi",
            "recovery_email": "m.rossi@example.org", "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 (...)", "accept_language": "it-IT,it;q=0.9",
            "country": "it", "asn": 3269, "device_id": "d-81f3", "captcha": "passed", "extra": [1]})
    }

    #[test]
    fn the_contracts_example_reads_whole() {
        let e = event(contract());
        let s = parse(&e).unwrap();
        assert_eq!(s.account, "a-1");
        assert_eq!(s.email, Some(Address { local: "maria.rossi84", domain: "example.net".into() }));
        assert_eq!(s.recovery_email.as_ref().map(|a| a.domain.as_str()), Some("example.org"));
        assert_eq!(s.ip, "203.0.113.7".parse::<std::net::IpAddr>().unwrap());
        assert_eq!((s.country, s.asn, s.captcha), (Some(*b"IT"), Some(3269), Captcha::Passed));
        assert_eq!((s.display_name, s.device_id), (Some("Maria Rossi"), Some("d-81f3")));
    }

    #[test]
    fn only_account_and_ip_are_required_and_null_is_absent() {
        let e = event(json!({"account": "a-2", "ip": "2001:db8::7", "email": null, "asn": null}));
        let s = parse(&e).unwrap();
        assert_eq!((s.email, s.asn, s.captcha), (None, None, Captcha::Unknown));
        assert!(s.ip.is_ipv6());
        let mapped = event(json!({"account": "a", "ip": "::ffff:198.51.100.4"}));
        assert_eq!(parse(&mapped).unwrap().ip.to_string(), "198.51.100.4", "an IPv4 address in IPv6 dress");
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = |field: &str, value: Value| {
            let mut v = contract();
            v[field] = value;
            parse(&event(v)).unwrap_err()
        };
        let missing = |field: &str| {
            let mut v = contract();
            v.as_object_mut().unwrap().remove(field);
            parse(&event(v)).unwrap_err()
        };
        for field in ["account", "ip"] {
            let e = missing(field);
            assert_eq!((e.field.as_str(), e.problem.as_str()), (field, "is missing"));
        }
        for (field, value, problem) in [
            ("account", json!(7), "is not a string"),
            ("account", json!("a\u{1b}[31m"), "control"),
            ("account", json!("   "), "empty"),
            ("account", json!("a".repeat(256)), "at most 255"),
            ("ip", json!("203.0.113"), "IPv4 or IPv6"),
            ("email", json!("no-at-sign"), "has no @"),
            ("email", json!("@example.net"), "local@domain"),
            ("email", json!(format!("{}@example.net", "x".repeat(300))), "longer than 254 bytes"),
            ("recovery_email", json!({"a": 1}), "not a string"),
            ("country", json!("ITA"), "two-letter"),
            ("asn", json!(-1), "0 to 4294967295"),
            ("asn", json!(4294967296u64), "0 to 4294967295"),
            ("asn", json!("3269"), "0 to 4294967295"),
            ("captcha", json!("maybe"), "passed, failed or none"),
            ("display_name", json!("n".repeat(257)), "longer than 256 characters"),
            ("user_agent", json!("u".repeat(1025)), "1024 bytes"),
            ("device_id", json!("d\u{202e}x"), "character"),
        ] {
            let e = bad(field, value);
            assert_eq!(e.field, field);
            assert!(e.problem.contains(problem), "{field}: {e}");
        }
    }

    #[test]
    fn free_text_is_taken_as_sent() {
        let mut v = contract();
        v["display_name"] = json!("Мария\u{1b}[2J Росси");
        v["user_agent"] = json!("\u{0}\u{202e}");
        let e = event(v);
        let s = parse(&e).unwrap();
        assert_eq!(s.display_name, Some("Мария\u{1b}[2J Росси"));
        assert_eq!(s.user_agent, Some("\u{0}\u{202e}"));
    }

    proptest::proptest! {
        /// Whatever the fields hold, reading answers: a sign-up or a named field.
        #[test]
        fn hostile_fields_get_an_answer(
            account in proptest::prelude::any::<String>(),
            email in proptest::prelude::any::<String>(),
            ip in proptest::prelude::any::<String>(),
            country in proptest::prelude::any::<String>(),
            asn in proptest::prelude::any::<i64>(),
        ) {
            let e = event(json!({"account": account, "email": email, "ip": ip, "country": country, "asn": asn}));
            if let Err(e) = parse(&e) {
                proptest::prop_assert!(["account", "email", "ip", "country", "asn"].contains(&e.field.as_str()));
            }
        }
    }
}
