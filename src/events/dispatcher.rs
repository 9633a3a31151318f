//! The dispatcher: a poll loop that claims each subscriber's undelivered events from the
//! outbox, delivers them in order and records the outcome.
//!
//! Claims are leases (`LEASE`): a proxy that dies mid-delivery leaves its claim to run
//! out, and another proxy's dispatcher takes the event over, so a subscriber hears each
//! event at least once and, while proxies stay up, exactly once. A failed delivery is
//! retried with exponential backoff (from `RETRY_BASE`, at most `RETRY_MAX`), until the
//! subscriber's `max_attempts`: then it is given up (logged, counted in `/metrics`, the
//! subscriber told once) and marked done so that it is not tried again.

use std::sync::Arc;
use std::time::Duration;

use super::Subscriber;
use crate::domain::DomainEvent;
use crate::metrics::Metrics;
use crate::store::{ClaimedEvent, Store, StoreError};

/// How often the outbox is polled when idle.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a claim lasts before another proxy may take the event over.
pub(crate) const LEASE: Duration = Duration::from_secs(60);
/// The first retry delay of a failed delivery.
pub(crate) const RETRY_BASE: Duration = Duration::from_secs(5);
/// The longest retry delay.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(3600);
/// Events claimed per subscriber per round.
const BATCH: i64 = 100;

/// When a delivery that failed `attempts` times is tried again (epoch ms).
pub(crate) fn retry_at(now_ms: i64, attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let base = i64::try_from(RETRY_BASE.as_millis()).unwrap_or(i64::MAX);
    let max = i64::try_from(RETRY_MAX.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_add(base.saturating_mul(1i64 << exp).min(max))
}

/// Registers every subscriber once, before the tasks that write events start, so that a
/// subscriber's first event is not written before it exists. A failure is logged; [`run`]
/// keeps trying.
pub(crate) async fn register(store: &Store, subscribers: &[Arc<dyn Subscriber>]) {
    for s in subscribers {
        if let Err(e) = store.register_consumer(s.name()).await {
            tracing::warn!(error = %e, subscriber = s.name(), "cannot register an event subscriber yet");
        }
    }
}

/// Registers every subscriber (again: registering is idempotent), then delivers until the
/// task is stopped.
pub(crate) async fn run(
    store: Arc<Store>,
    subscribers: Vec<Arc<dyn Subscriber>>,
    by: String,
    interval: Duration,
    metrics: Option<Arc<Metrics>>,
) {
    for s in &subscribers {
        while let Err(e) = store.register_consumer(s.name()).await {
            tracing::warn!(error = %e, subscriber = s.name(), "cannot register an event subscriber; retrying");
            tokio::time::sleep(interval.max(Duration::from_secs(1))).await;
        }
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for s in &subscribers {
            // Drain what is waiting, batch by batch, before sleeping again.
            loop {
                match round(&store, s.as_ref(), &by, metrics.as_deref()).await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, subscriber = s.name(), "event delivery round failed");
                        break;
                    }
                }
            }
        }
    }
}

/// Claims and delivers one batch for `subscriber`; returns how many were claimed.
pub(crate) async fn round(
    store: &Store,
    subscriber: &dyn Subscriber,
    by: &str,
    metrics: Option<&Metrics>,
) -> Result<usize, StoreError> {
    let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let claimed = store
        .claim_events(subscriber.name(), by, lease, BATCH)
        .await?;
    for event in &claimed {
        let outcome = deliver(subscriber, event).await;
        let Err((why, decoded, retry)) = outcome else {
            store
                .finish_delivery(subscriber.name(), event, Ok(()))
                .await?;
            continue;
        };
        let last = subscriber
            .max_attempts()
            .is_some_and(|max| event.attempts >= max);
        if let Some(m) = metrics {
            m.notification_failed(subscriber.name(), last);
        }
        match (last, decoded) {
            (true, Some(decoded)) => {
                tracing::error!(subscriber = subscriber.name(), event_id = event.event_id,
                    attempts = event.attempts, error = %why, "event delivery failed for the last time; given up");
                if let Err(e) = subscriber.gave_up(event.event_id, &decoded, &why).await {
                    tracing::warn!(subscriber = subscriber.name(), error = %e, "recording a given-up delivery failed");
                }
                store
                    .give_up_delivery(subscriber.name(), event, &why)
                    .await?;
            }
            _ => {
                tracing::warn!(subscriber = subscriber.name(), event_id = event.event_id,
                    attempts = event.attempts, error = %why, "event delivery failed; will retry");
                store
                    .finish_delivery(subscriber.name(), event, Err((why, retry)))
                    .await?;
            }
        }
    }
    Ok(claimed.len())
}

/// Why a delivery failed, the event when it decoded, and when to try again.
type Failure = (String, Option<DomainEvent>, i64);

async fn deliver(subscriber: &dyn Subscriber, claimed: &ClaimedEvent) -> Result<(), Failure> {
    let now = chrono::Utc::now().timestamp_millis();
    let event: DomainEvent = serde_json::from_str(&claimed.payload).map_err(|e| {
        // Written by a newer version of the proxy: keep it for that version.
        (
            format!("event does not decode here: {e}"),
            None,
            retry_at(now, 20),
        )
    })?;
    match subscriber.deliver(claimed.event_id, &event).await {
        Ok(()) => Ok(()),
        Err(why) => Err((why, Some(event), retry_at(now, claimed.attempts))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_maximum() {
        assert_eq!(retry_at(0, 1), 5_000);
        assert_eq!(retry_at(0, 2), 10_000);
        assert_eq!(retry_at(0, 4), 40_000);
        assert_eq!(retry_at(0, 30), 3_600_000);
        assert_eq!(retry_at(1_000, 0), 6_000);
    }
}
