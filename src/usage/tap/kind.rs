//! [`ResponseKind`]: which Bedrock runtime operation a response answers, and from that
//! whether its calls are counted and whether its body is an event stream or a JSON document.

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
    /// Every kind, in declaration order.
    pub(crate) const ALL: [ResponseKind; 6] = [
        ResponseKind::Invoke,
        ResponseKind::Converse,
        ResponseKind::ConverseStream,
        ResponseKind::InvokeStream,
        ResponseKind::CountTokens,
        ResponseKind::Other,
    ];

    /// Whether calls of this kind consume tokens that must be recorded.
    #[must_use]
    pub(crate) fn is_counted(self) -> bool {
        !matches!(self, ResponseKind::CountTokens | ResponseKind::Other)
    }
}
