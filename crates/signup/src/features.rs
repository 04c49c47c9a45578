//! A sign-up's features at the door: what the event says, as hashed features for the model.
//! Identifiers never enter as they are: an address gives its local part's shape and its
//! domain's class, a name its shape and how far the address bears it out, a network its /24
//! (IPv6: /48), its ASN and country. Each family has a namespace of its own; FEATURES.md lists
//! them.
//!
//! Then what the sign-ups before it say ([`recent`], from the kind's [`Memory`]): how many
//! shared its network, ASN, country, device, user agent or set-up lately and how long since the
//! last, how rare its name, pattern and user agent are among all seen, and its local hour.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};

use warden_core::{FeatureSink, FeatureVec, HashedSink, Namespace};

use crate::domain::{DomainClass, class};
use crate::event::{Captcha, Signup};
use crate::memory::{Attr, Memory, Seen, Token, WINDOWS, count_bucket, since_bucket};
use crate::shape::{Shape, agreement, shape};

/// What a sign-up's fields say once measured: computed once an event, read by the features,
/// the rules' facts and the reasons.
#[derive(Debug, Clone)]
pub struct Derived {
    /// The local part's shape.
    pub local: Option<Shape>,
    /// The address's domain class.
    pub email_class: Option<DomainClass>,
    /// The recovery address's domain class.
    pub recovery_class: Option<DomainClass>,
    /// How far the address bears out the name (with both).
    pub agreement: Option<f64>,
    /// The user agent as woothee reads it: `None` without one, `Some(None)` when it does not
    /// read.
    pub agent: Option<Option<Agent>>,
    /// The first language asked for and its region ([`first_language`]).
    pub language: Option<(String, Option<String>)>,
}

impl Derived {
    /// The measures of `s`; `own` is the service's own mail domains.
    pub fn of(s: &Signup<'_>, own: &[String]) -> Derived {
        Derived {
            local: s.email.as_ref().map(|e| shape(e.local)),
            email_class: s.email.as_ref().map(|e| class(&e.domain, own)),
            recovery_class: s.recovery_email.as_ref().map(|r| class(&r.domain, own)),
            agreement: s.display_name.zip(s.email.as_ref()).and_then(|(n, e)| agreement(n, e.local)),
            agent: s.user_agent.filter(|u| !u.trim().is_empty()).map(read_agent),
            language: s.accept_language.and_then(first_language),
        }
    }
}

type Table = HashMap<Box<str>, Option<Agent>, crate::FastHash>;
/// The user agents read lately ([`read_agent`]).
static READ: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

/// A user agent as woothee reads it, remembered for the last few thousand distinct strings: a
/// service sees the same browsers' strings over and over, and each reading runs several regular
/// expressions (a twentieth of a sign-up's time over HTTP). Bounded: strings over 512 bytes are
/// not kept, and a full table starts again empty.
fn read_agent(ua: &str) -> Option<Agent> {
    const KEPT: usize = 4_096;
    const LONGEST: usize = 512;
    let table = || READ.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if ua.len() > LONGEST {
        return Agent::read(ua);
    }
    if let Some(known) = table().get(ua) {
        return known.clone();
    }
    let agent = Agent::read(ua);
    let mut t = table();
    if t.len() >= KEPT {
        t.clear();
    }
    t.insert(ua.into(), agent.clone());
    agent
}

/// What a user agent says, as woothee reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// pc, smartphone, mobilephone, crawler, appliance, misc, UNKNOWN.
    pub category: String,
    /// The browser.
    pub name: String,
    /// The operating system.
    pub os: String,
    /// The browser's major version.
    pub major: String,
}

impl Agent {
    /// What woothee reads of `ua` (`None`: it does not read), without [`read_agent`]'s table.
    fn read(ua: &str) -> Option<Agent> {
        woothee::parser::Parser::new().parse(ua).map(|r| Agent::of(&r))
    }

    fn of(r: &woothee::parser::WootheeResult<'_>) -> Agent {
        Agent {
            category: r.category.to_owned(),
            name: r.name.to_owned(),
            os: r.os.to_owned(),
            major: r.version.split('.').next().unwrap_or_default().to_owned(),
        }
    }
}

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
/// How many sign-ups shared an attribute in each window, and how long since the last.
pub const VELOCITY: Namespace = Namespace::new("signup_velocity");
/// How rare the name's words, the local part's pattern and the user agent are.
pub const RARITY: Namespace = Namespace::new("signup_rarity");
/// The hour of the day where the sign-up came from.
pub const HOUR: Namespace = Namespace::new("signup_hour");

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

/// The features of `s` at the door, measured as `d` (what the sign-ups before it say is
/// [`recent`]'s).
pub fn features(s: &Signup<'_>, d: &Derived) -> FeatureVec {
    let mut sink = HashedSink::small();
    door(s, d, &mut sink);
    sink.finish()
}

/// Adds the features of `s` at the door, measured as `d`, to `sink`.
pub fn door(s: &Signup<'_>, d: &Derived, sink: &mut HashedSink) {
    // A bias, so that an event with nothing else still has a feature.
    sink.add(DOOR, b"signup");
    if let (Some(sh), Some(email_class)) = (&d.local, d.email_class) {
        sink.add(LOCAL_PATTERN, sh.pattern.as_bytes());
        sink.add(LOCAL_COLLAPSED, sh.collapsed.as_bytes());
        sink.add_fmt(LOCAL_MEASURES, format_args!("len:{}", bucket(sh.len)));
        sink.add_fmt(LOCAL_MEASURES, format_args!("digit_run:{}", bucket(sh.digit_run)));
        sink.add_fmt(LOCAL_MEASURES, format_args!("digit_runs:{}", bucket(sh.digit_runs)));
        // Half a bit a step, up to 5 bits a character.
        sink.add_fmt(LOCAL_MEASURES, format_args!("entropy:{}", (sh.entropy * 2.0).round().min(10.0) as u32));
        sink.add_fmt(DOMAINS, format_args!("email:{}", email_class.as_str()));
        match d.agreement {
            Some(a) => sink.add_fmt(AGREEMENT, format_args!("{}", (a * 4.0).round() as u32)),
            None => sink.add(AGREEMENT, b"none"),
        }
    } else {
        sink.add(DOMAINS, b"email:absent");
    }
    match (&s.recovery_email, &s.email, d.recovery_class) {
        (Some(r), Some(e), _) if r.domain == e.domain => sink.add(DOMAINS, b"recovery:same_domain"),
        (_, _, Some(c)) => sink.add_fmt(DOMAINS, format_args!("recovery:{}", c.as_str())),
        _ => sink.add(DOMAINS, b"recovery:absent"),
    }
    if let Some(name) = s.display_name {
        let sh = shape(name);
        sink.add(NAME_SHAPE, sh.collapsed.as_bytes());
        let words = name.split_whitespace().count();
        sink.add_fmt(NAME_SHAPE, format_args!("words:{}", bucket(words)));
    }
    match s.ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            sink.add_fmt(NETWORK, format_args!("v4/24:{a}.{b}.{c}"));
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            sink.add_fmt(NETWORK, format_args!("v6/48:{:x}:{:x}:{:x}", seg[0], seg[1], seg[2]));
        }
    }
    if let Some(asn) = s.asn {
        sink.add_fmt(NETWORK, format_args!("asn:{asn}"));
    }
    if let Some(c) = s.country {
        sink.add(NETWORK, &[b'c', b':', c[0], c[1]]);
    }
    match &d.agent {
        None => sink.add(AGENT, b"none"),
        Some(None) => sink.add(AGENT, b"unparsed"),
        Some(Some(a)) => {
            sink.add_fmt(AGENT, format_args!("category:{}", a.category));
            sink.add_fmt(AGENT, format_args!("name:{}", a.name));
            sink.add_fmt(AGENT, format_args!("os:{}", a.os));
            sink.add_fmt(AGENT, format_args!("version:{}:{}", a.name, a.major));
        }
    }
    match &d.language {
        None => sink.add(LANGUAGE, b"none"),
        Some((lang, region)) => {
            sink.add_fmt(LANGUAGE, format_args!("lang:{lang}"));
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
            sink.add_fmt(LANGUAGE, format_args!("region_is_country:{agrees}"));
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
}

/// How a sign-up's attributes stood among the sign-ups before it.
#[derive(Debug, Clone)]
pub struct Recent {
    /// Each attribute the sign-up has, as it stood before it ([`Attr::ALL`]' order).
    pub seen: Vec<(Attr, Seen)>,
    /// The rarest word of the display name, bits (`None`: no name, or too few seen).
    pub name_rarity: Option<f64>,
    /// The local hour, 0–23, when the country is known.
    pub local_hour: Option<u8>,
}

impl Recent {
    /// How attribute `attr` stood, when the sign-up has it.
    pub fn of(&self, attr: Attr) -> Option<&Seen> {
        self.seen.iter().find(|(a, _)| *a == attr).map(|(_, s)| s)
    }
}

/// Rarity is read only once this many tokens of a kind were seen (before, every one is rare).
pub const WARM: u64 = 1_000;

/// The attributes of `s` (measured as `d`) as keyed hashes in `m`.
fn attributes(m: &Memory, s: &Signup<'_>, d: &Derived) -> Vec<(Attr, u64)> {
    let mut out = Vec::with_capacity(Attr::ALL.len());
    let net = network_bytes(s.ip);
    out.push((Attr::Network, m.key(Attr::Network, &net)));
    if let Some(asn) = s.asn {
        out.push((Attr::Asn, m.key(Attr::Asn, &asn.to_le_bytes())));
    }
    if let Some(c) = s.country {
        out.push((Attr::Country, m.key(Attr::Country, &c)));
    }
    if let Some(dev) = s.device_id {
        out.push((Attr::Device, m.key(Attr::Device, dev.to_lowercase().as_bytes())));
    }
    if let Some(ua) = s.user_agent {
        out.push((Attr::Agent, m.key(Attr::Agent, ua.as_bytes())));
    }
    let pattern = d.local.as_ref().map(|l| l.pattern.as_bytes()).unwrap_or(b"-");
    let mut setup = Vec::with_capacity(256);
    for part in [s.user_agent.unwrap_or("-").as_bytes(), s.accept_language.unwrap_or("-").as_bytes(), pattern]
    {
        setup.extend_from_slice(part);
        setup.push(0);
    }
    out.push((Attr::Setup, m.key(Attr::Setup, &setup)));
    if let Some(l) = &d.local {
        let mut np = net.clone();
        np.push(0);
        np.extend_from_slice(l.pattern.as_bytes());
        out.push((Attr::NetworkPattern, m.key(Attr::NetworkPattern, &np)));
        if let Some(e) = &s.email {
            let dp = [e.domain.as_bytes(), &[0], l.pattern.as_bytes()].concat();
            out.push((Attr::DomainPattern, m.key(Attr::DomainPattern, &dp)));
        }
    }
    if let Some(r) = &s.recovery_email {
        out.push((Attr::RecoveryDomain, m.key(Attr::RecoveryDomain, r.domain.as_bytes())));
    }
    out
}

/// The /24 (IPv6: /48) as bytes: what the memory and the clusters key a network by.
pub fn network_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets()[..3].to_vec(),
        IpAddr::V6(v6) => v6.octets()[..6].to_vec(),
    }
}

/// Adds what the sign-ups before `s` (at `at`) say to `sink`, then counts `s` in `m`.
/// `offset` is the sign-up's offset from UTC in minutes when its time zone is known (the city
/// database's, [`zone_offset`]); else its country's usual one is taken.
pub fn recent(
    m: &mut Memory,
    s: &Signup<'_>,
    d: &Derived,
    at: u64,
    offset: Option<i32>,
    sink: &mut HashedSink,
) -> Recent {
    m.sweep(at);
    let attrs = attributes(m, s, d);
    let mut seen = Vec::with_capacity(attrs.len());
    for &(attr, key) in &attrs {
        let st = m.seen(key, at);
        let name = attr.as_str();
        for (w, c) in WINDOWS.iter().zip(st.counts) {
            sink.add_fmt(VELOCITY, format_args!("{name}:{w}:{}", count_bucket(c)));
        }
        sink.add_fmt(VELOCITY, format_args!("{name}:since:{}", since_bucket(st.since)));
        seen.push((attr, st));
    }
    // A country's last hour against its day's hourly mean: a surge from one country.
    if let Some((_, c)) = seen.iter().find(|(a, _)| *a == Attr::Country) {
        let ratio = (c.counts[1] + 1.0) / (c.counts[2] / 24.0 + 1.0);
        sink.add_fmt(VELOCITY, format_args!("country:surge:{}", count_bucket(ratio)));
    }
    let words: Vec<String> = s
        .display_name
        .map(|n| n.split_whitespace().take(8).map(str::to_lowercase).collect())
        .unwrap_or_default();
    let warm = |t: Token| m.tokens(t) >= WARM;
    let bits = |r: f64| ((r / 2.0).floor() as u32).min(12);
    let name_rarity = (warm(Token::NameWord) && !words.is_empty())
        .then(|| words.iter().map(|w| m.rarity(Token::NameWord, w.as_bytes())).fold(0.0, f64::max));
    match name_rarity {
        Some(r) => sink.add_fmt(RARITY, format_args!("name:{}", bits(r))),
        None => sink.add(RARITY, b"name:unknown"),
    }
    if let Some(l) = &d.local
        && warm(Token::Pattern)
    {
        let r = bits(m.rarity(Token::Pattern, l.pattern.as_bytes()));
        sink.add_fmt(RARITY, format_args!("pattern:{r}"));
    }
    if let Some(ua) = s.user_agent
        && warm(Token::Agent)
    {
        let r = bits(m.rarity(Token::Agent, ua.as_bytes()));
        sink.add_fmt(RARITY, format_args!("agent:{r}"));
    }
    // Pairs with the country: a name, a language or a mail domain rare where it signs up from.
    let pairs = pairs(s, d, &words);
    for (token, name, values) in &pairs {
        if values.is_empty() {
            continue;
        }
        if !warm(*token) {
            sink.add_fmt(RARITY, format_args!("{name}:cold"));
            continue;
        }
        let r = values.iter().map(|v| m.rarity(*token, v)).fold(0.0, f64::max);
        sink.add_fmt(RARITY, format_args!("{name}:{}", bits(r)));
    }
    let local_hour =
        offset.or_else(|| s.country.and_then(crate::zones::offset_minutes).map(i32::from)).map(|off| {
            let minutes = (at / 60) as i64 + i64::from(off);
            (minutes.rem_euclid(1_440) / 60) as u8
        });
    match local_hour {
        Some(h) => sink.add_fmt(HOUR, format_args!("{h}")),
        None => sink.add(HOUR, b"unknown"),
    }
    // Counted after it was measured: the sign-up against those before it.
    for &(_, key) in &attrs {
        m.count(key, at);
    }
    for w in &words {
        m.see(Token::NameWord, w.as_bytes());
    }
    if let Some(l) = &d.local {
        m.see(Token::Pattern, l.pattern.as_bytes());
    }
    if let Some(ua) = s.user_agent {
        m.see(Token::Agent, ua.as_bytes());
    }
    for (token, _, values) in &pairs {
        for v in values {
            m.see(*token, v);
        }
    }
    Recent { seen, name_rarity, local_hour }
}

/// The offset from UTC at `at` of IANA time zone `zone` (`Europe/Rome`), minutes, from the tz
/// database built in; `None` for a name it does not know.
pub fn zone_offset(zone: &str, at: u64) -> Option<i32> {
    let tz = jiff::tz::db().get(zone).ok()?;
    let when = jiff::Timestamp::from_second(i64::try_from(at).ok()?).ok()?;
    Some(tz.to_offset(when).seconds() / 60)
}

/// The tokens paired with the country, by kind: the name's words, the first language, the
/// address's domain (none without a country).
fn pairs(s: &Signup<'_>, d: &Derived, words: &[String]) -> [(Token, &'static str, Vec<Vec<u8>>); 3] {
    let with = |c: [u8; 2], v: &[u8]| [&c[..], &[0], v].concat();
    let (mut names, mut langs, mut domains) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(c) = s.country {
        names = words.iter().map(|w| with(c, w.as_bytes())).collect();
        if let Some((lang, _)) = &d.language {
            langs.push(with(c, lang.as_bytes()));
        }
        if let Some(e) = &s.email {
            domains.push(with(c, e.domain.as_bytes()));
        }
    }
    [
        (Token::NameCountry, "name_country", names),
        (Token::LanguageCountry, "language_country", langs),
        (Token::DomainCountry, "domain_country", domains),
    ]
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
    use super::{Agent, Derived, READ, features, first_language, read_agent};
    use crate::event::parse;
    use serde_json::json;

    fn read(v: serde_json::Value) -> warden_core::FeatureVec {
        let e = v.as_object().unwrap().clone();
        let s = parse(&e).unwrap();
        features(&s, &Derived::of(&s, &[]))
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
    fn user_agents_read_from_the_table_as_woothee_reads_them_and_the_table_stays_bounded() {
        let direct = Agent::read;
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        for _ in 0..2 {
            assert_eq!(read_agent(firefox), direct(firefox));
            assert_eq!(read_agent(firefox).unwrap().name, "Firefox");
        }
        let long = format!("{firefox} {}", "x".repeat(600));
        assert_eq!(read_agent(&long), direct(&long));
        assert!(!READ.lock().unwrap().contains_key(long.as_str()), "a long string is read, not kept");
        for i in 0..5_000 {
            read_agent(&format!("probe/{i}"));
        }
        assert!(READ.lock().unwrap().len() <= 4_096);
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
