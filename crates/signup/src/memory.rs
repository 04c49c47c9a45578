//! What the sign-up kind remembers of recent sign-ups, on event time: how many came lately
//! sharing an attribute (the same /24, ASN, country, device, user agent, set-up), when the last
//! such came, and how common names, address patterns and user agents are among all seen so far.
//! The features read it before the sign-up is counted, so each sign-up is measured against the
//! ones before it.
//!
//! Nothing here holds an identifier: every attribute is a keyed hash (xxh3 under the data
//! directory's kind seed), so the memory says nothing of an address, a name or an IP without
//! the key.
//!
//! Counts are exponentially decayed (time constants 10 minutes, 1 hour, 1 day, 7 days) rather
//! than windows of timestamps: an attribute costs one small entry whatever its rate, and a
//! decayed count over a time constant τ is what a window of τ counts at a steady rate. An
//! attribute not seen for [`Memory::horizon`] is forgotten. Rarity is counted in a count-min
//! sketch (fixed size, no decay: the population seen so far).

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The time constants of the decayed counts, seconds: 10 minutes, 1 hour, 1 day, 7 days.
pub const TAUS: [f64; 4] = [600.0, 3_600.0, 86_400.0, 604_800.0];
/// The windows' names, in [`TAUS`]' order.
pub const WINDOWS: [&str; 4] = ["10m", "1h", "1d", "7d"];

/// An attribute a sign-up shares with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attr {
    /// The IPv4 /24 or IPv6 /48.
    Network,
    /// The autonomous system.
    Asn,
    /// The country.
    Country,
    /// The service's device id.
    Device,
    /// The whole user-agent string.
    Agent,
    /// The user agent, the first language and the local part's collapsed pattern together: what
    /// a script keeps from one sign-up to the next.
    Setup,
    /// The network and the local part's pattern together.
    NetworkPattern,
    /// The address's domain and the local part's pattern together.
    DomainPattern,
    /// The recovery address's domain.
    RecoveryDomain,
}

impl Attr {
    /// Every attribute, in the order the features read them.
    pub const ALL: [Attr; 9] = [
        Attr::Network,
        Attr::Asn,
        Attr::Country,
        Attr::Device,
        Attr::Agent,
        Attr::Setup,
        Attr::NetworkPattern,
        Attr::DomainPattern,
        Attr::RecoveryDomain,
    ];

    /// The attribute's name in features and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Attr::Network => "network",
            Attr::Asn => "asn",
            Attr::Country => "country",
            Attr::Device => "device",
            Attr::Agent => "agent",
            Attr::Setup => "setup",
            Attr::NetworkPattern => "network_pattern",
            Attr::DomainPattern => "domain_pattern",
            Attr::RecoveryDomain => "recovery_domain",
        }
    }
}

/// What is remembered of one attribute's value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The last sign-up's time.
    last: u64,
    /// The decayed counts as of `last`, one per [`TAUS`].
    counts: [f32; 4],
}

impl Entry {
    /// Whether it is remembered at `at`: seen within `horizon` before.
    fn live(&self, at: u64, horizon: u64) -> bool {
        at.saturating_sub(self.last) < horizon
    }

    /// The decayed counts as of `at` (not before `last`).
    fn at(&self, at: u64) -> [f64; 4] {
        let dt = at.saturating_sub(self.last) as f64;
        let mut out = [0.0; 4];
        for (o, (c, tau)) in out.iter_mut().zip(self.counts.iter().zip(TAUS)) {
            *o = f64::from(*c) * (-dt / tau).exp();
        }
        out
    }
}

/// How one attribute of a sign-up stood before it: the decayed counts of the sign-ups that
/// shared it ([`TAUS`]) and the seconds since the last of them (`None`: none remembered).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Decayed counts, one per window.
    pub counts: [f64; 4],
    /// Seconds since the last sign-up that shared it.
    pub since: Option<u64>,
}

/// A fixed-size count-min sketch (4 rows of 2^16 counters): how often a token was seen.
struct Sketch {
    rows: Vec<u32>,
    total: u64,
}

const SKETCH_ROWS: usize = 4;
const SKETCH_BITS: u32 = 16;

impl Sketch {
    fn new() -> Sketch {
        Sketch { rows: vec![0; SKETCH_ROWS << SKETCH_BITS], total: 0 }
    }

    fn slots(h: u64) -> impl Iterator<Item = usize> {
        let mask = (1usize << SKETCH_BITS) - 1;
        // Four 16-bit slices of one 64-bit hash, a row each.
        (0..SKETCH_ROWS).map(move |r| (r << SKETCH_BITS) | ((h >> (16 * r)) as usize & mask))
    }

    fn count(&self, h: u64) -> u32 {
        Sketch::slots(h).map(|i| self.rows[i]).min().unwrap_or(0)
    }

    fn add(&mut self, h: u64) {
        for i in Sketch::slots(h) {
            self.rows[i] = self.rows[i].saturating_add(1);
        }
        self.total += 1;
    }

    /// How rare `h` is: log2 of (seen in all + 1) / (seen of it + 1).
    fn rarity(&self, h: u64) -> f64 {
        ((self.total as f64 + 1.0) / (f64::from(self.count(h)) + 1.0)).log2()
    }
}

/// What kind of token a rarity is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// A word of the display name, lower case.
    NameWord,
    /// The local part's pattern.
    Pattern,
    /// The whole user-agent string.
    Agent,
    /// A word of the display name with the country (names that are rare where they sign up
    /// from).
    NameCountry,
    /// The first language asked for with the country.
    LanguageCountry,
    /// The address's domain with the country.
    DomainCountry,
}

/// How many kinds of token there are.
const TOKENS: usize = 6;

/// The memory of recent sign-ups.
pub struct Memory {
    seed: u64,
    horizon: u64,
    entries: HashMap<u64, Entry, crate::FastHash>,
    rare: [Sketch; TOKENS],
    last_sweep: u64,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("entries", &self.entries.len())
            .field("horizon", &self.horizon)
            .finish()
    }
}

/// The default horizon: an attribute not seen for 14 days is forgotten.
pub const HORIZON: u64 = 14 * 86_400;

impl Memory {
    /// An empty memory whose hashes are keyed by `seed`, forgetting attributes not seen for
    /// `horizon` seconds.
    pub fn new(seed: u64, horizon: u64) -> Memory {
        Memory {
            seed,
            horizon,
            entries: HashMap::default(),
            rare: std::array::from_fn(|_| Sketch::new()),
            last_sweep: 0,
        }
    }

    /// The seed its hashes are keyed by.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How long an attribute not seen is remembered, seconds.
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// How many attribute values are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keyed hash of `value` as attribute `attr`.
    pub fn key(&self, attr: Attr, value: &[u8]) -> u64 {
        xxh3_64_with_seed(value, self.seed ^ (attr as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The keyed hash of a token for the rarity sketches.
    fn token_key(&self, token: Token, value: &[u8]) -> u64 {
        xxh3_64_with_seed(value, self.seed ^ (token as u64 + 101).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// How attribute `key` ([`Memory::key`]) stood at `at`, before the sign-up being read. One
    /// not seen for the horizon is not there, swept yet or not.
    pub fn seen(&self, key: u64, at: u64) -> Seen {
        match self.entries.get(&key) {
            Some(e) if e.live(at, self.horizon) => {
                Seen { counts: e.at(at), since: Some(at.saturating_sub(e.last)) }
            }
            _ => Seen { counts: [0.0; 4], since: None },
        }
    }

    /// Counts one sign-up at `at` for attribute `key`. A sign-up older than the attribute's
    /// last is counted as if at the last (event times may come slightly out of order).
    pub fn count(&mut self, key: u64, at: u64) {
        let horizon = self.horizon;
        let e = self.entries.entry(key).or_insert(Entry { last: at, counts: [0.0; 4] });
        if !e.live(at, horizon) {
            // Forgotten, though not swept yet: begun afresh.
            *e = Entry { last: at, counts: [0.0; 4] };
        }
        let now = at.max(e.last);
        let decayed = e.at(now);
        for (c, d) in e.counts.iter_mut().zip(decayed) {
            *c = (d + 1.0) as f32;
        }
        e.last = now;
    }

    /// How rare `value` is among the tokens of its kind seen so far (log2 of all seen over
    /// those like it, each plus one).
    pub fn rarity(&self, token: Token, value: &[u8]) -> f64 {
        self.rare[token as usize].rarity(self.token_key(token, value))
    }

    /// Counts a token.
    pub fn see(&mut self, token: Token, value: &[u8]) {
        let k = self.token_key(token, value);
        self.rare[token as usize].add(k);
    }

    /// How many tokens of a kind were seen.
    pub fn tokens(&self, token: Token) -> u64 {
        self.rare[token as usize].total
    }

    /// Frees the attributes not seen for the horizon before `at` (already forgotten: [`Memory::seen`]
    /// does not read them). A pass reads every entry, so it runs once every 1/64 of the horizon
    /// of event time (at least ten minutes): 64 entries read for each a sign-up counts, whatever
    /// the rate, for at most 1/64 more entries held.
    pub fn sweep(&mut self, at: u64) {
        if at < self.last_sweep.saturating_add((self.horizon / 64).max(600)) {
            return;
        }
        self.last_sweep = at;
        let horizon = self.horizon;
        self.entries.retain(|_, e| e.live(at, horizon));
    }

    /// Bytes held, roughly: the entries' table and the sketches.
    pub fn bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u64, Entry)>() + 1;
        self.entries.capacity() * entry + self.rare.iter().map(|s| s.rows.len() * 4).sum::<usize>()
    }
}

/// A decayed count as a bucket: 0 below one half, else 1 + ⌊log2⌋, at most 12.
pub fn count_bucket(c: f64) -> u32 {
    if c < 0.5 { 0 } else { (1.0 + c.log2().floor()).clamp(1.0, 12.0) as u32 }
}

/// Seconds since as a bucket: under a minute, 10 minutes, an hour, a day, a week, more; or
/// never.
pub fn since_bucket(since: Option<u64>) -> &'static str {
    match since {
        None => "never",
        Some(0..60) => "1m",
        Some(60..600) => "10m",
        Some(600..3_600) => "1h",
        Some(3_600..86_400) => "1d",
        Some(86_400..604_800) => "7d",
        Some(_) => "older",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decay_with_event_time_and_answer_what_came_before() {
        let mut m = Memory::new(7, HORIZON);
        let k = m.key(Attr::Network, b"203.0.113");
        assert_eq!(m.seen(k, 1_000), Seen { counts: [0.0; 4], since: None });
        for i in 0..10 {
            m.count(k, 1_000 + i * 6);
        }
        let s = m.seen(k, 1_060);
        assert_eq!(s.since, Some(6));
        // Ten in a minute: close to ten in every window, a little less in the shortest.
        assert!(s.counts[0] > 9.0 && s.counts[0] < 10.0, "{s:?}");
        assert!(s.counts[3] > 9.99, "{s:?}");
        // A day later the 10-minute and hour counts are gone, the week's nearly whole.
        let later = m.seen(k, 1_060 + 86_400);
        assert!(later.counts[0] < 1e-6 && later.counts[1] < 1e-6, "{later:?}");
        assert!(later.counts[2] > 3.0 && later.counts[2] < 4.0, "e^-1 of ten: {later:?}");
        assert!(later.counts[3] > 8.5, "{later:?}");
        // Out of order: counted at the last time, never decayed backwards.
        m.count(k, 900);
        assert!(m.seen(k, 1_060).counts[3] > 10.9);
    }

    #[test]
    fn keys_are_keyed_by_the_seed_and_apart_by_attribute() {
        let (a, b) = (Memory::new(1, HORIZON), Memory::new(2, HORIZON));
        assert_ne!(a.key(Attr::Network, b"x"), b.key(Attr::Network, b"x"));
        assert_ne!(a.key(Attr::Network, b"x"), a.key(Attr::Device, b"x"));
        assert_eq!(a.key(Attr::Device, b"x"), Memory::new(1, 5).key(Attr::Device, b"x"));
    }

    #[test]
    fn attributes_not_seen_for_the_horizon_are_forgotten() {
        let mut m = Memory::new(1, 3_600);
        let (old, new) = (m.key(Attr::Device, b"old"), m.key(Attr::Device, b"new"));
        m.count(old, 10_000);
        m.count(new, 13_000);
        m.sweep(13_500);
        assert_eq!(m.len(), 2, "old is 3500 s old: within the horizon");
        m.sweep(14_000);
        assert_eq!(m.len(), 2, "over the horizon now, but not ten minutes since the last sweep");
        assert_eq!(m.seen(old, 14_000).since, None, "forgotten before it is swept");
        m.sweep(14_200);
        assert_eq!((m.len(), m.seen(old, 14_200).since), (1, None));
        assert_eq!(m.seen(new, 14_200).since, Some(1_200));
    }

    #[test]
    fn rarity_falls_as_a_token_is_seen_more() {
        let mut m = Memory::new(3, HORIZON);
        for i in 0..1_000u32 {
            m.see(
                Token::NameWord,
                if i % 2 == 0 { b"maria".to_vec() } else { format!("w{i}").into_bytes() }.as_slice(),
            );
        }
        let common = m.rarity(Token::NameWord, b"maria");
        let unseen = m.rarity(Token::NameWord, b"xqzt");
        assert!(common < 1.1, "half of all: about one bit, {common}");
        assert!(unseen > 9.9, "never seen in 1000: about ten bits, {unseen}");
        assert_eq!(m.rarity(Token::Pattern, b"maria"), 0.0, "kinds of token apart: none seen");
        assert_eq!(m.tokens(Token::NameWord), 1_000);
    }

    #[test]
    fn buckets_grow_by_powers_of_two() {
        let b: Vec<u32> =
            [0.0, 0.49, 0.5, 1.0, 1.9, 2.0, 3.9, 4.0, 1e9].iter().map(|&c| count_bucket(c)).collect();
        assert_eq!(b, [0, 0, 1, 1, 1, 2, 2, 3, 12]);
        assert_eq!(since_bucket(None), "never");
        assert_eq!(since_bucket(Some(59)), "1m");
        assert_eq!(since_bucket(Some(3_599)), "1h");
        assert_eq!(since_bucket(Some(10_000_000)), "older");
    }
}
