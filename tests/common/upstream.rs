//! A fake Bedrock runtime upstream for the integration tests.
//!
//! It listens on `127.0.0.1:0` (HTTP/1.1 and h2c), checks every request's SigV4
//! signature the way AWS does (written here by hand, independent of the `aws-sigv4`
//! crate the proxy signs with), records what it received, and answers like Bedrock
//! with fixed token counts so tests can assert exact numbers.
//!
//! Fault injection by model id substring: `throttled` (429), `broken` (500),
//! `validation` (400), `midstream` (stream ops: exception frame after the first
//! event), `hang` (stream ops: first events, then the stream never ends),
//! `slowstart` (one second before the response head).

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Input tokens reported for every call.
pub const INPUT_TOKENS: u64 = 120;
/// Output tokens reported for every call.
pub const OUTPUT_TOKENS: u64 = 45;
/// Cache-read input tokens reported for every call.
pub const CACHE_READ_TOKENS: u64 = 10;
/// Cache-write input tokens reported for every call.
pub const CACHE_WRITE_TOKENS: u64 = 5;
/// `totalTokens` in Converse usage (input + output).
pub const TOTAL_TOKENS: u64 = INPUT_TOKENS + OUTPUT_TOKENS;
/// Reported invocation latency in milliseconds.
pub const LATENCY_MS: u64 = 321;
/// Reported first-byte latency in milliseconds.
pub const FIRST_BYTE_LATENCY_MS: u64 = 100;
/// The assistant's whole answer.
pub const RESPONSE_TEXT: &str = "Hello from fake Bedrock";
/// The SigV4 signing name of the Bedrock runtime.
pub const SERVICE: &str = "bedrock";
/// Allowed clock skew of `x-amz-date`, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;
/// The message AWS sends when a signature does not match.
pub const SIGNATURE_MISMATCH_MESSAGE: &str =
    "The request signature we calculated does not match the signature you provided.";

const TEXT_PARTS: [&str; 2] = ["Hello ", "from fake Bedrock"];

/// The proxy's upstream AWS credentials and the fake's behaviour.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// If `Some`, requests must carry (and sign) `x-amz-security-token` equal to it;
    /// if `None`, they must not carry one.
    pub session_token: Option<String>,
    /// E.g. `eu-west-1`; the service is always `bedrock`.
    pub region: String,
    /// Delay between stream events (zero = none).
    pub event_delay: Duration,
}

impl UpstreamConfig {
    pub fn new(access_key_id: &str, secret_access_key: &str, region: &str) -> Self {
        UpstreamConfig {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: None,
            region: region.to_owned(),
            event_delay: Duration::ZERO,
        }
    }
}

/// One request as the fake upstream received it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    /// Raw path and query as on the wire.
    pub path: String,
    /// Header names are lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub signature_valid: bool,
    /// Why the request was refused, if it was.
    pub rejection: Option<String>,
}

impl ReceivedRequest {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    cfg: UpstreamConfig,
    requests: Mutex<Vec<ReceivedRequest>>,
    next_id: AtomicU64,
}

/// A running fake Bedrock runtime. The accept loop stops when this is dropped.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and serves HTTP/1.1 and h2c on a tokio task.
    pub async fn start(cfg: UpstreamConfig) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake upstream: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake upstream: local addr");
        let state = Arc::new(State {
            cfg,
            requests: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });
        let accept_state = state.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn_state = accept_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(conn_state.clone(), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeUpstream {
            addr,
            state,
            accept_task,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// All requests received, valid or not.
    pub fn count(&self) -> usize {
        self.state.requests.lock().expect("requests lock").len()
    }

    /// Requests whose signature verified and that were not refused.
    pub fn valid_count(&self) -> usize {
        self.state
            .requests
            .lock()
            .expect("requests lock")
            .iter()
            .filter(|r| r.signature_valid && r.rejection.is_none())
            .count()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

type RespBody = BoxBody<Bytes, Infallible>;

/// A response body fed frame by frame from a channel, so each event goes out on its own.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let request_id = request_id(n);
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();

    let verdict = verify(
        &state.cfg,
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &body,
    );
    let (signature_valid, rejection) = match &verdict {
        Ok(()) => (true, None),
        Err(r) => (r.signature_valid, Some(r.reason.clone())),
    };
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(ReceivedRequest {
            method: parts.method.as_str().to_owned(),
            path: path.clone(),
            headers,
            body: body.to_vec(),
            signature_valid,
            rejection,
        });

    if let Err(r) = verdict {
        return Ok(error_response(
            r.status,
            r.error_type,
            &r.message,
            &request_id,
        ));
    }
    Ok(respond(&state.cfg, &path, parts.uri.path(), &request_id, n).await)
}

async fn respond(
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
    let mode = if model_id.contains("midstream") {
        StreamMode::Midstream
    } else if model_id.contains("hang") {
        StreamMode::Hang
    } else {
        StreamMode::Complete
    };
    match op.as_str() {
        "invoke" => invoke_response(&model_id, request_id, n),
        "converse" => converse_response(request_id),
        "converse-stream" => stream_response(
            converse_stream_frames(mode),
            mode == StreamMode::Hang,
            cfg.event_delay,
            request_id,
            false,
        ),
        "invoke-with-response-stream" => stream_response(
            invoke_stream_frames(&model_id, n, mode),
            mode == StreamMode::Hang,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamMode {
    Complete,
    Midstream,
    Hang,
}

fn request_id(n: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 16) as u32,
        (nanos & 0xffff) as u16,
        (n >> 12) & 0xfff,
        n & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

fn full_body(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into()).boxed()
}

fn json_response(status: StatusCode, request_id: &str, value: &Value) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .body(full_body(value.to_string()))
        .expect("valid response")
}

fn error_response(
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

fn message_id(n: u64) -> String {
    format!("msg_bdrk_{n:024}")
}

fn invoke_response(model_id: &str, request_id: &str, n: u64) -> Response<RespBody> {
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

fn converse_usage() -> Value {
    json!({
        "inputTokens": INPUT_TOKENS,
        "outputTokens": OUTPUT_TOKENS,
        "totalTokens": TOTAL_TOKENS,
        "cacheReadInputTokens": CACHE_READ_TOKENS,
        "cacheWriteInputTokens": CACHE_WRITE_TOKENS
    })
}

fn converse_response(request_id: &str) -> Response<RespBody> {
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

fn stream_response(
    frames: Vec<Bytes>,
    hang: bool,
    delay: Duration,
    request_id: &str,
    invoke_style: bool,
) -> Response<RespBody> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(frame).await.is_err() {
                return;
            }
        }
        if hang {
            // Keep the stream open until the client goes away.
            tx.closed().await;
        }
    });
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", request_id);
    if invoke_style {
        builder = builder.header("x-amzn-bedrock-content-type", "application/json");
    }
    builder
        .body(ChannelBody { rx }.boxed())
        .expect("valid response")
}

fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    Bytes::from(encode_event_frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    ))
}

fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    Bytes::from(encode_event_frame(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    ))
}

fn converse_stream_frames(mode: StreamMode) -> Vec<Bytes> {
    let mut frames = vec![event_frame(
        "messageStart",
        &json!({"role": "assistant", "p": "abcd"}),
    )];
    if mode == StreamMode::Midstream {
        frames.push(exception_frame(
            "modelStreamErrorException",
            "Model stream failed",
        ));
        return frames;
    }
    for (i, text) in TEXT_PARTS.iter().enumerate() {
        frames.push(event_frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcd"}),
        ));
        if mode == StreamMode::Hang && i == 0 {
            return frames;
        }
    }
    frames.push(event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0, "p": "abcd"}),
    ));
    frames.push(event_frame(
        "messageStop",
        &json!({"stopReason": "end_turn", "p": "abcd"}),
    ));
    frames.push(event_frame(
        "metadata",
        &json!({"usage": converse_usage(), "metrics": {"latencyMs": LATENCY_MS}, "p": "abcd"}),
    ));
    frames
}

fn chunk_frame(anthropic_event: &Value) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(anthropic_event.to_string());
    event_frame("chunk", &json!({"bytes": b64, "p": "abc"}))
}

fn invoke_stream_frames(model_id: &str, n: u64, mode: StreamMode) -> Vec<Bytes> {
    let mut frames = vec![chunk_frame(&json!({
        "type": "message_start",
        "message": {
            "id": message_id(n),
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "output_tokens": 1,
                "cache_read_input_tokens": CACHE_READ_TOKENS,
                "cache_creation_input_tokens": CACHE_WRITE_TOKENS
            }
        }
    }))];
    if mode == StreamMode::Midstream {
        frames.push(exception_frame(
            "modelStreamErrorException",
            "Model stream failed",
        ));
        return frames;
    }
    frames.push(chunk_frame(&json!({
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""}
    })));
    for (i, text) in TEXT_PARTS.iter().enumerate() {
        frames.push(chunk_frame(&json!({
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text}
        })));
        if mode == StreamMode::Hang && i == 0 {
            return frames;
        }
    }
    frames.push(chunk_frame(
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(chunk_frame(&json!({
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": OUTPUT_TOKENS}
    })));
    frames.push(chunk_frame(&json!({
        "type": "message_stop",
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": INPUT_TOKENS,
            "outputTokenCount": OUTPUT_TOKENS,
            "invocationLatency": LATENCY_MS,
            "firstByteLatency": FIRST_BYTE_LATENCY_MS,
            "cacheReadInputTokenCount": CACHE_READ_TOKENS,
            "cacheWriteInputTokenCount": CACHE_WRITE_TOKENS
        }
    })));
    frames
}

// ---------------------------------------------------------------------------
// AWS event-stream encoding (string headers only) and decoding
// ---------------------------------------------------------------------------

/// Encodes one event-stream message with string-typed (type 7) headers.
pub fn encode_event_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut hdrs = Vec::new();
    for (name, value) in headers {
        hdrs.push(name.len() as u8);
        hdrs.extend_from_slice(name.as_bytes());
        hdrs.push(7);
        hdrs.extend_from_slice(&(value.len() as u16).to_be_bytes());
        hdrs.extend_from_slice(value.as_bytes());
    }
    let total = 12 + hdrs.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(hdrs.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdrs);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// One decoded event-stream message. Non-string header values are rendered as text.
#[derive(Clone, Debug)]
pub struct EventFrame {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl EventFrame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn payload_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// Decodes a whole event stream, checking both CRCs of every message.
/// Errors on a bad CRC, a bad length or trailing partial data.
pub fn decode_event_stream(mut data: &[u8]) -> Result<Vec<EventFrame>, String> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        if data.len() < 16 {
            return Err(format!("truncated prelude ({} bytes left)", data.len()));
        }
        let total = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let headers_len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let prelude_crc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if crc32fast::hash(&data[..8]) != prelude_crc {
            return Err("prelude CRC mismatch".to_owned());
        }
        if total < 16 + headers_len || total > data.len() {
            return Err(format!(
                "bad lengths: total {total}, headers {headers_len}, available {}",
                data.len()
            ));
        }
        let message_crc = u32::from_be_bytes([
            data[total - 4],
            data[total - 3],
            data[total - 2],
            data[total - 1],
        ]);
        if crc32fast::hash(&data[..total - 4]) != message_crc {
            return Err("message CRC mismatch".to_owned());
        }
        let headers = decode_headers(&data[12..12 + headers_len])?;
        let payload = data[12 + headers_len..total - 4].to_vec();
        frames.push(EventFrame { headers, payload });
        data = &data[total..];
    }
    Ok(frames)
}

fn decode_headers(mut h: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn take<'a>(h: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if h.len() < n {
            return Err("truncated header".to_owned());
        }
        let (a, b) = h.split_at(n);
        *h = b;
        Ok(a)
    }
    let mut out = Vec::new();
    while !h.is_empty() {
        let name_len = take(&mut h, 1)?[0] as usize;
        let name = String::from_utf8_lossy(take(&mut h, name_len)?).into_owned();
        let ty = take(&mut h, 1)?[0];
        let value = match ty {
            0 => "true".to_owned(),
            1 => "false".to_owned(),
            2 => (take(&mut h, 1)?[0] as i8).to_string(),
            3 => i16::from_be_bytes(take(&mut h, 2)?.try_into().expect("2 bytes")).to_string(),
            4 => i32::from_be_bytes(take(&mut h, 4)?.try_into().expect("4 bytes")).to_string(),
            5 | 8 => i64::from_be_bytes(take(&mut h, 8)?.try_into().expect("8 bytes")).to_string(),
            6 | 7 => {
                let len =
                    u16::from_be_bytes(take(&mut h, 2)?.try_into().expect("2 bytes")) as usize;
                let v = take(&mut h, len)?;
                if ty == 7 {
                    String::from_utf8_lossy(v).into_owned()
                } else {
                    hex::encode(v)
                }
            }
            9 => hex::encode(take(&mut h, 16)?),
            other => return Err(format!("unknown header type {other}")),
        };
        out.push((name, value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// SigV4 verification, written independently of aws-sigv4
// ---------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

/// Unreserved characters (A-Z a-z 0-9 - . _ ~) stay; everything else is %XX.
const AWS_URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

struct Rejection {
    status: StatusCode,
    error_type: &'static str,
    message: String,
    reason: String,
    signature_valid: bool,
}

fn reject(
    status: StatusCode,
    error_type: &'static str,
    message: impl Into<String>,
    reason: impl Into<String>,
) -> Rejection {
    Rejection {
        status,
        error_type,
        message: message.into(),
        reason: reason.into(),
        signature_valid: false,
    }
}

fn bad_token(reason: impl Into<String>) -> Rejection {
    reject(
        StatusCode::FORBIDDEN,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        reason,
    )
}

fn bad_signature(message: impl Into<String>, reason: impl Into<String>) -> Rejection {
    reject(
        StatusCode::FORBIDDEN,
        "InvalidSignatureException",
        message,
        reason,
    )
}

fn incomplete(message: impl Into<String>) -> Rejection {
    let message = message.into();
    reject(
        StatusCode::BAD_REQUEST,
        "IncompleteSignatureException",
        message.clone(),
        message,
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds a proxy user's access key id (`BG` + at least 14 of [A-Z0-9], standing alone).
fn find_bg_key(value: &str) -> Option<&str> {
    let b = value.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'B' && b[i + 1] == b'G' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let run = b[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                .count();
            if run >= 14 {
                return Some(&value[i..i + 2 + run]);
            }
        }
        i += 1;
    }
    None
}

/// AWS's trimall: trim spaces, collapse inner runs of spaces to one.
fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// Removes `.`/`..` and empty segments (RFC 3986 5.2.4), as AWS does for non-S3 services.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !path.contains('.') && !path.contains("//") {
        return path;
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical URI: the path as on the wire, each segment URI-encoded once more
/// (double encoding for non-S3 services, so `%3A` becomes `%253A`).
fn canonical_uri(raw_path: &str) -> String {
    normalize_path(raw_path)
        .split('/')
        .map(|seg| utf8_percent_encode(seg, AWS_URI_ENCODE).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The canonical query string: decoded, re-encoded, sorted by key then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                utf8_percent_encode(&form_decode(k), AWS_URI_ENCODE).to_string(),
                utf8_percent_encode(&form_decode(v), AWS_URI_ENCODE).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn signing_key(secret: &str, date: &str, region: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(incomplete(format!("More than one {name} header")));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| incomplete(format!("Header {name} is not valid text")))
}

fn verify(
    cfg: &UpstreamConfig,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    // The proxy must strip its caller's credentials before forwarding.
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        if name.as_str() == "authorization"
            && value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("bearer")
        {
            return Err(bad_token(
                "caller's Bearer Authorization was forwarded upstream",
            ));
        }
        if let Some(key) = find_bg_key(&value) {
            if key != cfg.access_key_id {
                return Err(bad_token(format!(
                    "header {name} carries a proxy user's access key id {key}"
                )));
            }
        }
    }

    let Some(auth) = single_header(headers, "authorization")? else {
        return Err(reject(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
            "no Authorization header",
        ));
    };
    let Some(params) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(format!(
            "Authorization header is not AWS4-HMAC-SHA256: {auth}"
        )));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',') {
        let part = part.trim();
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(incomplete(format!("bad Authorization component '{part}'"))),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
        ));
    };

    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 {
        return Err(incomplete(format!("malformed Credential '{credential}'")));
    }
    let (akid, scope_date, scope_region, scope_service, terminator) =
        (scope[0], scope[1], scope[2], scope[3], scope[4]);
    if akid != cfg.access_key_id {
        return Err(bad_token(format!("unknown access key id {akid}")));
    }

    let Some(amz_date) = single_header(headers, "x-amz-date")? else {
        return Err(incomplete("missing x-amz-date header"));
    };
    let Ok(when) = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ") else {
        return Err(incomplete(format!("bad x-amz-date '{amz_date}'")));
    };
    let now = chrono::Utc::now();
    let skew = (now - when.and_utc()).num_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        let fmt = "%Y%m%dT%H%M%SZ";
        let limit = if skew > 0 {
            now - chrono::Duration::seconds(MAX_SKEW_SECS)
        } else {
            now + chrono::Duration::seconds(MAX_SKEW_SECS)
        };
        let message = format!(
            "Signature expired: {amz_date} is now {} than {} ({} {} 5 min.)",
            if skew > 0 { "earlier" } else { "later" },
            limit.format(fmt),
            now.format(fmt),
            if skew > 0 { "-" } else { "+" },
        );
        return Err(bad_signature(message.clone(), message));
    }
    if scope_date != &amz_date[..8] {
        let m = format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{scope_date}' != '{}'",
            &amz_date[..8]
        );
        return Err(bad_signature(m.clone(), m));
    }
    if scope_region != cfg.region {
        let m = format!(
            "Credential should be scoped to a valid region: '{scope_region}' != '{}'",
            cfg.region
        );
        return Err(bad_signature(m.clone(), m));
    }
    if scope_service != SERVICE {
        let m = format!(
            "Credential should be scoped to correct service: '{SERVICE}' (got '{scope_service}')"
        );
        return Err(bad_signature(m.clone(), m));
    }
    if terminator != "aws4_request" {
        let m = format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', \
             not '{terminator}'"
        );
        return Err(bad_signature(m.clone(), m));
    }

    let names: Vec<&str> = signed_headers.split(';').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(incomplete(format!(
            "malformed SignedHeaders '{signed_headers}'"
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !names.contains(&required) {
            let m = format!("'{required}' must be a 'SignedHeader' in the AWS Authorization.");
            return Err(bad_signature(m.clone(), m));
        }
    }

    let token = single_header(headers, "x-amz-security-token")?;
    match (&cfg.session_token, token) {
        (Some(expected), Some(got)) if expected == got => {
            if !names.contains(&"x-amz-security-token") {
                let m = "x-amz-security-token is present but not signed";
                return Err(bad_signature(m, m));
            }
        }
        (Some(_), Some(_)) => return Err(bad_token("wrong x-amz-security-token")),
        (Some(_), None) => return Err(bad_token("missing x-amz-security-token")),
        (None, Some(_)) => {
            return Err(bad_token(
                "x-amz-security-token sent but the credentials have no session token",
            ))
        }
        (None, None) => {}
    }

    let payload_hash = sha256_hex(body);
    if let Some(claimed) = single_header(headers, "x-amz-content-sha256")? {
        if claimed != payload_hash {
            let m = format!(
                "x-amz-content-sha256 {claimed} does not match the body's hash {payload_hash}"
            );
            return Err(bad_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                m,
            ));
        }
    }

    let mut canonical_headers = String::new();
    for name in &names {
        let mut values = Vec::new();
        for v in headers.get_all(*name) {
            let Ok(v) = v.to_str() else {
                return Err(incomplete(format!(
                    "signed header {name} is not valid text"
                )));
            };
            values.push(trim_all(v));
        }
        if values.is_empty() && *name == "host" {
            // HTTP/2: the host travels as :authority.
            if let Some(authority) = uri.authority() {
                values.push(authority.as_str().to_owned());
            }
        }
        if values.is_empty() {
            let m = format!("signed header '{name}' is missing from the request");
            return Err(bad_signature(SIGNATURE_MISMATCH_MESSAGE, m));
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }

    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_uri(uri.path()),
        canonical_query(uri.query().unwrap_or("")),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope_date}/{scope_region}/{SERVICE}/aws4_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(&cfg.secret_access_key, scope_date, scope_region);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(bad_signature(
            SIGNATURE_MISMATCH_MESSAGE,
            format!(
                "signature mismatch.\nCanonical request:\n{canonical_request}\n\n\
                 String to sign:\n{string_to_sign}"
            ),
        ));
    }
    Ok(())
}
