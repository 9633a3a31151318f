//! The conservative estimate recorded when nothing was reported, and the text measures it
//! rests on: characters of generated text in Converse deltas and per-model stream chunks, and
//! of every string in a body without usage.

use serde_json::Value;

use super::report::TokenUsage;

/// What to record when nothing was reported for a successful call: the larger of the proxy's
/// own prompt estimate and any partial input count, partial cache counts as seen, and for
/// output the larger of the partial count and `text_chars / 4` (rounded up), never below 1.
pub(super) fn conservative(
    seen: &TokenUsage,
    estimated_input_tokens: u64,
    text_chars: u64,
) -> TokenUsage {
    TokenUsage {
        input_tokens: seen.input_tokens.max(estimated_input_tokens),
        output_tokens: seen.output_tokens.max(text_chars.div_ceil(4)).max(1),
        cache_read_tokens: seen.cache_read_tokens,
        cache_write_tokens: seen.cache_write_tokens,
    }
}

fn str_chars(value: Option<&Value>) -> u64 {
    value
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count() as u64)
}

/// Characters generated in a `ConverseStream` `contentBlockDelta`: text, tool-use input JSON and
/// reasoning text.
pub(super) fn converse_delta_chars(event: &Value) -> u64 {
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
pub(super) fn model_chunk_chars(event: &Value) -> u64 {
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
pub(super) fn string_chars(value: &Value, depth: usize) -> u64 {
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
