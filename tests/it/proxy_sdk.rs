//! The AWS SDK for Rust, unmodified, talks to Bedrock through the proxy: all four model
//! operations, with bare model ids, inference-profile ids and full ARNs, signed with
//! SigV4 and with a bearer token. The fake upstream verifies the proxy's re-signed
//! requests independently and never sees the caller's credentials.

use crate::common;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, Message, ResponseStream,
};
use bedrock_gate::domain::UsageSource;
use common::upstream::{CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, INPUT_TOKENS, OUTPUT_TOKENS};
use common::{Gate, GateOptions};

const MODEL_IDS: [&str; 3] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
];

fn message(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

fn anthropic_body() -> Blob {
    Blob::new(
        serde_json::json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Say hello"}]
        })
        .to_string(),
    )
}

async fn all_operations(client: &aws_sdk_bedrockruntime::Client, model: &str) {
    let out = client
        .converse()
        .model_id(model)
        .messages(message("hello"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("converse {model}: {e:?}"));
    let usage = out.usage().unwrap();
    assert_eq!(usage.input_tokens() as u64, INPUT_TOKENS);
    assert_eq!(usage.output_tokens() as u64, OUTPUT_TOKENS);

    let out = client
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .body(anthropic_body())
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke {model}: {e:?}"));
    let v: serde_json::Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(v["usage"]["output_tokens"], OUTPUT_TOKENS);

    let mut stream = client
        .converse_stream()
        .model_id(model)
        .messages(message("hello"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("converse-stream {model}: {e:?}"))
        .stream;
    let mut text = String::new();
    let mut reported = None;
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(d) => {
                if let Some(aws_sdk_bedrockruntime::types::ContentBlockDelta::Text(t)) = d.delta() {
                    text.push_str(t);
                }
            }
            ConverseStreamOutput::Metadata(m) => {
                reported = m.usage().map(|u| u.output_tokens());
            }
            _ => {}
        }
    }
    assert_eq!(text, common::upstream::RESPONSE_TEXT);
    assert_eq!(reported, Some(OUTPUT_TOKENS as i32));

    let mut stream = client
        .invoke_model_with_response_stream()
        .model_id(model)
        .content_type("application/json")
        .body(anthropic_body())
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke-stream {model}: {e:?}"))
        .body;
    let mut chunks = 0;
    let mut saw_stop = false;
    while let Some(event) = stream.recv().await.unwrap() {
        if let ResponseStream::Chunk(c) = event {
            chunks += 1;
            let v: serde_json::Value = serde_json::from_slice(c.bytes().unwrap().as_ref()).unwrap();
            saw_stop |= v["type"] == "message_stop";
        }
    }
    assert!(chunks >= 5 && saw_stop, "{chunks} chunks, stop {saw_stop}");
}

fn assert_upstream_clean(gate: &Gate, user: &common::TestUser) {
    for r in gate.upstream.requests() {
        assert!(r.signature_valid, "upstream rejected: {:?}", r.rejection);
        let auth = r.header("authorization").unwrap_or_default();
        assert!(auth.contains(common::UPSTREAM_KEY_ID), "{auth}");
        for (_, v) in &r.headers {
            assert!(!v.contains(&user.key.access_key_id));
            assert!(!v.contains(&user.key.secret_access_key));
            assert!(!v.contains(&user.key.bearer_token));
        }
    }
}

#[tokio::test]
async fn sdk_with_sigv4_runs_every_operation_with_every_model_id_form() {
    // More worker threads than this machine has cores: calls land on several of them.
    let gate = Gate::start(GateOptions {
        overrides: vec![("BEDROCK_GATE_PROXY__WORKERS".into(), "4".into())],
        ..Default::default()
    })
    .await;
    let alice = gate.user("alice", "research").await;
    let client = common::sdk_client(&gate.url, &alice.key);
    for model in MODEL_IDS {
        all_operations(&client, model).await;
    }
    assert_eq!(gate.upstream.valid_count(), 12);
    assert_eq!(gate.upstream.count(), 12);
    assert_upstream_clean(&gate, &alice);

    let records = gate.records(12).await;
    assert_eq!(records.len(), 12);
    for r in &records {
        assert_eq!(r.username, "alice");
        assert_eq!(r.team, "research");
        assert_eq!(r.status_code, 200);
        assert_eq!(r.usage_source, UsageSource::Reported, "{r:?}");
        assert_eq!(r.input_tokens as u64, INPUT_TOKENS, "{r:?}");
        assert_eq!(r.output_tokens as u64, OUTPUT_TOKENS, "{r:?}");
        assert_eq!(r.cache_read_tokens as u64, CACHE_READ_TOKENS, "{r:?}");
        assert_eq!(r.cache_write_tokens as u64, CACHE_WRITE_TOKENS, "{r:?}");
        assert!(r.cost_usd > 0.0, "priced: {r:?}");
        assert!(r.upstream_request_id.is_some());
        assert_eq!(r.access_key_id, alice.key.access_key_id);
    }
    let ops: std::collections::BTreeSet<_> = records.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(
        ops.into_iter().collect::<Vec<_>>(),
        [
            "Converse",
            "ConverseStream",
            "InvokeModel",
            "InvokeModelWithResponseStream"
        ]
    );
    gate.stop().await;
}

#[tokio::test]
async fn sdk_with_bearer_token_is_accepted_and_re_signed() {
    // One worker: calls are served on the runtime that runs `serve`, with no threads.
    let gate = Gate::start(GateOptions {
        overrides: vec![("BEDROCK_GATE_PROXY__WORKERS".into(), "1".into())],
        ..Default::default()
    })
    .await;
    let bob = gate.user("bob", "ops").await;
    let client = common::sdk_bearer_client(&gate.url, &bob.key.bearer_token);
    all_operations(&client, MODEL_IDS[0]).await;
    assert_eq!(gate.upstream.valid_count(), 4);
    assert_upstream_clean(&gate, &bob);
    let records = gate.records(4).await;
    assert!(records
        .iter()
        .all(|r| r.username == "bob" && r.status_code == 200));
    gate.stop().await;
}

#[tokio::test]
async fn a_session_token_on_the_proxy_credentials_is_forwarded() {
    let gate = Gate::start(GateOptions {
        session_token: Some("FwoGZXIvYXdzEXAMPLESESSIONTOKEN".into()),
        ..Default::default()
    })
    .await;
    let carol = gate.user("carol", "ops").await;
    let client = common::sdk_client(&gate.url, &carol.key);
    client
        .converse()
        .model_id(MODEL_IDS[0])
        .messages(message("hi"))
        .send()
        .await
        .unwrap();
    let reqs = gate.upstream.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].signature_valid, "{:?}", reqs[0].rejection);
    assert_eq!(
        reqs[0].header("x-amz-security-token"),
        Some("FwoGZXIvYXdzEXAMPLESESSIONTOKEN")
    );
    gate.stop().await;
}
