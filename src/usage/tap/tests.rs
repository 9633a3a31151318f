//! Tests of the usage tap: usage read from every response shape (streams cut anywhere,
//! exceptions, JSON bodies, headers, several model families), the capped body copy, and
//! which calls are counted.

use super::body::MAX_BODY_COPY;
use super::spellings::{HEADER_INPUT_TOKENS, HEADER_OUTPUT_TOKENS};
use super::*;
use crate::usage::eventstream::test_encode::{event, exception, frame};
use crate::usage::eventstream::HeaderValue;
use base64::Engine as _;
use http::HeaderValue as HttpValue;

const OK: StatusCode = StatusCode::OK;

fn no_headers() -> HeaderMap {
    HeaderMap::new()
}

/// Runs a whole body through a tap in pieces of `piece` bytes.
fn run(
    kind: ResponseKind,
    status: StatusCode,
    headers: &HeaderMap,
    estimate: u64,
    body: &[u8],
    piece: usize,
    complete: bool,
) -> UsageReport {
    let mut tap = UsageTap::new(kind, status, headers, estimate);
    for chunk in body.chunks(piece.max(1)) {
        tap.observe(chunk);
    }
    tap.finish(complete)
}

fn converse_stream_frames() -> Vec<Vec<u8>> {
    vec![
        event(
            "messageStart",
            r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGH","role":"assistant"}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefghijklmnopq"}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":", world! Ça va?"},"p":"abcd"}"#,
        ),
        event(
            "contentBlockStop",
            r#"{"contentBlockIndex":0,"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}"#,
        ),
        event(
            "messageStop",
            r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU","stopReason":"end_turn"}"#,
        ),
        event(
            "metadata",
            r#"{"metrics":{"latencyMs":437},"p":"abcdefghijklmnopqrstuvwxyzABCD","usage":{"cacheReadInputTokens":1024,"cacheWriteInputTokens":0,"inputTokens":12,"outputTokens":9,"totalTokens":1045}}"#,
        ),
    ]
}

/// An InvokeModelWithResponseStream `chunk` event wrapping one model JSON event.
fn chunk(model_json: &str) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(model_json);
    event(
        "chunk",
        &format!(r#"{{"bytes":"{encoded}","p":"abcdefghijk"}}"#),
    )
}

const MESSAGE_START: &str = r#"{"type":"message_start","message":{"id":"msg_bdrk_01XYZ","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}"#;

/// Text deltas totalling 40 characters.
const DELTAS: [&str; 2] = [
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world! "}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"How are you doing today, my friend?"}}"#,
];

fn anthropic_stream_frames() -> Vec<Vec<u8>> {
    vec![
        chunk(MESSAGE_START),
        chunk(
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        chunk(DELTAS[0]),
        chunk(DELTAS[1]),
        chunk(r#"{"type":"content_block_stop","index":0}"#),
        chunk(
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":42}}"#,
        ),
        chunk(
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":42,"invocationLatency":1234,"firstByteLatency":321,"cacheReadInputTokenCount":2000,"cacheWriteInputTokenCount":100}}"#,
        ),
    ]
}

fn usage(input: u64, output: u64, read: u64, write: u64) -> TokenUsage {
    TokenUsage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_tokens: write,
    }
}

#[test]
fn converse_stream_reports_metadata_usage_for_any_split() {
    let body = converse_stream_frames().concat();
    let expected = UsageReport {
        usage: usage(12, 9, 1024, 0),
        source: UsageSource::Reported,
        stream_error: None,
        complete: true,
    };
    for piece in [1, 2, 3, 7, 64, 1000, body.len()] {
        let report = run(
            ResponseKind::ConverseStream,
            OK,
            &no_headers(),
            500,
            &body,
            piece,
            true,
        );
        assert_eq!(report, expected, "piece {piece}");
    }
    // Every two-piece split.
    for split in 0..=body.len() {
        let mut tap = UsageTap::new(ResponseKind::ConverseStream, OK, &no_headers(), 0);
        tap.observe(&body[..split]);
        tap.observe(&body[split..]);
        assert_eq!(tap.finish(true), expected, "split {split}");
    }
}

#[test]
fn invoke_stream_reports_invocation_metrics_with_cache_counts() {
    let body = anthropic_stream_frames().concat();
    for piece in [1, 5, 100, body.len()] {
        let report = run(
            ResponseKind::InvokeStream,
            OK,
            &no_headers(),
            9999,
            &body,
            piece,
            true,
        );
        assert_eq!(
            report,
            UsageReport {
                usage: usage(25, 42, 2000, 100),
                source: UsageSource::Reported,
                stream_error: None,
                complete: true,
            }
        );
    }
}

#[test]
fn invoke_stream_cut_before_metrics_is_estimated_from_what_was_seen() {
    let frames = anthropic_stream_frames();
    // message_start and both text deltas, then half of the next frame.
    let mut body = frames[..4].concat();
    body.extend_from_slice(&frames[4][..10]);
    let report = run(
        ResponseKind::InvokeStream,
        OK,
        &no_headers(),
        10,
        &body,
        13,
        false,
    );
    assert_eq!(report.source, UsageSource::Estimated);
    assert!(!report.complete);
    assert_eq!(report.stream_error, None);
    // input: message_start's 25 beats the proxy's 10; output: ceil(49 chars / 4) = 13
    // beats message_start's 1; cache counts from message_start.
    assert_eq!(report.usage, usage(25, 13, 2000, 100));

    // The proxy's own prompt estimate wins when larger.
    let report = run(
        ResponseKind::InvokeStream,
        OK,
        &no_headers(),
        3000,
        &body,
        13,
        false,
    );
    assert_eq!(report.usage.input_tokens, 3000);

    // After message_delta (cumulative output 42) but before message_stop.
    let body = frames[..6].concat();
    let report = run(
        ResponseKind::InvokeStream,
        OK,
        &no_headers(),
        10,
        &body,
        64,
        false,
    );
    assert_eq!(report.source, UsageSource::Estimated);
    assert_eq!(report.usage, usage(25, 42, 2000, 100));
}

#[test]
fn stream_cut_before_anything_useful_is_never_zero() {
    for kind in [ResponseKind::ConverseStream, ResponseKind::InvokeStream] {
        for body in [Vec::new(), converse_stream_frames()[0][..7].to_vec()] {
            let report = run(kind, OK, &no_headers(), 321, &body, 3, false);
            assert_eq!(report.source, UsageSource::Estimated);
            assert_eq!(report.usage, usage(321, 1, 0, 0), "{kind:?}");
            assert!(!report.complete);
        }
    }
}

#[test]
fn converse_stream_cut_before_metadata_counts_streamed_text() {
    let frames = converse_stream_frames();
    let body = frames[..5].concat();
    let report = run(
        ResponseKind::ConverseStream,
        OK,
        &no_headers(),
        77,
        &body,
        9,
        false,
    );
    // "Hello" + ", world! Ça va?" = 5 + 15 characters (not bytes) -> 5 tokens.
    assert_eq!(report.usage, usage(77, 5, 0, 0));
    assert_eq!(report.source, UsageSource::Estimated);
    assert!(!report.complete);
}

#[test]
fn converse_stream_counts_tool_input_and_reasoning_deltas() {
    let body = [
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"12345678"}}}"#,
        ),
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":\"Paris\"}"}}}"#,
        ),
    ]
    .concat();
    let report = run(
        ResponseKind::ConverseStream,
        OK,
        &no_headers(),
        0,
        &body,
        5,
        true,
    );
    // 8 + 16 characters -> 6 tokens.
    assert_eq!(report.usage.output_tokens, 6);
    // The caller saw the whole body, and no frame was left half-read.
    assert!(report.complete);
}

#[test]
fn exception_frame_is_recorded() {
    let frames = converse_stream_frames();
    let mut body = frames[..3].concat();
    body.extend(exception(
        "modelStreamErrorException",
        r#"{"message":"Model stream failed","originalStatusCode":500}"#,
    ));
    let report = run(
        ResponseKind::ConverseStream,
        OK,
        &no_headers(),
        40,
        &body,
        11,
        true,
    );
    assert_eq!(
        report.stream_error.as_deref(),
        Some("modelStreamErrorException: Model stream failed")
    );
    assert!(!report.complete, "an exception is not a normal end");
    assert_eq!(report.source, UsageSource::Estimated);
    assert_eq!(report.usage, usage(40, 5, 0, 0));

    // Same inside an InvokeModelWithResponseStream; the first error wins.
    let mut body = anthropic_stream_frames()[..1].concat();
    body.extend(exception(
        "throttlingException",
        r#"{"message":"Too many tokens, please wait before trying again."}"#,
    ));
    body.extend(exception("internalServerException", r#"{"message":"x"}"#));
    let report = run(
        ResponseKind::InvokeStream,
        OK,
        &no_headers(),
        0,
        &body,
        4096,
        true,
    );
    assert_eq!(
        report.stream_error.as_deref(),
        Some("throttlingException: Too many tokens, please wait before trying again.")
    );
    assert_eq!(report.usage, usage(25, 1, 2000, 100));
}

#[test]
fn error_message_type_uses_error_headers() {
    let body = frame(
        &[
            (":message-type", HeaderValue::String("error".into())),
            (":error-code", HeaderValue::String("InternalFailure".into())),
            (
                ":error-message",
                HeaderValue::String("An internal error occurred".into()),
            ),
        ],
        b"",
    );
    let report = run(
        ResponseKind::InvokeStream,
        OK,
        &no_headers(),
        1,
        &body,
        3,
        true,
    );
    assert_eq!(
        report.stream_error.as_deref(),
        Some("InternalFailure: An internal error occurred")
    );
}

#[test]
fn corrupt_stream_is_reported_and_keeps_what_was_seen() {
    let frames = anthropic_stream_frames();
    let mut body = frames[..3].concat();
    let mut bad = frames[3].clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // message CRC
    body.extend(bad);
    body.extend(frames[6].clone()); // invocation metrics after the corruption: ignored
    let report = run(
        ResponseKind::InvokeStream,
        OK,
        &no_headers(),
        0,
        &body,
        17,
        true,
    );
    let error = report.stream_error.unwrap_or_default();
    assert!(
        error.starts_with("event stream decode error: event stream message CRC mismatch"),
        "{error}"
    );
    assert!(!report.complete);
    assert_eq!(report.source, UsageSource::Estimated);
    // message_start counts, plus ceil(14 chars / 4) = 4 output.
    assert_eq!(report.usage, usage(25, 4, 2000, 100));
}

#[test]
fn converse_json_body() {
    let body = br#"{"metrics":{"latencyMs":1175},"output":{"message":{"content":[{"text":"Hi there"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"cacheReadInputTokens":7,"cacheWriteInputTokens":3,"inputTokens":30,"outputTokens":5,"totalTokens":45}}"#;
    for piece in [1, 10, body.len()] {
        let report = run(
            ResponseKind::Converse,
            OK,
            &no_headers(),
            1000,
            body,
            piece,
            true,
        );
        assert_eq!(
            report,
            UsageReport {
                usage: usage(30, 5, 7, 3),
                source: UsageSource::Reported,
                stream_error: None,
                complete: true,
            }
        );
    }
}

#[test]
fn invoke_headers_only() {
    let mut headers = HeaderMap::new();
    // HeaderMap names are case-insensitive; parse the mixed-case spelling AWS uses.
    for (name, value) in [
        ("X-Amzn-Bedrock-Input-Token-Count", "11"),
        ("X-Amzn-Bedrock-Output-Token-Count", " 22 "),
        ("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "33"),
        ("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", "44"),
        ("X-Amzn-Bedrock-Invocation-Latency", "555"),
    ] {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HttpValue::from_static(value),
        );
    }
    let mut tap = UsageTap::new(ResponseKind::Invoke, OK, &headers, 0);
    assert!(matches!(tap.mode, Mode::Off), "body not copied");
    tap.observe(b"\x00\xffnot json at all");
    assert_eq!(
        tap.finish(true),
        UsageReport {
            usage: usage(11, 22, 33, 44),
            source: UsageSource::Reported,
            stream_error: None,
            complete: true,
        }
    );
    // Headers win over a body with different numbers, also for streams.
    let body = anthropic_stream_frames().concat();
    let report = run(ResponseKind::InvokeStream, OK, &headers, 0, &body, 99, true);
    assert_eq!(report.usage, usage(11, 22, 33, 44));
    // Unparseable headers are ignored.
    let mut bad = HeaderMap::new();
    bad.insert(HEADER_INPUT_TOKENS, HttpValue::from_static("lots"));
    let tap = UsageTap::new(ResponseKind::Invoke, OK, &bad, 0);
    assert_eq!(tap.header_usage, None);
}

#[test]
fn invoke_bodies_of_several_model_families() {
    let cases: [(&[u8], TokenUsage); 5] = [
        (
            br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":40}}"#,
            usage(10, 40, 30, 20),
        ),
        (
            br#"{"generation":"Hello","prompt_token_count":17,"generation_token_count":3,"stop_reason":"stop"}"#,
            usage(17, 3, 0, 0),
        ),
        (
            br#"{"inputTextTokenCount":8,"results":[{"tokenCount":6,"outputText":"Hi","completionReason":"FINISH"}]}"#,
            usage(8, 6, 0, 0),
        ),
        (
            br#"{"output":{"message":{"content":[{"text":"Hi"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":4,"outputTokens":2,"totalTokens":6,"cacheReadInputTokenCount":1,"cacheWriteInputTokenCount":0}}"#,
            usage(4, 2, 1, 0),
        ),
        (
            br#"{"choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#,
            usage(9, 1, 0, 0),
        ),
    ];
    for (body, expected) in cases {
        let report = run(ResponseKind::Invoke, OK, &no_headers(), 0, body, 16, true);
        assert_eq!(report.source, UsageSource::Reported);
        assert_eq!(report.usage, expected, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn invoke_body_without_usage_is_estimated() {
    // Mistral: no counts in the body. Strings: "Bonjour tout le monde!" (22) + "stop" (4).
    let body = br#"{"outputs":[{"text":"Bonjour tout le monde!","stop_reason":"stop"}]}"#;
    let report = run(ResponseKind::Invoke, OK, &no_headers(), 50, body, 8, true);
    assert_eq!(report.source, UsageSource::Estimated);
    assert_eq!(report.usage, usage(50, 7, 0, 0));
    assert!(report.complete);

    // Cut short: the JSON does not parse, so every byte received counts as text.
    let report = run(
        ResponseKind::Invoke,
        OK,
        &no_headers(),
        50,
        &body[..40],
        8,
        false,
    );
    assert_eq!(report.usage, usage(50, 10, 0, 0));
    assert!(!report.complete);
}

#[test]
fn body_copy_is_capped() {
    let mut tap = UsageTap::new(ResponseKind::Converse, OK, &no_headers(), 5);
    let piece = vec![b' '; 1024 * 1024];
    for _ in 0..5 {
        tap.observe(&piece);
    }
    match &tap.mode {
        Mode::Body(body) => {
            assert!(body.overflowed);
            assert_eq!(body.buf.capacity(), 0, "copy released");
            assert_eq!(body.total, 5 * 1024 * 1024);
        }
        other => panic!("unexpected mode {other:?}"),
    }
    tap.observe(br#"{"usage":{"inputTokens":1,"outputTokens":1}}"#);
    let report = tap.finish(true);
    assert_eq!(report.source, UsageSource::Estimated);
    assert_eq!(report.usage, usage(5, 1, 0, 0));

    // Exactly at the cap is still parsed.
    let usage_json = br#"{"usage":{"inputTokens":3,"outputTokens":4}}"#;
    let mut body = vec![b' '; MAX_BODY_COPY - usage_json.len()];
    body.extend_from_slice(usage_json);
    let report = run(
        ResponseKind::Converse,
        OK,
        &no_headers(),
        0,
        &body,
        65536,
        true,
    );
    assert_eq!(report.source, UsageSource::Reported);
    assert_eq!(report.usage, usage(3, 4, 0, 0));
}

#[test]
fn count_tokens_and_other_are_never_counted() {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_INPUT_TOKENS, HttpValue::from_static("100"));
    headers.insert(HEADER_OUTPUT_TOKENS, HttpValue::from_static("1"));
    for kind in [ResponseKind::CountTokens, ResponseKind::Other] {
        let report = run(kind, OK, &headers, 999, br#"{"inputTokens":100}"#, 4, true);
        assert_eq!(
            report,
            UsageReport {
                usage: TokenUsage::default(),
                source: UsageSource::None,
                stream_error: None,
                complete: true,
            }
        );
    }
}

#[test]
fn non_success_without_usage_is_not_counted() {
    let body = br#"{"message":"Too many requests, please wait before trying again."}"#;
    for kind in [
        ResponseKind::Invoke,
        ResponseKind::Converse,
        ResponseKind::ConverseStream,
        ResponseKind::InvokeStream,
    ] {
        let report = run(
            kind,
            StatusCode::TOO_MANY_REQUESTS,
            &no_headers(),
            500,
            body,
            7,
            true,
        );
        assert_eq!(report.source, UsageSource::None, "{kind:?}");
        assert_eq!(report.usage, TokenUsage::default());
        assert_eq!(report.stream_error, None);
    }
}

#[test]
fn tap_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<UsageTap>();
    assert_send_sync::<UsageReport>();
}

#[test]
fn garbage_never_panics() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = [
        converse_stream_frames().concat(),
        anthropic_stream_frames().concat(),
        br#"{"usage":{"inputTokens":1,"outputTokens":2}}"#.to_vec(),
    ];
    let kinds = ResponseKind::ALL;
    for round in 0..3000usize {
        let mut body = valid[round % valid.len()].clone();
        if next() % 3 == 0 {
            let len = (next() % 300) as usize;
            body = (0..len).map(|_| next() as u8).collect();
        } else {
            for _ in 0..(next() % 5 + 1) {
                let at = (next() as usize) % body.len();
                body[at] = next() as u8;
            }
        }
        let kind = kinds[round % kinds.len()];
        let estimate = next() % 100;
        let complete = next() % 2 == 0;
        let report = run(
            kind,
            OK,
            &no_headers(),
            estimate,
            &body,
            (next() % 50 + 1) as usize,
            complete,
        );
        if kind.is_counted() {
            // A 2xx counted call is never recorded as nothing.
            assert_ne!(report.source, UsageSource::None);
            if report.source == UsageSource::Estimated {
                assert!(report.usage.output_tokens >= 1);
                assert!(report.usage.input_tokens >= estimate);
            }
        } else {
            assert_eq!(report.source, UsageSource::None);
        }
        if !complete {
            assert!(!report.complete);
        }
    }
}
