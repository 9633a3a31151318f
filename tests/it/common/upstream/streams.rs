//! Streamed answers (ConverseStream, InvokeModelWithResponseStream): the event frames of
//! each operation, their fault modes, and a body that sends frame by frame with an
//! optional delay between events.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::event_stream::encode_event_frame;
use super::responses::{converse_usage, message_id, RespBody};
use super::{
    CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, FIRST_BYTE_LATENCY_MS, INPUT_TOKENS, LATENCY_MS,
    OUTPUT_TOKENS,
};

/// The answer as the stream deltas carry it.
const TEXT_PARTS: [&str; 2] = ["Hello ", "from fake Bedrock"];

/// How a stream ends: normally, with an exception frame, never (`Hang`), with the
/// connection broken after the first events (`Reset`), closed cleanly in the middle of
/// a frame (`Cut`), or with bytes that are not an event stream (`Garbage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StreamMode {
    Complete,
    Midstream,
    Hang,
    Reset,
    Cut,
    Garbage,
}

impl StreamMode {
    /// Whether the stream stops after its first text delta.
    fn stops_early(self) -> bool {
        matches!(self, Self::Hang | Self::Reset | Self::Cut | Self::Garbage)
    }

    /// What follows the first events of a stream that stops early.
    fn tail(self, next_frame: &Bytes) -> Option<Bytes> {
        match self {
            Self::Cut => Some(next_frame.slice(..next_frame.len() / 2)),
            // A prelude whose CRC does not match: no decoder takes it for a frame.
            Self::Garbage => Some(Bytes::from_static(
                b"\x00\x00\x00\x10\x00\x00\x00\x00garbage!",
            )),
            _ => None,
        }
    }
}

/// A response body fed frame by frame from a channel, so each event goes out on its own;
/// an `Err` item breaks the response (the connection, on HTTP/1.1).
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| bytes.map(Frame::data)))
    }
}

/// An event-stream answer that sends `frames` one by one, `delay` apart, then ends as
/// `mode` says (stays open for `Hang`, breaks for `Reset`).
pub(super) fn stream_response(
    frames: Vec<Bytes>,
    mode: StreamMode,
    delay: Duration,
    request_id: &str,
    invoke_style: bool,
) -> Response<RespBody> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
        match mode {
            // Keep the stream open until the client goes away.
            StreamMode::Hang => tx.closed().await,
            StreamMode::Reset => {
                // The body waits once first, so that the server flushes the events (it
                // does when the body is not ready) before the error drops the connection.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
                let _ = tx.send(Err(reset)).await;
            }
            _ => {}
        }
    });
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", request_id);
    if invoke_style {
        builder = builder.header("x-amzn-bedrock-content-type", "application/json");
    }
    builder
        .body(ChannelBody { rx }.boxed())
        .expect("valid response")
}

/// An `event` message with a JSON payload.
fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    Bytes::from(encode_event_frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    ))
}

/// An `exception` message, as Bedrock sends mid-stream.
fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    Bytes::from(encode_event_frame(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    ))
}

/// ConverseStream: message start, text deltas, stop and the metadata event with usage.
pub(super) fn converse_stream_frames(mode: StreamMode) -> Vec<Bytes> {
    let mut frames = vec![event_frame(
        "messageStart",
        &json!({"role": "assistant", "p": "abcd"}),
    )];
    if mode == StreamMode::Midstream {
        frames.push(exception_frame(
            "modelStreamErrorException",
            "Model stream failed",
        ));
        return frames;
    }
    for (i, text) in TEXT_PARTS.iter().enumerate() {
        frames.push(event_frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcd"}),
        ));
        if mode.stops_early() && i == 0 {
            frames.extend(mode.tail(&frames[1]));
            return frames;
        }
    }
    frames.push(event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0, "p": "abcd"}),
    ));
    frames.push(event_frame(
        "messageStop",
        &json!({"stopReason": "end_turn", "p": "abcd"}),
    ));
    frames.push(event_frame(
        "metadata",
        &json!({"usage": converse_usage(), "metrics": {"latencyMs": LATENCY_MS}, "p": "abcd"}),
    ));
    frames
}

/// An InvokeModelWithResponseStream `chunk`: the Anthropic event in base64.
fn chunk_frame(anthropic_event: &Value) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(anthropic_event.to_string());
    event_frame("chunk", &json!({"bytes": b64, "p": "abc"}))
}

/// InvokeModelWithResponseStream: the Anthropic events, usage in `message_start`,
/// `message_delta` and the invocation metrics of `message_stop`.
pub(super) fn invoke_stream_frames(model_id: &str, n: u64, mode: StreamMode) -> Vec<Bytes> {
    let mut frames = vec![chunk_frame(&json!({
        "type": "message_start",
        "message": {
            "id": message_id(n),
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "output_tokens": 1,
                "cache_read_input_tokens": CACHE_READ_TOKENS,
                "cache_creation_input_tokens": CACHE_WRITE_TOKENS
            }
        }
    }))];
    if mode == StreamMode::Midstream {
        frames.push(exception_frame(
            "modelStreamErrorException",
            "Model stream failed",
        ));
        return frames;
    }
    frames.push(chunk_frame(&json!({
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""}
    })));
    for (i, text) in TEXT_PARTS.iter().enumerate() {
        frames.push(chunk_frame(&json!({
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text}
        })));
        if mode.stops_early() && i == 0 {
            let tail = mode.tail(&frames[2]);
            frames.extend(tail);
            return frames;
        }
    }
    frames.push(chunk_frame(
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(chunk_frame(&json!({
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": OUTPUT_TOKENS}
    })));
    frames.push(chunk_frame(&json!({
        "type": "message_stop",
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": INPUT_TOKENS,
            "outputTokenCount": OUTPUT_TOKENS,
            "invocationLatency": LATENCY_MS,
            "firstByteLatency": FIRST_BYTE_LATENCY_MS,
            "cacheReadInputTokenCount": CACHE_READ_TOKENS,
            "cacheWriteInputTokenCount": CACHE_WRITE_TOKENS
        }
    })));
    frames
}
