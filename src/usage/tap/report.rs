//! What a tap produces: the four [`TokenUsage`] counts of one call, where they came from
//! ([`UsageSource`]), and the [`UsageReport`] handed to the recorder with the stream error and
//! completeness flag.

/// Token counts of one call. `input_tokens` excludes cache reads and writes, as Bedrock reports
/// it; the four counts are priced separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Uncached prompt tokens.
    pub(crate) input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the prompt cache.
    pub(crate) cache_read_tokens: u64,
    /// Prompt tokens written to the prompt cache.
    pub(crate) cache_write_tokens: u64,
}

/// The most tokens of one kind a single call is recorded with: far above any model's
/// context window, so only a broken or hostile upstream count reaches it (Bedrock has
/// reported nothing close). A count above it is recorded as this, and flagged.
pub(crate) const MAX_TOKENS_PER_CALL: u64 = 10_000_000;

impl TokenUsage {
    /// Caps every count at [`MAX_TOKENS_PER_CALL`]; true if any was above it.
    pub(crate) fn clamp(&mut self) -> bool {
        let mut clamped = false;
        for count in [
            &mut self.input_tokens,
            &mut self.output_tokens,
            &mut self.cache_read_tokens,
            &mut self.cache_write_tokens,
        ] {
            if *count > MAX_TOKENS_PER_CALL {
                *count = MAX_TOKENS_PER_CALL;
                clamped = true;
            }
        }
        clamped
    }

    /// Field-wise maximum, for merging partial or cumulative counts.
    pub(super) fn max_with(&mut self, other: &TokenUsage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.max(other.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.max(other.cache_write_tokens);
    }
}

pub(crate) use crate::domain::UsageSource;

/// The outcome of tapping one response.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageReport {
    /// Token counts to record (all zero when `source` is [`UsageSource::None`]).
    pub usage: TokenUsage,
    /// Where `usage` came from.
    pub(crate) source: UsageSource,
    /// An error seen inside a 2xx stream: `"<:exception-type>: <message>"` for an exception
    /// frame (e.g. `"modelStreamErrorException: Model stream failed"`), or
    /// `"event stream decode error: ..."` when the bytes were not a valid event stream. The
    /// first such error wins.
    pub(crate) stream_error: Option<String>,
    /// The response reached its normal end: the caller saw the whole body (`finish(true)`),
    /// no `stream_error` occurred, and no partial event-stream frame was left over.
    pub(crate) complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_the_ceiling_are_clamped_and_flagged() {
        let mut fine = TokenUsage {
            input_tokens: 10,
            output_tokens: MAX_TOKENS_PER_CALL,
            ..TokenUsage::default()
        };
        assert!(!fine.clamp());
        assert_eq!(fine.output_tokens, MAX_TOKENS_PER_CALL);
        let mut huge = TokenUsage {
            input_tokens: 10,
            output_tokens: u64::MAX,
            cache_read_tokens: 3,
            cache_write_tokens: MAX_TOKENS_PER_CALL + 1,
        };
        assert!(huge.clamp());
        assert_eq!(
            huge,
            TokenUsage {
                input_tokens: 10,
                output_tokens: MAX_TOKENS_PER_CALL,
                cache_read_tokens: 3,
                cache_write_tokens: MAX_TOKENS_PER_CALL,
            }
        );
    }
}
