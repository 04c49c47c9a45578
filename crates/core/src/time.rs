//! Time, injected: every part that reads the time reads a [`Clock`], so that tests drive it
//! and a replay of events decides as it did live. An event carries its own time, which windows
//! and histories run on, but a client's clock may be wrong or lying: [`EventTime::of`] keeps it
//! within a skew of the arrival and says when it did not.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where a part gets the time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> u64;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// A clock set by hand: for tests, and for replays that follow each event's time.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: u64) -> Self {
        ManualClock(AtomicU64::new(now))
    }

    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::Relaxed);
    }

    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The time an event is counted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The event's own time was further than the skew from its arrival, and was moved to the
    /// nearer edge (a decision says so among its reasons).
    pub clamped: bool,
}

impl EventTime {
    /// The event's own time `claimed`, kept within `skew` seconds of its `arrival`: windows
    /// and histories run on event time (a replay, a queue that delivers late), but a client
    /// cannot move an event to another day.
    pub fn of(claimed: u64, arrival: u64, skew: u64) -> EventTime {
        let (lo, hi) = (arrival.saturating_sub(skew), arrival.saturating_add(skew));
        let at = claimed.clamp(lo, hi);
        EventTime { at, clamped: at != claimed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_kept_within_the_skew_of_their_arrival() {
        assert_eq!(EventTime::of(1_000, 1_010, 60), EventTime { at: 1_000, clamped: false });
        assert_eq!(
            EventTime::of(1_070, 1_010, 60),
            EventTime { at: 1_070, clamped: false },
            "the edge is inside"
        );
        assert_eq!(
            EventTime::of(5_000, 1_010, 60),
            EventTime { at: 1_070, clamped: true },
            "from the future"
        );
        assert_eq!(EventTime::of(0, 1_010, 60), EventTime { at: 950, clamped: true }, "from long ago");
        assert_eq!(EventTime::of(u64::MAX, u64::MAX - 5, 60), EventTime { at: u64::MAX, clamped: false });
        assert_eq!(EventTime::of(3, 10, 60), EventTime { at: 3, clamped: false }, "no underflow near zero");
    }

    #[test]
    fn a_manual_clock_is_set_and_moved_by_hand() {
        let c = ManualClock::new(100);
        c.advance(5);
        assert_eq!(c.now(), 105);
        c.set(7);
        assert_eq!(c.now(), 7);
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
