//! [`TapBody`]: the upstream response body on its way to the caller. Every frame is passed
//! on as it arrives (no buffering); a copy of its bytes feeds the [`UsageTap`]. When the
//! body ends, fails, runs past the call's deadline, or is dropped because the caller went
//! away, the call is finished exactly once: its usage is settled and recorded, with the
//! moment the first body byte arrived (for the time-to-first-byte metric) and, when it
//! did not reach its normal end, why ([`EndedEarly`]).
//!
//! An event stream is passed on in whole frames: the bytes of an incomplete last frame
//! wait for the rest of it (the caller could not decode them earlier anyway). So when the
//! upstream's stream breaks (connection reset, deadline, a clean close in the middle of a
//! frame or before the closing usage event, bytes that are not an event stream) the
//! caller gets, after the last whole frame, an exception frame that says what happened,
//! as Bedrock ends a stream that failed, and a clean end, rather than a broken connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::domain::EndedEarly;
use crate::usage::eventstream::encode_exception;
use crate::usage::{UsageReport, UsageTap};

/// The exception a caller gets when the upstream's connection broke or stalled: retryable.
const UNAVAILABLE: &str = "serviceUnavailableException";
/// The exception a caller gets when the upstream's stream was cut or malformed.
const INTERNAL: &str = "internalServerException";

/// What `poll_frame` answers.
type Polled = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

/// The error type of bodies the proxy sends.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What happens when a call is finished: settle and record.
pub(crate) trait Finish: Send + 'static {
    /// Called once with the usage read from the response, when its first body byte
    /// arrived (`None` if none did), and why the body ended early, if it did.
    fn finish(
        self: Box<Self>,
        report: UsageReport,
        first_byte: Option<Instant>,
        ended: Option<EndedEarly>,
    );
}

/// A streaming response body that reads usage as it passes.
pub(crate) struct TapBody {
    inner: Incoming,
    tap: Option<UsageTap>,
    on_finish: Option<Box<dyn Finish>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    first_byte: Option<Instant>,
    /// Event-stream bytes received and not passed on yet: the start of a frame whose
    /// end has not arrived.
    held: BytesMut,
    /// Event-stream bytes passed on so far.
    passed: u64,
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
            held: BytesMut::new(),
            passed: 0,
        }
    }

    /// Finishes the call once; `error` is what the caller was last told, in an exception
    /// frame of the proxy's, recorded before the stream's own error if it had one.
    fn finish(&mut self, ended: Option<EndedEarly>, error: Option<String>) {
        if let (Some(tap), Some(on_finish)) = (self.tap.take(), self.on_finish.take()) {
            let mut report = tap.finish(ended.is_none());
            if let Some(error) = error {
                report.stream_error = Some(match report.stream_error.take() {
                    Some(own) => format!("{error} ({own})"),
                    None => error,
                });
            }
            on_finish.finish(report, self.first_byte, ended);
        }
    }

    /// Whether the response is tapped as an event stream (passed on in whole frames).
    fn is_event_stream(&self) -> bool {
        self.tap.as_ref().and_then(UsageTap::event_stream).is_some()
    }

    /// Ends an event stream early: after `whole` (the last whole frames) the caller gets
    /// an `exception` frame saying what happened, then the end of the body.
    fn end_stream(
        &mut self,
        whole: Bytes,
        ended: EndedEarly,
        exception: &str,
        what: &str,
    ) -> Polled {
        self.held.clear();
        let message = format!("bedrock-gate: {what}");
        self.finish(Some(ended), Some(format!("{exception}: {message}")));
        let mut out = BytesMut::from(&whole[..]);
        out.extend_from_slice(&encode_exception(exception, &message).unwrap_or_default());
        if out.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(out.freeze()))))
    }

    /// The whole frames among what was held and `data`, given that the first `decoded`
    /// bytes of the stream are whole frames; the rest is held for later. No copy while
    /// frames arrive whole.
    fn whole_frames(&mut self, mut data: Bytes, decoded: u64) -> Bytes {
        let ready = usize::try_from(decoded.saturating_sub(self.passed)).unwrap_or(usize::MAX);
        let whole = if self.held.is_empty() {
            let rest = data.split_off(ready.min(data.len()));
            self.held.extend_from_slice(&rest);
            data
        } else {
            self.held.extend_from_slice(&data);
            let n = ready.min(self.held.len());
            self.held.split_to(n).freeze()
        };
        self.passed += whole.len() as u64;
        whole
    }

    /// Handles one data frame from upstream.
    fn on_data(&mut self, data: Bytes) -> Option<Polled> {
        let Some(tap) = self.tap.as_mut() else {
            return Some(Poll::Ready(Some(Ok(Frame::data(data)))));
        };
        if self.first_byte.is_none() && !data.is_empty() {
            self.first_byte = Some(Instant::now());
        }
        tap.observe(&data);
        let Some(stream) = tap.event_stream() else {
            return Some(Poll::Ready(Some(Ok(Frame::data(data)))));
        };
        let whole = self.whole_frames(data, stream.decoded);
        if stream.malformed {
            return Some(self.end_stream(
                whole,
                EndedEarly::Malformed,
                INTERNAL,
                "Bedrock's response is not a valid event stream; the stream was ended here.",
            ));
        }
        // Nothing whole yet: poll the upstream again.
        (!whole.is_empty()).then(|| Poll::Ready(Some(Ok(Frame::data(whole)))))
    }

    /// Why an event stream whose upstream body ended cleanly is cut short, if it is: it
    /// stopped in the middle of a frame, or before its closing event.
    fn truncation(&self) -> Option<&'static str> {
        let s = self.tap.as_ref().and_then(UsageTap::event_stream)?;
        if s.partial > 0 {
            Some("Bedrock closed the response stream in the middle of an event.")
        } else if !s.closed {
            Some("Bedrock closed the response stream before its final (usage) event.")
        } else {
            None
        }
    }

    /// Handles the end of the upstream's body.
    fn on_end(&mut self) -> Polled {
        if let Some(what) = self.truncation() {
            return self.end_stream(Bytes::new(), EndedEarly::Truncated, INTERNAL, what);
        }
        self.finish(None, None);
        Poll::Ready(None)
    }
}

impl Body for TapBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = &mut *self;
        loop {
            if this.on_finish.is_none() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => match this.on_data(data) {
                        Some(polled) => return polled,
                        None => continue,
                    },
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(e))) => {
                    if this.is_event_stream() {
                        let what = format!("the connection to Bedrock broke mid-stream ({e}).");
                        return this.end_stream(
                            Bytes::new(),
                            EndedEarly::UpstreamReset,
                            UNAVAILABLE,
                            &what,
                        );
                    }
                    this.finish(Some(EndedEarly::UpstreamReset), None);
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(None) => return this.on_end(),
                Poll::Pending => {
                    if this.deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if this.is_event_stream() {
                        return this.end_stream(
                            Bytes::new(),
                            EndedEarly::UpstreamTimeout,
                            UNAVAILABLE,
                            "Bedrock's response ran past upstream.timeout_secs.",
                        );
                    }
                    this.finish(Some(EndedEarly::UpstreamTimeout), None);
                    return Poll::Ready(Some(Err("upstream.timeout_secs elapsed".into())));
                }
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
        // A body of known length is dropped by the server once it has all of it, without
        // a last poll: that is the normal end. Otherwise the caller went away (or the
        // server is shutting down) before the end.
        let ended = match (self.inner.is_end_stream(), self.truncation()) {
            (false, _) => Some(EndedEarly::ClientClosed),
            (true, Some(_)) => Some(EndedEarly::Truncated),
            (true, None) => None,
        };
        self.finish(ended, None);
    }
}
