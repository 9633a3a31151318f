//! Upstream faults (docs/RELIABILITY.md, "Upstream faults"): a stream whose connection
//! breaks, that is cut in the middle of a frame, that carries bytes that are not an event
//! stream, or that stops sending; an upstream that does not answer; storms of 5xx and
//! 429; absurd token counts. Each time the caller gets a Bedrock-shaped error or a whole
//! stream ending in an exception frame, the record carries the usage seen (never zero
//! for a partial stream) and the reason, and a later call on the same proxy succeeds.

use crate::common;

use std::time::{Duration, Instant};

use bedrock_gate::domain::{EndedEarly, UsageSource};
use bedrock_gate::store::RequestRecord;
use bytes::Bytes;
use common::{Gate, GateOptions};
use http_body_util::BodyExt;

const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;

/// The proxy's upstream deadline in these tests (`upstream.timeout_secs`).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

async fn gate() -> Gate {
    Gate::start(GateOptions {
        overrides: vec![(
            "BEDROCK_GATE_UPSTREAM__TIMEOUT_SECS".into(),
            UPSTREAM_TIMEOUT.as_secs().to_string(),
        )],
        ..Default::default()
    })
    .await
}

fn client() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
> {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// POSTs [`BODY`] to `path`; the status, the `x-amzn-ErrorType` and the whole body (the
/// body must end cleanly: a broken one fails the test).
async fn call(gate: &Gate, path: &str, token: &str) -> (u16, Option<String>, Bytes) {
    let request = http::Request::post(format!("{}{path}", gate.url))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            BODY.as_bytes(),
        )))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client().request(request))
        .await
        .expect("an answer")
        .unwrap();
    let status = resp.status().as_u16();
    let error_type = resp
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string());
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
        .await
        .expect("the body ends")
        .unwrap_or_else(|e| panic!("{path}: the body broke: {e}"))
        .to_bytes();
    (status, error_type, body)
}

/// The record of the call whose upstream path contains `word`, waiting for it.
async fn record_of(gate: &Gate, word: &str) -> RequestRecord {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let records = gate.store.requests(&Default::default()).await.unwrap();
        if let Some(r) = records.into_iter().find(|r| r.model_id.contains(word)) {
            return r;
        }
        assert!(Instant::now() < deadline, "no record for {word}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A normal ConverseStream after the faults: six whole events, reported usage.
async fn a_later_stream_succeeds(gate: &Gate, token: &str) {
    let (status, _, body) = call(gate, "/model/fine.after/converse-stream", token).await;
    assert_eq!(status, 200);
    let frames = common::upstream::decode_event_stream(&body).unwrap();
    assert_eq!(frames.len(), 6);
    let r = record_of(gate, "fine.after").await;
    assert_eq!((r.ended_early, r.output_tokens), (None, 45), "{r:?}");
    assert_eq!(r.usage_source, UsageSource::Reported);
}

#[tokio::test]
async fn broken_streams_end_in_an_exception_frame_and_their_records_say_why() {
    let gate = gate().await;
    let alice = gate.user("alice", "research").await;
    let token = &alice.key.bearer_token;
    // (model word, operation, why it ended, the exception the caller gets)
    let cases = [
        (
            "reset.c",
            "converse-stream",
            EndedEarly::UpstreamReset,
            "serviceUnavailableException",
        ),
        (
            "reset.i",
            "invoke-with-response-stream",
            EndedEarly::UpstreamReset,
            "serviceUnavailableException",
        ),
        (
            "cut.c",
            "converse-stream",
            EndedEarly::Truncated,
            "internalServerException",
        ),
        (
            "cut.i",
            "invoke-with-response-stream",
            EndedEarly::Truncated,
            "internalServerException",
        ),
        (
            "garbage.c",
            "converse-stream",
            EndedEarly::Malformed,
            "internalServerException",
        ),
        (
            "hang.c",
            "converse-stream",
            EndedEarly::UpstreamTimeout,
            "serviceUnavailableException",
        ),
    ];
    for (word, op, ended, exception) in cases {
        let started = Instant::now();
        let (status, _, body) = call(&gate, &format!("/model/{word}/{op}"), token).await;
        assert_eq!(status, 200, "{word}");
        // Whole frames only: the first events, then the proxy's exception.
        let frames = common::upstream::decode_event_stream(&body)
            .unwrap_or_else(|e| panic!("{word}: not a whole event stream: {e}"));
        let last = frames.last().unwrap();
        assert_eq!(last.header(":message-type"), Some("exception"), "{word}");
        assert_eq!(last.header(":exception-type"), Some(exception), "{word}");
        let first_events = if op == "converse-stream" { 2 } else { 3 };
        assert_eq!(frames.len(), first_events + 1, "{word}");
        if ended == EndedEarly::UpstreamTimeout {
            let waited = started.elapsed();
            assert!(waited >= UPSTREAM_TIMEOUT, "{waited:?}");
            assert!(waited < UPSTREAM_TIMEOUT * 5, "{waited:?}");
        }
        let r = record_of(&gate, word).await;
        assert_eq!(r.ended_early, Some(ended), "{r:?}");
        assert!(
            r.error_type.as_deref().unwrap_or("").starts_with(exception),
            "{r:?}"
        );
        assert_eq!(r.usage_source, UsageSource::Estimated, "{r:?}");
        assert!(
            r.input_tokens > 0 && r.output_tokens > 0,
            "never zero: {r:?}"
        );
        if op == "invoke-with-response-stream" {
            // `message_start` reported the prompt's count before the stream broke.
            assert!(r.input_tokens >= 120, "{r:?}");
        }
    }
    a_later_stream_succeeds(&gate, token).await;
    gate.stop().await;
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_times_out_shaped_and_the_proxy_recovers() {
    let gate = gate().await;
    let alice = gate.user("alice", "research").await;
    let token = &alice.key.bearer_token;
    let started = Instant::now();
    let (status, error_type, body) = call(&gate, "/model/stall/converse", token).await;
    let waited = started.elapsed();
    assert_eq!(
        (status, error_type.as_deref()),
        (408, Some("ModelTimeoutException"))
    );
    let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(message["message"].as_str().unwrap().contains("in time"));
    assert!(
        waited >= UPSTREAM_TIMEOUT && waited < UPSTREAM_TIMEOUT * 5,
        "{waited:?}"
    );
    let r = record_of(&gate, "stall").await;
    assert_eq!(
        (r.status_code, r.error_type.as_deref()),
        (408, Some("ModelTimeoutException"))
    );
    a_later_stream_succeeds(&gate, token).await;
    gate.stop().await;
}

#[tokio::test]
async fn storms_of_5xx_and_429_reach_callers_shaped_and_the_pool_recovers() {
    let gate = gate().await;
    let alice = gate.user("alice", "research").await;
    let token = alice.key.bearer_token.clone();
    const EACH: usize = 100;
    let calls = (0..EACH * 2).map(|i| {
        let word = if i % 2 == 0 { "broken" } else { "throttled" };
        let path = format!("/model/{word}.storm/converse");
        let (gate, token) = (&gate, &token);
        async move { (word, call(gate, &path, token).await) }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (word, (status, error_type, body)) in answers {
        let expected = match word {
            "broken" => (500, "InternalServerException"),
            _ => (429, "ThrottlingException"),
        };
        assert_eq!(status, expected.0);
        assert!(error_type.unwrap().starts_with(expected.1));
        let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(message["message"].is_string(), "{message}");
    }
    let records = gate.records(EACH * 2).await;
    let failed = |status: i64, error: &str| {
        records
            .iter()
            .filter(|r| {
                r.status_code == status
                    && r.error_type
                        .as_deref()
                        .is_some_and(|e| e.starts_with(error))
            })
            .count()
    };
    assert_eq!(failed(500, "InternalServerException"), EACH);
    assert_eq!(failed(429, "ThrottlingException"), EACH);
    a_later_stream_succeeds(&gate, &token).await;
    gate.stop().await;
}

#[tokio::test]
async fn absurd_upstream_token_counts_are_clamped_and_flagged() {
    let gate = gate().await;
    let alice = gate.user("alice", "research").await;
    // `huge`: the upstream reports 10^30 output tokens.
    let (status, _, _) = call(&gate, "/model/huge/converse", &alice.key.bearer_token).await;
    assert_eq!(status, 200);
    let r = record_of(&gate, "huge").await;
    assert_eq!(
        (r.output_tokens, r.usage_clamped),
        (10_000_000, true),
        "{r:?}"
    );
    assert_eq!(r.input_tokens, 120);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["usage_clamped"], true);
    assert_eq!(json["ended_early"], serde_json::Value::Null);
    // An ordinary call is not flagged.
    let (status, _) = common::converse(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(status, 200);
    let records = gate.records(2).await;
    assert!(!records[0].usage_clamped, "{:?}", records[0]);
    gate.stop().await;
}
