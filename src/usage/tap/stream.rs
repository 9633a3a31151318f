//! Event-stream decoding for `ConverseStream` and `InvokeModelWithResponseStream`: frames are
//! decoded as bytes arrive, only the events that matter are JSON-parsed (`metadata`,
//! `contentBlockDelta`, base64 `chunk`s), and exception / error frames become the report's
//! `stream_error`.

use std::borrow::Cow;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::super::eventstream::{Decoder, Message};
use super::estimate::{converse_delta_chars, model_chunk_chars};
use super::kind::ResponseKind;
use super::report::TokenUsage;
use super::spellings::{partial_stream_usage, usage_object};

/// Longest `stream_error` text kept, in characters.
const MAX_ERROR_CHARS: usize = 512;

/// Base64 as Bedrock sends it in `chunk` events; padding is accepted but not required.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What one event stream has shown so far.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    pub(super) decoder: Decoder,
    /// Decoding stopped after an invalid frame; further bytes are ignored.
    pub(super) failed: bool,
    /// Bytes of the whole frames decoded so far.
    pub(super) decoded_bytes: u64,
    /// Usage from `metadata` / `amazon-bedrock-invocationMetrics`.
    pub(super) reported: Option<TokenUsage>,
    /// Partial or cumulative counts seen along the way (Anthropic `message_start` etc.).
    pub(super) seen: TokenUsage,
    /// Characters of generated text (and tool-input JSON, reasoning) streamed so far.
    pub(super) text_chars: u64,
    /// The first exception, error frame or decode error (see `UsageReport::stream_error`).
    pub(super) error: Option<String>,
}

impl StreamState {
    /// Decodes the frames completed by `chunk` and handles each; stops for good at the first
    /// invalid frame.
    pub(super) fn push(&mut self, kind: ResponseKind, chunk: &[u8]) {
        if self.failed {
            return;
        }
        self.decoder.feed(chunk);
        loop {
            let before = self.decoder.buffered();
            match self.decoder.next_message() {
                Ok(Some(message)) => {
                    let frame = before.saturating_sub(self.decoder.buffered());
                    self.decoded_bytes = self.decoded_bytes.saturating_add(frame as u64);
                    self.on_message(kind, &message);
                }
                Ok(None) => break,
                Err(err) => {
                    self.failed = true;
                    self.set_error(format!("event stream decode error: {err}"));
                    break;
                }
            }
        }
    }

    fn set_error(&mut self, error: String) {
        if self.error.is_none() {
            self.error = Some(truncate_chars(error, MAX_ERROR_CHARS));
        }
    }

    fn on_message(&mut self, kind: ResponseKind, message: &Message) {
        match message.header_str(":message-type") {
            Some("exception") => {
                let kind = message.header_str(":exception-type").unwrap_or("exception");
                let text = payload_message(&message.payload);
                self.set_error(join_error(kind, &text));
            }
            Some("error") => {
                let code = message.header_str(":error-code").unwrap_or("error");
                let text = message.header_str(":error-message").unwrap_or_default();
                self.set_error(join_error(code, text));
            }
            _ => match (kind, message.header_str(":event-type")) {
                (ResponseKind::ConverseStream, Some("contentBlockDelta")) => {
                    if let Ok(event) = serde_json::from_slice::<Value>(&message.payload) {
                        self.add_chars(converse_delta_chars(&event));
                    }
                }
                (ResponseKind::ConverseStream, Some("metadata")) => {
                    if let Some(usage) = serde_json::from_slice::<Value>(&message.payload)
                        .ok()
                        .as_ref()
                        .and_then(|event| event.get("usage"))
                        .and_then(usage_object)
                    {
                        self.reported = Some(usage);
                    }
                }
                (ResponseKind::InvokeStream, Some("chunk")) => self.on_chunk(&message.payload),
                _ => {}
            },
        }
    }

    /// Handles an `InvokeModelWithResponseStream` chunk: `{"bytes": "<base64 model JSON>"}`.
    fn on_chunk(&mut self, payload: &[u8]) {
        #[derive(Deserialize)]
        struct Chunk<'a> {
            #[serde(borrow)]
            bytes: Option<Cow<'a, str>>,
        }
        let Ok(Chunk {
            bytes: Some(encoded),
        }) = serde_json::from_slice::<Chunk>(payload)
        else {
            return;
        };
        let Ok(decoded) = BASE64.decode(encoded.as_bytes()) else {
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(&decoded) else {
            return;
        };
        if let Some(usage) = event
            .get("amazon-bedrock-invocationMetrics")
            .and_then(usage_object)
        {
            self.reported = Some(usage);
        }
        if let Some(usage) = partial_stream_usage(&event) {
            self.seen.max_with(&usage);
        }
        self.add_chars(model_chunk_chars(&event));
    }

    fn add_chars(&mut self, chars: u64) {
        self.text_chars = self.text_chars.saturating_add(chars);
    }
}

/// The `message` of an exception payload (`{"message": "..."}`), or the payload as text.
fn payload_message(payload: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorPayload {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    match serde_json::from_slice::<ErrorPayload>(payload) {
        Ok(ErrorPayload { message }) => message.unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(payload).trim().to_owned(),
    }
}

fn join_error(kind: &str, message: &str) -> String {
    if message.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {message}")
    }
}

fn truncate_chars(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s.get(..at).unwrap_or_default().to_owned(),
        None => s,
    }
}
