//! A fake Bedrock runtime upstream for the integration tests.
//!
//! It listens on `127.0.0.1:0` (HTTP/1.1 and h2c), checks every request's SigV4
//! signature the way AWS does (written here by hand in [`sigv4`], independent of the
//! `aws-sigv4` crate the proxy signs with), records what it received ([`recorded`]), and
//! answers like Bedrock with fixed token counts so tests can assert exact numbers.
//! This file owns the fake's configuration, its listener and the reported constants;
//! [`service`] handles one request, [`routes`] picks the answer (and the injected fault),
//! [`responses`] and [`streams`] build them, [`event_stream`] is the wire format.
//!
//! Fault injection by model id substring: `throttled` (429), `broken` (500),
//! `validation` (400), `huge` (Converse: `outputTokens` of 10^30), `midstream` (stream
//! ops: exception frame after the first event), and after the first text delta of a
//! stream op: `hang` (the stream never ends), `reset` (the response breaks), `cut` (half
//! a frame, then a clean end), `garbage` (bytes that are not an event stream, then a
//! clean end); `slowstart` (one second before the response head), `stall` (no answer).

#![allow(dead_code)]

mod event_stream;
mod recorded;
mod responses;
mod routes;
mod service;
mod sigv4;
mod streams;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

// The fake's public API; each test binary uses a different part of it.
#[allow(unused_imports)]
pub use event_stream::{decode_event_stream, encode_event_frame, EventFrame};
#[allow(unused_imports)]
pub use recorded::ReceivedRequest;
use recorded::RequestLog;

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

/// What every connection of one fake shares.
struct State {
    cfg: UpstreamConfig,
    requests: RequestLog,
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
            requests: RequestLog::default(),
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
                    let service = service_fn(move |req| service::handle(conn_state.clone(), req));
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
        self.state.requests.all()
    }

    /// All requests received, valid or not.
    pub fn count(&self) -> usize {
        self.state.requests.count()
    }

    /// Requests whose signature verified and that were not refused.
    pub fn valid_count(&self) -> usize {
        self.state.requests.valid_count()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}
