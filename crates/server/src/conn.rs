//! Connections: how many a listener holds, how long an idle one stays open, and what the
//! accept loop does when the process runs out of descriptors.
//!
//! A connection is *idle* when no request is in flight on it (for the milter: since its last
//! command). An HTTP connection idle for `[limits] idle_timeout_ms` is closed — before its
//! first request (a socket that says nothing, or only the HTTP/2 preface) as between two — so
//! that sockets that send nothing cannot hold descriptors. A request in flight is bounded by
//! `client_timeout_ms` instead.
//!
//! A listener holds at most `[limits] max_connections`. When it is full, the connection idle
//! the longest is closed to make room; when none is idle, the new one is closed at once. When
//! `accept` fails for want of descriptors, the idlest connection is closed too, and the
//! failures are backed off (10 ms doubling to 1 s) and logged at most every 10 s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::Notify;

use crate::metrics::ClosedLabels;
// The connections' clock is tokio's, so that tests can pause and advance it.
use tokio::time::Instant as Clock;

/// The connections of one listener.
#[derive(Debug)]
pub struct Tracker {
    /// `scan`, `controller` or `milter`.
    pub listener: &'static str,
    cap: usize,
    epoch: Clock,
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Connections closed by the server, by why (`warden_connections_closed_total`): `idle`
    /// (past the timeout), `evicted` (idle, closed to make room), `refused` (new, the listener
    /// full with none idle).
    closed: Family<ClosedLabels, Counter>,
}

/// One open connection.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    epoch: Clock,
    /// Requests in flight.
    active: AtomicUsize,
    /// Milliseconds after the epoch when it last became idle (or opened, or had a command).
    idle_since: AtomicU64,
    closing: AtomicBool,
    close: Notify,
    /// Told when a request ends, so that the idle deadline is counted from then.
    ended: Notify,
}

/// A request in flight on a connection; the connection is idle again when it is dropped.
#[derive(Debug)]
pub struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        self.0.ended.notify_waiters();
    }
}

impl Tracker {
    /// A tracker of `listener`'s connections, `cap` at most.
    pub fn new(listener: &'static str, cap: usize, closed: Family<ClosedLabels, Counter>) -> Arc<Tracker> {
        Arc::new(Tracker {
            listener,
            cap: cap.max(1),
            epoch: Clock::now(),
            next: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            closed,
        })
    }

    /// Counts a connection the server closed, and why.
    pub fn closed(&self, why: &'static str) {
        self.closed.get_or_create(&ClosedLabels { listener: self.listener.into(), why: why.into() }).inc();
    }

    /// How many the server closed for `why`.
    #[cfg(test)]
    fn closed_count(&self, why: &'static str) -> u64 {
        self.closed.get_or_create(&ClosedLabels { listener: self.listener.into(), why: why.into() }).get()
    }

    /// Takes a new connection in, making room by closing the connection idle the longest when
    /// the listener is full; `None` when it is full and none is idle (close the new one).
    pub fn admit(&self) -> Option<Arc<Conn>> {
        let mut conns = self.conns.lock().expect("not poisoned");
        let open = conns.values().filter(|c| !c.closing.load(Ordering::Relaxed)).count();
        if open >= self.cap {
            if !Self::evict_idlest(&conns) {
                self.closed("refused");
                return None;
            }
            self.closed("evicted");
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            epoch: self.epoch,
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            closing: AtomicBool::new(false),
            close: Notify::new(),
            ended: Notify::new(),
        });
        conns.insert(id, Arc::clone(&conn));
        Some(conn)
    }

    /// Closes the connection idle the longest, to free its descriptor; false when none is.
    pub fn close_idlest(&self) -> bool {
        let conns = self.conns.lock().expect("not poisoned");
        let closed = Self::evict_idlest(&conns);
        if closed {
            self.closed("evicted");
        }
        closed
    }

    fn evict_idlest(conns: &HashMap<u64, Arc<Conn>>) -> bool {
        let idlest = conns
            .values()
            .filter(|c| c.active.load(Ordering::Relaxed) == 0 && !c.closing.load(Ordering::Relaxed))
            .min_by_key(|c| c.idle_since.load(Ordering::Relaxed));
        match idlest {
            Some(c) => {
                c.closing.store(true, Ordering::Relaxed);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// A connection has ended.
    pub fn remove(&self, conn: &Conn) {
        self.conns.lock().expect("not poisoned").remove(&conn.id);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.conns.lock().expect("not poisoned").len()
    }
}

impl Conn {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A request starts; it ends when the guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.active.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// Something happened on it (a milter command): it is idle from now.
    pub fn touch(&self) {
        self.idle_since.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Resolves when the connection must close: closed to make room, or idle for `timeout`.
    /// Returns true for the idle timeout.
    pub async fn expired(&self, timeout: Duration) -> bool {
        loop {
            // Registered before the state is read: a request that ends after the read wakes it.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.closing.load(Ordering::Relaxed) {
                return false;
            }
            // With a request in flight, wait for it to end; idle, until the deadline.
            let wait = if self.active.load(Ordering::Relaxed) > 0 {
                None
            } else {
                let deadline =
                    self.idle_since.load(Ordering::Relaxed).saturating_add(timeout.as_millis() as u64);
                match deadline.checked_sub(self.now_ms()) {
                    Some(ms) if ms > 0 => Some(Duration::from_millis(ms)),
                    _ => return true,
                }
            };
            tokio::select! {
                _ = async {
                    match wait {
                        Some(w) => tokio::time::sleep(w).await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = &mut ended => {}
                _ = self.close.notified() => return false,
            }
        }
    }

    /// Resolves when the connection is closed to make room.
    pub async fn evicted(&self) {
        if !self.closing.load(Ordering::Relaxed) {
            self.close.notified().await;
        }
    }
}

/// Failures of one listener's `accept`: backed off, and logged at most every 10 s.
#[derive(Debug)]
pub struct AcceptErrors {
    listener: &'static str,
    delay: Duration,
    logged: Option<Instant>,
    unlogged: u64,
}

/// Errors that mean the process or the system is out of something (descriptors, buffers):
/// closing an idle connection may help.
fn scarce(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if [libc_codes::EMFILE, libc_codes::ENFILE, libc_codes::ENOBUFS, libc_codes::ENOMEM].contains(&code))
}

/// The errno values of Linux, named (the `libc` crate is not a dependency for four numbers).
mod libc_codes {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}

impl AcceptErrors {
    /// The accept errors of `listener`.
    pub fn new(listener: &'static str) -> Self {
        AcceptErrors { listener, delay: Duration::ZERO, logged: None, unlogged: 0 }
    }

    /// An accept failed: frees a descriptor when they are scarce, logs (at most every 10 s),
    /// and answers how long to wait before accepting again.
    pub fn failed(&mut self, e: &std::io::Error, tracker: &Tracker) -> Duration {
        let freed = scarce(e) && tracker.close_idlest();
        self.delay = (self.delay * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        if self.logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            tracing::warn!(
                listener = self.listener,
                error = %e,
                since_last_line = self.unlogged,
                closed_an_idle_connection = freed,
                retry_ms = self.delay.as_millis() as u64,
                "accept failed"
            );
            self.logged = Some(Instant::now());
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        self.delay
    }

    /// An accept succeeded: the next failure waits the least again (the rate of log lines
    /// stays bounded across successes).
    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }
}

/// Raises the soft limit on open descriptors to the hard limit (as far as allowed); returns
/// the limits before and after.
pub fn raise_descriptor_limit() -> std::io::Result<(u64, u64)> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (now.current, now.maximum) else { return Ok((u64::MAX, u64::MAX)) };
    let target = hard.unwrap_or(u64::MAX).min(1 << 20);
    if target <= soft {
        return Ok((soft, soft));
    }
    setrlimit(Resource::Nofile, rustix::process::Rlimit { current: Some(target), maximum: hard })
        .map_err(std::io::Error::from)?;
    Ok((soft, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_and_a_busy_one_waits_for_its_request() {
        let t = Tracker::new("scan", 8, Family::default());
        let c = t.admit().unwrap();
        let start = tokio::time::Instant::now();
        // The clock is paused: the timers fire as virtual time advances, no real sleeping.
        assert!(c.expired(Duration::from_millis(10_000)).await);
        assert!(start.elapsed() >= Duration::from_millis(10_000));
        let busy = c.busy();
        let held = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.expired(Duration::from_millis(10_000)).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!held.is_finished(), "a request in flight is not idle");
        drop(busy);
        assert!(held.await.unwrap(), "idle once the request is done");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_listener_closes_its_idlest_connection_and_refuses_when_none_is_idle() {
        let t = Tracker::new("scan", 2, Family::default());
        let a = t.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = t.admit().unwrap();
        let _busy_b = b.busy();
        let c = t.admit().expect("a is idle: it makes room");
        assert!(!a.expired(Duration::from_secs(3600)).await, "a was closed to make room, not timed out");
        t.remove(&a);
        let _busy_c = c.busy();
        assert!(t.admit().is_none(), "full, and nothing idle");
        assert_eq!((t.closed_count("evicted"), t.closed_count("refused")), (1, 1));
        assert!(!t.close_idlest(), "nothing idle to free");
    }
}
