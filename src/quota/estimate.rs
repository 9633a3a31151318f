//! The worst case a call reserves against budgets: its prompt (estimated from the body)
//! plus its maximum output, at the model's prices. After the call the reservation is
//! settled to the real usage, so the estimate only has to be an upper bound.

use crate::store::Price;

/// Bytes of request body per estimated prompt token. Real tokenizers average about four
/// bytes of English per token; two keeps the estimate above the real count for JSON
/// bodies in most languages (base64 images are over-estimated, which is safe).
pub(crate) const BYTES_PER_TOKEN: u64 = 2;

/// The output limit a request sets, in any of the shapes Bedrock models take:
/// Converse `inferenceConfig.maxTokens`, Anthropic `max_tokens`, Llama `max_gen_len`,
/// Titan `textGenerationConfig.maxTokenCount`, Nova `inferenceConfig.max_new_tokens`,
/// Mistral/Cohere `max_tokens`/`max_new_tokens`.
pub(crate) fn max_output_tokens(body: &[u8]) -> Option<u64> {
    // A typed view: serde skips everything else (the prompt) without building it.
    #[derive(serde::Deserialize)]
    struct Inference {
        #[serde(rename = "maxTokens")]
        max_tokens: Option<u64>,
        max_new_tokens: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Titan {
        #[serde(rename = "maxTokenCount")]
        max_token_count: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Request {
        #[serde(rename = "inferenceConfig")]
        inference_config: Option<Inference>,
        max_tokens: Option<u64>,
        max_gen_len: Option<u64>,
        #[serde(rename = "textGenerationConfig")]
        text_generation_config: Option<Titan>,
        max_new_tokens: Option<u64>,
    }
    let r: Request = serde_json::from_slice(body).ok()?;
    let inference = r.inference_config.as_ref();
    inference
        .and_then(|i| i.max_tokens)
        .or(r.max_tokens)
        .or(r.max_gen_len)
        .or(r.text_generation_config.and_then(|t| t.max_token_count))
        .or(inference.and_then(|i| i.max_new_tokens))
        .or(r.max_new_tokens)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_max_tokens_shape() {
        assert_eq!(
            max_output_tokens(br#"{"inferenceConfig":{"maxTokens":512}}"#),
            Some(512)
        );
        assert_eq!(
            max_output_tokens(br#"{"max_tokens":100,"messages":[]}"#),
            Some(100)
        );
        assert_eq!(max_output_tokens(br#"{"max_gen_len":64}"#), Some(64));
        assert_eq!(
            max_output_tokens(br#"{"textGenerationConfig":{"maxTokenCount":9}}"#),
            Some(9)
        );
        assert_eq!(
            max_output_tokens(br#"{"inferenceConfig":{"max_new_tokens":7}}"#),
            Some(7)
        );
        assert_eq!(max_output_tokens(br#"{"messages":[]}"#), None);
        assert_eq!(max_output_tokens(b"not json"), None);
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
    }
}
