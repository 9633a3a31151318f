//! Waiting for observable state: poll a check until it holds, fail with what was awaited
//! after a safety limit. Never a fixed sleep in place of a condition.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a check is polled.
const POLL: Duration = Duration::from_millis(20);

/// Waits until the async `check` holds; panics naming `what` after `within`.
pub async fn until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a check that needs no `await`.
pub async fn until_now(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    until(what, within, || std::future::ready(check())).await;
}
