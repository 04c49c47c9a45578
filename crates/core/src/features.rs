//! Hashed features.
//!
//! Every feature is a token in a namespace (`subject:viagra`, `from_domain:example.com`).
//! Only its 64-bit xxh3 hash travels on: models index a fixed-size table with the low bits,
//! so a model file holds numbers and never the strings it was trained on. Readable names are
//! rebuilt when a decision is explained, from the token bytes a [`RecordingSink`] kept during
//! the extraction (or, to list every feature, by extracting into a [`NamedSink`]).

use std::collections::HashMap;

use xxhash_rust::const_xxh3::xxh3_64 as const_xxh3_64;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// A feature namespace: a short name and the hash seed derived from it at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespace {
    name: &'static str,
    seed: u64,
}

impl Namespace {
    /// Declares a namespace. Names are part of the model format: renaming one invalidates
    /// what models learned about it.
    pub const fn new(name: &'static str) -> Self {
        Namespace { name, seed: const_xxh3_64(name.as_bytes()) }
    }

    /// The namespace's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// The hash of `token` in namespace `ns`. Stable across versions and platforms (xxh3).
#[inline]
pub fn feature_hash(ns: Namespace, token: &[u8]) -> u64 {
    xxh3_64_with_seed(token, ns.seed)
}

/// The hash of a 4-byte token (`u32::from_le_bytes`) in namespace `ns`: the seeded value
/// multiplied by a 64-bit odd constant into 128 bits, the halves folded together (the mixing
/// step of wyhash and foldhash). Every input bit reaches every output bit, low and high, and it
/// costs one multiplication: for n-grams, thousands a message, where a general-purpose hash
/// call (or SplitMix64's three multiplications, used before) cost more than the rest of the
/// n-gram. Stable across versions and platforms.
#[inline]
pub fn feature_hash_u32(ns: Namespace, token: u32) -> u64 {
    let m = u128::from(ns.seed ^ u64::from(token)) * 0x9E37_79B9_7F4A_7C15;
    (m as u64) ^ ((m >> 64) as u64)
}

/// Where an extractor puts features.
pub trait FeatureSink {
    /// Adds one occurrence of `token` in namespace `ns`.
    fn add(&mut self, ns: Namespace, token: &[u8]);
    /// Adds a 4-byte token (an n-gram window, little-endian), hashed by [`feature_hash_u32`].
    fn add_u32(&mut self, ns: Namespace, token: u32);
    /// Adds many 4-byte tokens at once (one call per n-gram run, not per window).
    fn add_u32s(&mut self, ns: Namespace, tokens: &[u32]) {
        for &t in tokens {
            self.add_u32(ns, t);
        }
    }
    /// Adds every 4-byte window of `bytes` as a 4-byte token (little-endian, oldest byte
    /// first): the byte 4-grams of a text.
    fn add_ngrams(&mut self, ns: Namespace, bytes: &[u8]) {
        let windows: Vec<u32> = bytes.windows(4).map(window).collect();
        self.add_u32s(ns, &windows);
    }
}

/// A 4-byte window as the token [`FeatureSink::add_ngrams`] adds.
#[inline(always)]
fn window(w: &[u8]) -> u32 {
    u32::from_le_bytes([w[0], w[1], w[2], w[3]])
}

/// A finished, sparse, binary feature vector: the distinct hashes present, in no set order.
///
/// Every present feature has the value 1, unnormalised: a long message has more features
/// and a larger score magnitude. For online learning on mail this measured better than unit
/// L2 normalisation, overall and per feature group (`docs/learners.md`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureVec {
    hashes: Vec<u64>,
}

impl FeatureVec {
    /// Builds a vector from raw hashes (any order, duplicates allowed).
    pub fn from_hashes(hashes: Vec<u64>) -> Self {
        FeatureVec { hashes: distinct(hashes, |_| {}) }
    }

    /// The distinct feature hashes, in first-seen order.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Number of distinct features.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when the event produced no feature at all.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// Removes repeated hashes, keeping first occurrences in order.
///
/// An open-addressing set over the (already well mixed) hashes: a message yields a few
/// thousand features, mostly repeats, and this is several times faster than sorting them.
fn distinct(mut hashes: Vec<u64>, look: impl FnMut(u64)) -> Vec<u64> {
    if hashes.len() < 2 {
        return hashes;
    }
    thread_local! {
        // Reused between calls: a fresh table per message would be a fresh mapping of
        // zeroed pages from the kernel, costing more than the deduplication.
        static TABLE: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let cap = (hashes.len() * 2).next_power_of_two();
    let mask = cap - 1;
    TABLE.with_borrow_mut(|table| {
        table.clear();
        table.resize(cap, 0);
        dedup_with(&mut hashes, table, mask, look);
    });
    hashes
}

/// The table holds 32-bit fingerprints (the hash's high half) at slots chosen by its low
/// bits, half the memory of full hashes and so mostly in cache. Two features are taken for
/// one only when both halves agree on the slot and the fingerprint: about one message in
/// 2^40 would lose a feature.
fn dedup_with(hashes: &mut Vec<u64>, table: &mut [u32], mask: usize, mut look: impl FnMut(u64)) {
    // 0 marks an empty slot; hashes whose fingerprint is 0 are kept aside, compared whole.
    let mut zeros: Vec<u64> = Vec::new();
    let mut kept = 0;
    for i in 0..hashes.len() {
        let h = hashes[i];
        look(h);
        let fp = (h >> 32) as u32;
        let slot = (h as usize) & mask;
        let found = table[slot];
        // The common case, settled at the first slot without a branch: the slot is empty (a
        // new feature) or holds this very fingerprint (a repeat). Whether a feature repeats
        // is a coin toss the branch predictor would lose half the time.
        let (empty, same) = (found == 0, found == fp);
        let fresh = if (empty | same) & (fp != 0) {
            table[slot] = fp;
            empty
        } else {
            insert_slow(h, fp, slot, table, mask, &mut zeros)
        };
        hashes[kept] = h;
        kept += usize::from(fresh);
    }
    hashes.truncate(kept);
}

/// Probes on past an occupied slot, or handles a zero fingerprint. True if `h` is new.
#[cold]
fn insert_slow(
    h: u64,
    fp: u32,
    mut slot: usize,
    table: &mut [u32],
    mask: usize,
    zeros: &mut Vec<u64>,
) -> bool {
    if fp == 0 {
        return !zeros.contains(&h) && {
            zeros.push(h);
            true
        };
    }
    loop {
        match table[slot] {
            0 => {
                table[slot] = fp;
                return true;
            }
            x if x == fp => return false,
            _ => slot = (slot + 1) & mask,
        }
    }
}

/// The sink used on the hot path: it keeps hashes only.
#[derive(Debug, Default)]
pub struct HashedSink {
    hashes: Vec<u64>,
}

impl HashedSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty sink with room for `n` features.
    pub fn with_capacity(n: usize) -> Self {
        HashedSink { hashes: Vec::with_capacity(n) }
    }

    /// Finishes into a [`FeatureVec`].
    pub fn finish(self) -> FeatureVec {
        FeatureVec::from_hashes(self.hashes)
    }

    /// Finishes into a [`FeatureVec`], calling `look` with every hash (repeats included) as
    /// deduplication reaches it: a model can start fetching the weights it is about to read
    /// while deduplication still works.
    pub fn finish_looking(self, look: impl FnMut(u64)) -> FeatureVec {
        FeatureVec { hashes: distinct(self.hashes, look) }
    }
}

impl FeatureSink for HashedSink {
    #[inline]
    fn add(&mut self, ns: Namespace, token: &[u8]) {
        self.hashes.push(feature_hash(ns, token));
    }

    #[inline]
    fn add_u32(&mut self, ns: Namespace, token: u32) {
        self.hashes.push(feature_hash_u32(ns, token));
    }

    fn add_u32s(&mut self, ns: Namespace, tokens: &[u32]) {
        self.hashes.extend(tokens.iter().map(|&t| feature_hash_u32(ns, t)));
    }

    fn add_ngrams(&mut self, ns: Namespace, bytes: &[u8]) {
        // Straight from the bytes: no vector of windows in between.
        self.hashes.extend(bytes.windows(4).map(|w| feature_hash_u32(ns, window(w))));
    }
}

/// The hot-path sink that also keeps every token's bytes (not its name): an explanation can
/// then name the few features it shows without extracting the event again. Keeping the bytes
/// costs a few microseconds a message; naming every feature, or a second extraction, costs
/// as much as the decision itself.
#[derive(Debug, Default)]
pub struct RecordingSink {
    hashed: HashedSink,
    /// For every token, in the order added (aligned with the hashes): its namespace's name and
    /// where its bytes are in `bytes`, or, for a 4-byte token, the token itself and
    /// [`INLINE`].
    tokens: Vec<(&'static str, u32, u32)>,
    bytes: Vec<u8>,
}

impl RecordingSink {
    /// An empty sink with room for `n` features.
    pub fn with_capacity(n: usize) -> Self {
        RecordingSink {
            hashed: HashedSink::with_capacity(n),
            tokens: Vec::with_capacity(n),
            bytes: Vec::with_capacity(n * 6),
        }
    }

    fn record(&mut self, ns: Namespace, token: &[u8]) {
        self.tokens.push((ns.name, self.bytes.len() as u32, token.len() as u32));
        self.bytes.extend_from_slice(token);
    }

    /// Finishes into the feature vector (as [`HashedSink::finish_looking`] would make it) and
    /// the record that names its features.
    pub fn finish_looking(self, look: impl FnMut(u64)) -> (FeatureVec, Recorded) {
        let all = self.hashed.hashes.clone();
        let x = self.hashed.finish_looking(look);
        (x, Recorded { hashes: all, tokens: self.tokens, bytes: self.bytes })
    }
}

impl FeatureSink for RecordingSink {
    fn add(&mut self, ns: Namespace, token: &[u8]) {
        self.hashed.add(ns, token);
        self.record(ns, token);
    }

    fn add_u32(&mut self, ns: Namespace, token: u32) {
        self.hashed.add_u32(ns, token);
        self.tokens.push((ns.name, token, INLINE));
    }

    fn add_u32s(&mut self, ns: Namespace, tokens: &[u32]) {
        self.hashed.add_u32s(ns, tokens);
        self.tokens.extend(tokens.iter().map(|&t| (ns.name, t, INLINE)));
    }

    fn add_ngrams(&mut self, ns: Namespace, bytes: &[u8]) {
        self.hashed.add_ngrams(ns, bytes);
        self.tokens.extend(bytes.windows(4).map(|w| (ns.name, window(w), INLINE)));
    }
}

/// Marks a recorded 4-byte token kept in place of its position.
const INLINE: u32 = u32::MAX;

/// The tokens of one extraction, to name its features after the fact.
#[derive(Debug, Default)]
pub struct Recorded {
    hashes: Vec<u64>,
    tokens: Vec<(&'static str, u32, u32)>,
    bytes: Vec<u8>,
}

impl Recorded {
    /// The names (`namespace:token`, as [`NamedSink`] gives them) of the `wanted` hashes that
    /// were extracted.
    pub fn names(&self, wanted: impl IntoIterator<Item = u64>) -> HashMap<u64, String> {
        let wanted = Wanted::new(wanted);
        let mut names = HashMap::new();
        for (&h, &(ns, start, len)) in self.hashes.iter().zip(&self.tokens) {
            if wanted.contains(h) {
                names.entry(h).or_insert_with(|| {
                    let inline = start.to_le_bytes();
                    let token = if len == INLINE {
                        &inline[..]
                    } else {
                        &self.bytes[start as usize..(start + len) as usize]
                    };
                    format!("{ns}:{}", String::from_utf8_lossy(token))
                });
            }
        }
        names
    }
}

/// A sink that also remembers a readable name for every hash, for explanations.
#[derive(Debug, Default)]
pub struct NamedSink {
    hashes: Vec<u64>,
    names: HashMap<u64, String>,
}

/// The few hashes an explanation names. Every recorded token is checked against them,
/// so the check must cost next to nothing: a 64-bit filter on the hash's top bits turns most
/// tokens away, and the rest look through a sorted list.
#[derive(Debug, Default)]
struct Wanted {
    filter: u64,
    sorted: Vec<u64>,
}

impl Wanted {
    fn new(hashes: impl IntoIterator<Item = u64>) -> Self {
        let mut sorted: Vec<u64> = hashes.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let filter = sorted.iter().fold(0, |f, &h| f | Self::bit(h));
        Wanted { filter, sorted }
    }

    #[inline]
    fn bit(h: u64) -> u64 {
        1 << (h >> 58)
    }

    #[inline]
    fn contains(&self, h: u64) -> bool {
        self.filter & Self::bit(h) != 0 && self.sorted.binary_search(&h).is_ok()
    }
}

impl NamedSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The readable name of a hash seen by this sink (`namespace:token`).
    pub fn name(&self, hash: u64) -> Option<&str> {
        self.names.get(&hash).map(String::as_str)
    }

    /// Finishes into the feature vector and the names.
    pub fn finish(self) -> (FeatureVec, HashMap<u64, String>) {
        (FeatureVec::from_hashes(self.hashes), self.names)
    }
}

impl FeatureSink for NamedSink {
    fn add(&mut self, ns: Namespace, token: &[u8]) {
        let h = feature_hash(ns, token);
        self.hashes.push(h);
        self.names.entry(h).or_insert_with(|| format!("{}:{}", ns.name(), String::from_utf8_lossy(token)));
    }

    fn add_u32(&mut self, ns: Namespace, token: u32) {
        let h = feature_hash_u32(ns, token);
        self.hashes.push(h);
        self.names
            .entry(h)
            .or_insert_with(|| format!("{}:{}", ns.name(), String::from_utf8_lossy(&token.to_le_bytes())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Namespace = Namespace::new("a");
    const B: Namespace = Namespace::new("b");

    #[test]
    fn namespaces_separate_equal_tokens() {
        assert_ne!(feature_hash(A, b"x"), feature_hash(B, b"x"));
        assert_eq!(feature_hash(A, b"x"), feature_hash(A, b"x"));
    }

    #[test]
    fn recorded_tokens_name_features_as_a_named_extraction_does() {
        let feed = |s: &mut dyn FeatureSink| {
            s.add(A, b"x");
            s.add(A, "\u{e9}t\u{e9}".as_bytes());
            s.add_u32(B, u32::from_le_bytes(*b"abcd"));
            s.add_u32s(B, &[u32::from_le_bytes(*b"ef\xffh"), u32::from_le_bytes(*b"abcd")]);
            s.add(A, b"x");
        };
        let mut r = RecordingSink::with_capacity(4);
        feed(&mut r);
        let (x, recorded) = r.finish_looking(|_| {});
        let mut n = NamedSink::new();
        feed(&mut n);
        let (nx, names) = n.finish();
        assert_eq!(x.hashes(), distinct(nx.hashes().to_vec(), |_| {}));
        assert_eq!(recorded.names(x.hashes().iter().copied()), names);
        let one = recorded.names([feature_hash(A, b"x"), 12345]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[&feature_hash(A, b"x")], "a:x");
    }

    #[test]
    fn the_wanted_filter_finds_exactly_the_wanted_hashes_however_many() {
        let all: Vec<u64> = (0..2000u32).map(|i| feature_hash_u32(A, i)).collect();
        for n in [1, 8, 100, 1000] {
            let wanted = Wanted::new(all.iter().copied().step_by(2000 / n));
            let found = all.iter().filter(|&&h| wanted.contains(h)).count();
            assert_eq!(found, n);
        }
        assert!(!Wanted::new([]).contains(all[0]));
    }

    #[test]
    fn vectors_are_deduplicated_in_first_seen_order() {
        let mut s = HashedSink::new();
        for t in [b"x", b"y", b"x", b"z"] {
            s.add(A, t);
        }
        let v = s.finish();
        assert_eq!(v.len(), 3);
        let expect: Vec<u64> = [b"x", b"y", b"z"].iter().map(|t| feature_hash(A, &t[..])).collect();
        assert_eq!(v.hashes(), &expect[..]);
        let big = |x: u64| x << 32 | x;
        assert_eq!(
            FeatureVec::from_hashes(vec![0, big(5), 0, big(5), 1, big(7)]).hashes(),
            &[0, big(5), 1, big(7)]
        );
    }

    #[test]
    fn named_sink_matches_hashed_sink() {
        let mut h = HashedSink::new();
        let mut n = NamedSink::new();
        for t in [&b"hello"[..], b"world"] {
            h.add(B, t);
            n.add(B, t);
        }
        h.add_u32(A, u32::from_le_bytes(*b"abcd"));
        n.add_u32(A, u32::from_le_bytes(*b"abcd"));
        let (nv, names) = n.finish();
        assert_eq!(h.finish(), nv);
        assert_eq!(names[&feature_hash(B, b"hello")], "b:hello");
        assert_eq!(names[&feature_hash_u32(A, u32::from_le_bytes(*b"abcd"))], "a:abcd");
        assert_ne!(feature_hash_u32(A, 1), feature_hash_u32(B, 1));
    }
}
