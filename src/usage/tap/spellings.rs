//! Where each model family spells its token counts, and reading them into [`TokenUsage`]:
//! the `X-Amzn-Bedrock-*-Token-Count` response headers, the field names of usage objects
//! (Converse, Anthropic, invocation metrics, Nova, OpenAI-style), Llama's and Titan's counters,
//! and which members of a body or stream chunk hold them.

use http::HeaderMap;
use serde_json::Value;

use super::report::TokenUsage;

/// Response header carrying the input token count (`InvokeModel`).
pub(crate) const HEADER_INPUT_TOKENS: &str = "x-amzn-bedrock-input-token-count";
/// Response header carrying the output token count (`InvokeModel`).
pub(crate) const HEADER_OUTPUT_TOKENS: &str = "x-amzn-bedrock-output-token-count";
/// Response header carrying the prompt-cache read token count.
pub(crate) const HEADER_CACHE_READ_TOKENS: &str = "x-amzn-bedrock-cache-read-input-token-count";
/// Response header carrying the prompt-cache write token count.
pub(crate) const HEADER_CACHE_WRITE_TOKENS: &str = "x-amzn-bedrock-cache-write-input-token-count";

/// Reported usage from the `X-Amzn-Bedrock-*-Token-Count` headers, if the input or output count
/// is there and numeric.
pub(super) fn usage_from_headers(headers: &HeaderMap) -> Option<TokenUsage> {
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
pub(super) fn usage_object(object: &Value) -> Option<TokenUsage> {
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
pub(super) fn reported_body_usage(body: &Value) -> Option<TokenUsage> {
    body.get("amazon-bedrock-invocationMetrics")
        .and_then(usage_object)
        .or_else(|| body.get("usage").and_then(usage_object))
        .or_else(|| llama_usage(body))
        .or_else(|| titan_usage(body))
}

/// Partial counts in a model stream chunk: Anthropic `message_start` (`message.usage`) and
/// `message_delta` (`usage`), Nova `metadata.usage`, Llama and Titan counters.
pub(super) fn partial_stream_usage(event: &Value) -> Option<TokenUsage> {
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
