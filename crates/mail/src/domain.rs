//! Names and addresses as the signals read them: the registrable domain of a host (the
//! public-suffix list, remembered per thread) and a cheap test for an IP address. A leaf: the
//! extractor and the brand list both use it.

/// The registrable domain (public suffix plus one label) of a host, lower-cased.
/// `None` for IP addresses, single labels and hosts under no known suffix.
pub fn registrable_domain(host: &str) -> Option<String> {
    // The answers for short names are remembered per thread: the same hosts (the sender's, its
    // trackers, its image server) come back message after message, and a public-suffix lookup
    // over a lower-cased copy costs several times a look in a map. Keyed by the name itself,
    // so an answer is never another name's; at most `KNOWN_NAMES` names of at most
    // `KNOWN_NAME_BYTES` bytes (about 2 MB a thread at worst), then forgotten all at once.
    const KNOWN_NAMES: usize = 1 << 14;
    const KNOWN_NAME_BYTES: usize = 64;
    type Known = std::collections::HashMap<Box<str>, Option<Box<str>>, foldhash::fast::RandomState>;
    thread_local! {
        static KNOWN: std::cell::RefCell<Known> = std::cell::RefCell::new(Known::default());
    }
    if host.len() > KNOWN_NAME_BYTES {
        return registrable_domain_of(host);
    }
    KNOWN.with_borrow_mut(|known| {
        if let Some(d) = known.get(host) {
            return d.as_deref().map(str::to_owned);
        }
        if known.len() >= KNOWN_NAMES {
            known.clear();
        }
        let d = registrable_domain_of(host);
        known.insert(host.into(), d.as_deref().map(Box::from));
        d
    })
}

/// [`registrable_domain`], looked up.
fn registrable_domain_of(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.');
    if host.is_empty() || host.len() > 253 || ip_addr(host).is_some() {
        return None;
    }
    let lower = if host.is_ascii() { host.to_ascii_lowercase() } else { host.to_lowercase() };
    psl::domain_str(&lower).map(str::to_owned)
}

/// `s` as an IP address, as `str::parse` reads one. Host names and words are tried far more
/// often than they are addresses, and the standard parser costs a few hundred instructions to
/// say no: an address is written in hex digits, dots and colons only, so anything else is
/// turned away by one pass over its bytes.
pub(crate) fn ip_addr(s: &str) -> Option<std::net::IpAddr> {
    let possible = !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
    possible.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ip_addresses_read_as_the_standard_parser_reads_them() {
        for s in ["192.0.2.1", "::", "::1", "2001:db8::8:800:200c:417a", "::ffff:192.0.2.1", "dead:beef::"] {
            assert_eq!(ip_addr(s), s.parse().ok(), "{s}");
            assert!(ip_addr(s).is_some(), "{s}");
        }
        for s in
            ["", "mx.example", "192.0.2", "192.0.2.256", "fe80::1%eth0", "[::1]", " 192.0.2.1", "cafe.babe"]
        {
            assert_eq!(ip_addr(s), None, "{s}");
        }
    }

    proptest! {
        #[test]
        fn ip_addresses_agree_with_the_standard_parser(s in "[0-9a-fA-F.:%x ]{0,40}") {
            prop_assert_eq!(ip_addr(&s), s.parse().ok());
        }
    }

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        assert_eq!(registrable_domain("Mail.Example.CO.UK").as_deref(), Some("example.co.uk"));
        assert_eq!(registrable_domain("a.b.example.com.").as_deref(), Some("example.com"));
        assert_eq!(registrable_domain("192.0.2.1"), None);
        assert_eq!(registrable_domain(""), None);
    }

    #[test]
    fn remembered_answers_are_the_looked_up_ones() {
        let long = format!("{}.example.org", "a".repeat(70));
        let hosts = [
            "Mail.Example.CO.UK",
            "mail.example.co.uk",
            "x.github.io",
            "192.0.2.1",
            "",
            "localhost",
            "é.example.com",
            " www.example.net. ",
            &long,
        ];
        for _ in 0..2 {
            for h in hosts {
                assert_eq!(registrable_domain(h), registrable_domain_of(h), "{h:?}");
            }
        }
        assert_eq!(registrable_domain(&long).as_deref(), Some("example.org"));
        assert_eq!(registrable_domain(" www.example.net. ").as_deref(), Some("example.net"));
    }
}
