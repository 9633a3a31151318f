//! [`TapBody`]: the upstream response body on its way to the caller. Every frame is passed
//! on as it arrives (no buffering); a copy of its bytes feeds the [`UsageTap`]. When the
//! body ends, fails, runs past the call's deadline, or is dropped because the caller went
//! away, the call is finished exactly once: its usage is settled and recorded, with the
//! moment the first body byte arrived (for the time-to-first-byte metric).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::usage::{UsageReport, UsageTap};

/// The error type of bodies the proxy sends.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What happens when a call is finished: settle and record.
pub(crate) trait Finish: Send + 'static {
    /// Called once with the usage read from the response and when its first body byte
    /// arrived (`None` if none did).
    fn finish(self: Box<Self>, report: UsageReport, first_byte: Option<Instant>);
}

/// A streaming response body that reads usage as it passes.
pub(crate) struct TapBody {
    inner: Incoming,
    tap: Option<UsageTap>,
    on_finish: Option<Box<dyn Finish>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    first_byte: Option<Instant>,
}

impl TapBody {
    /// Wraps `inner`; `on_finish` runs once when the body is over, however it ends.
    pub(crate) fn new(
        inner: Incoming,
        tap: UsageTap,
        on_finish: Box<dyn Finish>,
        deadline: tokio::time::Instant,
    ) -> Self {
        Self {
            inner,
            tap: Some(tap),
            on_finish: Some(on_finish),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            first_byte: None,
        }
    }

    fn finish(&mut self, complete: bool) {
        if let (Some(tap), Some(on_finish)) = (self.tap.take(), self.on_finish.take()) {
            on_finish.finish(tap.finish(complete), self.first_byte);
        }
    }
}

impl Body for TapBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.on_finish.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(tap)) = (frame.data_ref(), this.tap.as_mut()) {
                    if this.first_byte.is_none() && !data.is_empty() {
                        this.first_byte = Some(Instant::now());
                    }
                    tap.observe(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(false);
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    this.finish(false);
                    return Poll::Ready(Some(Err("upstream.timeout_secs elapsed".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // Not `inner.is_end_stream()`: the server must poll once more so that the end
        // is seen here, and the call is finished as complete rather than dropped.
        self.on_finish.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TapBody {
    fn drop(&mut self) {
        // The caller went away (or the server is shutting down) before the end.
        self.finish(false);
    }
}
