//! A sign-up's features at the door: what the event says, as hashed features for the model.
//! Identifiers never enter as they are: an address gives its local part's shape and its
//! domain's class, a name its shape and how far the address bears it out, a network its /24
//! (IPv6: /48), its ASN and country. Each family has a namespace of its own; FEATURES.md lists
//! them.
//!
//! Still to come (see the issue): how common a name or pattern is among the sign-ups seen so
//! far, velocities by network, ASN and country, hosting/VPN/Tor lists, device reuse, the local
//! hour, the time since the last sign-up sharing attributes.

use std::net::IpAddr;

use warden_core::{FeatureSink, FeatureVec, HashedSink, Namespace};

use crate::domain::class;
use crate::event::{Captcha, Signup};
use crate::shape::{agreement, shape};

/// The local part's class pattern (first 32 characters).
pub const LOCAL_PATTERN: Namespace = Namespace::new("signup_local_pattern");
/// The local part's pattern with runs collapsed.
pub const LOCAL_COLLAPSED: Namespace = Namespace::new("signup_local_collapsed");
/// The local part's length, longest digit run, digit runs and entropy, bucketed.
pub const LOCAL_MEASURES: Namespace = Namespace::new("signup_local_measures");
/// The display name's collapsed pattern and word count.
pub const NAME_SHAPE: Namespace = Namespace::new("signup_name_shape");
/// How far the address bears out the name.
pub const AGREEMENT: Namespace = Namespace::new("signup_name_agreement");
/// The classes of the address's and the recovery address's domains.
pub const DOMAINS: Namespace = Namespace::new("signup_domains");
/// The network: IP version, /24 (IPv6: /48), ASN, country.
pub const NETWORK: Namespace = Namespace::new("signup_network");
/// The user agent: category, browser, OS, major version; or that there is none.
pub const AGENT: Namespace = Namespace::new("signup_agent");
/// The first language asked for, and whether its region is the country's.
pub const LANGUAGE: Namespace = Namespace::new("signup_language");
/// The captcha's outcome, and whether a device id came.
pub const DOOR: Namespace = Namespace::new("signup_door");

/// A length or count in buckets that grow: 0–8 each, then 9–12, 13–16, 17–24, 25–32, more.
fn bucket(n: usize) -> u32 {
    match n {
        0..=8 => n as u32,
        9..=12 => 12,
        13..=16 => 16,
        17..=24 => 24,
        25..=32 => 32,
        _ => 64,
    }
}

/// The features of `s`; `own` is the service's own mail domains.
pub fn features(s: &Signup<'_>, own: &[String]) -> FeatureVec {
    let mut sink = HashedSink::new();
    // A bias, so that an event with nothing else still has a feature.
    sink.add(DOOR, b"signup");
    if let Some(email) = &s.email {
        let sh = shape(email.local);
        sink.add(LOCAL_PATTERN, sh.pattern.as_bytes());
        sink.add(LOCAL_COLLAPSED, sh.collapsed.as_bytes());
        sink.add(LOCAL_MEASURES, format!("len:{}", bucket(sh.len)).as_bytes());
        sink.add(LOCAL_MEASURES, format!("digit_run:{}", bucket(sh.digit_run)).as_bytes());
        sink.add(LOCAL_MEASURES, format!("digit_runs:{}", bucket(sh.digit_runs)).as_bytes());
        // Half a bit a step, up to 5 bits a character.
        sink.add(
            LOCAL_MEASURES,
            format!("entropy:{}", (sh.entropy * 2.0).round().min(10.0) as u32).as_bytes(),
        );
        sink.add(DOMAINS, format!("email:{}", class(&email.domain, own).as_str()).as_bytes());
        match s.display_name.and_then(|n| agreement(n, email.local)) {
            Some(a) => sink.add(AGREEMENT, format!("{}", (a * 4.0).round() as u32).as_bytes()),
            None => sink.add(AGREEMENT, b"none"),
        }
    } else {
        sink.add(DOMAINS, b"email:absent");
    }
    match (&s.recovery_email, &s.email) {
        (Some(r), Some(e)) if r.domain == e.domain => sink.add(DOMAINS, b"recovery:same_domain"),
        (Some(r), _) => sink.add(DOMAINS, format!("recovery:{}", class(&r.domain, own).as_str()).as_bytes()),
        (None, _) => sink.add(DOMAINS, b"recovery:absent"),
    }
    if let Some(name) = s.display_name {
        let sh = shape(name);
        sink.add(NAME_SHAPE, sh.collapsed.as_bytes());
        let words = name.split_whitespace().count();
        sink.add(NAME_SHAPE, format!("words:{}", bucket(words)).as_bytes());
    }
    match s.ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            sink.add(NETWORK, format!("v4/24:{a}.{b}.{c}").as_bytes());
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            sink.add(NETWORK, format!("v6/48:{:x}:{:x}:{:x}", seg[0], seg[1], seg[2]).as_bytes());
        }
    }
    if let Some(asn) = s.asn {
        sink.add(NETWORK, format!("asn:{asn}").as_bytes());
    }
    if let Some(c) = s.country {
        sink.add(NETWORK, &[b'c', b':', c[0], c[1]]);
    }
    match s.user_agent.filter(|u| !u.trim().is_empty()) {
        None => sink.add(AGENT, b"none"),
        Some(ua) => match woothee::parser::Parser::new().parse(ua) {
            None => sink.add(AGENT, b"unparsed"),
            Some(r) => {
                sink.add(AGENT, format!("category:{}", r.category).as_bytes());
                sink.add(AGENT, format!("name:{}", r.name).as_bytes());
                sink.add(AGENT, format!("os:{}", r.os).as_bytes());
                let major = r.version.split('.').next().unwrap_or_default();
                sink.add(AGENT, format!("version:{}:{major}", r.name).as_bytes());
            }
        },
    }
    match s.accept_language.and_then(first_language) {
        None => sink.add(LANGUAGE, b"none"),
        Some((lang, region)) => {
            sink.add(LANGUAGE, format!("lang:{lang}").as_bytes());
            let agrees = match (region, s.country) {
                (Some(r), Some(c)) => {
                    if r.eq_ignore_ascii_case(std::str::from_utf8(&c).unwrap_or("")) {
                        "yes"
                    } else {
                        "no"
                    }
                }
                _ => "unknown",
            };
            sink.add(LANGUAGE, format!("region_is_country:{agrees}").as_bytes());
        }
    }
    let captcha = match s.captcha {
        Captcha::Passed => "captcha:passed",
        Captcha::Failed => "captcha:failed",
        Captcha::None => "captcha:none",
        Captcha::Unknown => "captcha:unknown",
    };
    sink.add(DOOR, captcha.as_bytes());
    sink.add(DOOR, if s.device_id.is_some() { b"device:given" } else { b"device:absent" });
    sink.finish()
}

/// The first language of an `Accept-Language` value, lower case, and its region when it has
/// one (`it-IT,it;q=0.9` → `it`, `IT`).
pub fn first_language(value: &str) -> Option<(String, Option<String>)> {
    let first = value.split(',').next()?.split(';').next()?.trim();
    let mut parts = first.split(['-', '_']);
    let lang =
        parts.next().filter(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))?;
    let region = parts.find(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_alphabetic()));
    Some((lang.to_ascii_lowercase(), region.map(str::to_ascii_uppercase)))
}

#[cfg(test)]
mod tests {
    use super::{features, first_language};
    use crate::event::parse;
    use serde_json::json;

    fn read(v: serde_json::Value) -> warden_core::FeatureVec {
        let e = v.as_object().unwrap().clone();
        features(&parse(&e).unwrap(), &[])
    }

    #[test]
    fn features_name_no_identifier_and_follow_the_shapes() {
        let a = read(json!({"account": "a-1", "ip": "203.0.113.7", "email": "maria.rossi84@gmail.com",
            "display_name": "Maria Rossi", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36",
            "accept_language": "it-IT,it;q=0.9", "country": "IT", "asn": 3269, "captcha": "passed"}));
        // Another account of the same shapes (the same letters, another order), at the same
        // kind of domain, on the same /24: the same features — no identifier enters as it is.
        let b = read(json!({"account": "a-2", "ip": "203.0.113.99", "email": "rossi.maria84@gmail.com",
            "display_name": "Rossi Maria", "device_id": null, "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36",
            "accept_language": "it-IT,it;q=0.9", "country": "IT", "asn": 3269, "captcha": "passed"}));
        assert_eq!(a.hashes(), b.hashes(), "identifiers do not enter, only their shapes");
        let c = read(json!({"account": "a-3", "ip": "203.0.113.7", "email": "xk7q2mzp4w@mailinator.com",
            "captcha": "failed"}));
        assert_ne!(a.hashes(), c.hashes());
        assert!(a.len() >= 15, "{} features", a.len());
    }

    #[test]
    fn each_family_answers_for_what_is_missing() {
        let bare = read(json!({"account": "a", "ip": "2001:db8::1"}));
        let with_ua =
            read(json!({"account": "a", "ip": "2001:db8::1", "user_agent": "python-requests/2.31"}));
        assert_ne!(bare.hashes(), with_ua.hashes(), "no agent and an unparsed one differ");
        assert!(bare.len() >= 6, "bias, email, recovery, network, agent, language, captcha, device");
    }

    #[test]
    fn the_first_language_and_its_region_are_read() {
        assert_eq!(first_language("it-IT,it;q=0.9"), Some(("it".into(), Some("IT".into()))));
        assert_eq!(first_language("en"), Some(("en".into(), None)));
        assert_eq!(first_language("zh-Hant-TW"), Some(("zh".into(), Some("TW".into()))));
        assert_eq!(first_language("*"), None);
        assert_eq!(first_language(""), None);
        assert_eq!(first_language("\u{1b}[31m"), None);
    }
}
