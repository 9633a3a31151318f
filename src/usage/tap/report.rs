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

impl TokenUsage {
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
