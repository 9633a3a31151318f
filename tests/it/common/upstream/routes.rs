//! Which answer a verified request gets: `/model/{modelId}/{op}` picks the operation, and
//! the model id's fault words (`slowstart`, `stall`, `throttled`, `broken`, `validation`,
//! `huge`, `midstream`, `hang`, `reset`, `cut`, `garbage`) inject a delay, an error, an
//! absurd usage count or a broken stream.

use std::time::Duration;

use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::responses::{
    converse_response, error_response, huge_usage_response, invoke_response, json_response,
    RespBody,
};
use super::streams::{converse_stream_frames, invoke_stream_frames, stream_response, StreamMode};
use super::{UpstreamConfig, INPUT_TOKENS};

/// The answer to a request whose signature verified.
pub(super) async fn respond(
    cfg: &UpstreamConfig,
    raw_path: &str,
    path: &str,
    request_id: &str,
    n: u64,
) -> Response<RespBody> {
    let Some((model_id, op)) = model_route(path) else {
        return json_response(
            StatusCode::OK,
            request_id,
            &json!({"ok": true, "path": raw_path}),
        );
    };
    if model_id.contains("slowstart") {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if model_id.contains("stall") {
        // No answer at all, until the caller gives up.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if model_id.contains("huge") && op == "converse" {
        return huge_usage_response(request_id);
    }
    if model_id.contains("throttled") {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "Too many requests, please wait before trying again.",
            request_id,
        );
    }
    if model_id.contains("broken") {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
            request_id,
        );
    }
    if model_id.contains("validation") {
        return error_response(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Malformed input request",
            request_id,
        );
    }
    let mode = [
        ("midstream", StreamMode::Midstream),
        ("hang", StreamMode::Hang),
        ("reset", StreamMode::Reset),
        ("cut", StreamMode::Cut),
        ("garbage", StreamMode::Garbage),
    ]
    .into_iter()
    .find_map(|(word, mode)| model_id.contains(word).then_some(mode))
    .unwrap_or(StreamMode::Complete);
    match op.as_str() {
        "invoke" => invoke_response(&model_id, request_id, n),
        "converse" => converse_response(request_id),
        "converse-stream" => stream_response(
            converse_stream_frames(mode),
            mode,
            cfg.event_delay,
            request_id,
            false,
        ),
        "invoke-with-response-stream" => stream_response(
            invoke_stream_frames(&model_id, n, mode),
            mode,
            cfg.event_delay,
            request_id,
            true,
        ),
        "count-tokens" => json_response(
            StatusCode::OK,
            request_id,
            &json!({"inputTokens": INPUT_TOKENS}),
        ),
        _ => json_response(
            StatusCode::OK,
            request_id,
            &json!({"ok": true, "path": raw_path}),
        ),
    }
}

/// `/model/{modelId}/{op}` -> (percent-decoded model id, op).
fn model_route(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/model/")?;
    let (model, op) = rest.rsplit_once('/')?;
    if model.is_empty() || op.is_empty() {
        return None;
    }
    let model = percent_decode_str(model).decode_utf8_lossy().into_owned();
    Some((model, op.to_owned()))
}
