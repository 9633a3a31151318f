//! The request path's CPU cost without the network.
//!
//! - `hot_path_2kb`: hash the body, verify the caller's SigV4 signature, admit against
//!   eight warm quota counters, re-sign for upstream, settle, and update the metrics as
//!   the handler does (labels, proxy overhead, the finished call): a 2 KB Converse call.
//! - `hot_path_2kb/...+ratelimit...`: the same with the short-term limits on (user and
//!   team rpm, tpm and calls in flight).
//! - `metrics/record_call`: the metrics update of one call alone.
//! - `sigv4/{verify,resign}/{1,16,256} KB`: each step alone by body size (verify includes
//!   the body hash; re-signing reuses it).
//! - `usage/...`: reading token usage from a ConverseStream and an
//!   InvokeModelWithResponseStream body as they stream.
//!
//! Run: `cargo bench --bench hot_path`.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use base64::Engine as _;
use bedrock_gate::auth::crypto::{bearer_hash, MasterKey};
use bedrock_gate::auth::directory::{Directory, DirectoryHandle};
use bedrock_gate::auth::Authenticator;
use bedrock_gate::config::MetricsConfig;
use bedrock_gate::config::RateLimitConfig;
use bedrock_gate::domain::RateLimit;
use bedrock_gate::metrics::{BlockedUsers, Finished, Metrics, Outcome};
use bedrock_gate::proxy::upstream::{CredentialCache, Upstream};
use bedrock_gate::quota::engine::{Ask, QuotaEngine};
use bedrock_gate::quota::ledger::MemoryLedger;
use bedrock_gate::ratelimit::{RateAsk, RateLimiter};
use bedrock_gate::store::{ActiveKey, Limits};
use bedrock_gate::usage::eventstream::encode_event;
use bedrock_gate::usage::{ResponseKind, UsageTap};
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sha2::{Digest, Sha256};

const KEY_ID: &str = "BGBENCHKEY0000000001";
const SECRET: &str = "benchSecretbenchSecretbenchSecretbenchSe";
const REGION: &str = "eu-west-1";
const URL: &str = "http://127.0.0.1:8080/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";

fn body(size: usize) -> Bytes {
    let text = "lorem ipsum dolor sit amet ".repeat(size / 27 + 1);
    let mut v = serde_json::json!({
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 512}
    })
    .to_string();
    // Trim the text so the body is `size` bytes and still JSON.
    let excess = v.len().saturating_sub(size);
    let text = &text[..text.len() - excess];
    v = serde_json::json!({
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 512}
    })
    .to_string();
    Bytes::from(v)
}

fn signed_parts(body: &[u8]) -> http::request::Parts {
    let identity = Credentials::new(KEY_ID, SECRET, None, None, "bench").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", "127.0.0.1:8080"),
        ("content-type", "application/json"),
        ("user-agent", "aws-sdk-rust/1.0 bench"),
    ];
    let signable =
        SignableRequest::new("POST", URL, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::post(URL);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    req.body(()).unwrap().into_parts().0
}

struct Fixture {
    auth: Authenticator,
    upstream: Upstream,
    quota: QuotaEngine,
    metrics: Metrics,
    rt: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    bedrock_gate::install_crypto_provider();
    let master = MasterKey::from_bytes(&[1u8; 32]);
    let key = ActiveKey {
        expires_at: None,
        access_key_id: KEY_ID.into(),
        tool: "bench".into(),
        secret_enc: master.encrypt(KEY_ID, SECRET).unwrap(),
        bearer_hash: bearer_hash("token"),
        user_id: 1,
        username: "alice".into(),
        person: "Alice".into(),
        team_id: 1,
        team: "t".into(),
    };
    let (dir, _) = Directory::build(vec![key], &master);
    let auth = Authenticator::new(Arc::new(DirectoryHandle::new(dir)), REGION);
    let creds = Arc::new(CredentialCache::new(SharedCredentialsProvider::new(
        Credentials::new("AKIAUPSTREAM", "upstreamsecret", None, None, "bench"),
    )));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(creds.refresh()).unwrap();
    let endpoint: http::Uri = "https://bedrock-runtime.eu-west-1.amazonaws.com"
        .parse()
        .unwrap();
    let upstream = rt.block_on(async {
        Upstream::new(
            &endpoint,
            REGION,
            creds,
            1,
            std::time::Duration::from_secs(30),
        )
        .unwrap()
    });
    let quota = QuotaEngine::new(
        Arc::new(MemoryLedger::default()),
        chrono_tz::Tz::CET,
        80,
        None,
    );
    let metrics = Metrics::new(&MetricsConfig::default(), Box::new(BlockedUsers::default));
    Fixture {
        auth,
        upstream,
        quota,
        metrics,
        rt,
    }
}

fn limits() -> Limits {
    Limits {
        daily_requests: Some(1_000_000_000),
        monthly_requests: Some(1_000_000_000),
        daily_budget_usd: Some(1_000_000.0),
        monthly_budget_usd: Some(1_000_000.0),
        ..Default::default()
    }
}

fn hot_path(c: &mut Criterion) {
    let f = fixture();
    let body = body(2048);
    let parts = signed_parts(&body);
    let ask = Ask {
        user_id: 1,
        username: "alice",
        team_id: 1,
        team: "t",
        user_limits: limits(),
        team_limits: limits(),
        micro_usd: 2_000,
        allow_grants: true,
    };
    let now = chrono::Utc::now();
    for _ in 0..1000 {
        let r = f.rt.block_on(f.quota.admit(&ask, now)).unwrap();
        f.quota.settle(r, 1_000);
    }
    c.bench_function("hot_path_2kb/hash+verify+admit+resign+settle", |b| {
        b.iter(|| {
            let hash = hex::encode(Sha256::digest(black_box(&body)));
            let body_read = Instant::now();
            let principal = f
                .auth
                .authenticate(&parts, &hash, SystemTime::now())
                .unwrap();
            let reservation = f.rt.block_on(f.quota.admit(&ask, now)).unwrap();
            let req = f.upstream.prepare(&parts, body.clone(), &hash).unwrap();
            let sent = Instant::now();
            f.metrics.proxy_overhead(sent - body_read);
            f.quota.settle(reservation, 1_000);
            record_call(&f.metrics, sent);
            black_box((principal, req));
        })
    });
    // The same with the short-term limits on (rpm, tpm, calls in flight for the user
    // and the team: one more mutex, four window checks, the guard settled).
    let limiter = RateLimiter::new(RateLimitConfig::default());
    let rate_limits = Limits {
        // Never reached in a run.
        rpm: Some(RateLimit::Max(u64::MAX / 4)),
        tpm: Some(RateLimit::Max(u64::MAX / 4)),
        max_concurrent: Some(RateLimit::Max(1_000)),
        ..limits()
    };
    let rate_ask = RateAsk {
        user_id: 1,
        team_id: 1,
        user_limits: &rate_limits,
        team_limits: &rate_limits,
    };
    c.bench_function(
        "hot_path_2kb/hash+verify+admit+ratelimit+resign+settle",
        |b| {
            b.iter(|| {
                let hash = hex::encode(Sha256::digest(black_box(&body)));
                let body_read = Instant::now();
                let principal = f
                    .auth
                    .authenticate(&parts, &hash, SystemTime::now())
                    .unwrap();
                let reservation = f.rt.block_on(f.quota.admit(&ask, now)).unwrap();
                let guard = limiter.admit(black_box(&rate_ask), 5_000).unwrap();
                let req = f.upstream.prepare(&parts, body.clone(), &hash).unwrap();
                let sent = Instant::now();
                f.metrics.proxy_overhead(sent - body_read);
                f.quota.settle(reservation, 1_000);
                guard.settle(1_200);
                record_call(&f.metrics, sent);
                black_box((principal, req));
            })
        },
    );
    c.bench_function("metrics/record_call", |b| {
        b.iter(|| record_call(&f.metrics, Instant::now()))
    });

    let mut group = c.benchmark_group("sigv4");
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        let body = body_of(size);
        let parts = signed_parts(&body);
        let hash = hex::encode(Sha256::digest(&body));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("verify", size), &size, |b, _| {
            b.iter(|| {
                let hash = hex::encode(Sha256::digest(black_box(&body)));
                black_box(
                    f.auth
                        .authenticate(&parts, &hash, SystemTime::now())
                        .unwrap(),
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("resign", size), &size, |b, _| {
            b.iter(|| black_box(f.upstream.prepare(&parts, body.clone(), &hash).unwrap()))
        });
    }
    group.finish();
}

/// What the handler does for the metrics when a call finishes (the first-byte instant
/// is taken by the response body, the end here).
fn record_call(metrics: &Metrics, sent: Instant) {
    let first_byte = Instant::now();
    let labels = metrics.labels(
        "t",
        black_box("alice"),
        "anthropic.claude-3-haiku-20240307-v1:0",
        true,
        "Converse",
    );
    let ended = Instant::now();
    metrics.finished(
        &labels,
        &Finished {
            outcome: Outcome::Admitted,
            tokens: [812, 96, 0, 0],
            cost_usd: 0.0012,
            upstream_latency: Some(ended - sent),
            first_byte: Some(first_byte - sent),
        },
    );
}

fn body_of(size: usize) -> Bytes {
    body(size)
}

fn converse_stream_body() -> Vec<u8> {
    let mut out = encode_event("messageStart", br#"{"p":"abcd","role":"assistant"}"#).unwrap();
    for i in 0..100 {
        let delta =
            format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"word{i} "}},"p":"abcdefgh"}}"#);
        out.extend(encode_event("contentBlockDelta", delta.as_bytes()).unwrap());
    }
    out.extend(encode_event("contentBlockStop", br#"{"contentBlockIndex":0}"#).unwrap());
    out.extend(encode_event("messageStop", br#"{"stopReason":"end_turn"}"#).unwrap());
    out.extend(
        encode_event(
            "metadata",
            br#"{"metrics":{"latencyMs":412},"usage":{"inputTokens":812,"outputTokens":96,"totalTokens":908}}"#,
        )
        .unwrap(),
    );
    out
}

fn invoke_stream_body() -> Vec<u8> {
    let chunk = |event: serde_json::Value| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        encode_event(
            "chunk",
            format!(r#"{{"bytes":"{b64}","p":"abc"}}"#).as_bytes(),
        )
        .unwrap()
    };
    let mut out = chunk(
        serde_json::json!({"type":"message_start","message":{"usage":{"input_tokens":812,"output_tokens":1}}}),
    );
    for i in 0..100 {
        out.extend(chunk(serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":format!("word{i} ")}})));
    }
    out.extend(chunk(serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":96}})));
    out.extend(chunk(serde_json::json!({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":812,"outputTokenCount":96,"invocationLatency":412,"firstByteLatency":100}})));
    out
}

fn usage(c: &mut Criterion) {
    let headers = http::HeaderMap::new();
    let mut group = c.benchmark_group("usage");
    for (name, kind, body) in [
        (
            "converse_stream_100_deltas",
            ResponseKind::ConverseStream,
            converse_stream_body(),
        ),
        (
            "invoke_stream_100_chunks",
            ResponseKind::InvokeStream,
            invoke_stream_body(),
        ),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut tap = UsageTap::new(kind, http::StatusCode::OK, &headers, 100);
                // As the network delivers it: 1,400-byte pieces.
                for piece in body.chunks(1400) {
                    tap.observe(black_box(piece));
                }
                let report = tap.finish(true);
                assert_eq!(report.usage.output_tokens, 96);
                report
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hot_path, usage);
criterion_main!(benches);
