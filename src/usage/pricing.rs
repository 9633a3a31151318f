//! Model prices in memory, and the matching of the many spellings of a model id (bare
//! ids, cross-region inference-profile ids, foundation-model and profile ARNs) to one
//! price.

use std::collections::HashMap;

use super::TokenUsage;
use crate::store::Price;

/// Geographic prefixes of cross-region inference profiles (`eu.anthropic...`).
const GEO_PREFIXES: [&str; 9] = [
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.", "in.",
];

/// All prices, keyed by bare model id.
#[derive(Clone, Debug, Default)]
pub(crate) struct PriceBook {
    prices: HashMap<String, Price>,
}

impl PriceBook {
    /// A price book from the stored prices.
    pub(crate) fn new(prices: Vec<Price>) -> Self {
        Self {
            prices: prices
                .into_iter()
                .map(|p| (normalize_model_id(&p.model_id).to_string(), p))
                .collect(),
        }
    }

    /// The price of a model, however it is spelled.
    pub(crate) fn lookup(&self, model_id: &str) -> Option<&Price> {
        self.prices.get(normalize_model_id(model_id))
    }

    /// How many models have a price.
    pub(crate) fn len(&self) -> usize {
        self.prices.len()
    }
}

/// The cost in USD of `usage` at `price`.
pub(crate) fn cost_of(price: &Price, usage: &TokenUsage) -> f64 {
    let per = |tokens: u64, per_1k: f64| tokens as f64 * per_1k / 1000.0;
    per(usage.input_tokens, price.input_per_1k)
        + per(usage.output_tokens, price.output_per_1k)
        + per(
            usage.cache_read_tokens,
            price.cache_read_per_1k.unwrap_or(price.input_per_1k),
        )
        + per(
            usage.cache_write_tokens,
            price.cache_write_per_1k.unwrap_or(price.input_per_1k),
        )
}

/// The bare model id inside a profile id or ARN:
/// `arn:aws:bedrock:eu-west-1:123:inference-profile/eu.anthropic.x-v1:0` and
/// `eu.anthropic.x-v1:0` both become `anthropic.x-v1:0`.
pub(crate) fn normalize_model_id(model_id: &str) -> &str {
    let id = if model_id.starts_with("arn:") {
        model_id.rsplit('/').next().unwrap_or(model_id)
    } else {
        model_id
    };
    GEO_PREFIXES
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(id: &str) -> Price {
        Price {
            model_id: id.into(),
            input_per_1k: 0.003,
            output_per_1k: 0.015,
            cache_read_per_1k: Some(0.0003),
            cache_write_per_1k: None,
        }
    }

    #[test]
    fn every_spelling_finds_the_price() {
        let book = PriceBook::new(vec![price("anthropic.claude-3-7-sonnet-20250219-v1:0")]);
        for id in [
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "global.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
        ] {
            assert!(book.lookup(id).is_some(), "{id}");
        }
        assert!(book
            .lookup("anthropic.claude-3-haiku-20240307-v1:0")
            .is_none());
    }

    #[test]
    fn cost_adds_every_kind_of_token() {
        let usage = TokenUsage {
            input_tokens: 1000,
            output_tokens: 2000,
            cache_read_tokens: 1000,
            cache_write_tokens: 1000,
        };
        let c = cost_of(&price("m"), &usage);
        // 0.003 + 0.030 + 0.0003 + 0.003 (cache writes at the input price)
        assert!((c - 0.0363).abs() < 1e-12, "{c}");
    }
}
