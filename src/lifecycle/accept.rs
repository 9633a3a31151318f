//! The accept loop of both listeners (proxy and admin): accepts until the stop signal
//! fires, then drops the listening socket. Failed accepts never spin: a connection that
//! failed on its own (reset or aborted before it was accepted) is skipped, anything
//! else (out of file descriptors: EMFILE, ENFILE; out of buffers) sleeps with a delay
//! growing from [`FIRST_DELAY`] to [`MAX_DELAY`]. A burst of failures is logged when it
//! starts, every [`REPORT_EVERY`] while it lasts (with the count), and when accepting
//! works again, not per failure.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The first pause after a failed accept.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(5);
/// The longest pause between failed accepts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);
/// How often a burst of failures that goes on is logged again.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Accepts on `listener` (named `name` in logs) until `stop` fires, handing each
/// connection to `hand_off`; returns with the listening socket closed.
pub(crate) async fn accept_until_stopped(
    name: &'static str,
    listener: TcpListener,
    stop: &CancellationToken,
    mut hand_off: impl FnMut(TcpStream, SocketAddr),
) {
    let mut backoff = Backoff::default();
    let mut reported = tokio::time::Instant::now();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                if let Some(failures) = backoff.succeeded() {
                    tracing::info!(listener = name, failures, "accepting connections again");
                }
                hand_off(stream, remote);
            }
            Err(e) => {
                let after = backoff.failed(&e);
                if after.first_in_burst {
                    reported = tokio::time::Instant::now();
                    tracing::warn!(listener = name, error = %e,
                        "accepting connections fails; backing off until it works again");
                } else if after.pause > Duration::ZERO && reported.elapsed() >= REPORT_EVERY {
                    reported = tokio::time::Instant::now();
                    tracing::warn!(listener = name, error = %e, failures = backoff.failures,
                        "accepting connections still fails");
                }
                if after.pause.is_zero() {
                    continue;
                }
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(after.pause) => {}
                }
            }
        }
    }
    drop(listener);
}

/// What to do after a failed accept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AfterFailure {
    /// How long to wait before the next accept (zero: at once).
    pub(crate) pause: Duration,
    /// This failure starts a burst (log it; later ones in the burst are not).
    pub(crate) first_in_burst: bool,
}

/// The backoff state of one accept loop.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// The pause the next resource failure gets; zero outside a burst.
    delay: Duration,
    /// Resource failures in the current burst.
    failures: u64,
}

impl Backoff {
    /// Records a failed accept and says how long to pause.
    pub(crate) fn failed(&mut self, e: &io::Error) -> AfterFailure {
        if connection_failed_on_its_own(e) {
            // Only that connection is lost; the listener is fine.
            return AfterFailure {
                pause: Duration::ZERO,
                first_in_burst: false,
            };
        }
        let first_in_burst = self.failures == 0;
        self.failures += 1;
        self.delay = if first_in_burst {
            FIRST_DELAY
        } else {
            (self.delay * 2).min(MAX_DELAY)
        };
        AfterFailure {
            pause: self.delay,
            first_in_burst,
        }
    }

    /// Records an accepted connection; returns the number of failures if this ends a
    /// burst.
    pub(crate) fn succeeded(&mut self) -> Option<u64> {
        if self.failures == 0 {
            return None;
        }
        let failures = self.failures;
        *self = Self::default();
        Some(failures)
    }
}

/// Errors that belong to one incoming connection, not to the listener.
fn connection_failed_on_its_own(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
