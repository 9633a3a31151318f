//! Routing: which Bedrock runtime operation a request is, and which model it names.
//!
//! The proxy forwards every path it does not refuse; routing only decides how a call is
//! recorded and how its response is read. Model ids are taken from the path (percent-
//! decoded: `v1%3A0` is `v1:0`) or, for `StartAsyncInvoke`, from the body.

use percent_encoding::percent_decode_str;

use crate::usage::ResponseKind;

/// A Bedrock runtime operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `POST /model/{id}/invoke`
    InvokeModel,
    /// `POST /model/{id}/invoke-with-response-stream`
    InvokeModelWithResponseStream,
    /// `POST /model/{id}/invoke-with-bidirectional-stream`
    InvokeModelWithBidirectionalStream,
    /// `POST /model/{id}/converse`
    Converse,
    /// `POST /model/{id}/converse-stream`
    ConverseStream,
    /// `POST /model/{id}/count-tokens`
    CountTokens,
    /// `POST /guardrail/{id}/version/{v}/apply`
    ApplyGuardrail,
    /// `POST /async-invoke`
    StartAsyncInvoke,
    /// `GET /async-invoke/{arn}`
    GetAsyncInvoke,
    /// `GET /async-invoke`
    ListAsyncInvokes,
    /// Anything else; forwarded as is.
    Other,
}

impl Operation {
    /// Whether calls of this operation cost nothing (CountTokens, listing and reading
    /// async jobs): they are not counted against quotas or short-term limits.
    pub(crate) fn is_free(self) -> bool {
        matches!(
            self,
            Self::CountTokens | Self::ListAsyncInvokes | Self::GetAsyncInvoke
        )
    }

    /// The operation's name as Bedrock's API spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::InvokeModel => "InvokeModel",
            Self::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
            Self::InvokeModelWithBidirectionalStream => "InvokeModelWithBidirectionalStream",
            Self::Converse => "Converse",
            Self::ConverseStream => "ConverseStream",
            Self::CountTokens => "CountTokens",
            Self::ApplyGuardrail => "ApplyGuardrail",
            Self::StartAsyncInvoke => "StartAsyncInvoke",
            Self::GetAsyncInvoke => "GetAsyncInvoke",
            Self::ListAsyncInvokes => "ListAsyncInvokes",
            Self::Other => "Other",
        }
    }

    /// How the response carries token usage.
    pub(crate) fn response_kind(self) -> ResponseKind {
        match self {
            Self::InvokeModel => ResponseKind::Invoke,
            Self::InvokeModelWithResponseStream => ResponseKind::InvokeStream,
            Self::Converse => ResponseKind::Converse,
            Self::ConverseStream => ResponseKind::ConverseStream,
            Self::CountTokens => ResponseKind::CountTokens,
            _ => ResponseKind::Other,
        }
    }
}

/// A routed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// The operation.
    pub(crate) operation: Operation,
    /// The model (or guardrail) id, decoded; empty when the call names none.
    pub(crate) model_id: String,
}

/// Whether `path` is one of the proxy's own endpoints (`/_gate/...`, sign-in), answered
/// by `identity::endpoint` rather than forwarded.
pub(crate) fn is_gate_endpoint(path: &str) -> bool {
    path.starts_with(crate::identity::endpoint::PREFIX)
}

impl Route {
    /// Routes a request by method, raw path and body.
    pub(crate) fn parse(method: &http::Method, path: &str, body: &[u8]) -> Self {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (operation, model_id) = match segments.as_slice() {
            ["model", id, op] => {
                let op = match *op {
                    "invoke" => Operation::InvokeModel,
                    "invoke-with-response-stream" => Operation::InvokeModelWithResponseStream,
                    "invoke-with-bidirectional-stream" => {
                        Operation::InvokeModelWithBidirectionalStream
                    }
                    "converse" => Operation::Converse,
                    "converse-stream" => Operation::ConverseStream,
                    "count-tokens" => Operation::CountTokens,
                    _ => Operation::Other,
                };
                (op, decode(id))
            }
            ["guardrail", id, "version", _, "apply"] => (Operation::ApplyGuardrail, decode(id)),
            ["async-invoke"] if method == http::Method::POST => {
                let model = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("modelId")?.as_str().map(str::to_string))
                    .unwrap_or_default();
                (Operation::StartAsyncInvoke, model)
            }
            ["async-invoke"] => (Operation::ListAsyncInvokes, String::new()),
            ["async-invoke", _] => (Operation::GetAsyncInvoke, String::new()),
            _ => (Operation::Other, String::new()),
        };
        Self {
            operation,
            model_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_every_runtime_operation() {
        let post = http::Method::POST;
        let r = Route::parse(
            &post,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
            b"",
        );
        assert_eq!(r.operation, Operation::ConverseStream);
        assert_eq!(r.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
        let r = Route::parse(
            &post,
            "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Feu.x-v1%3A0/invoke",
            b"",
        );
        assert_eq!(r.operation, Operation::InvokeModel);
        assert_eq!(
            r.model_id,
            "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x-v1:0"
        );
        let r = Route::parse(
            &post,
            "/async-invoke",
            br#"{"modelId":"amazon.nova-reel-v1:0"}"#,
        );
        assert_eq!(r.operation, Operation::StartAsyncInvoke);
        assert_eq!(r.model_id, "amazon.nova-reel-v1:0");
        let r = Route::parse(&post, "/guardrail/gr1/version/2/apply", b"");
        assert_eq!(r.operation, Operation::ApplyGuardrail);
        assert_eq!(
            Route::parse(&http::Method::GET, "/async-invoke", b"").operation,
            Operation::ListAsyncInvokes
        );
        assert_eq!(
            Route::parse(&post, "/nope", b"").operation,
            Operation::Other
        );
        assert_eq!(
            Route::parse(&post, "/model/m/count-tokens", b"")
                .operation
                .response_kind(),
            ResponseKind::CountTokens
        );
    }
}
