//! Analysts' lists: addresses and CIDR ranges, domains, strings, regular expressions.
//!
//! One entry per line; blank lines and `#` comments are skipped. Lookups cost the same at a
//! few entries as at hundreds of thousands: ranges are merged and searched by halves, domains
//! and strings are hashed.

use std::net::IpAddr;
use std::path::Path;

use crate::parser::ListKind;

/// Sets hashed with foldhash: a lookup is a few nanoseconds where the standard library's
/// DoS-resistant SipHash costs several times that (the entries are the analysts', not an
/// attacker's; foldhash is still seeded per process).
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// A list ready for lookups.
#[derive(Debug)]
pub enum List {
    /// Merged, sorted, disjoint address ranges (IPv4 held as IPv4-mapped IPv6).
    Ip(Vec<(u128, u128)>),
    /// Domains, lower case: a name matches when it or any domain above it is listed.
    Domain(Domains),
    /// Strings, lower case: compared without regard to case.
    String(HashSet<String>),
    /// Any one of the expressions matching.
    Regex(regex::RegexSet),
}

/// A list entry that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct ListError {
    /// The list file.
    pub path: String,
    /// Line, from 1 (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn v6(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl List {
    /// Reads a list file.
    pub fn load(kind: ListKind, path: &Path) -> Result<List, ListError> {
        let text = std::fs::read_to_string(path).map_err(|e| ListError {
            path: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        List::parse(kind, &text).map_err(|(line, message)| ListError {
            path: path.display().to_string(),
            line,
            message,
        })
    }

    /// Builds a list from its text; an error gives the line (from 1) and what is wrong.
    pub fn parse(kind: ListKind, text: &str) -> Result<List, (usize, String)> {
        let entries = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
            .filter(|(_, l)| !l.is_empty());
        match kind {
            ListKind::Ip => {
                let mut ranges = Vec::new();
                for (n, e) in entries {
                    ranges.push(parse_cidr(e).ok_or((n, format!("{e:?} is not an address or CIDR range")))?);
                }
                Ok(List::Ip(merge(ranges)))
            }
            ListKind::Domain => Ok(List::Domain(Domains::new(
                entries
                    .map(|(_, e)| e.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase())
                    .collect(),
            ))),
            ListKind::String => Ok(List::String(entries.map(|(_, e)| e.to_lowercase()).collect())),
            ListKind::Regex => {
                let lines: Vec<(usize, &str)> = entries.collect();
                for &(n, e) in &lines {
                    regex::Regex::new(e).map_err(|err| {
                        (n, format!("bad regular expression: {}", crate::diag::regex_error(&err)))
                    })?;
                }
                regex::RegexSet::new(lines.iter().map(|(_, e)| e))
                    .map(List::Regex)
                    .map_err(|err| (0, format!("the expressions together are too large: {err}")))
            }
        }
    }

    /// Entries (merged ranges for an address list).
    pub fn len(&self) -> usize {
        match self {
            List::Ip(r) => r.len(),
            List::Domain(d) => d.set.len(),
            List::String(s) => s.len(),
            List::Regex(r) => r.len(),
        }
    }

    /// True when the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of list.
    pub fn kind(&self) -> ListKind {
        match self {
            List::Ip(_) => ListKind::Ip,
            List::Domain(_) => ListKind::Domain,
            List::String(_) => ListKind::String,
            List::Regex(_) => ListKind::Regex,
        }
    }

    /// Whether an address is in a listed range.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        let List::Ip(ranges) = self else { return false };
        let x = v6(ip);
        // The last range starting at or before x holds it, if any does.
        let i = ranges.partition_point(|&(start, _)| start <= x);
        i > 0 && ranges[i - 1].1 >= x
    }

    /// Whether a text is listed (domain: it or a domain above it; string: equal ignoring
    /// case; regex: any expression matches).
    pub fn contains_str(&self, s: &str) -> bool {
        match self {
            List::Domain(set) => {
                let lower;
                let mut d = if s.bytes().any(|b| b.is_ascii_uppercase()) {
                    lower = s.to_ascii_lowercase();
                    lower.as_str()
                } else {
                    s
                };
                while let Some(rest) = d.strip_suffix('.') {
                    d = rest;
                }
                // Byte searches: a dot is one byte in UTF-8, and `find(char)` costs more than
                // the lookup itself.
                loop {
                    if set.contains(d) {
                        return true;
                    }
                    match d.bytes().position(|b| b == b'.') {
                        Some(i) => d = &d[i + 1..],
                        None => return false,
                    }
                }
            }
            List::String(set) => {
                if s.chars().any(char::is_uppercase) {
                    set.contains(&s.to_lowercase())
                } else {
                    set.contains(s)
                }
            }
            List::Regex(set) => set.is_match(s),
            List::Ip(_) => s.parse().is_ok_and(|ip| self.contains_ip(ip)),
        }
    }
}

/// A domain set with a bit filter in front: a name is looked up once per label (`a.b.c`, `b.c`,
/// `c`), nearly always absent, and the filter (16 bits an entry, two bits from one hash: 1.4%
/// false positives) answers most of those lookups without touching the set's much larger
/// table.
#[derive(Debug)]
pub struct Domains {
    set: std::collections::HashSet<String, foldhash::fast::FixedState>,
    bits: Vec<u64>,
    hasher: foldhash::fast::FixedState,
}

impl Domains {
    fn new(names: Vec<String>) -> Self {
        let hasher = foldhash::fast::FixedState::with_seed(0x5eed);
        let mut set = std::collections::HashSet::with_capacity_and_hasher(
            names.len(),
            foldhash::fast::FixedState::with_seed(0x5e7),
        );
        set.extend(names);
        let n = (set.len() * 16).next_power_of_two().max(64);
        let mut d = Domains { set, bits: vec![0; n / 64], hasher };
        let names: Vec<String> = d.set.iter().cloned().collect();
        for e in names {
            for b in d.bits_of(&e) {
                d.bits[b / 64] |= 1 << (b % 64);
            }
        }
        d
    }

    /// The name's two filter bits.
    #[inline]
    fn bits_of(&self, name: &str) -> [usize; 2] {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(name);
        let mask = self.bits.len() * 64 - 1;
        [(h as usize) & mask, ((h >> 32) as usize).wrapping_mul(0x9e37_79b9) & mask]
    }

    #[inline]
    fn contains(&self, name: &str) -> bool {
        let [a, b] = self.bits_of(name);
        self.bits[a / 64] & (1 << (a % 64)) != 0
            && self.bits[b / 64] & (1 << (b % 64)) != 0
            && self.set.contains(name)
    }
}

/// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or range: the first and last address it covers.
fn parse_cidr(e: &str) -> Option<(u128, u128)> {
    let (addr, bits) = match e.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
        None => (e.parse::<IpAddr>().ok()?, None),
    };
    let (x, max) = match addr {
        IpAddr::V4(_) => (v6(addr), 32),
        IpAddr::V6(_) => (v6(addr), 128),
    };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return None;
    }
    let host_bits = max - bits;
    let host_mask = if host_bits == 0 { 0 } else { u128::MAX >> (128 - host_bits) };
    Some((x & !host_mask, x | host_mask))
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_ranges_match_inside_and_not_outside() {
        let l = List::parse(
            ListKind::Ip,
            "# blocklist\n192.0.2.0/24\n198.51.100.7\n2001:db8::/32 # docs\n10.0.0.0/8\n10.1.0.0/16\n",
        )
        .unwrap();
        assert_eq!(l.len(), 4, "10.1/16 merged into 10/8");
        for yes in ["192.0.2.0", "192.0.2.255", "198.51.100.7", "2001:db8::1", "10.200.3.4"] {
            assert!(l.contains_ip(ip(yes)), "{yes}");
        }
        for no in ["192.0.3.0", "198.51.100.8", "2001:db9::", "11.0.0.0", "::ffff:c000:0100"] {
            assert!(!l.contains_ip(ip(no)), "{no}");
        }
        assert!(l.contains_ip(ip("::ffff:192.0.2.9")), "IPv4-mapped IPv6 is the IPv4 address");
        assert_eq!(List::parse(ListKind::Ip, "ok 1.2.3.4").unwrap_err().0, 1);
        assert_eq!(List::parse(ListKind::Ip, "1.2.3.4\n1.2.3.4/33").unwrap_err().0, 2);
    }

    #[test]
    fn domains_match_themselves_and_below() {
        let l = List::parse(ListKind::Domain, "example.com\n*.Bad.Example\n").unwrap();
        assert!(l.contains_str("example.com"));
        assert!(l.contains_str("a.b.EXAMPLE.com."));
        assert!(l.contains_str("x.bad.example"));
        assert!(!l.contains_str("notexample.com"));
        assert!(!l.contains_str("com"));
    }

    #[test]
    fn strings_ignore_case_and_regexes_are_checked() {
        let l = List::parse(ListKind::String, "Viagra\n").unwrap();
        assert!(l.contains_str("VIAGRA") && l.contains_str("viagra") && !l.contains_str("viagr"));
        let r = List::parse(ListKind::Regex, "^inv(oice)?[0-9]+\\.zip$\n").unwrap();
        assert!(r.contains_str("invoice42.zip") && !r.contains_str("invoice.zip"));
        let e = List::parse(ListKind::Regex, "ok\n(unclosed\n").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("bad regular expression"));
    }

    proptest::proptest! {
        /// Lookups agree with a scan of the unmerged ranges.
        #[test]
        fn ranges_agree_with_a_linear_scan(
            nets in proptest::collection::vec((proptest::prelude::any::<u32>(), 8u32..=32), 1..40),
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 50),
        ) {
            let text: String = nets.iter().map(|(a, b)| format!("{}/{b}\n", std::net::Ipv4Addr::from(*a))).collect();
            let l = List::parse(ListKind::Ip, &text).unwrap();
            for p in probes.iter().copied().chain(nets.iter().map(|n| n.0)) {
                let brute = nets.iter().any(|&(a, b)| {
                    let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
                    (p & mask) == (a & mask)
                });
                proptest::prop_assert_eq!(l.contains_ip(IpAddr::V4(p.into())), brute);
            }
        }
    }
}
