//! Limits reached while other proxies still hold capacity: a call refused at a limit
//! whose last units are granted to other proxies (held unused, reserved for calls in
//! progress there, or spent since their last report) does not show the limit spent yet,
//! so no automatic block follows from it; nor does the call that took a limit's last
//! unit on this proxy. Such counters are remembered (at most [`WATCH_MAX`]) and the
//! background pass reads each one's totals from the ledger (within the store deadline)
//! until the limit is spent as this proxy sees it, and then reports
//! [`QuotaEvent::Exhausted`] once, as a refusal would have; or until capacity comes
//! back (someone returned what they did not spend: the limit is not reached) or the
//! period ends. Nothing here runs on the path of a call but a few map operations.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::bucket::{Bucket, KeyMap};
use super::charge::{Ask, Charge};
use super::engine::{QuotaEngine, QuotaEvent, Refusal};

/// Counters watched at most per proxy; one refused beyond this is not watched (its
/// automatic block then comes with a later refusal, as without the watch).
pub(crate) const WATCH_MAX: usize = 4_096;

/// A counter whose limit may be spent once other proxies have reported.
#[derive(Clone, Debug)]
pub(super) struct Watched {
    /// The user whose call was refused (or took the last unit).
    user_id: i64,
    username: String,
    /// The limit and period, as the call was charged.
    charge: Charge,
}

/// The refusal `b` gives a call of `charge` when `total` units are granted to all
/// proxies: what a call would be told now.
pub(super) fn refusal_of(b: &Bucket, charge: &Charge, total: i64, tracks_use: bool) -> Refusal {
    let mut usage = b.usage(total);
    if !tracks_use {
        usage.1 = 0;
    }
    let room = b.available + b.reserve + (charge.limit.limit - total).max(0);
    Refusal::limit(charge, usage, room, b.reserved)
}

/// The event reporting that `refusal`'s limit is spent, for `user_id`'s call.
pub(super) fn exhausted(
    user_id: i64,
    username: &str,
    charge: &Charge,
    refusal: &Refusal,
) -> Option<QuotaEvent> {
    let Refusal::Limit {
        used,
        reserved,
        period,
        ..
    } = refusal
    else {
        return None;
    };
    Some(QuotaEvent::Exhausted {
        user_id,
        username: username.to_string(),
        limit: charge.limit.clone(),
        used: *used,
        reserved: *reserved,
        period: period.clone(),
        resets_at: charge.resets_at,
    })
}

impl QuotaEngine {
    /// Remembers `charge`'s counter if `refusal` says its limit has no room left but
    /// other proxies hold some of it (it is not spent as far as this proxy knows).
    pub(super) fn watch_refused(&self, ask: &Ask<'_>, charge: &Charge, refusal: &Refusal) {
        if let Refusal::Limit {
            room,
            held_elsewhere,
            ..
        } = refusal
        {
            if *room <= 0 && *held_elsewhere > 0 {
                self.watch(ask, charge);
            }
        }
    }

    /// Remembers the counters of `charges` whose whole limit is granted and whose bucket
    /// an admitted call has just emptied (`buckets` locked): the limit may be spent once
    /// this call and the other proxies' calls are reported.
    pub(super) fn watch_drained(
        &self,
        buckets: &KeyMap<Bucket>,
        ask: &Ask<'_>,
        charges: &[Charge],
    ) {
        for c in charges {
            let drained = buckets.get(&c.key).is_some_and(|b| {
                b.available <= 0
                    && b.reserve <= 0
                    && b.total_seen.is_some_and(|t| t >= c.limit.limit)
            });
            if drained {
                self.watch(ask, c);
            }
        }
    }

    fn watch(&self, ask: &Ask<'_>, charge: &Charge) {
        let mut watched = self.watched.lock();
        if watched.contains_key(&charge.key) {
            return;
        }
        if watched.len() >= WATCH_MAX {
            tracing::debug!(counter = %charge.key, "too many limits watched; not watching this one");
            return;
        }
        watched.insert(
            charge.key.clone(),
            Watched {
                user_id: ask.user_id,
                username: ask.username.to_string(),
                charge: charge.clone(),
            },
        );
    }

    /// Counters watched now (for tests and the status of the pass).
    pub fn watched(&self) -> usize {
        self.watched.lock().len()
    }

    /// Reads each watched counter's totals from the ledger, all of it within
    /// `quota.store_timeout_ms`, and reports [`QuotaEvent::Exhausted`] for those whose
    /// limit is spent now; forgets those, the ones whose capacity came back and those of
    /// ended periods. Run by the background pass after this proxy reported its use.
    pub async fn check_watched(&self, now: DateTime<Utc>) {
        if !self.ledger.tracks_use() {
            self.watched.lock().clear();
            return;
        }
        let todo: Vec<Watched> = {
            let mut watched = self.watched.lock();
            watched.retain(|_, w| w.charge.resets_at > now);
            watched.values().cloned().collect()
        };
        let deadline = Instant::now() + self.store_timeout;
        for w in todo {
            let key = &w.charge.key;
            let totals = match tokio::time::timeout_at(deadline, self.ledger.totals(key)).await {
                Ok(Ok(Some(totals))) => totals,
                Ok(Ok(None)) => {
                    self.watched.lock().remove(key);
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::debug!(counter = %key, error = %e, "reading a watched limit failed");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(
                        timeout_ms = self.store_timeout.as_millis() as u64,
                        "checking watched limits timed out; the next pass goes on"
                    );
                    return;
                }
            };
            let event = {
                let mut buckets = self.buckets.lock();
                let Some(b) = buckets.get_mut(key) else {
                    self.watched.lock().remove(key);
                    continue;
                };
                // The ledger's totals are newer than this proxy's last grant (this proxy's
                // own unreported use stays counted by the bucket).
                b.total_seen = Some(totals.granted);
                b.used_seen = Some(totals.used);
                let refusal = refusal_of(b, &w.charge, totals.granted, true);
                match &refusal {
                    r if r.is_exhausted() => exhausted(w.user_id, &w.username, &w.charge, r),
                    Refusal::Limit { room, .. } if *room > 0 => {
                        // Capacity came back unspent: the limit is not reached.
                        self.watched.lock().remove(key);
                        continue;
                    }
                    _ => continue,
                }
            };
            self.watched.lock().remove(key);
            if let (Some(event), Some(events)) = (event, &self.events) {
                tracing::info!(counter = %key, "a watched limit is spent now that every proxy reported");
                let _ = events.send(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use tokio::sync::mpsc;

    use super::*;
    use crate::quota::ledger::MemoryLedger;
    use crate::store::Limits;

    fn ask() -> Ask<'static> {
        Ask {
            user_id: 1,
            username: "carol",
            team_id: 2,
            team: "t",
            user_limits: Limits {
                daily_requests: Some(10),
                ..Limits::default()
            },
            team_limits: Limits::default(),
            micro_usd: 0,
            allow_grants: true,
        }
    }

    fn engine(ledger: &Arc<MemoryLedger>) -> (QuotaEngine, mpsc::UnboundedReceiver<QuotaEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = QuotaEngine::new(Arc::clone(ledger) as _, chrono_tz::CET, 80, Some(tx));
        (engine, rx)
    }

    fn exhaustions(rx: &mut mpsc::UnboundedReceiver<QuotaEvent>) -> usize {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter(|e| matches!(e, QuotaEvent::Exhausted { .. }))
            .count()
    }

    /// Admits and settles `n` calls; the number admitted.
    async fn calls(engine: &QuotaEngine, n: usize) -> usize {
        let mut admitted = 0;
        for _ in 0..n {
            if let Ok(r) = engine.admit(&ask(), Utc::now()).await {
                engine.settle(r, 0);
                admitted += 1;
            }
        }
        admitted
    }

    #[tokio::test]
    async fn a_refusal_while_another_proxy_holds_spending_blocks_once_it_reports() {
        let mem = Arc::new(MemoryLedger::default());
        let (a, mut a_events) = engine(&mem);
        let (b, _) = engine(&mem);
        assert_eq!(calls(&b, 6).await, 6);
        assert_eq!(calls(&a, 4).await, 4);
        // A reports its 4; B has not reported its 6: A's refusal is not exhaustion.
        a.release(Vec::new()).await;
        assert_eq!(calls(&a, 1).await, 0);
        assert_eq!(exhaustions(&mut a_events), 0, "B holds 6 unreported");
        assert_eq!(a.watched(), 1);
        a.check_watched(Utc::now()).await;
        assert_eq!(exhaustions(&mut a_events), 0, "still unreported");
        assert_eq!(a.watched(), 1);
        // B reports: A's next pass reports the limit spent, once.
        b.release(Vec::new()).await;
        a.check_watched(Utc::now()).await;
        assert_eq!(exhaustions(&mut a_events), 1);
        assert_eq!(a.watched(), 0);
        a.check_watched(Utc::now()).await;
        assert_eq!(exhaustions(&mut a_events), 0);
    }

    #[tokio::test]
    async fn the_proxy_that_took_the_last_unit_blocks_without_a_further_call() {
        let mem = Arc::new(MemoryLedger::default());
        let (a, mut events) = engine(&mem);
        assert_eq!(calls(&a, 10).await, 10);
        assert_eq!(exhaustions(&mut events), 0, "no call was refused");
        assert_eq!(a.watched(), 1);
        a.release(Vec::new()).await;
        a.check_watched(Utc::now()).await;
        assert_eq!(exhaustions(&mut events), 1);
    }

    #[tokio::test]
    async fn capacity_returned_unspent_ends_the_watch_without_a_block() {
        let mem = Arc::new(MemoryLedger::default());
        let (a, mut a_events) = engine(&mem);
        let (b, _) = engine(&mem);
        // B takes capacity it will not use: a call reserved and cancelled.
        let r = b.admit(&ask(), Utc::now()).await.unwrap();
        assert_eq!(calls(&a, 20).await, 9);
        assert_eq!(a.watched(), 1);
        b.cancel(r);
        b.release(b.take_all()).await;
        a.release(Vec::new()).await;
        a.check_watched(Utc::now()).await;
        assert_eq!(exhaustions(&mut a_events), 0);
        assert_eq!(a.watched(), 0, "room came back: not watched any more");
    }
}
