//! Bytes in flight, across listeners (`[limits] max_bytes_in_flight`).
//!
//! A request's body is read here — after its token is checked, before any decision slot is
//! taken: as it arrives, each chunk is counted against the budget, and a body that would take
//! the budget past its end is refused at once (503, `Retry-After: 1`). A declared
//! `Content-Length` above the route's limit is refused (413), and one above what the budget has
//! left is refused (503), before a byte of the body is read; nothing is set aside for a declared
//! length, so a head that promises much and sends nothing holds nothing. Only then does the
//! request reach its handler and, for checks, ask for one of `max_in_flight` slots — so
//! clients that stall in the middle of their upload hold what they sent, never a slot. The
//! milter counts what it keeps of a message against the same budget.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, AppState, Metrics};

/// The budget's unit: permits are KiB.
const UNIT: usize = 1024;

/// The bytes every listener shares.
#[derive(Debug, Clone)]
pub struct Budget {
    permits: Arc<Semaphore>,
    total: usize,
}

/// Bytes held against the budget, given back when dropped.
#[derive(Debug, Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    fn units(&self) -> usize {
        self.0.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

impl Budget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Budget {
        let total = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Budget { permits: Arc::new(Semaphore::new(total)), total }
    }

    /// Makes `held` cover `bytes` in all; false, taking nothing more, when the budget has
    /// not that much left.
    pub fn cover(&self, held: &mut Held, bytes: usize) -> bool {
        let (want, have) = (bytes.div_ceil(UNIT), held.units());
        if want <= have {
            return true;
        }
        let Ok(more) = u32::try_from(want - have) else { return false };
        match Arc::clone(&self.permits).try_acquire_many_owned(more) {
            Ok(p) => {
                match &mut held.0 {
                    Some(h) => h.merge(p),
                    None => held.0 = Some(p),
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Gives back what `held` has beyond `bytes`.
    pub fn shrink(held: &mut Held, bytes: usize) {
        let (want, have) = (bytes.div_ceil(UNIT), held.units());
        if want == 0 {
            held.0 = None;
        } else if have > want
            && let Some(h) = &mut held.0
        {
            drop(h.split(have - want));
        }
    }

    /// Bytes held now.
    pub fn in_use(&self) -> usize {
        (self.total - self.permits.available_permits()) * UNIT
    }

    /// Bytes left now.
    pub fn available(&self) -> usize {
        self.permits.available_permits() * UNIT
    }
}

/// The largest body a route takes: a plug-in's route that carries a message (mail's check or
/// label, [`crate::Plugin::message_routes`]) takes `max_message_bytes`; anything else (a desk
/// request, a JSON event) is a few fields.
fn body_limit(state: &AppState, path: &str, max_message_bytes: usize) -> usize {
    let message = state.plugins().iter().any(|p| p.message_routes().contains(&path));
    if message { max_message_bytes } else { crate::desk_api::DESK_BODY_BYTES }
}

/// A body's first allocation at most, made when its first bytes arrive: the rest is counted,
/// then allocated, as it arrives.
const FIRST_CHUNK: usize = 64 << 10;

fn too_large(limit: usize, small: bool) -> Response {
    let what = if small {
        format!("this endpoint takes a body of at most {limit} bytes")
    } else {
        format!("message larger than the server's limit (max_message_bytes = {limit})")
    };
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, what).into_response()
}

/// Reads the whole body against the byte budget before the request goes on (see the module).
pub(crate) async fn buffer_body(
    State((state, listener)): State<(AppState, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let max_message = state.settings().limits.max_message_bytes;
    let limit = body_limit(&state, req.uri().path(), max_message);
    let small = limit < max_message;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit, small);
    }
    let budget = state.budget();
    let spent = || {
        Metrics::count(&state.metrics().memory_shed, listener);
        let mut r = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server holds as many bytes of requests as it may (max_bytes_in_flight); retry",
        )
        .into_response();
        r.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        r
    };
    // A declared body the budget could not hold now is refused before it is sent. Nothing is
    // set aside for it, though: bytes count as they arrive, so a head that promises much and
    // sends nothing holds nothing.
    if declared.is_some_and(|n| n > budget.available() as u64) {
        return spent();
    }
    let mut held = Held::default();
    let first = (declared.unwrap_or(0) as usize).min(FIRST_CHUNK);
    let (parts, mut body) = req.into_parts();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                return ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}"))
                    .into_response();
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        let total = buf.len() + data.len();
        if total > limit {
            return too_large(limit, small);
        }
        if total > buf.capacity() {
            // Grown as a Vec grows (doubling; the first time to what was declared, up to 64 KiB),
            // but counted before it is allocated.
            let capacity = total.max(buf.capacity() * 2).max(first).min(limit);
            if !budget.cover(&mut held, capacity) {
                return spent();
            }
            buf.reserve_exact(capacity - buf.len());
        }
        buf.extend_from_slice(&data);
    }
    let response = next.run(Request::from_parts(parts, Body::from(buf))).await;
    drop(held);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_taken_in_full_or_not_at_all_and_given_back() {
        let b = Budget::new(10 * UNIT);
        let (mut x, mut y) = (Held::default(), Held::default());
        assert!(b.cover(&mut x, 6 * UNIT));
        assert!(b.cover(&mut x, 6 * UNIT), "already covered");
        assert!(!b.cover(&mut y, 5 * UNIT), "6 + 5 > 10");
        assert_eq!(b.in_use(), 6 * UNIT, "a refusal takes nothing");
        assert!(b.cover(&mut y, 4 * UNIT));
        Budget::shrink(&mut x, UNIT + 1);
        assert_eq!(b.in_use(), 6 * UNIT);
        drop(y);
        assert_eq!(b.in_use(), 2 * UNIT);
        Budget::shrink(&mut x, 0);
        assert_eq!(b.in_use(), 0);
    }
}
