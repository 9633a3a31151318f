//! Fixtures of the short-term limit tests: a stream held open at the fake upstream (it
//! keeps its slot in flight until the client drops it) and the proxy's count of
//! throttled calls on `/metrics`, which tests wait on instead of sleeping.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;

use bedrock_gate::domain::{Limits, RateLimit};

use super::{Gate, GateOptions, TestUser};

/// How long any single wait may take before the test gives up (a hang, not a timing).
pub const SAFETY: Duration = Duration::from_secs(30);

/// A stream that never ends (the fake's `hang` model) until the client goes away.
pub const HANG_STREAM: &str = "/model/anthropic.claude-hang-v1%3A0/converse-stream";

/// A short-term limit of `n`.
pub fn rate(n: u64) -> Option<RateLimit> {
    Some(RateLimit::Max(n))
}

/// A proxy on a new database, and a user with these short-term limits.
pub async fn gate_and_user(username: &str, team: &str, limits: Limits) -> (Gate, TestUser) {
    let gate = Gate::start(GateOptions::default()).await;
    let user = gate.user_with_limits(username, team, limits).await;
    (gate, user)
}

/// Posts a call to `url` with the user's bearer token and returns the response with its
/// body still open.
pub async fn open(url: &str, user: &TestUser, body: &[u8]) -> http::Response<Incoming> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = http::Request::post(url)
        .header("authorization", format!("Bearer {}", user.key.bearer_token))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    client.request(req).await.unwrap()
}

/// A call of `user` held in flight at the fake upstream until the response is dropped.
pub async fn hold(gate: &Gate, user: &TestUser) -> http::Response<Incoming> {
    let held = open(&format!("{}{HANG_STREAM}", gate.url), user, super::BODY).await;
    assert_eq!(held.status(), 200, "the held call was admitted");
    held
}

/// The proxy's count of throttled calls of `team` on `/metrics`.
pub async fn throttled_in_metrics(gate: &Gate, team: &str) -> u64 {
    let (status, text) = super::http_get(&format!("{}/metrics", gate.admin_url))
        .await
        .unwrap();
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.contains("reason=\"throttled\"") && l.contains(&format!("team=\"{team}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until the proxy has answered at least one call of `team` with a 429.
pub async fn until_throttled(gate: &Gate, team: &str, who: &str) {
    let deadline = tokio::time::Instant::now() + SAFETY;
    while throttled_in_metrics(gate, team).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who} was never throttled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
