//! Reads the token usage of one Bedrock runtime response while its body streams through the
//! proxy, without buffering or altering it. This file owns the [`UsageTap`] state machine:
//! which mode a response is tapped in, feeding it chunks, and deciding at the end between
//! reported usage, an estimate, or nothing.
//!
//! Where usage comes from, in order of precedence:
//!
//! 1. `X-Amzn-Bedrock-{Input,Output,Cache-Read-Input,Cache-Write-Input}-Token-Count` response
//!    headers (sent by `InvokeModel`) are taken as reported usage for any counted kind.
//! 2. `Converse` / `InvokeModel` JSON bodies (copied up to [`MAX_BODY_COPY`] bytes and parsed
//!    once at the end, `body.rs`): `usage` in Converse, Anthropic, Nova or OpenAI-style spelling,
//!    Llama's `prompt_token_count`/`generation_token_count`, Titan's `inputTextTokenCount`
//!    (`spellings.rs`).
//! 3. `ConverseStream`: the `metadata` event's `usage` (`stream.rs`).
//! 4. `InvokeModelWithResponseStream`: the chunk carrying `amazon-bedrock-invocationMetrics`.
//!
//! Streams are decoded frame by frame with [`super::eventstream::Decoder`] as bytes arrive;
//! only the payloads of events that matter are JSON-parsed (the `:event-type` header is checked
//! first). Exceptions sent mid-stream are recorded. When no usage was reported (the client went
//! away, upstream failed, the stream was cut), a conservative estimate is built from what was
//! seen (`estimate.rs`). A successful (2xx) response is never recorded as zero output.
//! `CountTokens` and unknown operations are never counted (`kind.rs`).

mod body;
mod estimate;
mod kind;
mod report;
mod spellings;
mod stream;
mod usage_members;

#[cfg(test)]
mod tests;

use http::{HeaderMap, StatusCode};

use body::BodyCopy;
use spellings::usage_from_headers;
use stream::StreamState;

pub use kind::ResponseKind;
pub(crate) use report::UsageSource;
pub use report::{TokenUsage, UsageReport};

/// An event stream's state between chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamView {
    /// Bytes of the whole frames decoded so far (from the start of the body).
    pub(crate) decoded: u64,
    /// Bytes of an incomplete frame held by the decoder (they end the bytes fed so far).
    pub(crate) partial: usize,
    /// The bytes are not a valid event stream; decoding stopped.
    pub(crate) malformed: bool,
    /// The stream's closing event arrived: its usage, or an exception.
    pub(crate) closed: bool,
}

/// Observes one response's body chunks in order and works out its token usage.
///
/// Create it when the response head arrives, call [`observe`](UsageTap::observe) with every
/// body chunk as it is forwarded, and [`finish`](UsageTap::finish) once the body ended or was
/// abandoned. `observe` never fails or panics, whatever the bytes; it does no work at all for
/// uncounted kinds, non-2xx responses, or non-streaming responses whose headers already
/// carried the usage.
#[derive(Debug)]
pub struct UsageTap {
    kind: ResponseKind,
    success: bool,
    estimated_input_tokens: u64,
    header_usage: Option<TokenUsage>,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// Body is not looked at.
    Off,
    /// Non-streaming JSON body being copied.
    Body(BodyCopy),
    /// Event stream being decoded.
    Stream(Box<StreamState>),
}

impl UsageTap {
    /// Starts tapping a response of `kind` with the given status and headers.
    ///
    /// `estimated_input_tokens`: the proxy's estimate of the prompt, used only when nothing is
    /// reported (it is the floor for the estimated input count).
    #[must_use]
    pub fn new(
        kind: ResponseKind,
        status: StatusCode,
        headers: &HeaderMap,
        estimated_input_tokens: u64,
    ) -> Self {
        let success = status.is_success();
        let header_usage = if kind.is_counted() {
            usage_from_headers(headers)
        } else {
            None
        };
        let mode = match kind {
            _ if !kind.is_counted() || !success => Mode::Off,
            ResponseKind::ConverseStream | ResponseKind::InvokeStream => {
                Mode::Stream(Box::default())
            }
            _ if header_usage.is_some() => Mode::Off,
            _ => Mode::Body(BodyCopy::default()),
        };
        UsageTap {
            kind,
            success,
            estimated_input_tokens,
            header_usage,
            mode,
        }
    }

    /// Feeds the next body chunk. Cheap: non-streaming bodies are appended to a capped copy;
    /// streams are decoded frame by frame and only relevant events are parsed.
    pub fn observe(&mut self, chunk: &[u8]) {
        match &mut self.mode {
            Mode::Off => {}
            Mode::Body(body) => body.push(chunk),
            Mode::Stream(stream) => stream.push(self.kind, chunk),
        }
    }

    /// Where an event stream stands, for a body that passes on whole frames only; `None`
    /// when this response is not tapped as an event stream.
    pub(crate) fn event_stream(&self) -> Option<StreamView> {
        match &self.mode {
            Mode::Stream(s) => Some(StreamView {
                decoded: s.decoded_bytes,
                partial: s.decoder.buffered(),
                malformed: s.failed,
                closed: s.reported.is_some() || s.error.is_some(),
            }),
            _ => None,
        }
    }

    /// Ends the tap and returns what to record.
    ///
    /// `complete`: whether the whole body was received (false when the client went away or
    /// the upstream failed mid-body).
    #[must_use]
    pub fn finish(self, complete: bool) -> UsageReport {
        if !self.kind.is_counted() {
            return UsageReport {
                usage: TokenUsage::default(),
                source: UsageSource::None,
                stream_error: None,
                complete,
            };
        }
        let mut stream_error = None;
        let mut leftover = false;
        let (body_reported, seen, text_chars) = match self.mode {
            Mode::Off => (None, TokenUsage::default(), 0),
            Mode::Body(body) => {
                let (reported, chars) = body.evaluate();
                (reported, TokenUsage::default(), chars)
            }
            Mode::Stream(stream) => {
                leftover = stream.decoder.buffered() > 0;
                stream_error = stream.error;
                (stream.reported, stream.seen, stream.text_chars)
            }
        };
        let complete = complete && stream_error.is_none() && !leftover;
        let (usage, source) = if let Some(usage) = self.header_usage.or(body_reported) {
            (usage, UsageSource::Reported)
        } else if !self.success {
            (TokenUsage::default(), UsageSource::None)
        } else {
            (
                estimate::conservative(&seen, self.estimated_input_tokens, text_chars),
                UsageSource::Estimated,
            )
        };
        UsageReport {
            usage,
            source,
            stream_error,
            complete,
        }
    }
}
