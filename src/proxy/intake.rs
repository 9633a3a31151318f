//! Taking in a request body without letting clients hold the proxy's memory: the body
//! must fit `proxy.max_body_bytes`, every body held in memory at once must fit the
//! shared [`BodyBudget`] (`proxy.max_pending_body_bytes`, else 503 with `Retry-After`),
//! and it must arrive at a sustained rate (`proxy.body_timeout_secs` plus one second per
//! `proxy.min_body_bytes_per_sec` received, else 408).
//!
//! The body's bytes are held against the budget from the moment they are read (or
//! announced by `Content-Length`) until the call has been handed upstream: that is when
//! the proxy's copy is released.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::config::ClientLimits;
use crate::error::GateError;

/// Seconds a client refused for memory is asked to wait before retrying.
const RETRY_AFTER_SECS: u64 = 1;

/// The request-body bytes all calls may hold in memory at once.
#[derive(Clone, Debug)]
pub(crate) struct BodyBudget {
    inner: Arc<Budget>,
}

#[derive(Debug)]
struct Budget {
    total: usize,
    held: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `total` bytes.
    pub(crate) fn new(total: usize) -> Self {
        Self {
            inner: Arc::new(Budget {
                total,
                held: AtomicUsize::new(0),
            }),
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// Holds `bytes` more, or `None` when they do not fit.
    fn hold(&self, bytes: usize) -> Option<BodyHold> {
        let mut hold = BodyHold {
            budget: Arc::clone(&self.inner),
            bytes: 0,
        };
        hold.grow(bytes).then_some(hold)
    }
}

/// Bytes of one body held against the [`BodyBudget`]; released when dropped.
#[derive(Debug)]
pub(crate) struct BodyHold {
    budget: Arc<Budget>,
    bytes: usize,
}

impl BodyHold {
    /// Holds `more` bytes; `false` (and nothing held) when they do not fit.
    fn grow(&mut self, more: usize) -> bool {
        let total = self.budget.total;
        let grown = self
            .budget
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(more).filter(|&n| n <= total)
            });
        if grown.is_ok() {
            self.bytes += more;
        }
        grown.is_ok()
    }
}

impl Drop for BodyHold {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// How bodies are taken in: the size limit, the budget and the pace.
#[derive(Clone, Debug)]
pub(crate) struct Intake {
    /// `proxy.max_body_bytes`.
    pub(crate) max_body_bytes: usize,
    /// Shared by every call of this proxy.
    pub(crate) budget: BodyBudget,
    /// The time any body gets.
    pub(crate) body_timeout: Duration,
    /// The slowest sustained rate served.
    pub(crate) min_bytes_per_sec: u64,
}

impl Intake {
    /// The intake `limits` describe, with its own budget.
    pub(crate) fn new(max_body_bytes: usize, limits: &ClientLimits) -> Self {
        Self {
            max_body_bytes,
            budget: BodyBudget::new(limits.max_pending_body_bytes),
            body_timeout: limits.body_timeout,
            min_bytes_per_sec: limits.min_body_bytes_per_sec.max(1),
        }
    }

    /// How long a body that has delivered `received` bytes may have taken so far.
    fn allowed(&self, received: usize) -> Duration {
        self.body_timeout + Duration::from_secs_f64(received as f64 / self.min_bytes_per_sec as f64)
    }

    fn overloaded(&self) -> GateError {
        GateError::Overloaded {
            message: format!(
                "The proxy is holding its limit of {} bytes of request bodies \
                 (proxy.max_pending_body_bytes); retry shortly.",
                self.budget.inner.total
            ),
            retry_after_secs: RETRY_AFTER_SECS,
        }
    }

    /// Reads the whole body, holding its bytes against the budget; the hold is returned
    /// with the bytes and must live until the body has been handed upstream.
    pub(crate) async fn read(
        &self,
        mut body: Incoming,
        headers: &http::HeaderMap,
    ) -> Result<(Bytes, BodyHold), GateError> {
        let limit = self.max_body_bytes;
        let declared = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(GateError::BodyTooLarge { limit });
        }
        // What the client announced is held before a byte is read: forty clients each
        // announcing the largest body cannot all start.
        let announced = declared.map_or(0, |n| n as usize);
        let mut hold = self
            .budget
            .hold(announced)
            .ok_or_else(|| self.overloaded())?;
        let started = Instant::now();
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        let mut received = 0usize;
        loop {
            let deadline = started + self.allowed(received);
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(GateError::RequestTimeout(format!(
                        "The request body arrived too slowly: {received} bytes in {:.0} s; the \
                         proxy waits {} s plus one second per {} bytes received.",
                        started.elapsed().as_secs_f64(),
                        self.body_timeout.as_secs(),
                        self.min_bytes_per_sec
                    )))
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(GateError::Validation(format!(
                        "the request body could not be read: {e}"
                    )))
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers carry nothing the proxy signs or forwards
            };
            received += data.len();
            if received > limit {
                return Err(GateError::BodyTooLarge { limit });
            }
            if received > hold.bytes && !hold.grow(received - hold.bytes) {
                return Err(self.overloaded());
            }
            // One frame (the usual case) is passed on as it is, without a copy.
            match (&mut first, &mut rest) {
                (None, None) => first = Some(data),
                (Some(f), None) => {
                    let mut joined = BytesMut::with_capacity(announced.max(f.len() + data.len()));
                    joined.extend_from_slice(f);
                    joined.extend_from_slice(&data);
                    first = None;
                    rest = Some(joined);
                }
                (_, Some(joined)) => joined.extend_from_slice(&data),
            }
        }
        let bytes = match (first, rest) {
            (_, Some(joined)) => joined.freeze(),
            (Some(f), None) => f,
            (None, None) => Bytes::new(),
        };
        Ok((bytes, hold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_holds_what_fits_and_releases_on_drop() {
        let budget = BodyBudget::new(100);
        let a = budget.hold(60).unwrap();
        assert!(budget.hold(41).is_none(), "60 + 41 is over 100");
        let mut b = budget.hold(40).unwrap();
        assert_eq!(budget.held(), 100);
        assert!(!b.grow(1), "a full budget grows no hold");
        assert_eq!(b.bytes, 40, "a failed grow holds nothing more");
        drop(a);
        assert_eq!(budget.held(), 40);
        assert!(b.grow(60));
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn a_slow_body_gets_the_base_time_plus_its_pace() {
        let intake = Intake {
            max_body_bytes: 1 << 20,
            budget: BodyBudget::new(1 << 20),
            body_timeout: Duration::from_secs(30),
            min_bytes_per_sec: 1000,
        };
        assert_eq!(intake.allowed(0), Duration::from_secs(30));
        assert_eq!(intake.allowed(5000), Duration::from_secs(35));
    }
}
