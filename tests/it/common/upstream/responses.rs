//! Whole-body answers: the JSON and error response builders, and the bodies of the
//! unary operations (InvokeModel in the Anthropic shape, Converse) with the fixed usage.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::{
    CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, INPUT_TOKENS, LATENCY_MS, OUTPUT_TOKENS, RESPONSE_TEXT,
    TOTAL_TOKENS,
};

/// The body type of every response of the fake (an error breaks the response).
pub(super) type RespBody = BoxBody<Bytes, std::io::Error>;

/// A body sent in one piece.
pub(super) fn full_body(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON answer with a request id.
pub(super) fn json_response(
    status: StatusCode,
    request_id: &str,
    value: &Value,
) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .body(full_body(value.to_string()))
        .expect("valid response")
}

/// An AWS error answer: `x-amzn-ErrorType` and a `{"message"}` body.
pub(super) fn error_response(
    status: StatusCode,
    error_type: &str,
    message: &str,
    request_id: &str,
) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .header("x-amzn-ErrorType", error_type)
        .body(full_body(json!({ "message": message }).to_string()))
        .expect("valid response")
}

/// The Anthropic message id of the `n`-th request.
pub(super) fn message_id(n: u64) -> String {
    format!("msg_bdrk_{n:024}")
}

/// InvokeModel: an Anthropic message with usage in the body and the token headers.
pub(super) fn invoke_response(model_id: &str, request_id: &str, n: u64) -> Response<RespBody> {
    let body = json!({
        "id": message_id(n),
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": [{"type": "text", "text": RESPONSE_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": INPUT_TOKENS,
            "output_tokens": OUTPUT_TOKENS,
            "cache_read_input_tokens": CACHE_READ_TOKENS,
            "cache_creation_input_tokens": CACHE_WRITE_TOKENS
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .header("X-Amzn-Bedrock-Input-Token-Count", INPUT_TOKENS.to_string())
        .header(
            "X-Amzn-Bedrock-Output-Token-Count",
            OUTPUT_TOKENS.to_string(),
        )
        .header(
            "X-Amzn-Bedrock-Cache-Read-Input-Token-Count",
            CACHE_READ_TOKENS.to_string(),
        )
        .header(
            "X-Amzn-Bedrock-Cache-Write-Input-Token-Count",
            CACHE_WRITE_TOKENS.to_string(),
        )
        .header("X-Amzn-Bedrock-Invocation-Latency", LATENCY_MS.to_string())
        .body(full_body(body.to_string()))
        .expect("valid response")
}

/// The `usage` object of Converse and ConverseStream.
pub(super) fn converse_usage() -> Value {
    json!({
        "inputTokens": INPUT_TOKENS,
        "outputTokens": OUTPUT_TOKENS,
        "totalTokens": TOTAL_TOKENS,
        "cacheReadInputTokens": CACHE_READ_TOKENS,
        "cacheWriteInputTokens": CACHE_WRITE_TOKENS
    })
}

/// Converse: the whole answer, usage and latency.
pub(super) fn converse_response(request_id: &str) -> Response<RespBody> {
    json_response(
        StatusCode::OK,
        request_id,
        &json!({
            "output": {"message": {"role": "assistant", "content": [{"text": RESPONSE_TEXT}]}},
            "stopReason": "end_turn",
            "usage": converse_usage(),
            "metrics": {"latencyMs": LATENCY_MS}
        }),
    )
}

/// Converse with an absurd usage: `outputTokens` of 10^30, as an integer literal no
/// 64-bit integer holds.
pub(super) fn huge_usage_response(request_id: &str) -> Response<RespBody> {
    let body = format!(
        r#"{{"output":{{"message":{{"role":"assistant","content":[{{"text":"{RESPONSE_TEXT}"}}]}}}},"stopReason":"end_turn","usage":{{"inputTokens":{INPUT_TOKENS},"outputTokens":1{zeros},"totalTokens":1{zeros}}},"metrics":{{"latencyMs":{LATENCY_MS}}}}}"#,
        zeros = "0".repeat(30)
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .body(full_body(body))
        .expect("valid response")
}
