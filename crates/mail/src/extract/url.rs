//! URLs found in text and HTML: their registrable domains and their tricks.
//!
//! Sets here are ordered: the same message must give its features in the same order every
//! time, so that scores are reproducible to the last bit.
//!
//! Only the host of a URL matters here, and spam URLs are often not valid URLs at all, so the
//! authority is cut out by hand (a full URL parser would reject exactly the URLs worth seeing).

use std::collections::BTreeSet;

use memchr::memmem;

use super::{Emitter, ns, prefix};
use crate::domain::registrable_domain;

/// URLs looked at per message, at most.
const MAX_URLS: usize = 128;
/// Distinct domains emitted per message, at most.
const MAX_DOMAINS: usize = 32;
/// Characters of a URL kept.
const MAX_URL_CHARS: usize = 2048;

/// The parts of a URL's authority that the features need.
#[derive(Debug, PartialEq)]
struct Authority<'a> {
    host: &'a str,
    userinfo: bool,
    port: bool,
}

/// Cuts the authority out of `scheme://authority/...` (or a bare `www.` start).
fn authority(url: &str) -> Option<Authority<'_>> {
    // Byte scans: a URL is looked at once or twice, too short to repay a substring
    // searcher's set-up.
    let rest = match url.as_bytes().windows(3).position(|w| w == b"://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let end = rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#' | b'\\')).unwrap_or(rest.len());
    let auth = &rest[..end];
    let (userinfo, hostport) = match auth.rfind('@') {
        Some(i) => (true, &auth[i + 1..]),
        None => (false, auth),
    };
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        (&hostport[1..close], hostport[close + 1..].starts_with(':'))
    } else {
        match hostport.rfind(':') {
            Some(i) => (&hostport[..i], true),
            None => (hostport, false),
        }
    };
    (!host.is_empty()).then_some(Authority { host, userinfo, port })
}

/// The host of a URL (or of a bare `www.` start), without user-info or port.
pub(crate) fn authority_host(url: &str) -> Option<String> {
    authority_of(url).map(str::to_owned)
}

/// [`authority_host`], borrowed.
pub(crate) fn authority_of(url: &str) -> Option<&str> {
    authority(url).map(|a| a.host)
}

/// Collects URLs from a message's text and HTML, then emits their features once.
#[derive(Default)]
pub(super) struct UrlCollector {
    urls: Vec<String>,
    /// (href, anchor text) pairs whose anchor text itself looks like a URL or domain.
    anchors: Vec<(String, String)>,
    /// The distinct hosts [`UrlCollector::emit`] saw (lower case), with their registrable
    /// domains, in order.
    hosts: Vec<(String, Option<String>)>,
}

impl UrlCollector {
    pub fn push(&mut self, url: &str) {
        // Sentence punctuation after a URL in text is not part of it.
        let url = url.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if self.urls.len() < MAX_URLS && !url.is_empty() {
            // The first 2,048 characters (no more bytes than that is fewer characters).
            let end = if url.len() <= MAX_URL_CHARS {
                url.len()
            } else {
                url.char_indices().nth(MAX_URL_CHARS).map_or(url.len(), |(i, _)| i)
            };
            self.urls.push(url[..end].to_owned());
        }
    }

    /// Links whose anchor text names a host, as `(href, text)`.
    #[cfg(test)]
    pub fn anchors(&self) -> &[(String, String)] {
        &self.anchors
    }

    /// The URLs collected, in order.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The distinct link hosts (lower case) with their registrable domains, as
    /// [`UrlCollector::emit`] found them.
    pub fn hosts(&self) -> &[(String, Option<String>)] {
        &self.hosts
    }

    /// The first link whose anchor text names a domain other than the one it goes to (another
    /// domain, or a bare IP address: the phisher's oldest trick), as the host it goes to and the
    /// text shown.
    pub fn mismatched_anchor(&self) -> Option<(String, String)> {
        self.anchors.iter().find_map(|(href, text)| {
            let shown = authority(text).and_then(|a| registrable_domain(a.host))?;
            let target = authority(href)?;
            let mismatch =
                !target.host.is_empty() && registrable_domain(target.host).as_deref() != Some(shown.as_str());
            mismatch.then(|| (prefix(target.host, 100).to_owned(), prefix(text, 100).to_owned()))
        })
    }

    pub fn push_anchor(&mut self, href: &str, text: &str) {
        if self.anchors.len() < MAX_URLS {
            self.anchors.push((href.to_owned(), text.trim().to_owned()));
        }
    }

    /// Finds `http://`, `https://` and `www.` URLs in plain text.
    pub fn scan_text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let end_of = |start: usize| {
            bytes[start..]
                .iter()
                .position(|&b| {
                    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>' | b')' | b']')
                })
                .map_or(bytes.len(), |i| start + i)
        };
        for i in memmem::find_iter(bytes, b"://") {
            let start = if i >= 5 && bytes[i - 5..i].eq_ignore_ascii_case(b"https") {
                i - 5
            } else if i >= 4 && bytes[i - 4..i].eq_ignore_ascii_case(b"http") {
                i - 4
            } else {
                continue;
            };
            self.push(&text[start..end_of(i + 3)]);
            if self.urls.len() >= MAX_URLS {
                return;
            }
        }
        for i in memmem::find_iter(bytes, b"www.") {
            if i > 0 && matches!(bytes[i - 1], b'/' | b'.' | b'@') {
                continue;
            }
            self.push(&text[i..end_of(i)]);
        }
    }

    /// Emits the URL features and returns the registrable domains seen.
    pub fn emit(&mut self, out: &mut Emitter<'_>) -> BTreeSet<String> {
        out.num(ns::URL_SHAPE, "count", self.urls.len());
        let mut domains: BTreeSet<String> = BTreeSet::new();
        let mut shapes: BTreeSet<&'static str> = BTreeSet::new();
        // Links of a message mostly share their host: its domain is looked up once per run
        // (a repeat adds nothing to the set).
        let mut last_host: Option<&str> = None;
        for url in &self.urls {
            let scheme = url.as_bytes().get(..5).unwrap_or_default();
            shapes.insert(if scheme.eq_ignore_ascii_case(b"https") {
                "scheme=https"
            } else if scheme.eq_ignore_ascii_case(b"http:") {
                "scheme=http"
            } else {
                "scheme=none"
            });
            if url.len() > 200 {
                shapes.insert("long");
            }
            let Some(a) = authority(url) else { continue };
            if a.userinfo {
                shapes.insert("userinfo");
            }
            if a.port {
                shapes.insert("port");
            }
            if crate::domain::ip_addr(a.host).is_some() {
                shapes.insert("ip_host");
                continue;
            }
            if a.host.as_bytes().windows(4).any(|w| w.eq_ignore_ascii_case(b"xn--")) {
                shapes.insert("punycode");
            }
            if a.host.split('.').count() > 4 {
                shapes.insert("deep_host");
            }
            if domains.len() < MAX_DOMAINS && last_host != Some(a.host) {
                let d = registrable_domain(a.host);
                let host = a.host.to_ascii_lowercase();
                if !self.hosts.iter().any(|(h, _)| *h == host) {
                    self.hosts.push((host, d.clone()));
                }
                if let Some(d) = d {
                    domains.insert(d);
                }
                last_host = Some(a.host);
            }
        }
        if self.mismatched_anchor().is_some() {
            shapes.insert("anchor_domain_mismatch");
        }
        out.num(ns::URL_SHAPE, "domains", domains.len());
        for s in shapes {
            out.flag(ns::URL_SHAPE, s);
        }
        for d in &domains {
            out.token(ns::URL_DOMAIN, d);
            if let Some((_, tld)) = d.rsplit_once('.') {
                out.pair(ns::URL_SHAPE, "tld", tld);
            }
        }
        domains
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_sees_userinfo_ports_and_ipv6() {
        let a = authority("http://paypal.com@evil.example:8080/x").unwrap();
        assert_eq!(a, Authority { host: "evil.example", userinfo: true, port: true });
        assert_eq!(authority("https://[2001:db8::1]/").unwrap().host, "2001:db8::1");
        assert_eq!(authority("www.example.org/path").unwrap().host, "www.example.org");
        assert_eq!(authority("http:///nohost"), None);
    }

    #[test]
    fn text_scanning_finds_urls_without_duplicating_www() {
        let mut c = UrlCollector::default();
        c.scan_text("see HTTPS://www.Example.com/a?b and www.other.example.net, not ftp://x.y");
        assert_eq!(c.urls, vec!["HTTPS://www.Example.com/a?b", "www.other.example.net"]);
    }
}
