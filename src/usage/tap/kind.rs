//! [`ResponseKind`]: which Bedrock runtime operation a request path names, and from that
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
