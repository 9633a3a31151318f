//! Connections that hold a descriptor and do nothing. A connection is idle while no call
//! is in flight on it (from its head being read to the last byte of its answer); one that
//! stays idle for `proxy.idle_timeout_secs`, from when it opened or its last call ended,
//! is closed. Calls in flight are never cut here: they have their own deadlines (the
//! body's pace, `upstream.timeout_secs`).
//!
//! Bytes are deliberately not what counts: HTTP/2 keep-alive pings and a client
//! trickling a request head would both look busy. The hot path pays two relaxed atomic
//! additions per call; the [`Watchdog`] looks every quarter of the timeout.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// What the watchdog of one connection watches.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Calls in flight.
    in_flight: AtomicUsize,
    /// Calls started and ended: changes whenever a call starts or ends.
    events: AtomicU64,
}

impl Activity {
    /// Marks a call in flight until the returned guard is dropped.
    pub(crate) fn call(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// One call in flight on a connection.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.events.fetch_add(1, Ordering::Relaxed);
    }
}

/// Decides when a connection has been idle long enough.
#[derive(Debug)]
pub(crate) struct Watchdog {
    activity: Arc<Activity>,
    timeout: Duration,
    seen: u64,
    idle_for: Duration,
}

impl Watchdog {
    /// A watchdog closing after `timeout` idle.
    pub(crate) fn new(activity: Arc<Activity>, timeout: Duration) -> Self {
        Self {
            activity,
            timeout,
            seen: 0,
            idle_for: Duration::ZERO,
        }
    }

    /// How often [`Self::look`] runs.
    pub(crate) fn period(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_millis(50))
    }

    /// One look, `period` after the last: `true` when the connection has now been idle
    /// for the whole timeout.
    pub(crate) fn look(&mut self, period: Duration) -> bool {
        let events = self.activity.events.load(Ordering::Relaxed);
        let busy = self.activity.in_flight.load(Ordering::Relaxed) > 0;
        if busy || events != self.seen {
            self.seen = events;
            self.idle_for = Duration::ZERO;
            return false;
        }
        self.idle_for += period;
        self.idle_for >= self.timeout
    }

    /// Resolves once the connection has been idle for the timeout.
    pub(crate) async fn expired(mut self) {
        let period = self.period();
        loop {
            tokio::time::sleep(period).await;
            if self.look(period) {
                return;
            }
        }
    }
}

/// A response body that keeps its call in flight until it is over.
pub(crate) struct Tracked<B> {
    inner: B,
    _call: InFlight,
}

impl<B> Tracked<B> {
    /// `inner`, with `call` ending when it is dropped.
    pub(crate) fn new(inner: B, call: InFlight) -> Self {
        Self { inner, _call: call }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_secs(15);

    #[test]
    fn idle_counts_from_the_last_call_and_never_during_one() {
        let activity = Arc::new(Activity::default());
        let mut dog = Watchdog::new(Arc::clone(&activity), Duration::from_secs(60));
        assert_eq!(dog.period(), Q);
        assert!(!dog.look(Q) && !dog.look(Q) && !dog.look(Q));
        let call = activity.call();
        for _ in 0..10 {
            assert!(!dog.look(Q), "a call in flight is never idle");
        }
        drop(call);
        // The call's end restarts the count: four idle looks after it.
        assert!(!dog.look(Q));
        assert!(!dog.look(Q) && !dog.look(Q) && !dog.look(Q));
        assert!(dog.look(Q));
    }

    #[test]
    fn a_short_call_between_looks_still_counts_as_activity() {
        let activity = Arc::new(Activity::default());
        let mut dog = Watchdog::new(Arc::clone(&activity), Duration::from_secs(60));
        assert!(!dog.look(Q) && !dog.look(Q) && !dog.look(Q));
        drop(activity.call());
        assert!(!dog.look(Q), "started and ended since the last look");
        assert!(!dog.look(Q) && !dog.look(Q) && !dog.look(Q));
        assert!(dog.look(Q));
    }
}
