//! Reads the token usage of one Bedrock runtime response while its body streams through the
//! proxy, without buffering or altering it.
//!
//! This module owns the rules for *where* usage comes from and *what to record* when it never
//! arrives:
//!
//! 1. `X-Amzn-Bedrock-{Input,Output,Cache-Read-Input,Cache-Write-Input}-Token-Count` response
//!    headers (sent by `InvokeModel`) are taken as reported usage for any counted kind.
//! 2. `Converse` / `InvokeModel` JSON bodies (copied up to [`MAX_BODY_COPY`] bytes and parsed
//!    once at the end): `usage` in Converse, Anthropic, Nova or OpenAI-style spelling, Llama's
//!    `prompt_token_count`/`generation_token_count`, Titan's `inputTextTokenCount`.
//! 3. `ConverseStream`: the `metadata` event's `usage`.
//! 4. `InvokeModelWithResponseStream`: the chunk carrying `amazon-bedrock-invocationMetrics`.
//!
//! Streams are decoded frame by frame with [`super::eventstream::Decoder`] as bytes arrive;
//! only the payloads of events that matter are JSON-parsed (the `:event-type` header is checked
//! first). Exceptions sent mid-stream are recorded. When no usage was reported (the client went
//! away, upstream failed, the stream was cut), a conservative estimate is built from what was
//! seen: the larger of the proxy's own prompt estimate and any partial counts (Anthropic
//! `message_start` / `message_delta`), and for output the larger of the partial count and the
//! streamed text length / 4. A successful (2xx) response is never recorded as zero output.
//! `CountTokens` and unknown operations are never counted.

use std::borrow::Cow;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::eventstream::{Decoder, Message};

/// Largest response body (non-streaming kinds) copied for parsing at the end. Past this the copy
/// is dropped and usage comes from the headers or the estimate.
pub const MAX_BODY_COPY: usize = 4 * 1024 * 1024;

/// Longest `stream_error` text kept, in characters.
const MAX_ERROR_CHARS: usize = 512;

/// Response header carrying the input token count (`InvokeModel`).
pub const HEADER_INPUT_TOKENS: &str = "x-amzn-bedrock-input-token-count";
/// Response header carrying the output token count (`InvokeModel`).
pub const HEADER_OUTPUT_TOKENS: &str = "x-amzn-bedrock-output-token-count";
/// Response header carrying the prompt-cache read token count.
pub const HEADER_CACHE_READ_TOKENS: &str = "x-amzn-bedrock-cache-read-input-token-count";
/// Response header carrying the prompt-cache write token count.
pub const HEADER_CACHE_WRITE_TOKENS: &str = "x-amzn-bedrock-cache-write-input-token-count";

/// Base64 as Bedrock sends it in `chunk` events; padding is accepted but not required.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Token counts of one call. `input_tokens` excludes cache reads and writes, as Bedrock reports
/// it; the four counts are priced separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Uncached prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the prompt cache.
    pub cache_write_tokens: u64,
}

impl TokenUsage {
    /// Field-wise maximum, for merging partial or cumulative counts.
    fn max_with(&mut self, other: &TokenUsage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.max(other.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.max(other.cache_write_tokens);
    }
}

/// Which Bedrock runtime operation produced the response; decides how its body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseKind {
    /// `POST /model/{id}/invoke`: model-native JSON body, usage in headers.
    Invoke,
    /// `POST /model/{id}/converse`: Converse JSON body with `usage`.
    Converse,
    /// `POST /model/{id}/converse-stream`: event stream ending with a `metadata` event.
    ConverseStream,
    /// `POST /model/{id}/invoke-with-response-stream`: event stream of base64 `chunk` events.
    InvokeStream,
    /// `POST /model/{id}/count-tokens`: forwarded, never counted.
    CountTokens,
    /// Anything else (guardrails, async invoke, ...): forwarded, never counted.
    Other,
}

impl ResponseKind {
    /// Classifies a request path by its last segment when it is a `/model/{id}/...` operation
    /// (a path prefix before `/model/` is allowed, as Claude Code's base URL may carry one).
    #[must_use]
    pub fn from_path(path: &str) -> Self {
        if !path.contains("/model/") {
            return ResponseKind::Other;
        }
        match path.trim_end_matches('/').rsplit('/').next() {
            Some("invoke") => ResponseKind::Invoke,
            Some("invoke-with-response-stream") => ResponseKind::InvokeStream,
            Some("converse") => ResponseKind::Converse,
            Some("converse-stream") => ResponseKind::ConverseStream,
            Some("count-tokens") => ResponseKind::CountTokens,
            _ => ResponseKind::Other,
        }
    }

    /// Whether calls of this kind consume tokens that must be recorded.
    #[must_use]
    pub fn is_counted(self) -> bool {
        !matches!(self, ResponseKind::CountTokens | ResponseKind::Other)
    }

    /// Whether the response body is an AWS event stream.
    #[must_use]
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            ResponseKind::ConverseStream | ResponseKind::InvokeStream
        )
    }
}

/// Where the usage in a [`UsageReport`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageSource {
    /// Bedrock reported it (headers, body `usage`, `metadata` event, invocation metrics).
    Reported,
    /// Nothing was reported; the proxy estimated it from the prompt and what was streamed.
    Estimated,
    /// Not counted: `CountTokens`/`Other`, or a non-2xx response with nothing reported. Usage is zero.
    None,
}

/// The outcome of tapping one response.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageReport {
    /// Token counts to record (all zero when `source` is [`UsageSource::None`]).
    pub usage: TokenUsage,
    /// Where `usage` came from.
    pub source: UsageSource,
    /// An error seen inside a 2xx stream: `"<:exception-type>: <message>"` for an exception
    /// frame (e.g. `"modelStreamErrorException: Model stream failed"`), or
    /// `"event stream decode error: ..."` when the bytes were not a valid event stream. The
    /// first such error wins.
    pub stream_error: Option<String>,
    /// The response reached its normal end: the caller saw the whole body (`finish(true)`),
    /// no `stream_error` occurred, and no partial event-stream frame was left over.
    pub complete: bool,
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

#[derive(Debug, Default)]
struct BodyCopy {
    buf: Vec<u8>,
    total: u64,
    overflowed: bool,
}

#[derive(Debug, Default)]
struct StreamState {
    decoder: Decoder,
    /// Decoding stopped after an invalid frame; further bytes are ignored.
    failed: bool,
    /// Usage from `metadata` / `amazon-bedrock-invocationMetrics`.
    reported: Option<TokenUsage>,
    /// Partial or cumulative counts seen along the way (Anthropic `message_start` etc.).
    seen: TokenUsage,
    /// Characters of generated text (and tool-input JSON, reasoning) streamed so far.
    text_chars: u64,
    error: Option<String>,
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
            let estimate = TokenUsage {
                input_tokens: seen.input_tokens.max(self.estimated_input_tokens),
                output_tokens: seen.output_tokens.max(text_chars.div_ceil(4)).max(1),
                cache_read_tokens: seen.cache_read_tokens,
                cache_write_tokens: seen.cache_write_tokens,
            };
            (estimate, UsageSource::Estimated)
        };
        UsageReport {
            usage,
            source,
            stream_error,
            complete,
        }
    }
}

impl BodyCopy {
    fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len() as u64);
        if self.overflowed {
            return;
        }
        if self.buf.len().saturating_add(chunk.len()) > MAX_BODY_COPY {
            self.overflowed = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Parses the copied body: reported usage if present, and the number of characters to
    /// base an output estimate on (text in the JSON, or every byte when it does not parse).
    fn evaluate(&self) -> (Option<TokenUsage>, u64) {
        if self.overflowed {
            // Too big to be text we could count sensibly (images, embeddings); estimate
            // falls back to the never-zero floor.
            return (None, 0);
        }
        // Usually the body reports its usage: parse only the members that can hold it and
        // skip the rest (the generated text) without building a tree.
        if let Ok(UsageMembers(members)) = serde_json::from_slice(&self.buf) {
            if let Some(usage) = reported_body_usage(&Value::Object(members)) {
                return (Some(usage), 0);
            }
        }
        match serde_json::from_slice::<Value>(&self.buf) {
            Ok(body) => (reported_body_usage(&body), string_chars(&body, 0)),
            Err(_) => (None, self.total),
        }
    }
}

/// Top-level body members that [`reported_body_usage`] reads.
const USAGE_MEMBERS: [&str; 7] = [
    "amazon-bedrock-invocationMetrics",
    "usage",
    "prompt_token_count",
    "generation_token_count",
    "inputTextTokenCount",
    "results",
    "totalOutputTextTokenCount",
];

/// A JSON object's [`USAGE_MEMBERS`], parsed; every other member is skipped unparsed.
struct UsageMembers(serde_json::Map<String, Value>);

impl<'de> Deserialize<'de> for UsageMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UsageMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UsageMembers, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some(key) = map.next_key::<MemberName>()? {
                    match key.0 {
                        Some(name) => {
                            out.insert(name.to_owned(), map.next_value::<Value>()?);
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(UsageMembers(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A member name: which of [`USAGE_MEMBERS`] it is, if any (no allocation either way).
struct MemberName(Option<&'static str>);

impl<'de> Deserialize<'de> for MemberName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = MemberName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MemberName, E> {
                Ok(MemberName(USAGE_MEMBERS.iter().copied().find(|m| *m == v)))
            }
        }
        d.deserialize_str(Name)
    }
}

impl StreamState {
    fn push(&mut self, kind: ResponseKind, chunk: &[u8]) {
        if self.failed {
            return;
        }
        self.decoder.feed(chunk);
        loop {
            match self.decoder.next_message() {
                Ok(Some(message)) => self.on_message(kind, &message),
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

/// Reported usage from the `X-Amzn-Bedrock-*-Token-Count` headers, if the input or output count
/// is there and numeric.
fn usage_from_headers(headers: &HeaderMap) -> Option<TokenUsage> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
    };
    let input = get(HEADER_INPUT_TOKENS);
    let output = get(HEADER_OUTPUT_TOKENS);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(TokenUsage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cache_read_tokens: get(HEADER_CACHE_READ_TOKENS).unwrap_or(0),
        cache_write_tokens: get(HEADER_CACHE_WRITE_TOKENS).unwrap_or(0),
    })
}

/// Field spellings of the four counts across Converse, Anthropic, invocation metrics, Nova
/// and OpenAI-style bodies.
const INPUT_FIELDS: &[&str] = &[
    "inputTokens",
    "input_tokens",
    "inputTokenCount",
    "prompt_tokens",
];
const OUTPUT_FIELDS: &[&str] = &[
    "outputTokens",
    "output_tokens",
    "outputTokenCount",
    "completion_tokens",
];
const CACHE_READ_FIELDS: &[&str] = &[
    "cacheReadInputTokens",
    "cache_read_input_tokens",
    "cacheReadInputTokenCount",
];
const CACHE_WRITE_FIELDS: &[&str] = &[
    "cacheWriteInputTokens",
    "cache_creation_input_tokens",
    "cacheWriteInputTokenCount",
];

/// A non-negative count; tolerates floats (rounded up), ignores anything else.
// Non-negative and finite by the filter; `as` saturates values beyond `u64::MAX`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.ceil() as u64)
    })
}

fn first_count(object: &Value, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|name| object.get(*name).and_then(count))
}

/// Reads a usage-like object (`usage`, `amazon-bedrock-invocationMetrics`, ...); `None` unless
/// it has an input or output count.
fn usage_object(object: &Value) -> Option<TokenUsage> {
    let input = first_count(object, INPUT_FIELDS);
    let output = first_count(object, OUTPUT_FIELDS);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(TokenUsage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cache_read_tokens: first_count(object, CACHE_READ_FIELDS).unwrap_or(0),
        cache_write_tokens: first_count(object, CACHE_WRITE_FIELDS).unwrap_or(0),
    })
}

/// Llama's `prompt_token_count` / `generation_token_count` (body or stream chunk).
fn llama_usage(body: &Value) -> Option<TokenUsage> {
    let input = body.get("prompt_token_count").and_then(count);
    let output = body.get("generation_token_count").and_then(count);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(TokenUsage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        ..TokenUsage::default()
    })
}

/// Titan's `inputTextTokenCount` with `results[].tokenCount` (text) or
/// `totalOutputTextTokenCount` (stream chunks); embeddings have only the input count.
fn titan_usage(body: &Value) -> Option<TokenUsage> {
    let input = body.get("inputTextTokenCount").and_then(count)?;
    let results: u64 = body
        .get("results")
        .and_then(Value::as_array)
        .map_or(0, |results| {
            results
                .iter()
                .filter_map(|r| r.get("tokenCount").and_then(count))
                .fold(0u64, u64::saturating_add)
        });
    let total = body
        .get("totalOutputTextTokenCount")
        .and_then(count)
        .unwrap_or(0);
    Some(TokenUsage {
        input_tokens: input,
        output_tokens: results.max(total),
        ..TokenUsage::default()
    })
}

/// Usage reported in a complete non-streaming body (Converse or any model's `InvokeModel`).
fn reported_body_usage(body: &Value) -> Option<TokenUsage> {
    body.get("amazon-bedrock-invocationMetrics")
        .and_then(usage_object)
        .or_else(|| body.get("usage").and_then(usage_object))
        .or_else(|| llama_usage(body))
        .or_else(|| titan_usage(body))
}

/// Partial counts in a model stream chunk: Anthropic `message_start` (`message.usage`) and
/// `message_delta` (`usage`), Nova `metadata.usage`, Llama and Titan counters.
fn partial_stream_usage(event: &Value) -> Option<TokenUsage> {
    let candidates = [
        event
            .get("message")
            .and_then(|m| m.get("usage"))
            .and_then(usage_object),
        event.get("usage").and_then(usage_object),
        event
            .get("metadata")
            .and_then(|m| m.get("usage"))
            .and_then(usage_object),
        llama_usage(event),
        titan_usage(event),
    ];
    candidates.into_iter().flatten().reduce(|mut acc, usage| {
        acc.max_with(&usage);
        acc
    })
}

fn str_chars(value: Option<&Value>) -> u64 {
    value
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count() as u64)
}

/// Characters generated in a `ConverseStream` `contentBlockDelta`: text, tool-use input JSON and
/// reasoning text.
fn converse_delta_chars(event: &Value) -> u64 {
    let Some(delta) = event.get("delta") else {
        return 0;
    };
    str_chars(delta.get("text"))
        + str_chars(delta.get("toolUse").and_then(|t| t.get("input")))
        + str_chars(delta.get("reasoningContent").and_then(|r| r.get("text")))
}

/// Characters generated in one decoded `InvokeModelWithResponseStream` chunk, for the model
/// families whose stream shape is known (Anthropic text/thinking/tool-input deltas and legacy
/// completions, Llama, Titan, Mistral, Nova, OpenAI-style, Cohere).
fn model_chunk_chars(event: &Value) -> u64 {
    let delta = event.get("delta");
    let mut chars = str_chars(delta.and_then(|d| d.get("text")))
        + str_chars(delta.and_then(|d| d.get("thinking")))
        + str_chars(delta.and_then(|d| d.get("partial_json")))
        + str_chars(event.get("completion"))
        + str_chars(event.get("generation"))
        + str_chars(event.get("outputText"))
        + str_chars(event.get("text"))
        + str_chars(
            event
                .get("contentBlockDelta")
                .and_then(|c| c.get("delta"))
                .and_then(|d| d.get("text")),
        );
    for item in event
        .get("outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        chars += str_chars(item.get("text"));
    }
    for choice in event
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        chars += str_chars(choice.get("delta").and_then(|d| d.get("content")));
    }
    chars
}

/// Total characters of every string value in a JSON document (keys excluded): a generous
/// measure of the text in a body whose usage is unknown. Depth is bounded by `serde_json`'s own
/// recursion limit when parsing; `depth` guards against anything deeper anyway.
fn string_chars(value: &Value, depth: usize) -> u64 {
    if depth > 256 {
        return 0;
    }
    match value {
        Value::String(s) => s.chars().count() as u64,
        Value::Array(items) => items
            .iter()
            .map(|v| string_chars(v, depth + 1))
            .fold(0, u64::saturating_add),
        Value::Object(map) => map
            .values()
            .map(|v| string_chars(v, depth + 1))
            .fold(0, u64::saturating_add),
        _ => 0,
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

#[cfg(test)]
mod tests {
    use super::super::eventstream::test_encode::{event, exception, frame};
    use super::super::eventstream::HeaderValue;
    use super::*;
    use http::HeaderValue as HttpValue;

    const OK: StatusCode = StatusCode::OK;

    fn no_headers() -> HeaderMap {
        HeaderMap::new()
    }

    /// Runs a whole body through a tap in pieces of `piece` bytes.
    fn run(
        kind: ResponseKind,
        status: StatusCode,
        headers: &HeaderMap,
        estimate: u64,
        body: &[u8],
        piece: usize,
        complete: bool,
    ) -> UsageReport {
        let mut tap = UsageTap::new(kind, status, headers, estimate);
        for chunk in body.chunks(piece.max(1)) {
            tap.observe(chunk);
        }
        tap.finish(complete)
    }

    fn converse_stream_frames() -> Vec<Vec<u8>> {
        vec![
            event(
                "messageStart",
                r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGH","role":"assistant"}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefghijklmnopq"}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":", world! Ça va?"},"p":"abcd"}"#,
            ),
            event(
                "contentBlockStop",
                r#"{"contentBlockIndex":0,"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}"#,
            ),
            event(
                "messageStop",
                r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU","stopReason":"end_turn"}"#,
            ),
            event(
                "metadata",
                r#"{"metrics":{"latencyMs":437},"p":"abcdefghijklmnopqrstuvwxyzABCD","usage":{"cacheReadInputTokens":1024,"cacheWriteInputTokens":0,"inputTokens":12,"outputTokens":9,"totalTokens":1045}}"#,
            ),
        ]
    }

    /// An InvokeModelWithResponseStream `chunk` event wrapping one model JSON event.
    fn chunk(model_json: &str) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(model_json);
        event(
            "chunk",
            &format!(r#"{{"bytes":"{encoded}","p":"abcdefghijk"}}"#),
        )
    }

    const MESSAGE_START: &str = r#"{"type":"message_start","message":{"id":"msg_bdrk_01XYZ","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}"#;

    /// Text deltas totalling 40 characters.
    const DELTAS: [&str; 2] = [
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world! "}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"How are you doing today, my friend?"}}"#,
    ];

    fn anthropic_stream_frames() -> Vec<Vec<u8>> {
        vec![
            chunk(MESSAGE_START),
            chunk(
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            chunk(DELTAS[0]),
            chunk(DELTAS[1]),
            chunk(r#"{"type":"content_block_stop","index":0}"#),
            chunk(
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":42}}"#,
            ),
            chunk(
                r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":42,"invocationLatency":1234,"firstByteLatency":321,"cacheReadInputTokenCount":2000,"cacheWriteInputTokenCount":100}}"#,
            ),
        ]
    }

    fn usage(input: u64, output: u64, read: u64, write: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
        }
    }

    #[test]
    fn converse_stream_reports_metadata_usage_for_any_split() {
        let body = converse_stream_frames().concat();
        let expected = UsageReport {
            usage: usage(12, 9, 1024, 0),
            source: UsageSource::Reported,
            stream_error: None,
            complete: true,
        };
        for piece in [1, 2, 3, 7, 64, 1000, body.len()] {
            let report = run(
                ResponseKind::ConverseStream,
                OK,
                &no_headers(),
                500,
                &body,
                piece,
                true,
            );
            assert_eq!(report, expected, "piece {piece}");
        }
        // Every two-piece split.
        for split in 0..=body.len() {
            let mut tap = UsageTap::new(ResponseKind::ConverseStream, OK, &no_headers(), 0);
            tap.observe(&body[..split]);
            tap.observe(&body[split..]);
            assert_eq!(tap.finish(true), expected, "split {split}");
        }
    }

    #[test]
    fn invoke_stream_reports_invocation_metrics_with_cache_counts() {
        let body = anthropic_stream_frames().concat();
        for piece in [1, 5, 100, body.len()] {
            let report = run(
                ResponseKind::InvokeStream,
                OK,
                &no_headers(),
                9999,
                &body,
                piece,
                true,
            );
            assert_eq!(
                report,
                UsageReport {
                    usage: usage(25, 42, 2000, 100),
                    source: UsageSource::Reported,
                    stream_error: None,
                    complete: true,
                }
            );
        }
    }

    #[test]
    fn invoke_stream_cut_before_metrics_is_estimated_from_what_was_seen() {
        let frames = anthropic_stream_frames();
        // message_start and both text deltas, then half of the next frame.
        let mut body = frames[..4].concat();
        body.extend_from_slice(&frames[4][..10]);
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            10,
            &body,
            13,
            false,
        );
        assert_eq!(report.source, UsageSource::Estimated);
        assert!(!report.complete);
        assert_eq!(report.stream_error, None);
        // input: message_start's 25 beats the proxy's 10; output: ceil(49 chars / 4) = 13
        // beats message_start's 1; cache counts from message_start.
        assert_eq!(report.usage, usage(25, 13, 2000, 100));

        // The proxy's own prompt estimate wins when larger.
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            3000,
            &body,
            13,
            false,
        );
        assert_eq!(report.usage.input_tokens, 3000);

        // After message_delta (cumulative output 42) but before message_stop.
        let body = frames[..6].concat();
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            10,
            &body,
            64,
            false,
        );
        assert_eq!(report.source, UsageSource::Estimated);
        assert_eq!(report.usage, usage(25, 42, 2000, 100));
    }

    #[test]
    fn stream_cut_before_anything_useful_is_never_zero() {
        for kind in [ResponseKind::ConverseStream, ResponseKind::InvokeStream] {
            for body in [Vec::new(), converse_stream_frames()[0][..7].to_vec()] {
                let report = run(kind, OK, &no_headers(), 321, &body, 3, false);
                assert_eq!(report.source, UsageSource::Estimated);
                assert_eq!(report.usage, usage(321, 1, 0, 0), "{kind:?}");
                assert!(!report.complete);
            }
        }
    }

    #[test]
    fn converse_stream_cut_before_metadata_counts_streamed_text() {
        let frames = converse_stream_frames();
        let body = frames[..5].concat();
        let report = run(
            ResponseKind::ConverseStream,
            OK,
            &no_headers(),
            77,
            &body,
            9,
            false,
        );
        // "Hello" + ", world! Ça va?" = 5 + 15 characters (not bytes) -> 5 tokens.
        assert_eq!(report.usage, usage(77, 5, 0, 0));
        assert_eq!(report.source, UsageSource::Estimated);
        assert!(!report.complete);
    }

    #[test]
    fn converse_stream_counts_tool_input_and_reasoning_deltas() {
        let body = [
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"12345678"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":\"Paris\"}"}}}"#,
            ),
        ]
        .concat();
        let report = run(
            ResponseKind::ConverseStream,
            OK,
            &no_headers(),
            0,
            &body,
            5,
            true,
        );
        // 8 + 16 characters -> 6 tokens.
        assert_eq!(report.usage.output_tokens, 6);
        // The caller saw the whole body, and no frame was left half-read.
        assert!(report.complete);
    }

    #[test]
    fn exception_frame_is_recorded() {
        let frames = converse_stream_frames();
        let mut body = frames[..3].concat();
        body.extend(exception(
            "modelStreamErrorException",
            r#"{"message":"Model stream failed","originalStatusCode":500}"#,
        ));
        let report = run(
            ResponseKind::ConverseStream,
            OK,
            &no_headers(),
            40,
            &body,
            11,
            true,
        );
        assert_eq!(
            report.stream_error.as_deref(),
            Some("modelStreamErrorException: Model stream failed")
        );
        assert!(!report.complete, "an exception is not a normal end");
        assert_eq!(report.source, UsageSource::Estimated);
        assert_eq!(report.usage, usage(40, 5, 0, 0));

        // Same inside an InvokeModelWithResponseStream; the first error wins.
        let mut body = anthropic_stream_frames()[..1].concat();
        body.extend(exception(
            "throttlingException",
            r#"{"message":"Too many tokens, please wait before trying again."}"#,
        ));
        body.extend(exception("internalServerException", r#"{"message":"x"}"#));
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            0,
            &body,
            4096,
            true,
        );
        assert_eq!(
            report.stream_error.as_deref(),
            Some("throttlingException: Too many tokens, please wait before trying again.")
        );
        assert_eq!(report.usage, usage(25, 1, 2000, 100));
    }

    #[test]
    fn error_message_type_uses_error_headers() {
        let body = frame(
            &[
                (":message-type", HeaderValue::String("error".into())),
                (":error-code", HeaderValue::String("InternalFailure".into())),
                (
                    ":error-message",
                    HeaderValue::String("An internal error occurred".into()),
                ),
            ],
            b"",
        );
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            1,
            &body,
            3,
            true,
        );
        assert_eq!(
            report.stream_error.as_deref(),
            Some("InternalFailure: An internal error occurred")
        );
    }

    #[test]
    fn corrupt_stream_is_reported_and_keeps_what_was_seen() {
        let frames = anthropic_stream_frames();
        let mut body = frames[..3].concat();
        let mut bad = frames[3].clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff; // message CRC
        body.extend(bad);
        body.extend(frames[6].clone()); // invocation metrics after the corruption: ignored
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            0,
            &body,
            17,
            true,
        );
        let error = report.stream_error.unwrap_or_default();
        assert!(
            error.starts_with("event stream decode error: event stream message CRC mismatch"),
            "{error}"
        );
        assert!(!report.complete);
        assert_eq!(report.source, UsageSource::Estimated);
        // message_start counts, plus ceil(14 chars / 4) = 4 output.
        assert_eq!(report.usage, usage(25, 4, 2000, 100));
    }

    #[test]
    fn converse_json_body() {
        let body = br#"{"metrics":{"latencyMs":1175},"output":{"message":{"content":[{"text":"Hi there"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"cacheReadInputTokens":7,"cacheWriteInputTokens":3,"inputTokens":30,"outputTokens":5,"totalTokens":45}}"#;
        for piece in [1, 10, body.len()] {
            let report = run(
                ResponseKind::Converse,
                OK,
                &no_headers(),
                1000,
                body,
                piece,
                true,
            );
            assert_eq!(
                report,
                UsageReport {
                    usage: usage(30, 5, 7, 3),
                    source: UsageSource::Reported,
                    stream_error: None,
                    complete: true,
                }
            );
        }
    }

    #[test]
    fn invoke_headers_only() {
        let mut headers = HeaderMap::new();
        // HeaderMap names are case-insensitive; parse the mixed-case spelling AWS uses.
        for (name, value) in [
            ("X-Amzn-Bedrock-Input-Token-Count", "11"),
            ("X-Amzn-Bedrock-Output-Token-Count", " 22 "),
            ("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "33"),
            ("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", "44"),
            ("X-Amzn-Bedrock-Invocation-Latency", "555"),
        ] {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HttpValue::from_static(value),
            );
        }
        let mut tap = UsageTap::new(ResponseKind::Invoke, OK, &headers, 0);
        assert!(matches!(tap.mode, Mode::Off), "body not copied");
        tap.observe(b"\x00\xffnot json at all");
        assert_eq!(
            tap.finish(true),
            UsageReport {
                usage: usage(11, 22, 33, 44),
                source: UsageSource::Reported,
                stream_error: None,
                complete: true,
            }
        );
        // Headers win over a body with different numbers, also for streams.
        let body = anthropic_stream_frames().concat();
        let report = run(ResponseKind::InvokeStream, OK, &headers, 0, &body, 99, true);
        assert_eq!(report.usage, usage(11, 22, 33, 44));
        // Unparseable headers are ignored.
        let mut bad = HeaderMap::new();
        bad.insert(HEADER_INPUT_TOKENS, HttpValue::from_static("lots"));
        let tap = UsageTap::new(ResponseKind::Invoke, OK, &bad, 0);
        assert_eq!(tap.header_usage, None);
    }

    #[test]
    fn invoke_bodies_of_several_model_families() {
        let cases: [(&[u8], TokenUsage); 5] = [
            (
                br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":40}}"#,
                usage(10, 40, 30, 20),
            ),
            (
                br#"{"generation":"Hello","prompt_token_count":17,"generation_token_count":3,"stop_reason":"stop"}"#,
                usage(17, 3, 0, 0),
            ),
            (
                br#"{"inputTextTokenCount":8,"results":[{"tokenCount":6,"outputText":"Hi","completionReason":"FINISH"}]}"#,
                usage(8, 6, 0, 0),
            ),
            (
                br#"{"output":{"message":{"content":[{"text":"Hi"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":4,"outputTokens":2,"totalTokens":6,"cacheReadInputTokenCount":1,"cacheWriteInputTokenCount":0}}"#,
                usage(4, 2, 1, 0),
            ),
            (
                br#"{"choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#,
                usage(9, 1, 0, 0),
            ),
        ];
        for (body, expected) in cases {
            let report = run(ResponseKind::Invoke, OK, &no_headers(), 0, body, 16, true);
            assert_eq!(report.source, UsageSource::Reported);
            assert_eq!(report.usage, expected, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn invoke_body_without_usage_is_estimated() {
        // Mistral: no counts in the body. Strings: "Bonjour tout le monde!" (22) + "stop" (4).
        let body = br#"{"outputs":[{"text":"Bonjour tout le monde!","stop_reason":"stop"}]}"#;
        let report = run(ResponseKind::Invoke, OK, &no_headers(), 50, body, 8, true);
        assert_eq!(report.source, UsageSource::Estimated);
        assert_eq!(report.usage, usage(50, 7, 0, 0));
        assert!(report.complete);

        // Cut short: the JSON does not parse, so every byte received counts as text.
        let report = run(
            ResponseKind::Invoke,
            OK,
            &no_headers(),
            50,
            &body[..40],
            8,
            false,
        );
        assert_eq!(report.usage, usage(50, 10, 0, 0));
        assert!(!report.complete);
    }

    #[test]
    fn body_copy_is_capped() {
        let mut tap = UsageTap::new(ResponseKind::Converse, OK, &no_headers(), 5);
        let piece = vec![b' '; 1024 * 1024];
        for _ in 0..5 {
            tap.observe(&piece);
        }
        match &tap.mode {
            Mode::Body(body) => {
                assert!(body.overflowed);
                assert_eq!(body.buf.capacity(), 0, "copy released");
                assert_eq!(body.total, 5 * 1024 * 1024);
            }
            other => panic!("unexpected mode {other:?}"),
        }
        tap.observe(br#"{"usage":{"inputTokens":1,"outputTokens":1}}"#);
        let report = tap.finish(true);
        assert_eq!(report.source, UsageSource::Estimated);
        assert_eq!(report.usage, usage(5, 1, 0, 0));

        // Exactly at the cap is still parsed.
        let usage_json = br#"{"usage":{"inputTokens":3,"outputTokens":4}}"#;
        let mut body = vec![b' '; MAX_BODY_COPY - usage_json.len()];
        body.extend_from_slice(usage_json);
        let report = run(
            ResponseKind::Converse,
            OK,
            &no_headers(),
            0,
            &body,
            65536,
            true,
        );
        assert_eq!(report.source, UsageSource::Reported);
        assert_eq!(report.usage, usage(3, 4, 0, 0));
    }

    #[test]
    fn count_tokens_and_other_are_never_counted() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_INPUT_TOKENS, HttpValue::from_static("100"));
        headers.insert(HEADER_OUTPUT_TOKENS, HttpValue::from_static("1"));
        for kind in [ResponseKind::CountTokens, ResponseKind::Other] {
            let report = run(kind, OK, &headers, 999, br#"{"inputTokens":100}"#, 4, true);
            assert_eq!(
                report,
                UsageReport {
                    usage: TokenUsage::default(),
                    source: UsageSource::None,
                    stream_error: None,
                    complete: true,
                }
            );
        }
    }

    #[test]
    fn non_success_without_usage_is_not_counted() {
        let body = br#"{"message":"Too many requests, please wait before trying again."}"#;
        for kind in [
            ResponseKind::Invoke,
            ResponseKind::Converse,
            ResponseKind::ConverseStream,
            ResponseKind::InvokeStream,
        ] {
            let report = run(
                kind,
                StatusCode::TOO_MANY_REQUESTS,
                &no_headers(),
                500,
                body,
                7,
                true,
            );
            assert_eq!(report.source, UsageSource::None, "{kind:?}");
            assert_eq!(report.usage, TokenUsage::default());
            assert_eq!(report.stream_error, None);
        }
    }

    #[test]
    fn tap_can_move_between_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<UsageTap>();
        assert_send_sync::<UsageReport>();
    }

    #[test]
    fn response_kind_from_path() {
        let cases = [
            (
                "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
                ResponseKind::Invoke,
            ),
            (
                "/model/m/invoke-with-response-stream",
                ResponseKind::InvokeStream,
            ),
            ("/prefix/model/m/converse", ResponseKind::Converse),
            ("/model/m/converse-stream", ResponseKind::ConverseStream),
            ("/model/m/count-tokens", ResponseKind::CountTokens),
            (
                "/model/m/invoke-with-bidirectional-stream",
                ResponseKind::Other,
            ),
            ("/guardrail/g/version/1/apply", ResponseKind::Other),
            ("/async-invoke", ResponseKind::Other),
            ("/invoke", ResponseKind::Other),
        ];
        for (path, kind) in cases {
            assert_eq!(ResponseKind::from_path(path), kind, "{path}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = [
            converse_stream_frames().concat(),
            anthropic_stream_frames().concat(),
            br#"{"usage":{"inputTokens":1,"outputTokens":2}}"#.to_vec(),
        ];
        let kinds = [
            ResponseKind::Invoke,
            ResponseKind::Converse,
            ResponseKind::ConverseStream,
            ResponseKind::InvokeStream,
            ResponseKind::CountTokens,
            ResponseKind::Other,
        ];
        for round in 0..3000usize {
            let mut body = valid[round % valid.len()].clone();
            if next() % 3 == 0 {
                let len = (next() % 300) as usize;
                body = (0..len).map(|_| next() as u8).collect();
            } else {
                for _ in 0..(next() % 5 + 1) {
                    let at = (next() as usize) % body.len();
                    body[at] = next() as u8;
                }
            }
            let kind = kinds[round % kinds.len()];
            let estimate = next() % 100;
            let complete = next() % 2 == 0;
            let report = run(
                kind,
                OK,
                &no_headers(),
                estimate,
                &body,
                (next() % 50 + 1) as usize,
                complete,
            );
            if kind.is_counted() {
                // A 2xx counted call is never recorded as nothing.
                assert_ne!(report.source, UsageSource::None);
                if report.source == UsageSource::Estimated {
                    assert!(report.usage.output_tokens >= 1);
                    assert!(report.usage.input_tokens >= estimate);
                }
            } else {
                assert_eq!(report.source, UsageSource::None);
            }
            if !complete {
                assert!(!report.complete);
            }
        }
    }
}
