//! Hashed features.
//!
//! Every feature is a token in a namespace (`subject:viagra`, `from_domain:example.com`).
//! Only its 64-bit xxh3 hash travels on: models index a fixed-size table with the low bits,
//! so a model file holds numbers and never the strings it was trained on. Readable names are
//! rebuilt when a decision is explained, by extracting the same event again into a
//! [`NamedSink`].

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

/// Where an extractor puts features.
pub trait FeatureSink {
    /// Adds one occurrence of `token` in namespace `ns`.
    fn add(&mut self, ns: Namespace, token: &[u8]);
}

/// A finished, sparse feature vector: distinct hashes, sorted, each with its value.
///
/// Values are binary presence scaled to unit L2 norm (`1/sqrt(n)`), which keeps long and short
/// messages on one scale for a linear model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureVec {
    hashes: Vec<u64>,
    value: f32,
}

impl FeatureVec {
    /// Builds a vector from raw hashes (any order, duplicates allowed).
    pub fn from_hashes(mut hashes: Vec<u64>) -> Self {
        hashes.sort_unstable();
        hashes.dedup();
        let value = if hashes.is_empty() { 0.0 } else { 1.0 / (hashes.len() as f32).sqrt() };
        FeatureVec { hashes, value }
    }

    /// The distinct feature hashes, sorted.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// The value every present feature has.
    pub fn value(&self) -> f32 {
        self.value
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
}

impl FeatureSink for HashedSink {
    #[inline]
    fn add(&mut self, ns: Namespace, token: &[u8]) {
        self.hashes.push(feature_hash(ns, token));
    }
}

/// A sink that also remembers a readable name for every hash, for explanations.
#[derive(Debug, Default)]
pub struct NamedSink {
    hashes: Vec<u64>,
    names: HashMap<u64, String>,
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
        self.names
            .entry(h)
            .or_insert_with(|| format!("{}:{}", ns.name(), String::from_utf8_lossy(token)));
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
    fn vectors_are_deduplicated_and_unit_norm() {
        let mut s = HashedSink::new();
        for t in [b"x", b"y", b"x", b"z"] {
            s.add(A, t);
        }
        let v = s.finish();
        assert_eq!(v.len(), 3);
        assert!(v.hashes().windows(2).all(|w| w[0] < w[1]));
        let norm: f32 = (v.len() as f32 * v.value() * v.value()).sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
    }

    #[test]
    fn named_sink_matches_hashed_sink() {
        let mut h = HashedSink::new();
        let mut n = NamedSink::new();
        for t in [&b"hello"[..], b"world"] {
            h.add(B, t);
            n.add(B, t);
        }
        let (nv, names) = n.finish();
        assert_eq!(h.finish(), nv);
        assert_eq!(names[&feature_hash(B, b"hello")], "b:hello");
    }
}
