//! Counters over sliding time windows, per entity: how many events (count) and how many
//! different values (distinct count) an entity had in the last span of time.
//!
//! A window is kept as time buckets: `span / bucket + 1` slots in a ring, each holding the
//! bucket's count and, for distinct counts, a HyperLogLog sketch. A query sums (or merges) the
//! buckets from the one holding `now - span + 1` to the current one, so an answer counts every
//! event of the last `span` seconds and at most one bucket's worth more, from just before. Distinct counts carry the
//! sketch's error besides: HyperLogLog with 2^p registers has a standard error of
//! 1.04 / sqrt(2^p) — 3.25% at the default p = 10, whose sketch is 1 KiB a bucket.
//!
//! Time comes from a [`Clock`], so that tests and backtests drive it (a backtest sets it to each
//! message's Date).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

pub use warden_core::time::{Clock, ManualClock, SystemClock};

/// A window's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// How far back it looks, in seconds.
    pub span: u64,
    /// Bucket width, in seconds (the answer's granularity); divides `span`.
    pub bucket: u64,
}

impl Window {
    /// A window of `span` seconds in buckets of `bucket` seconds.
    pub fn new(span: u64, bucket: u64) -> Result<Window, String> {
        if bucket == 0 || span == 0 || !span.is_multiple_of(bucket) || span / bucket > 10_000 {
            return Err(format!(
                "a window of {span} s in buckets of {bucket} s: the bucket must divide the span, at most 10,000 buckets"
            ));
        }
        Ok(Window { span, bucket })
    }

    fn slots(self) -> usize {
        (self.span / self.bucket) as usize + 1
    }

    /// The start of the oldest bucket a query at `now` reads: the one holding `now - span + 1`.
    pub fn oldest(self, now: u64) -> u64 {
        let from = (now + 1).saturating_sub(self.span);
        from - from % self.bucket
    }
}

/// A HyperLogLog sketch with 2^p one-byte registers (Flajolet et al. 2007, with the
/// small-range correction by linear counting).
#[derive(Debug, Clone, PartialEq)]
pub struct Hll {
    p: u8,
    registers: Vec<u8>,
}

impl Hll {
    /// An empty sketch with 2^p registers (4 ≤ p ≤ 16).
    pub fn new(p: u8) -> Hll {
        let p = p.clamp(4, 16);
        Hll { p, registers: vec![0; 1 << p] }
    }

    /// Adds a value, given as a well-mixed 64-bit hash.
    pub fn add(&mut self, hash: u64) {
        let index = (hash >> (64 - self.p)) as usize;
        let rest = hash << self.p | (1 << (self.p - 1)); // a sentinel bit bounds the run
        let rank = rest.leading_zeros() as u8 + 1;
        let r = &mut self.registers[index];
        *r = (*r).max(rank);
    }

    /// Takes in another sketch's values (same p).
    pub fn merge(&mut self, other: &Hll) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        // 2^-r by table: a register holds at most 64 - p + 1.
        static INVERSE_POWERS: std::sync::LazyLock<[f64; 66]> =
            std::sync::LazyLock::new(|| std::array::from_fn(|r| 2f64.powi(-(r as i32))));
        let sum: f64 = self.registers.iter().map(|&r| INVERSE_POWERS[usize::from(r)]).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw }
    }

    /// The standard error of its estimates, relative: 1.04 / sqrt(2^p).
    pub fn standard_error(&self) -> f64 {
        1.04 / (self.registers.len() as f64).sqrt()
    }
}

/// One entity's ring of buckets.
#[derive(Debug, Clone)]
struct Ring {
    /// Per slot: the start of the bucket it holds, its count, its sketch (distinct counters).
    slots: Vec<(u64, u64, Option<Hll>)>,
}

/// Counts and distinct counts per entity over one sliding window.
#[derive(Debug)]
pub struct Counter {
    window: Window,
    /// Registers of the distinct-count sketches as a power of two; `None` counts events only.
    distinct_p: Option<u8>,
    entities: HashMap<u64, Ring>,
}

impl Counter {
    /// A counter of events per entity over `window`.
    pub fn counting(window: Window) -> Counter {
        Counter { window, distinct_p: None, entities: HashMap::new() }
    }

    /// A counter of events and of distinct values per entity over `window`, with sketches of
    /// 2^p registers.
    pub fn distinct(window: Window, p: u8) -> Counter {
        Counter { window, distinct_p: Some(p.clamp(4, 16)), entities: HashMap::new() }
    }

    /// Its window.
    pub fn window(&self) -> Window {
        self.window
    }

    fn ring(&mut self, entity: u64) -> &mut Ring {
        let slots = self.window.slots();
        self.entities.entry(entity).or_insert_with(|| Ring { slots: vec![(u64::MAX, 0, None); slots] })
    }

    /// Records one event of `entity` at time `now` (with `value`'s hash, for distinct counts).
    pub fn add(&mut self, entity: u64, value: Option<u64>, now: u64) {
        let Window { bucket, .. } = self.window;
        let p = self.distinct_p;
        let start = now - now % bucket;
        let ring = self.ring(entity);
        let n = ring.slots.len() as u64;
        let slot = &mut ring.slots[((start / bucket) % n) as usize];
        if slot.0 != u64::MAX && slot.0 > start {
            // Older than the window the ring holds (events out of time order): it would have
            // slid out already, and must not wipe the newer bucket.
            return;
        }
        if slot.0 != start {
            // The slot held an older bucket, now out of the window: start afresh.
            *slot = (start, 0, p.map(Hll::new));
        }
        slot.1 += 1;
        if let (Some(h), Some(v)) = (&mut slot.2, value) {
            h.add(v);
        }
    }

    /// The buckets of `entity` within the window ending at `now`.
    fn live(&self, entity: u64, now: u64) -> impl Iterator<Item = &(u64, u64, Option<Hll>)> {
        let current = now - now % self.window.bucket;
        let oldest = self.window.oldest(now);
        self.entities
            .get(&entity)
            .into_iter()
            .flat_map(|r| &r.slots)
            .filter(move |s| s.0 != u64::MAX && s.0 >= oldest && s.0 <= current)
    }

    /// Events of `entity` in the window ending at `now`.
    pub fn count(&self, entity: u64, now: u64) -> u64 {
        self.live(entity, now).map(|s| s.1).sum()
    }

    /// Estimated distinct values of `entity` in the window ending at `now` (0 for a counter
    /// made with [`Counter::counting`]).
    pub fn distinct_count(&self, entity: u64, now: u64) -> f64 {
        let Some(p) = self.distinct_p else { return 0.0 };
        let mut merged = Hll::new(p);
        for s in self.live(entity, now) {
            if let Some(h) = &s.2 {
                merged.merge(h);
            }
        }
        merged.estimate()
    }

    /// Drops entities with no bucket left in the window ending at `now` (memory stays bounded
    /// by the entities active within one span).
    pub fn expire(&mut self, now: u64) {
        let oldest = self.window.oldest(now);
        self.entities.retain(|_, r| r.slots.iter().any(|s| s.0 != u64::MAX && s.0 >= oldest));
    }

    /// Entities held.
    pub fn entities(&self) -> usize {
        self.entities.len()
    }
}

/// A counter's identity in a [`CounterStore`]: its name, what it counts and its window. Rule
/// sets that declare the same counter share its state: reloading rules keeps their windows; a
/// counter whose fields or window changed starts afresh.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CounterKey {
    /// The name the rules give it.
    pub name: String,
    /// The field it counts by (the entity).
    pub by: String,
    /// The field whose distinct values it counts (`None`: it counts events).
    pub distinct: Option<String>,
    /// Its window.
    pub window: Window,
}

/// Where window counters keep their state, owned outside any rule set: in this process
/// ([`LocalCounters`]) or, for several servers, in a shared one.
pub trait CounterStore: Send + Sync + std::fmt::Debug {
    /// The counter `key` names, made empty when the store does not hold it; the flag says
    /// whether it was made now (and so may need rebuilding from a journal).
    fn open(&self, key: &CounterKey) -> (Arc<dyn WindowCounter>, bool);
    /// Forgets every counter but those of `keep` (the ones the rules in force declare).
    fn retain(&self, keep: &[CounterKey]);
}

/// One counter of a [`CounterStore`]: events (or distinct values) per entity over its window.
pub trait WindowCounter: Send + Sync + std::fmt::Debug {
    /// Records an event of `entity` at `now` — with each of `values` for a distinct counter
    /// (none: one event without a value) — and answers the entity's count, or distinct count,
    /// in the window ending at `now`, this event included. With `expire`, entities whose
    /// events all fell out of the window are dropped first.
    fn add(&self, entity: u64, values: &[u64], now: u64, expire: bool) -> f64;
    /// Records one journaled event, as it was recorded live (rebuilding after a restart).
    fn restore(&self, entity: u64, value: Option<u64>, at: u64);
}

/// Counters in this process's memory, each behind its own lock.
#[derive(Debug, Default)]
pub struct LocalCounters {
    counters: RwLock<HashMap<CounterKey, Arc<LocalCounter>>>,
}

/// One counter of [`LocalCounters`].
#[derive(Debug)]
struct LocalCounter {
    state: Mutex<Counter>,
    distinct: bool,
}

impl CounterStore for LocalCounters {
    fn open(&self, key: &CounterKey) -> (Arc<dyn WindowCounter>, bool) {
        if let Some(c) = self.counters.read().unwrap_or_else(PoisonError::into_inner).get(key) {
            return (Arc::clone(c) as Arc<dyn WindowCounter>, false);
        }
        let mut counters = self.counters.write().unwrap_or_else(PoisonError::into_inner);
        let mut made = false;
        let c = counters.entry(key.clone()).or_insert_with(|| {
            made = true;
            let state = if key.distinct.is_some() {
                Counter::distinct(key.window, crate::DISTINCT_P)
            } else {
                Counter::counting(key.window)
            };
            Arc::new(LocalCounter { state: Mutex::new(state), distinct: key.distinct.is_some() })
        });
        (Arc::clone(c) as Arc<dyn WindowCounter>, made)
    }

    fn retain(&self, keep: &[CounterKey]) {
        self.counters.write().unwrap_or_else(PoisonError::into_inner).retain(|k, _| keep.contains(k));
    }
}

impl WindowCounter for LocalCounter {
    fn add(&self, entity: u64, values: &[u64], now: u64, expire: bool) -> f64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if expire {
            state.expire(now);
        }
        if values.is_empty() {
            state.add(entity, None, now);
        }
        for &v in values {
            state.add(entity, Some(v), now);
        }
        if self.distinct { state.distinct_count(entity, now) } else { state.count(entity, now) as f64 }
    }

    fn restore(&self, entity: u64, value: Option<u64>, at: u64) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).add(entity, value, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A well-mixed hash of a small integer, as the engine's keyed hashes would be (SplitMix64:
    /// a bare multiplicative hash of consecutive integers spreads them more evenly than chance,
    /// which HyperLogLog's small-range correction reads as more values).
    fn mix(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn windows_must_divide_into_buckets() {
        assert!(Window::new(3600, 60).is_ok());
        assert!(Window::new(3600, 7).is_err());
        assert!(Window::new(3600, 0).is_err());
        assert!(Window::new(86_400 * 365, 1).is_err());
    }

    #[test]
    fn counts_slide_out_of_the_window_with_the_clock() {
        let clock = ManualClock::new(1_000_000);
        let mut c = Counter::counting(Window::new(3600, 60).unwrap());
        for _ in 0..5 {
            c.add(1, None, clock.now());
        }
        clock.advance(1800);
        c.add(1, None, clock.now());
        c.add(2, None, clock.now());
        assert_eq!((c.count(1, clock.now()), c.count(2, clock.now()), c.count(3, clock.now())), (6, 1, 0));
        clock.advance(1800 + 60);
        assert_eq!(c.count(1, clock.now()), 1, "the first five are an hour and a minute old");
        clock.advance(3600);
        assert_eq!(c.count(1, clock.now()), 0);
        c.expire(clock.now());
        assert_eq!(c.entities(), 0);
    }

    #[test]
    fn an_event_older_than_the_ring_is_dropped_not_counted_over_newer_ones() {
        let mut c = Counter::counting(Window::new(3600, 600).unwrap());
        let now = 1_000_000_200;
        c.add(7, None, now);
        c.add(7, None, now - 7 * 600); // the ring's 7 slots hold an hour and a bucket
        assert_eq!(c.count(7, now), 1);
    }

    #[test]
    fn hyperloglog_is_within_its_error() {
        for (n, p) in [(10u64, 10u8), (1_000, 10), (100_000, 10), (50_000, 14)] {
            let mut h = Hll::new(p);
            for i in 0..n {
                h.add(mix(i));
                h.add(mix(i)); // repeats change nothing
            }
            let err = (h.estimate() - n as f64).abs() / n as f64;
            assert!(err < 3.0 * h.standard_error(), "n {n} p {p}: estimate {} ({err:.4})", h.estimate());
        }
        assert_eq!(Hll::new(10).estimate(), 0.0);
    }

    proptest! {
        /// Counts match a brute-force count of the events within the window, to one bucket:
        /// the answer lies between the events of the exact span and those of the span plus
        /// the partly covered oldest bucket. Distinct counts are exactly the estimate of one
        /// sketch of the values within the buckets the window covers (how near a sketch comes to
        /// the true number is `hyperloglog_is_within_its_error`'s: with 1,024 registers, four
        /// values can fall in two, as this test once drew).
        #[test]
        fn counters_match_brute_force(
            events in proptest::collection::vec((0u64..4, 0u64..7200, 0u64..400), 1..400),
            probe in 0u64..9000,
        ) {
            let window = Window::new(3600, 300).unwrap();
            let base = 1_700_000_000u64;
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| e.1);
            let mut c = Counter::distinct(window, 10);
            for &(entity, t, value) in &sorted {
                c.add(entity, Some(mix(value)), base + t);
            }
            let now = base + probe.max(sorted.last().unwrap().1);
            for entity in 0..4 {
                let mine: Vec<&(u64, u64, u64)> = sorted.iter().filter(|e| e.0 == entity).collect();
                let within = |from: u64| mine.iter().filter(|e| base + e.1 >= from && base + e.1 <= now).count() as u64;
                let exact = within((now + 1).saturating_sub(window.span));
                let loose = within((now + 1).saturating_sub(window.span + window.bucket));
                let got = c.count(entity, now);
                prop_assert!(exact <= got && got <= loose, "entity {entity}: {got} not in {exact}..={loose}");
                let oldest = window.oldest(now);
                let mut sketch = Hll::new(10);
                for e in mine.iter().filter(|e| base + e.1 >= oldest && base + e.1 <= now) {
                    sketch.add(mix(e.2));
                }
                let est = c.distinct_count(entity, now);
                prop_assert_eq!(est, sketch.estimate(), "entity {}", entity);
            }
        }
    }
}
