//! Header signals: which fields exist, who the message claims to be from and whether the
//! claims agree, the Received chain's shape, the mailer, authentication verdicts, dates.
//!
//! Relay *domains* from Received are deliberately not features: in archived corpora the
//! relays name the mailing list, not the sender, and a model that learned them would learn the
//! list. Shapes (hop count, protocols, HELO forms) generalise.

use mail_parser::{Address, HeaderName, HeaderValue, Message};

use super::received::{self, Hop, Host};
use super::signals::Clues;
use super::{Emitter, ns, prefix};
use crate::domain::registrable_domain;

/// Header fields looked at per message, at most (a hostile message may carry thousands).
const MAX_HEADERS: usize = 200;
/// Received hops inspected, from the most recent.
const MAX_HOPS: usize = 4;

/// Emits the header features, and keeps in `clues` what the named signals read of the same
/// fields (the From domain, authentication verdicts, the unsubscribe fields). `context_auth`
/// is the receiving side's own `Authentication-Results` value ([`crate::Context`]), read as
/// the message's first field.
pub(super) fn extract(
    msg: &Message<'_>,
    context_auth: Option<&str>,
    clues: &mut Clues,
    out: &mut Emitter<'_>,
) {
    header_names(msg, context_auth.is_some(), out);
    let from = sender(msg, out);
    recipients(msg, from.as_deref(), out);
    let hops = received_hops(msg);
    received(&hops, out);
    mailer(msg, out);
    auth(msg, context_auth, clues, out);
    date_and_id(msg, &hops.newest, from.as_deref(), out);
    clues.from_domain = from;
}

/// The Received chain: how long it is, and the newest hops parsed.
struct Hops<'x> {
    count: usize,
    newest: Vec<Hop<'x>>,
}

fn received_hops<'x>(msg: &'x Message<'x>) -> Hops<'x> {
    let raw = msg.raw_message();
    let fields = msg.headers().iter().filter(|h| h.name == HeaderName::Received);
    let mut hops = Hops { count: 0, newest: Vec::with_capacity(MAX_HOPS) };
    for h in fields {
        hops.count += 1;
        if hops.newest.len() < MAX_HOPS {
            let value = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
            hops.newest.push(received::parse(value));
        }
    }
    hops
}

fn header_names(msg: &Message<'_>, with_context: bool, out: &mut Emitter<'_>) {
    let headers = msg.headers();
    out.num(ns::HDR_NAME, "count", headers.len() + usize::from(with_context));
    if with_context {
        out.token(ns::HDR_NAME, "authentication-results");
    }
    let mut name = String::with_capacity(64);
    for h in headers.iter().take(MAX_HEADERS - usize::from(with_context)) {
        name.clear();
        let full = h.name();
        if full.is_ascii() {
            name.push_str(&full[..full.len().min(40)]);
            name.make_ascii_lowercase();
        } else {
            name.extend(full.chars().take(40).map(|c| c.to_ascii_lowercase()));
        }
        out.token(ns::HDR_NAME, &name);
    }
}

pub(crate) fn domain_of(addr: &str) -> Option<&str> {
    addr.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>')).filter(|d| !d.is_empty())
}

pub(crate) fn first_address<'m>(a: Option<&'m Address<'_>>) -> Option<(Option<&'m str>, Option<&'m str>)> {
    a.and_then(|a| a.first()).map(|a| (a.name(), a.address()))
}

/// Emits sender signals and returns the From registrable domain.
fn sender(msg: &Message<'_>, out: &mut Emitter<'_>) -> Option<String> {
    let Some((name, addr)) = first_address(msg.from()) else {
        out.flag(ns::SENDER, "no_from");
        return None;
    };
    let from_dom = addr.and_then(domain_of).and_then(registrable_domain);
    match &from_dom {
        Some(d) => {
            out.pair(ns::SENDER, "from_dom", d);
            if let Some((_, tld)) = d.rsplit_once('.') {
                out.pair(ns::SENDER, "from_tld", tld);
            }
        }
        None => out.flag(ns::SENDER, "from_no_domain"),
    }
    if let Some(local) = addr.and_then(|a| a.rsplit_once('@')).map(|(l, _)| l) {
        let digits = local.bytes().filter(u8::is_ascii_digit).count();
        out.num(ns::SENDER, "from_local_digits", digits);
        out.num(ns::SENDER, "from_local_len", local.len());
    }
    match name {
        None => out.flag(ns::SENDER, "from_no_name"),
        Some(n) => {
            if let Some(named) = domain_of(n).and_then(registrable_domain) {
                out.flag(ns::SENDER, "from_name_has_address");
                if Some(&named) != from_dom.as_ref() {
                    out.flag(ns::SENDER, "from_name_address_mismatch");
                }
            }
            if !n.is_ascii() {
                out.flag(ns::SENDER, "from_name_non_ascii");
            }
        }
    }
    let mut compare = |what: &str, other: Option<&str>| {
        let Some(other) = other else { return };
        match (other.rsplit_once('@').and_then(|(_, d)| registrable_domain(d)), &from_dom) {
            (Some(o), Some(f)) if &o == f => out.pair(ns::SENDER, what, "same"),
            (Some(o), _) => {
                out.pair(ns::SENDER, what, "differs");
                out.pair(ns::SENDER, &format!("{what}_dom"), &o);
            }
            (None, _) => out.pair(ns::SENDER, what, "no_domain"),
        }
    };
    compare("reply_to", first_address(msg.reply_to()).and_then(|(_, a)| a));
    // Return-Path only (mail-parser's `return_address` falls back to From, which would
    // always agree with itself).
    let return_path = match msg.return_path() {
        HeaderValue::Text(t) => Some(t.as_ref()),
        HeaderValue::TextList(l) => l.last().map(|t| t.as_ref()),
        _ => None,
    };
    compare("return_path", return_path);
    from_dom
}

fn recipients(msg: &Message<'_>, from_dom: Option<&str>, out: &mut Emitter<'_>) {
    let to: Vec<&str> = msg.to().map(|a| a.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    let cc = msg.cc().map_or(0, |a| a.iter().count());
    if msg.to().is_none() {
        out.flag(ns::RCPT, "no_to");
    }
    out.num(ns::RCPT, "to", to.len());
    out.num(ns::RCPT, "cc", cc);
    if let Some(f) = from_dom
        && to.iter().any(|a| domain_of(a).and_then(registrable_domain).as_deref() == Some(f))
    {
        out.flag(ns::RCPT, "to_same_domain_as_from");
    }
    if let (Some(t), Some((_, Some(f)))) = (to.first(), first_address(msg.from()))
        && t.eq_ignore_ascii_case(f)
    {
        out.flag(ns::RCPT, "to_is_from");
    }
}

fn received(hops: &Hops<'_>, out: &mut Emitter<'_>) {
    out.num(ns::RECEIVED, "hops", hops.count);
    for (i, hop) in hops.newest.iter().enumerate() {
        let pos = i.min(2); // 0: ours, 1: previous, 2: older ones together
        if let Some(with) = hop.with {
            out.pair_at(ns::RECEIVED, "with", pos, with);
        }
        if hop.tls {
            out.flag_at(ns::RECEIVED, "tls", pos);
        }
        match &hop.helo {
            Some(Host::Ip(_)) => out.flag_at(ns::RECEIVED, "helo_ip", pos),
            Some(Host::Name(h)) if !h.contains('.') => out.flag_at(ns::RECEIVED, "helo_nodot", pos),
            Some(Host::Name(h)) => {
                if let (Some(Host::Name(f)), true) = (&hop.from, hop.rdns.is_some())
                    && !f.eq_ignore_ascii_case(h)
                {
                    out.flag_at(ns::RECEIVED, "helo_ne_from", pos);
                }
            }
            None => {}
        }
        if let Some(rev) = hop.rdns
            && rev.eq_ignore_ascii_case("unknown")
        {
            out.flag_at(ns::RECEIVED, "rdns_unknown", pos);
        }
        if hop.ip.is_some_and(|ip| match ip {
            std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
            std::net::IpAddr::V6(v6) => v6.is_loopback(),
        }) {
            out.flag_at(ns::RECEIVED, "private_ip", pos);
        }
        if hop.date.is_none() {
            out.flag_at(ns::RECEIVED, "no_date", pos);
        }
    }
}

fn mailer(msg: &Message<'_>, out: &mut Emitter<'_>) {
    let raw = msg.header_raw("X-Mailer").or_else(|| msg.header_raw("User-Agent"));
    let Some(raw) = raw else {
        out.flag(ns::MAILER, "none");
        return;
    };
    // Words only, versions dropped: "Microsoft Outlook Express 6.00.2600" → "microsoft_outlook_express".
    let words: Vec<String> = raw
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() > 1)
        .take(3)
        .map(str::to_lowercase)
        .collect();
    out.token(ns::MAILER, &words.join("_"));
}

fn auth(msg: &Message<'_>, context_auth: Option<&str>, clues: &mut Clues, out: &mut Emitter<'_>) {
    // The first `MAX_HEADERS` fields whose value is UTF-8, the context's first. Most messages
    // have fewer fields than that, and then only the values of the fields read here need
    // checking. The context's value reads as a parsed field's would: after the colon's space,
    // with its line end.
    let padded = context_auth.map(|v| format!(" {v}\r\n"));
    let raw = msg.raw_message();
    let max = MAX_HEADERS - usize::from(context_auth.is_some());
    let fields: Box<dyn Iterator<Item = (&str, &str)>> = if msg.headers().len() <= max {
        Box::new(msg.headers().iter().filter(|h| is_auth_field(h.name())).filter_map(|h| {
            let value = raw.get(h.offset_start as usize..h.offset_end as usize)?;
            Some((h.name(), std::str::from_utf8(value).ok()?))
        }))
    } else {
        Box::new(msg.headers_raw().take(max))
    };
    let context = padded.as_deref().map(|v| (crate::Context::AUTH_RESULTS, v));
    for (name, value) in context.into_iter().chain(fields) {
        let results = name.eq_ignore_ascii_case("Authentication-Results");
        if results || name.eq_ignore_ascii_case("ARC-Authentication-Results") {
            for method in ["spf", "dkim", "dmarc", "arc"] {
                if let Some(verdict) = auth_verdict(value, method) {
                    if results && method == "dmarc" && clues.dmarc.is_none() {
                        clues.dmarc = Some(verdict.clone());
                    }
                    out.pair(ns::AUTH, method, &verdict);
                }
            }
            if results {
                clues.dkim_passed.extend(super::signals::dkim_pass_domains(prefix(value, 4096)));
            }
        } else if name.eq_ignore_ascii_case("List-Unsubscribe") {
            if clues.unsubscribe.is_none() {
                clues.unsubscribe = Some(prefix(value, 2048).to_owned());
            }
        } else if name.eq_ignore_ascii_case("List-Unsubscribe-Post") {
            clues.one_click |= value.to_ascii_lowercase().contains("one-click");
        } else if name.eq_ignore_ascii_case("Received-SPF") {
            if let Some(word) = value.split_whitespace().next() {
                out.pair(ns::AUTH, "received_spf", &word.to_ascii_lowercase());
            }
        } else if name.eq_ignore_ascii_case("DKIM-Signature") {
            out.flag(ns::AUTH, "dkim_signed");
        }
    }
}

/// The fields [`auth`] reads.
fn is_auth_field(name: &str) -> bool {
    [
        "Authentication-Results",
        "ARC-Authentication-Results",
        "Received-SPF",
        "DKIM-Signature",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ]
    .iter()
    .any(|f| name.eq_ignore_ascii_case(f))
}

/// The verdict word after `method=` in an Authentication-Results value.
pub(crate) fn auth_verdict(value: &str, method: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(method) {
        let start = from + i;
        let after = start + method.len();
        let boundary = start == 0 || !lower.as_bytes()[start - 1].is_ascii_alphanumeric();
        if boundary && lower.as_bytes().get(after) == Some(&b'=') {
            let verdict: String =
                lower[after + 1..].chars().take_while(|c| c.is_ascii_alphabetic()).take(12).collect();
            if !verdict.is_empty() {
                return Some(verdict);
            }
        }
        from = after;
    }
    None
}

fn date_and_id(msg: &Message<'_>, hops: &[Hop<'_>], from_dom: Option<&str>, out: &mut Emitter<'_>) {
    match msg.date() {
        None => out.flag(ns::DATE, "no_date"),
        Some(d) => {
            if !d.is_valid() {
                out.flag(ns::DATE, "invalid");
            }
            if d.tz_hour > 14 {
                out.flag(ns::DATE, "bad_timezone");
            }
            if d.year < 1990 {
                out.flag(ns::DATE, "ancient");
            }
            let received = hops.iter().find_map(|r| r.date);
            if let Some(r) = received {
                let ahead = d.to_timestamp() - r;
                if ahead > 86_400 {
                    out.flag(ns::DATE, "in_future");
                } else if ahead < -3 * 86_400 {
                    out.flag(ns::DATE, "stale");
                }
            }
        }
    }
    match msg.message_id() {
        None => out.flag(ns::DATE, "no_message_id"),
        Some(id) => match (domain_of(id).and_then(registrable_domain), from_dom) {
            (None, _) => out.flag(ns::DATE, "message_id_no_domain"),
            (Some(d), Some(f)) if d == f => out.flag(ns::DATE, "message_id_from_domain"),
            (Some(_), _) => out.flag(ns::DATE, "message_id_other_domain"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_verdicts_are_read_at_word_boundaries() {
        let v = "mx.example; spf=pass smtp.mailfrom=a.example; dkim=fail (bad sig) header.d=x; dmarc=none";
        assert_eq!(auth_verdict(v, "spf").as_deref(), Some("pass"));
        assert_eq!(auth_verdict(v, "dkim").as_deref(), Some("fail"));
        assert_eq!(auth_verdict(v, "dmarc").as_deref(), Some("none"));
        assert_eq!(auth_verdict(v, "arc"), None);
        assert_eq!(auth_verdict("xspf=pass", "spf"), None);
    }
}
