//! Operators' lists of networks: hosting providers, VPN exits, Tor exits, proxies — whatever
//! the operator names. None ships (lists of that kind change daily and carry their publishers'
//! terms); `[signup] network_lists` names the files. The format, one entry a line:
//!
//! ```text
//! # comments and blank lines are skipped
//! 198.51.100.0/24   hosting
//! 2001:db8:40::/48  vpn
//! 203.0.113.9       tor        # one address: /32 (IPv6 /128)
//! AS64500           hosting    # every address the edge or [geoip] puts in that ASN
//! ```
//!
//! A tag is a lower-case word (letters, digits, `-`, `_`; at most 32). An address may be in
//! several entries; each tag it is in becomes a feature (`signup_network` `list:<tag>`) and the
//! rules' `signup.network_lists`. Written here rather than with a prefix-trie crate: a table
//! per prefix length answers a lookup in at most 33 (IPv6: 129) hash probes, and a list of a
//! few hundred thousand entries is a few megabytes.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;

/// Networks and ASNs by tag.
#[derive(Debug, Clone, Default)]
pub struct NetworkLists {
    /// (IPv6?, prefix length) → masked address → tags.
    prefixes: HashMap<(bool, u8), HashMap<u128, Vec<u16>>>,
    /// Prefix lengths present, longest first, per family.
    lengths: [Vec<u8>; 2],
    asns: HashMap<u32, Vec<u16>>,
    tags: Vec<String>,
}

fn masked(bits: u128, len: u8, width: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let shift = u32::from(width - len);
    (bits >> shift) << shift
}

fn bits(ip: IpAddr) -> (bool, u128, u8) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (true, u128::from(v6), 128),
    }
}

impl NetworkLists {
    /// Reads the list files, in order; an error names the file and the line.
    pub fn read(paths: &[impl AsRef<Path>]) -> Result<NetworkLists, String> {
        let mut lists = NetworkLists::default();
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            for (n, line) in text.lines().enumerate() {
                lists.add_line(line).map_err(|e| format!("{}:{}: {e}", p.display(), n + 1))?;
            }
        }
        Ok(lists)
    }

    /// Adds one line of a list.
    pub fn add_line(&mut self, line: &str) -> Result<(), String> {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            return Ok(());
        }
        let mut words = line.split_whitespace();
        let (Some(entry), Some(tag), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{line:?} is not `NETWORK TAG` or `AS<number> TAG`"));
        };
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if tag.len() > 32 || !tag.chars().all(valid) {
            return Err(format!("the tag {tag:?} is not a lower-case word of at most 32 characters"));
        }
        let t = match self.tags.iter().position(|x| x == tag) {
            Some(t) => t as u16,
            None => {
                self.tags.push(tag.to_owned());
                (self.tags.len() - 1) as u16
            }
        };
        if let Some(n) = entry.strip_prefix("AS").or_else(|| entry.strip_prefix("as")) {
            let asn: u32 = n.parse().map_err(|_| format!("{entry:?} is not an ASN (AS64500)"))?;
            self.asns.entry(asn).or_default().push(t);
            return Ok(());
        }
        let (addr, len) = match entry.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (entry, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| format!("{addr:?} is not an IP address"))?;
        let (v6, b, width) = bits(ip);
        let len = match len {
            None => width,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= width)
                .ok_or_else(|| format!("{l:?} is not a prefix length of 0 to {width}"))?,
        };
        self.prefixes.entry((v6, len)).or_default().entry(masked(b, len, width)).or_default().push(t);
        let lengths = &mut self.lengths[usize::from(v6)];
        if !lengths.contains(&len) {
            lengths.push(len);
            lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        Ok(())
    }

    /// Whether no list was given.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.asns.is_empty()
    }

    /// The tags `ip` (in `asn`) is listed under, sorted.
    pub fn tags(&self, ip: IpAddr, asn: Option<u32>) -> Vec<&str> {
        if self.is_empty() {
            return Vec::new();
        }
        let (v6, b, width) = bits(ip);
        let mut found = BTreeSet::new();
        for &len in &self.lengths[usize::from(v6)] {
            if let Some(ts) = self.prefixes.get(&(v6, len)).and_then(|m| m.get(&masked(b, len, width))) {
                found.extend(ts.iter().map(|t| self.tags[*t as usize].as_str()));
            }
        }
        if let Some(ts) = asn.and_then(|a| self.asns.get(&a)) {
            found.extend(ts.iter().map(|t| self.tags[*t as usize].as_str()));
        }
        found.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::NetworkLists;

    fn lists(text: &str) -> NetworkLists {
        let mut l = NetworkLists::default();
        for line in text.lines() {
            l.add_line(line).unwrap();
        }
        l
    }

    #[test]
    fn addresses_are_found_by_every_prefix_and_asn_that_holds_them() {
        let l = lists(
            "# a comment\n\n198.51.100.0/24 hosting\n198.51.0.0/16 vpn # wider\n203.0.113.9 tor\n\
             2001:db8:40::/48 vpn\nAS64500 hosting\n0.0.0.0/0 everything\n",
        );
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(l.tags(ip("198.51.100.7"), None), ["everything", "hosting", "vpn"]);
        assert_eq!(l.tags(ip("198.51.7.7"), None), ["everything", "vpn"]);
        assert_eq!(l.tags(ip("203.0.113.9"), None), ["everything", "tor"]);
        assert_eq!(l.tags(ip("203.0.113.10"), None), ["everything"]);
        assert_eq!(l.tags(ip("192.0.2.1"), Some(64500)), ["everything", "hosting"]);
        assert_eq!(l.tags(ip("2001:db8:40:1::5"), None), ["vpn"]);
        assert!(l.tags(ip("2001:db8:41::5"), None).is_empty(), "IPv4's /0 is not IPv6's");
        assert!(NetworkLists::default().tags(ip("198.51.100.7"), Some(64500)).is_empty());
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosting.txt");
        for (text, needle) in [
            ("198.51.100.0/24 hosting\n10.0.0.0/33 vpn\n", ":2: \"33\" is not a prefix length of 0 to 32"),
            ("300.1.1.1 tor\n", ":1: \"300.1.1.1\" is not an IP address"),
            ("198.51.100.0/24\n", "is not `NETWORK TAG`"),
            ("198.51.100.0/24 Hosting\n", "not a lower-case word"),
            ("ASx hosting\n", "is not an ASN"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = NetworkLists::read(&[&p]).unwrap_err();
            assert!(e.contains("hosting.txt") && e.contains(needle), "{e}");
        }
        assert!(NetworkLists::read(&[dir.path().join("missing.txt")]).unwrap_err().contains("missing.txt"));
    }
}
