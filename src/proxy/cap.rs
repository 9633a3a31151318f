//! The cap on open client connections (`proxy.max_connections`). Each accepted
//! connection takes a [`Slot`] for its lifetime; one accepted at the cap is answered
//! `503 ServiceUnavailableException` with `Retry-After` (plain HTTP/1.1; a TLS connection
//! is closed, as no handshake is spent on it) and closed. Reaching the cap and leaving it
//! are logged once each, not per connection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Refusals being written at once, at most; past this a refused connection is just
/// closed (a flood must not turn the refusals themselves into held descriptors).
const MAX_REFUSING: usize = 64;
/// How long a refusal may take to write and for the client to read it.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);

/// The answer at the cap, in the same shape as every other refusal of the proxy.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
x-amzn-errortype: ServiceUnavailableException\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 99\r\n\
\r\n\
{\"message\":\"The proxy is at its limit of open connections (proxy.max_connections); retry shortly.\"}";

/// Counts open connections against the cap.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionCap {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max: usize,
    open: AtomicUsize,
    refusing: AtomicUsize,
    at_cap: AtomicBool,
}

/// One open connection; frees its place when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionCap {
    /// A cap of `max` connections.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max,
                open: AtomicUsize::new(0),
                refusing: AtomicUsize::new(0),
                at_cap: AtomicBool::new(false),
            }),
        }
    }

    /// A place for one more connection, or `None` at the cap.
    pub(crate) fn take(&self) -> Option<Slot> {
        let max = self.inner.max;
        let taken = self
            .inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if taken {
            if self.inner.at_cap.swap(false, Ordering::Relaxed) {
                tracing::info!(
                    max,
                    "below proxy.max_connections again; accepting connections"
                );
            }
            return Some(Slot(Arc::clone(&self.inner)));
        }
        if !self.inner.at_cap.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max,
                "at proxy.max_connections: new connections get 503 until some close"
            );
        }
        None
    }

    /// Answers a connection refused at the cap (on the current runtime), then closes it.
    pub(crate) fn refuse(&self, mut stream: TcpStream, tls: bool) {
        if tls {
            return; // dropped: closed
        }
        if self.inner.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            self.inner.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let answer = async {
                stream.write_all(REFUSAL).await?;
                stream.shutdown().await?;
                // Read what the client sent until it closes, so that closing does not
                // reset the connection before the client has read the answer.
                let mut sink = [0u8; 1024];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<_, std::io::Error>(())
            };
            let _ = tokio::time::timeout(REFUSAL_DEADLINE, answer).await;
            inner.refusing.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_bedrock_shaped_answer() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["message"].as_str().unwrap().contains("max_connections"));
    }

    #[test]
    fn slots_are_counted_and_given_back() {
        let cap = ConnectionCap::new(2);
        let a = cap.take().unwrap();
        let _b = cap.take().unwrap();
        assert!(cap.take().is_none());
        drop(a);
        assert!(cap.take().is_some());
    }
}
