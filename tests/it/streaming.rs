//! Streams pass through unbuffered, and a call's usage is recorded however the stream
//! ends: normally, with a mid-stream exception, or with the client gone.

use crate::common;

use bedrock_gate::domain::{EndedEarly, UsageSource};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Gate, GateOptions};
use http_body_util::BodyExt;

const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;

fn request(gate: &Gate, path: &str, token: &str) -> http::Request<http_body_util::Full<Bytes>> {
    http::Request::post(format!("{}{path}", gate.url))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            BODY.as_bytes(),
        )))
        .unwrap()
}

fn client() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
> {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

#[tokio::test]
async fn events_spaced_200ms_upstream_reach_the_client_one_by_one() {
    let gate = Gate::start(GateOptions {
        event_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let alice = gate.user("alice", "research").await;
    let resp = client()
        .request(request(
            &gate,
            "/model/m/converse-stream",
            &alice.key.bearer_token,
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut arrivals = Vec::new();
    let mut bytes = Vec::new();
    let start = Instant::now();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            arrivals.push(start.elapsed());
            bytes.extend_from_slice(&data);
        }
    }
    let frames = common::upstream::decode_event_stream(&bytes).unwrap();
    assert_eq!(frames.len(), 6, "six events");
    // Buffering would deliver everything at once at the end. Unbuffered, the client sees
    // separate arrivals spread over the upstream's pacing (5 gaps of 200 ms).
    assert!(arrivals.len() >= 6, "{arrivals:?}");
    let spread = *arrivals.last().unwrap() - arrivals[0];
    assert!(spread >= Duration::from_millis(800), "{arrivals:?}");
    let records = gate.records(1).await;
    assert_eq!(records[0].output_tokens, 45);
    gate.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_still_leaves_a_record() {
    let gate = Gate::start(GateOptions::default()).await;
    let alice = gate.user("alice", "research").await;
    // `hang`: the upstream sends its first events and never finishes.
    let resp = client()
        .request(request(
            &gate,
            "/model/anthropic.claude-hang/invoke-with-response-stream",
            &alice.key.bearer_token,
        ))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body); // the client goes away
    let records = gate.records(1).await;
    let r = &records[0];
    assert_eq!(r.usage_source, UsageSource::Estimated, "{r:?}");
    assert_eq!(r.ended_early, Some(EndedEarly::ClientClosed), "{r:?}");
    assert!(
        r.input_tokens > 0 && r.output_tokens > 0,
        "never zero: {r:?}"
    );
    gate.stop().await;
}

#[tokio::test]
async fn a_mid_stream_exception_is_passed_on_and_recorded() {
    let gate = Gate::start(GateOptions::default()).await;
    let alice = gate.user("alice", "research").await;
    let resp = client()
        .request(request(
            &gate,
            "/model/midstream/converse-stream",
            &alice.key.bearer_token,
        ))
        .await
        .unwrap();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let frames = common::upstream::decode_event_stream(&bytes).unwrap();
    assert_eq!(
        frames.last().unwrap().header(":message-type"),
        Some("exception"),
        "the exception frame reaches the client unchanged"
    );
    let records = gate.records(1).await;
    let r = &records[0];
    assert!(
        r.error_type
            .as_deref()
            .unwrap_or("")
            .contains("modelStreamErrorException"),
        "{r:?}"
    );
    assert_eq!(r.usage_source, UsageSource::Estimated);
    assert!(r.output_tokens >= 1);
    gate.stop().await;
}

#[tokio::test]
async fn shutdown_during_a_stream_finishes_it_and_flushes_its_record() {
    let mut gate = Gate::start(GateOptions {
        event_delay: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let alice = gate.user("alice", "research").await;
    let resp = client()
        .request(request(
            &gate,
            "/model/m/converse-stream",
            &alice.key.bearer_token,
        ))
        .await
        .unwrap();
    // The first event has arrived: the stream is in flight.
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let reader = tokio::spawn(async move { body.collect().await.map(|c| c.to_bytes()) });
    gate.stop_in_place().await; // returns after in-flight calls and the flush
    let rest = reader.await.unwrap().expect("the stream completed");
    let bytes = [first, rest].concat();
    assert_eq!(
        common::upstream::decode_event_stream(&bytes).unwrap().len(),
        6
    );
    let records = gate.store.requests(&Default::default()).await.unwrap();
    assert_eq!(records.len(), 1, "flushed before serve returned");
    assert_eq!(records[0].usage_source, UsageSource::Reported);
    assert_eq!(records[0].output_tokens, 45);
}
