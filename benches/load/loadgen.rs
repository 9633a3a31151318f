//! The load generator of the load benchmark: signs every request with SigV4 (as a real
//! SDK does), or with `--presigned N` replays a pool of N requests signed once at start
//! (the light generator, as `wrk` with a script: a signature stays valid within AWS's
//! 5-minute clock skew, so runs of up to 4 minutes; it leaves the CPU that signing takes
//! to the proxy being measured), and drives one target either closed-loop (C workers back to back, for
//! throughput at saturation) or at a fixed rate (open loop: requests go out on schedule
//! whatever the target does, and latency counts from each request's dispatch, including
//! any wait for the in-flight cap, so a stalled server cannot hide its queueing). Prints
//! one JSON line of results.
//!
//! `cargo run --release --example bench-loadgen -- --url http://127.0.0.1:8080 \
//!   [--key ID --secret S | --bearer T] [--rate 500] [--concurrency 64] [--duration 10] \
//!   [--path /model/anthropic.claude-3-haiku-20240307-v1%3A0/converse] [--body-bytes 2048] \
//!   [--presigned 256] [--hold]` (`--hold`: open `--concurrency` streams and keep them open
//!   for the duration)

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;

#[derive(Clone)]
struct Opts {
    url: String,
    path: String,
    key: Option<(String, String)>,
    bearer: Option<String>,
    region: String,
    rate: u64,
    concurrency: usize,
    duration: Duration,
    body: Bytes,
    hold: bool,
    /// Requests signed once at start and replayed in turn (empty: sign every request).
    pool: Arc<Vec<(http::Uri, http::HeaderMap)>>,
    next: Arc<AtomicUsize>,
}

/// Longest run the pre-signed pool serves: its signatures must stay within the 5-minute
/// clock skew the proxy accepts.
const PRESIGNED_MAX: Duration = Duration::from_secs(240);

fn parse() -> Opts {
    let mut o = Opts {
        url: "http://127.0.0.1:8080".into(),
        path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse".into(),
        key: None,
        bearer: None,
        region: "eu-west-1".into(),
        rate: 0,
        concurrency: 64,
        duration: Duration::from_secs(10),
        body: Bytes::new(),
        hold: false,
        pool: Arc::new(Vec::new()),
        next: Arc::new(AtomicUsize::new(0)),
    };
    let mut body_bytes = 2048usize;
    let mut presigned = 0usize;
    let mut key_id = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_default();
        match a.as_str() {
            "--url" => o.url = v(),
            "--path" => o.path = v(),
            "--key" => key_id = Some(v()),
            "--secret" => o.key = Some((key_id.clone().unwrap_or_default(), v())),
            "--bearer" => o.bearer = Some(v()),
            "--region" => o.region = v(),
            "--rate" => o.rate = v().parse().unwrap_or(0),
            "--concurrency" => o.concurrency = v().parse().unwrap_or(64),
            "--duration" => o.duration = Duration::from_secs(v().parse().unwrap_or(10)),
            "--body-bytes" => body_bytes = v().parse().unwrap_or(2048),
            "--hold" => o.hold = true,
            "--presigned" => presigned = v().parse().unwrap_or(0),
            other => panic!("unknown argument {other}"),
        }
    }
    let filler = "lorem ipsum dolor sit amet ".repeat(body_bytes / 27 + 1);
    let mut body = serde_json::json!({
        "messages": [{"role": "user", "content": [{"text": filler}]}],
        "inferenceConfig": {"maxTokens": 256}
    })
    .to_string();
    body.truncate(body.len().min(body_bytes.max(120)));
    // Keep it valid JSON after truncation.
    if serde_json::from_str::<serde_json::Value>(&body).is_err() {
        let text_len = body_bytes.saturating_sub(110).max(1);
        body = serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": "x".repeat(text_len)}]}],
            "inferenceConfig": {"maxTokens": 256}
        })
        .to_string();
    }
    o.body = Bytes::from(body);
    if presigned > 0 {
        assert!(
            o.duration <= PRESIGNED_MAX,
            "--presigned runs last at most {PRESIGNED_MAX:?} (the signatures' clock skew)"
        );
        o.pool = Arc::new((0..presigned).map(|_| signed(&o)).collect());
    }
    o
}

/// The next request: from the pre-signed pool (a copy of its head, the shared body), or
/// signed now.
fn request(o: &Opts) -> http::Request<Full<Bytes>> {
    let (uri, headers) = match o.pool.len() {
        0 => signed(o),
        n => o.pool[o.next.fetch_add(1, Ordering::Relaxed) % n].clone(),
    };
    let mut req = http::Request::new(Full::new(o.body.clone()));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

/// The URI and headers of one request, signed now (or with the bearer token).
fn signed(o: &Opts) -> (http::Uri, http::HeaderMap) {
    let url = format!("{}{}", o.url, o.path);
    let uri: http::Uri = url.parse().expect("url");
    let host = uri.authority().expect("host").as_str().to_string();
    let mut headers = vec![
        ("host".to_string(), host),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    if let Some(token) = &o.bearer {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    } else if let Some((id, secret)) = &o.key {
        let identity = Credentials::new(id, secret, None, None, "loadgen").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&o.region)
            .name("bedrock")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("params")
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&o.body),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let mut map = http::HeaderMap::new();
    for (k, v) in &headers {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(v).expect("header value"),
        );
    }
    (uri, map)
}

struct Stats {
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
}

async fn one(
    client: &Client<HttpConnector, Full<Bytes>>,
    o: &Opts,
    started: Instant,
    stats: &Stats,
) {
    let req = request(o);
    let outcome = match client.request(req).await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            resp.into_body().collect().await.is_ok() && ok
        }
        Err(_) => false,
    };
    let us = started.elapsed().as_micros() as u64;
    if outcome {
        stats.ok.fetch_add(1, Ordering::Relaxed);
        let _ = stats.hist.lock().record(us.max(1));
    } else {
        stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() {
    let o = Arc::new(parse());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(o.concurrency.max(1))
        .build(connector);
    let stats = Arc::new(Stats {
        hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let begin = Instant::now();
    let deadline = begin + o.duration;
    if o.hold {
        // Open C streams at once and keep them open until the deadline.
        let mut set = tokio::task::JoinSet::new();
        let open = Arc::new(AtomicU64::new(0));
        for _ in 0..o.concurrency {
            let (client, o, open) = (client.clone(), o.clone(), open.clone());
            set.spawn(async move {
                if let Ok(resp) = client.request(request(&o)).await {
                    if resp.status().is_success() {
                        open.fetch_add(1, Ordering::Relaxed);
                        let mut body = resp.into_body();
                        while tokio::time::Instant::now() < tokio::time::Instant::from_std(deadline)
                        {
                            match tokio::time::timeout_at(
                                tokio::time::Instant::from_std(deadline),
                                body.frame(),
                            )
                            .await
                            {
                                Ok(Some(Ok(_))) => continue,
                                _ => break,
                            }
                        }
                    }
                }
            });
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
        println!(
            "{}",
            serde_json::json!({"mode": "hold", "open_streams": open.load(Ordering::Relaxed)})
        );
        set.abort_all();
        return;
    }
    let mut set = tokio::task::JoinSet::new();
    if o.rate == 0 {
        for _ in 0..o.concurrency {
            let (client, o, stats) = (client.clone(), o.clone(), stats.clone());
            set.spawn(async move {
                while Instant::now() < deadline {
                    one(&client, &o, Instant::now(), &stats).await;
                }
            });
        }
    } else {
        let limit = Arc::new(tokio::sync::Semaphore::new(o.concurrency));
        let interval = Duration::from_secs_f64(1.0 / o.rate as f64);
        let mut i: u32 = 0;
        loop {
            let scheduled = begin + interval * i;
            if scheduled >= deadline {
                break;
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(scheduled)).await;
            // Latency counts from here: the request is due and dispatched. Waiting for the
            // in-flight cap counts (a stalled target cannot hide its queue), but the
            // timer's own lateness (tokio's 1 ms tick) does not.
            let dispatched = Instant::now();
            let (client, o, stats, limit) =
                (client.clone(), o.clone(), stats.clone(), limit.clone());
            set.spawn(async move {
                let Ok(_permit) = limit.acquire().await else {
                    return;
                };
                one(&client, &o, dispatched, &stats).await;
            });
            i += 1;
        }
    }
    while set.join_next().await.is_some() {}
    let secs = begin.elapsed().as_secs_f64();
    let h = stats.hist.lock().clone();
    let ok = stats.ok.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "mode": if o.rate == 0 { "closed".to_string() } else { format!("rate {}", o.rate) },
            "concurrency": o.concurrency,
            "ok": ok,
            "errors": stats.errors.load(Ordering::Relaxed),
            "seconds": (secs * 100.0).round() / 100.0,
            "rps": (ok as f64 / secs).round(),
            "p50_us": h.value_at_quantile(0.5),
            "p99_us": h.value_at_quantile(0.99),
            "p999_us": h.value_at_quantile(0.999),
            "max_us": h.max(),
            "body_bytes": o.body.len(),
            "generator": if o.pool.is_empty() { "signing" } else { "light" },
        })
    );
}
