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
/// costs one multiplication: for n-grams, thousands an event, where a general-purpose hash
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
    /// Adds a token written by `format_args!`, as [`FeatureSink::add`] of the same text would,
    /// without allocating for it: it is formatted into a buffer kept by the thread.
    fn add_fmt(&mut self, ns: Namespace, token: std::fmt::Arguments<'_>) {
        thread_local! {
            static TOKEN: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        TOKEN.with_borrow_mut(|buf| {
            buf.clear();
            // Writing into a String fails only if a Display implementation does.
            let _ = std::fmt::Write::write_fmt(buf, token);
            self.add(ns, buf.as_bytes());
        });
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
/// Every present feature has the value 1, unnormalised: a long event has more features
/// and a larger score magnitude. For online learning on text this measured better than unit
/// L2 normalisation, overall and per feature group (`docs/learners.md`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureVec {
    hashes: Vec<u64>,
}

impl FeatureVec {
    /// Builds a vector from raw hashes (any order, duplicates allowed).
    pub fn from_hashes(hashes: Vec<u64>) -> Self {
        let mut set = HashedSink::new();
        for h in hashes {
            set.insert(h);
        }
        set.finish()
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

/// The sink used on the hot path: it keeps the distinct hashes, in first-seen order, removing
/// repeats as they arrive.
///
/// An event of text yields a few thousand features, mostly repeats (n-grams above all). Each is
/// looked up in an open-addressing table as it is added, so a repeat costs one probe and is
/// never stored: against collecting every hash and deduplicating afterwards, this saves a
/// store and a load per feature and keeps only the distinct ones in memory.
///
/// The table holds 32-bit fingerprints (the hash's high half, its lowest bit set so that none
/// is 0, the mark of an empty slot) at slots chosen by the hash's low bits: half the memory of
/// full hashes. A typical event's table (16,384 slots, 64 KiB) is filled to an eighth: a
/// new feature seldom finds its first slot taken by another, which costs a mispredicted
/// branch. Half the slots (32 KiB, the size of the L1 cache) measured 2.4% slower a decision;
/// twice as many, no faster. Two features are taken for one only when they agree on the slot and
/// on 31 bits of the fingerprint: about one event in ten million would lose one feature of
/// its thousands.
#[derive(Debug)]
pub struct HashedSink<L: Look = Ignore> {
    scratch: Scratch,
    /// Distinct hashes so far: `scratch.hashes[..kept]`.
    kept: usize,
    look: L,
}

/// Told of every hash as a [`HashedSink`] takes it in, repeats included: a model can start
/// loading the weight it will read for it while extraction goes on, so that scoring does not
/// wait for memory.
pub trait Look {
    /// Sees one hash.
    fn look(&mut self, hash: u64);
}

/// The [`Look`] that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore;

impl Look for Ignore {
    #[inline(always)]
    fn look(&mut self, _: u64) {}
}

impl<F: FnMut(u64)> Look for F {
    #[inline(always)]
    fn look(&mut self, hash: u64) {
        self(hash)
    }
}

/// A sink's working memory, reused from one event to the next on the same thread: a fresh
/// table per event would be a fresh mapping of zeroed pages from the kernel, costing more
/// than the deduplication.
#[derive(Debug, Default)]
struct Scratch {
    /// Fingerprints; 0 marks an empty slot. Its length is a power of two.
    table: Vec<u32>,
    /// The distinct hashes in first-seen order, with room for one less than half the table
    /// (then the table grows): every hash is written at the end whether or not it is new, and
    /// only a new one moves the end on. Whether a feature repeats is a coin toss the branch
    /// predictor would lose half the time. Its length is a power of two.
    hashes: Vec<u64>,
}

/// Table slots to start with: room for 8,191 distinct features at half load.
const FIRST_SLOTS: usize = 1 << 14;
/// Table slots a [`HashedSink::small`] starts with.
const SMALL_SLOTS: usize = 1 << 9;
/// A scratch grown past this many slots by an unusual event is freed, not kept for the next.
const KEPT_SLOTS: usize = 1 << 16;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> =
        const { std::cell::Cell::new(Scratch { table: Vec::new(), hashes: Vec::new() }) };
}

impl Default for HashedSink {
    fn default() -> Self {
        Self::new()
    }
}

/// The fingerprint of a hash: its high half, never 0.
#[inline(always)]
fn fingerprint(h: u64) -> u32 {
    (h >> 32) as u32 | 1
}

impl HashedSink {
    /// An empty sink.
    pub fn new() -> Self {
        HashedSink::looking(Ignore)
    }

    /// An empty sink for an event of a few hundred features at most (a sign-up, a cluster):
    /// its table starts at 512 slots, so that clearing it costs 2 KiB of writes rather than
    /// 64 KiB; it grows as any sink does when the event has more.
    pub fn small() -> Self {
        HashedSink::sized(Ignore, SMALL_SLOTS)
    }
}

impl<L: Look> HashedSink<L> {
    /// An empty sink that shows `look` every hash as it arrives.
    pub fn looking(look: L) -> Self {
        Self::sized(look, FIRST_SLOTS)
    }

    fn sized(look: L, slots: usize) -> Self {
        let mut scratch = SCRATCH.take();
        // Back to the first size, whatever an unusual event before grew it to.
        scratch.table.truncate(slots);
        scratch.table.fill(0);
        scratch.table.resize(slots, 0);
        scratch.hashes.resize(slots / 2, 0);
        HashedSink { scratch, kept: 0, look }
    }

    /// Adds a feature hash unless it is already there: [`HashedSink::extend`]'s step for one
    /// hash, without setting up its loop (words and header tokens come one at a time).
    /// True when it was not there: it is then the next hash of the finished vector.
    #[inline]
    pub fn insert(&mut self, h: u64) -> bool {
        self.look.look(h);
        let s = &mut self.scratch;
        let last = s.hashes.len() - 1;
        let fresh = probe(&mut s.table, h);
        s.hashes[self.kept & last] = h;
        self.kept += usize::from(fresh);
        if self.kept == last {
            self.grow();
        }
        fresh
    }

    /// Adds feature hashes, each unless it is already there. The loop works on locals (the
    /// table, the output, the count) that the compiler keeps in registers; written against
    /// `self` it reloaded them after every store. The slices are cut to a power of two and
    /// indexed through its mask, so that no step needs a bounds check.
    #[inline]
    fn extend(&mut self, mut hashes: impl Iterator<Item = u64>) {
        loop {
            let s = &mut self.scratch;
            let (mask, last) = (s.table.len() - 1, s.hashes.len() - 1);
            let (table, out) = (&mut s.table[..=mask], &mut s.hashes[..=last]);
            let mut kept = self.kept;
            let mut grow = false;
            for h in hashes.by_ref() {
                self.look.look(h);
                let fresh = probe(table, h);
                // `kept` stays below `last` (the table grows first): the mask changes nothing.
                out[kept & last] = h;
                kept += usize::from(fresh);
                if kept == last {
                    grow = true;
                    break;
                }
            }
            self.kept = kept;
            if !grow {
                return;
            }
            self.grow();
        }
    }

    /// Doubles the table when it is half full, inserting the distinct hashes again.
    #[cold]
    fn grow(&mut self) {
        let s = &mut self.scratch;
        let slots = s.table.len() * 2;
        s.table.clear();
        s.table.resize(slots, 0);
        s.hashes.resize(slots / 2, 0);
        let mask = slots - 1;
        for &h in &s.hashes[..self.kept] {
            let mut slot = (h as usize) & mask;
            while s.table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            s.table[slot] = fingerprint(h);
        }
    }

    /// The distinct hashes so far, in first-seen order.
    fn distinct(&self) -> &[u64] {
        &self.scratch.hashes[..self.kept]
    }

    /// Finishes into a [`FeatureVec`].
    pub fn finish(self) -> FeatureVec {
        FeatureVec { hashes: self.distinct().to_vec() }
    }
}

impl<L: Look> Drop for HashedSink<L> {
    fn drop(&mut self) {
        if self.scratch.table.len() <= KEPT_SLOTS {
            SCRATCH.set(std::mem::take(&mut self.scratch));
        }
    }
}

/// Puts `h`'s fingerprint in `table` (its length a power of two) unless it is there. True if
/// it is new.
#[inline(always)]
fn probe(table: &mut [u32], h: u64) -> bool {
    let fp = fingerprint(h);
    let slot = (h as usize) & (table.len() - 1);
    let found = table[slot];
    // The common case, settled at the first slot without a branch on it: the slot is empty (a
    // new feature) or holds this very fingerprint (a repeat). Whether a feature is new is a
    // coin toss a branch predictor loses half the time, so the one branch asks only "neither?"
    // (another fingerprint is there), which is rare: `min` is 0 exactly when the slot is empty
    // or holds `fp`.
    if found.min(found ^ fp) == 0 {
        table[slot] = fp;
        found == 0
    } else {
        insert_slow(fp, slot, table)
    }
}

/// Probes on past an occupied slot. True if the fingerprint is new.
#[cold]
fn insert_slow(fp: u32, mut slot: usize, table: &mut [u32]) -> bool {
    let mask = table.len() - 1;
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

impl<L: Look> FeatureSink for HashedSink<L> {
    #[inline]
    fn add(&mut self, ns: Namespace, token: &[u8]) {
        self.insert(feature_hash(ns, token));
    }

    #[inline]
    fn add_u32(&mut self, ns: Namespace, token: u32) {
        self.insert(feature_hash_u32(ns, token));
    }

    fn add_u32s(&mut self, ns: Namespace, tokens: &[u32]) {
        self.extend(tokens.iter().map(|&t| feature_hash_u32(ns, t)));
    }

    fn add_ngrams(&mut self, ns: Namespace, bytes: &[u8]) {
        // Straight from the bytes: no vector of windows in between.
        self.extend(bytes.windows(4).map(|w| feature_hash_u32(ns, window(w))));
    }
}

/// The hot-path sink that also keeps every token's bytes (not its name): an explanation can
/// then name the few features it shows without extracting the event again. Keeping the bytes
/// costs a few microseconds an event; naming every feature, or a second extraction, costs
/// as much as the decision itself.
#[derive(Debug)]
pub struct RecordingSink<L: Look = Ignore> {
    hashed: HashedSink<L>,
    /// Every hash, repeats included, aligned with `tokens`.
    all: Vec<u64>,
    /// For every token, in the order added (aligned with the hashes): its namespace's name and
    /// where its bytes are in `bytes`, or, for a 4-byte token, the token itself and
    /// [`INLINE`].
    tokens: Vec<(&'static str, u32, u32)>,
    bytes: Vec<u8>,
    /// Where each run of one namespace starts in the finished vector, with the namespace.
    runs: Vec<(usize, &'static str)>,
}

impl RecordingSink {
    /// An empty sink with room for `n` features.
    pub fn with_capacity(n: usize) -> Self {
        RecordingSink::looking(n, Ignore)
    }
}

impl<L: Look> RecordingSink<L> {
    /// An empty sink with room for `n` features, showing `look` every hash as it arrives.
    pub fn looking(n: usize, look: L) -> Self {
        RecordingSink {
            hashed: HashedSink::looking(look),
            all: Vec::with_capacity(n),
            tokens: Vec::with_capacity(n),
            bytes: Vec::with_capacity(n * 6),
            runs: Vec::with_capacity(64),
        }
    }

    /// Takes `h` in, noting where a run of another namespace starts: features come in runs of
    /// one namespace (n-grams by the thousand), so that is one compare a feature.
    #[inline(always)]
    fn keep(&mut self, ns: Namespace, h: u64) {
        self.all.push(h);
        if self.runs.last().is_none_or(|r| !std::ptr::eq(r.1, ns.name)) {
            self.runs.push((self.hashed.kept, ns.name));
        }
        self.hashed.insert(h);
    }

    fn record(&mut self, ns: Namespace, token: &[u8]) {
        self.tokens.push((ns.name, self.bytes.len() as u32, token.len() as u32));
        self.bytes.extend_from_slice(token);
    }

    /// Finishes into the feature vector (as [`HashedSink::finish`] would make it) and the
    /// record that names its features.
    pub fn finish(self) -> (FeatureVec, Recorded) {
        let distinct = self.hashed.kept;
        let recorded =
            Recorded { hashes: self.all, tokens: self.tokens, bytes: self.bytes, runs: self.runs, distinct };
        (self.hashed.finish(), recorded)
    }
}

impl<L: Look> FeatureSink for RecordingSink<L> {
    fn add(&mut self, ns: Namespace, token: &[u8]) {
        self.keep(ns, feature_hash(ns, token));
        self.record(ns, token);
    }

    fn add_u32(&mut self, ns: Namespace, token: u32) {
        self.keep(ns, feature_hash_u32(ns, token));
        self.tokens.push((ns.name, token, INLINE));
    }

    fn add_ngrams(&mut self, ns: Namespace, bytes: &[u8]) {
        for w in bytes.windows(4) {
            self.add_u32(ns, window(w));
        }
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
    runs: Vec<(usize, &'static str)>,
    distinct: usize,
}

impl Recorded {
    /// The features of the finished vector by namespace: runs of positions in it, in order,
    /// each with its namespace (a namespace may have several runs; a run may be empty).
    pub fn runs(&self) -> impl Iterator<Item = (std::ops::Range<usize>, &'static str)> + '_ {
        let ends = self.runs.iter().skip(1).map(|r| r.0).chain([self.distinct]);
        self.runs.iter().zip(ends).map(|(&(start, ns), end)| (start..end, ns))
    }

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
/// so the check must cost next to nothing: a 4,096-bit filter on the hash's top bits turns all
/// but a few in a hundred away (with a few dozen wanted), and the rest look through a sorted list.
#[derive(Debug)]
struct Wanted {
    filter: Box<[u64; 64]>,
    sorted: Vec<u64>,
}

impl Wanted {
    fn new(hashes: impl IntoIterator<Item = u64>) -> Self {
        let mut sorted: Vec<u64> = hashes.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut filter = Box::new([0u64; 64]);
        for &h in &sorted {
            let (word, bit) = Self::place(h);
            filter[word] |= bit;
        }
        Wanted { filter, sorted }
    }

    /// The word of the filter and the bit in it that stand for `h`: its top 12 bits.
    #[inline]
    fn place(h: u64) -> (usize, u64) {
        ((h >> 58) as usize, 1 << ((h >> 52) & 63))
    }

    #[inline]
    fn contains(&self, h: u64) -> bool {
        let (word, bit) = Self::place(h);
        self.filter[word] & bit != 0 && self.sorted.binary_search(&h).is_ok()
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
        let (x, recorded) = r.finish();
        let mut n = NamedSink::new();
        feed(&mut n);
        let (nx, names) = n.finish();
        assert_eq!(x.hashes(), FeatureVec::from_hashes(nx.hashes().to_vec()).hashes());
        assert_eq!(recorded.names(x.hashes().iter().copied()), names);
        let one = recorded.names([feature_hash(A, b"x"), 12345]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[&feature_hash(A, b"x")], "a:x");
        // Each distinct feature's namespace, in the vector's order: what each name starts with.
        let namespaces = namespaces_of(&recorded);
        assert_eq!(namespaces.len(), x.len());
        for (h, ns) in x.hashes().iter().zip(&namespaces) {
            assert!(names[h].starts_with(&format!("{ns}:")), "{} is not in {ns}", names[h]);
        }
    }

    /// Many features, repeats among them and the table grown several times: the namespaces stay
    /// aligned with the vector.
    #[test]
    fn recorded_namespaces_stay_aligned_through_repeats_and_growth() {
        let mut r = RecordingSink::with_capacity(16);
        for i in 0..5000u32 {
            r.add_u32(if i % 3 == 0 { A } else { B }, i % 3000);
        }
        let (x, recorded) = r.finish();
        let expect: Vec<&str> = (0..3000u32).map(|i| if i % 3 == 0 { "a" } else { "b" }).collect();
        assert_eq!(x.len(), 3000);
        assert_eq!(namespaces_of(&recorded), expect);
    }

    /// The namespace of each feature, from the runs.
    fn namespaces_of(recorded: &Recorded) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (range, ns) in recorded.runs() {
            assert_eq!(range.start, out.len(), "runs follow each other");
            out.extend(range.map(|_| ns));
        }
        out
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
    fn the_table_grows_past_its_first_size_and_keeps_every_feature_once() {
        // Well mixed hashes, each given three times: before, during and after the table
        // doubles (twice).
        let distinct: Vec<u64> = (0..20_000u32).map(|i| feature_hash_u32(A, i)).collect();
        let mut all = Vec::new();
        for chunk in distinct.chunks(1000) {
            all.extend_from_slice(chunk);
            all.extend_from_slice(chunk);
        }
        all.extend_from_slice(&distinct);
        let v = FeatureVec::from_hashes(all);
        assert_eq!(v.hashes(), &distinct[..]);
        // The next sink starts from the grown table, cleared; a hash whose high half is 0
        // (the mark of an empty slot) is a feature like any other.
        let low = 12345u64;
        assert_eq!(
            FeatureVec::from_hashes(vec![distinct[5], low, distinct[5], low, 7]).hashes(),
            &[distinct[5], low, 7]
        );
    }

    #[test]
    fn a_formatted_token_is_the_token_of_its_text() {
        let ns = Namespace::new("fmt_test");
        let (mut a, mut b) = (HashedSink::new(), HashedSink::new());
        for i in 0..3 {
            a.add_fmt(ns, format_args!("size:{i}"));
            b.add(ns, format!("size:{i}").as_bytes());
        }
        // A longer token after shorter ones, then a shorter one: the buffer is cleared each time.
        a.add_fmt(ns, format_args!("{}", "a much longer token than the others"));
        a.add_fmt(ns, format_args!("s"));
        b.add(ns, b"a much longer token than the others");
        b.add(ns, b"s");
        let (mut x, mut y) = (a.finish().hashes().to_vec(), b.finish().hashes().to_vec());
        x.sort_unstable();
        y.sort_unstable();
        assert_eq!(x, y);
    }

    #[test]
    fn a_small_sink_grows_past_its_first_size_and_after_a_large_one_starts_clean() {
        let distinct: Vec<u64> = (0..2_000u32).map(|i| feature_hash_u32(A, i)).collect();
        // After a large event on this thread, a small sink sees none of its features.
        drop(FeatureVec::from_hashes(distinct.clone()));
        let mut s = HashedSink::small();
        for &h in distinct.iter().chain(&distinct) {
            s.insert(h);
        }
        assert_eq!(s.finish().hashes(), &distinct[..]);
        let mut s = HashedSink::small();
        assert!(s.insert(distinct[7]), "a feature of the sink before is new to this one");
        assert_eq!(s.finish().hashes(), &[distinct[7]]);
    }

    #[test]
    fn a_look_sees_every_hash_as_it_arrives_repeats_included() {
        let mut seen = Vec::new();
        let x = {
            let mut s = HashedSink::looking(|h| seen.push(h));
            for t in [b"x", b"y", b"x"] {
                s.add(A, t);
            }
            s.finish()
        };
        let (hx, hy) = (feature_hash(A, b"x"), feature_hash(A, b"y"));
        assert_eq!(seen, [hx, hy, hx]);
        assert_eq!(x.hashes(), &[hx, hy]);
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
