//! The worst case a call reserves against budgets: its prompt (estimated from the body)
//! plus its maximum output, at the model's prices. After the call the reservation is
//! settled to the real usage, so the estimate only has to be an upper bound.

use crate::store::Price;

/// Bytes of request body per estimated prompt token. Real tokenizers average about four
/// bytes of English per token; two keeps the estimate above the real count for JSON
/// bodies in most languages (base64 images are over-estimated, which is safe).
pub(crate) const BYTES_PER_TOKEN: u64 = 2;

/// The largest output limit a request may ask for: above every model's maximum output,
/// so no real request is refused, and small enough that the worst case stays finite.
pub(crate) const MAX_OUTPUT_TOKENS_CEILING: u64 = 10_000_000;

/// The output-limit fields Bedrock models read, as (object path, field): Converse
/// `inferenceConfig.maxTokens`, Anthropic and Mistral/Cohere `max_tokens`, Llama
/// `max_gen_len`, Titan `textGenerationConfig.maxTokenCount`, Nova
/// `inferenceConfig.max_new_tokens`, a top-level `max_new_tokens`, AI21 Jurassic's
/// top-level `maxTokens` and Anthropic's legacy text completions' `max_tokens_to_sample`.
const FIELDS: [(Option<&str>, &str); 8] = [
    (Some("inferenceConfig"), "maxTokens"),
    (None, "max_tokens"),
    (None, "max_gen_len"),
    (Some("textGenerationConfig"), "maxTokenCount"),
    (Some("inferenceConfig"), "max_new_tokens"),
    (None, "max_new_tokens"),
    (None, "maxTokens"),
    (None, "max_tokens_to_sample"),
];

/// An output-limit field that is not a whole number of tokens in range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{field}` must be a whole number of tokens from 0 to {MAX_OUTPUT_TOKENS_CEILING}, given once (got {value})"
)]
pub(crate) struct BadOutputLimit {
    /// The field, with its enclosing object (`inferenceConfig.maxTokens`).
    pub(crate) field: String,
    /// The value as sent, cut to a readable length.
    pub(crate) value: String,
}

/// The output limit a request sets: the largest of every output-limit field present
/// (`FIELDS`), so that adding a second, smaller spelling cannot lower the reservation.
/// `Ok(None)` when the body sets none (or is not a JSON object; Bedrock refuses those).
/// A field that is present but not a whole number from 0 to [`MAX_OUTPUT_TOKENS_CEILING`]
/// (`100000.0`, `"100000"`, `-1`, `1e30`, an integer literal past `u64`) is an error:
/// reserving a default for it would let a caller dodge the budget by spelling the number
/// differently. So is a top-level output-limit field given twice (which one a model
/// reads is not ours to guess).
pub(crate) fn max_output_tokens(body: &[u8]) -> Result<Option<u64>, BadOutputLimit> {
    use serde_json::Value;
    // Only the fields that can hold an output limit are built; serde skips the prompt.
    #[derive(serde::Deserialize)]
    struct Request {
        #[serde(rename = "inferenceConfig")]
        inference_config: Option<Value>,
        #[serde(rename = "textGenerationConfig")]
        text_generation_config: Option<Value>,
        max_tokens: Option<Value>,
        max_gen_len: Option<Value>,
        max_new_tokens: Option<Value>,
        #[serde(rename = "maxTokens")]
        max_tokens_ai21: Option<Value>,
        max_tokens_to_sample: Option<Value>,
    }
    let r = match serde_json::from_slice::<Request>(body) {
        Ok(r) => r,
        // Every field is optional and of any type: a JSON object fails only when one of
        // them is given twice (`{"max_tokens":1,"max_tokens":1000000}`).
        Err(e) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() && e.is_data() => {
            if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Ok(None);
            }
            return Err(BadOutputLimit {
                field: duplicate_field(&e.to_string()),
                value: "it more than once".into(),
            });
        }
        // Not JSON: Bedrock refuses it, at no cost.
        Err(_) => return Ok(None),
    };
    let mut largest: Option<u64> = None;
    for (object, field) in FIELDS {
        let value = match (object, field) {
            (Some("inferenceConfig"), f) => r.inference_config.as_ref().and_then(|o| o.get(f)),
            (Some(_), f) => r.text_generation_config.as_ref().and_then(|o| o.get(f)),
            (None, "max_tokens") => r.max_tokens.as_ref(),
            (None, "max_gen_len") => r.max_gen_len.as_ref(),
            (None, "maxTokens") => r.max_tokens_ai21.as_ref(),
            (None, "max_tokens_to_sample") => r.max_tokens_to_sample.as_ref(),
            (None, _) => r.max_new_tokens.as_ref(),
        };
        let tokens = match value {
            None | Some(Value::Null) => continue,
            Some(Value::Number(n)) => n.as_u64().filter(|&t| t <= MAX_OUTPUT_TOKENS_CEILING),
            Some(_) => None,
        };
        let Some(tokens) = tokens else {
            let mut shown = value.map(Value::to_string).unwrap_or_default();
            if shown.len() > 40 {
                shown = format!("{}...", shown.chars().take(40).collect::<String>());
            }
            return Err(BadOutputLimit {
                field: object.map_or_else(|| field.to_string(), |o| format!("{o}.{field}")),
                value: shown,
            });
        };
        largest = Some(largest.map_or(tokens, |l| l.max(tokens)));
    }
    Ok(largest)
}

/// The field serde names in a "duplicate field `name`" error, or a generic name.
fn duplicate_field(error: &str) -> String {
    error
        .split('`')
        .nth(1)
        .unwrap_or("an output-limit field")
        .to_string()
}

/// Estimated prompt tokens of a request body.
pub(crate) fn prompt_tokens(body: &[u8]) -> u64 {
    (body.len() as u64).div_ceil(BYTES_PER_TOKEN).max(1)
}

/// The worst-case cost in USD: every prompt token at the dearer of the input and
/// cache-write prices, plus the maximum output.
pub(crate) fn worst_case_usd(price: &Price, prompt_tokens: u64, max_output_tokens: u64) -> f64 {
    let input = price
        .input_per_1k
        .max(price.cache_write_per_1k.unwrap_or(0.0));
    prompt_tokens as f64 * input / 1000.0 + max_output_tokens as f64 * price.output_per_1k / 1000.0
}

/// The largest output limit whose worst case fits in `room_usd` with this prompt, if
/// any does (a hint for a caller refused because its worst case did not fit).
pub(crate) fn fitting_output_tokens(
    price: &Price,
    prompt_tokens: u64,
    room_usd: f64,
) -> Option<u64> {
    let prompt_usd = worst_case_usd(price, prompt_tokens, 0);
    if price.output_per_1k <= 0.0 || room_usd <= prompt_usd {
        return None;
    }
    // Floor, then one token less to stay clear of rounding to micro-USD.
    let tokens = ((room_usd - prompt_usd) * 1000.0 / price.output_per_1k).floor() as u64;
    tokens.checked_sub(1).filter(|&t| t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_max_tokens_shape() {
        let read = |b: &[u8]| max_output_tokens(b).unwrap();
        assert_eq!(read(br#"{"inferenceConfig":{"maxTokens":512}}"#), Some(512));
        assert_eq!(read(br#"{"max_tokens":100,"messages":[]}"#), Some(100));
        assert_eq!(read(br#"{"max_gen_len":64}"#), Some(64));
        assert_eq!(
            read(br#"{"textGenerationConfig":{"maxTokenCount":9}}"#),
            Some(9)
        );
        assert_eq!(
            read(br#"{"inferenceConfig":{"max_new_tokens":7}}"#),
            Some(7)
        );
        assert_eq!(read(br#"{"max_new_tokens":3,"max_tokens":null}"#), Some(3));
        assert_eq!(read(br#"{"maxTokens":200}"#), Some(200));
        assert_eq!(read(br#"{"max_tokens_to_sample":300}"#), Some(300));
        // Other members given twice are the model's business, not the reservation's.
        assert_eq!(
            read(br#"{"messages":[],"messages":[],"max_tokens":5}"#),
            Some(5)
        );
        assert_eq!(read(br#"{"messages":[]}"#), None);
        assert_eq!(read(b"not json"), None);
        assert_eq!(read(b"[1,2]"), None);
    }

    #[test]
    fn the_largest_spelling_counts() {
        let body = br#"{"max_tokens":100,"inferenceConfig":{"maxTokens":90000},"max_gen_len":5}"#;
        assert_eq!(max_output_tokens(body).unwrap(), Some(90000));
    }

    #[test]
    fn spellings_that_would_dodge_the_reservation_are_refused() {
        for (body, field) in [
            (&br#"{"max_tokens":100000.0}"#[..], "max_tokens"),
            (br#"{"max_tokens":"100000"}"#, "max_tokens"),
            (br#"{"max_tokens":100000,"max_gen_len":-1}"#, "max_gen_len"),
            (br#"{"max_tokens":1e30}"#, "max_tokens"),
            (
                br#"{"max_tokens":1000000000000000000000000000000}"#,
                "max_tokens",
            ),
            (br#"{"max_tokens":-0.5}"#, "max_tokens"),
            (br#"{"max_tokens":true}"#, "max_tokens"),
            (br#"{"maxTokens":"5000000"}"#, "maxTokens"),
            (br#"{"max_tokens_to_sample":1e6}"#, "max_tokens_to_sample"),
            (br#"{"max_tokens":10,"max_tokens":1000000}"#, "max_tokens"),
            (
                br#"{"inferenceConfig":{"max_new_tokens":{"n":1}}}"#,
                "inferenceConfig.max_new_tokens",
            ),
            (
                br#"{"inferenceConfig":{"maxTokens":10000001}}"#,
                "inferenceConfig.maxTokens",
            ),
            (
                br#"{"textGenerationConfig":{"maxTokenCount":[1]}}"#,
                "textGenerationConfig.maxTokenCount",
            ),
        ] {
            let e = max_output_tokens(body).unwrap_err();
            assert_eq!(e.field, field, "{}", String::from_utf8_lossy(body));
            assert!(e.to_string().contains("whole number"), "{e}");
        }
        assert_eq!(
            max_output_tokens(br#"{"max_tokens":10000000}"#).unwrap(),
            Some(MAX_OUTPUT_TOKENS_CEILING)
        );
    }

    #[test]
    fn worst_case_uses_the_dearer_input_price() {
        let p = Price {
            model_id: "m".into(),
            input_per_1k: 0.003,
            output_per_1k: 0.015,
            cache_read_per_1k: Some(0.0003),
            cache_write_per_1k: Some(0.00375),
        };
        let usd = worst_case_usd(&p, 1000, 1000);
        assert!((usd - (0.00375 + 0.015)).abs() < 1e-12);
        assert_eq!(prompt_tokens(&[b'x'; 2001]), 1001);
        // $0.10 left, $0.00375 of prompt: (0.09625 * 1000 / 0.015) = 6416 tokens, less one.
        assert_eq!(fitting_output_tokens(&p, 1000, 0.10), Some(6415));
        assert!(worst_case_usd(&p, 1000, 6415) <= 0.10);
        assert_eq!(fitting_output_tokens(&p, 1000, 0.003), None);
    }
}
