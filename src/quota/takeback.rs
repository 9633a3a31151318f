//! Taking back capacity granted under a limit that has since been lowered.
//!
//! Units a proxy holds (usable, or in its lease reserve) were granted while the old
//! limit applied; spent under a lower one they could pass it. So when a counter's limit
//! falls, its capacity goes back to the ledger and the next call draws anew, against
//! the new limit (a grant gives at most `limit − granted`, with the limit as stored in
//! the database, so even a proxy that has not reloaded its policy yet cannot draw past
//! it):
//!
//! - **Eagerly**, on every proxy, when the change watcher loads a policy in which a
//!   counter's limit is lower than the one its bucket was granted under
//!   ([`QuotaEngine::take_back_lowered`]), before the new version counts as applied;
//! - **lazily**, by the first call charged against the lower limit (the engine's
//!   admission never debits a bucket granted under a higher limit than the call's).
//!
//! Both run under the counter's grant lock, one transaction each: this proxy's usable
//! units and every proxy's lease reserve of the counter go back to `granted` at once,
//! and what this proxy spent since its last report is added to `used`
//! (`Ledger::take_back`). Reservations of calls in progress at that moment put what
//! they do not spend into the bucket's `giveback`, returned by the background pass.

use chrono::Utc;

use super::engine::QuotaEngine;
use super::periods::Periods;
use super::{CounterKey, Metric, Subject, Window};

impl QuotaEngine {
    /// Takes back the capacity of every counter this proxy holds whose limit, as
    /// `limit_of` (subject, window, metric) now says, is lower than the one it was
    /// granted under. Waits at most `quota.store_timeout_ms` per counter; a counter not
    /// taken back then is taken back by its next call.
    pub(crate) async fn take_back_lowered(
        &self,
        limit_of: impl Fn(Subject, Window, Metric) -> Option<i64>,
    ) {
        let Periods { day, month, .. } = self.periods.get(Utc::now());
        let lowered: Vec<(CounterKey, i64)> = self
            .buckets
            .lock()
            .iter()
            .filter_map(|(key, b)| {
                let window = if *key.period == *day {
                    Window::Day
                } else if *key.period == *month {
                    Window::Month
                } else {
                    return None;
                };
                let limit = limit_of(key.subject, window, key.metric)?;
                (limit < b.limit).then(|| (key.clone(), limit))
            })
            .collect();
        for (key, limit) in lowered {
            let gate = self.grant_lock(&key);
            let Ok(_held) = tokio::time::timeout(self.store_timeout, gate.lock_owned()).await
            else {
                continue;
            };
            let (usable, reserve, spent) = {
                let mut buckets = self.buckets.lock();
                match buckets.get_mut(&key) {
                    Some(b) if limit < b.limit => b.begin_take_back(limit),
                    _ => continue, // a call took it back meanwhile
                }
            };
            let work = self.ledger.take_back(&key, usable, reserve, spent);
            match tokio::time::timeout(self.store_timeout, work).await {
                Ok(Ok(totals)) => {
                    if let Some(b) = self.buckets.lock().get_mut(&key) {
                        b.end_take_back(totals);
                    }
                }
                // The units stay counted as granted: under-use until the period ends,
                // never overshoot. The use is reported again with the next pass.
                Ok(Err(e)) => {
                    if let Some(b) = self.buckets.lock().get_mut(&key) {
                        b.unreported += spent;
                    }
                    tracing::warn!(
                        counter = %key,
                        error = %e,
                        "taking back quota capacity after a lowered limit failed"
                    );
                }
                Err(_) => tracing::warn!(
                    counter = %key,
                    "taking back quota capacity after a lowered limit timed out"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::quota::engine::{Ask, Refusal};
    use crate::quota::ledger::MemoryLedger;
    use crate::store::Limits;

    fn ask(limits: Limits, micro_usd: i64) -> Ask<'static> {
        Ask {
            user_id: 1,
            username: "carol",
            team_id: 2,
            team: "t",
            user_limits: limits,
            team_limits: Limits::default(),
            micro_usd,
            allow_grants: true,
        }
    }

    fn daily(n: i64) -> Limits {
        Limits {
            daily_requests: Some(n),
            ..Limits::default()
        }
    }

    fn key(engine: &QuotaEngine, metric: Metric) -> CounterKey {
        CounterKey {
            subject: Subject::User(1),
            metric,
            period: Arc::clone(&engine.periods.get(Utc::now()).day),
        }
    }

    /// Admits and settles up to `n` calls; the number admitted and the last refusal.
    async fn calls(engine: &QuotaEngine, ask: &Ask<'_>, n: usize) -> (usize, Option<Refusal>) {
        let (mut admitted, mut refusal) = (0, None);
        for _ in 0..n {
            match engine.admit(ask, Utc::now()).await {
                Ok(r) => {
                    engine.settle(r, 0);
                    admitted += 1;
                }
                Err(r) => refusal = Some(r),
            }
        }
        (admitted, refusal)
    }

    fn engine(ledger: &Arc<MemoryLedger>) -> QuotaEngine {
        QuotaEngine::new(Arc::clone(ledger) as _, chrono_tz::CET, 80, None)
    }

    #[tokio::test]
    async fn a_lowered_limit_admits_exactly_what_is_left_under_it() {
        let mem = Arc::new(MemoryLedger::default());
        let engine = engine(&mem);
        assert_eq!(calls(&engine, &ask(daily(350), 0), 10).await.0, 10);
        let k = key(&engine, Metric::Requests);
        assert!(engine.held(&k) > 2, "the proxy holds a chunk under 350");
        // The first call charged against 12 takes the chunk back and draws anew.
        let (admitted, refusal) = calls(&engine, &ask(daily(12), 0), 30).await;
        assert_eq!(admitted, 2);
        assert_eq!(mem.granted(&k), 12);
        let Some(
            r @ Refusal::Limit {
                used,
                held_elsewhere,
                ..
            },
        ) = refusal
        else {
            panic!("expected a limit refusal");
        };
        assert_eq!((used, held_elsewhere), (12, 0));
        assert!(r.is_exhausted());
    }

    #[tokio::test]
    async fn a_limit_lowered_below_use_refuses_all_and_says_the_real_use() {
        let mem = Arc::new(MemoryLedger::default());
        let engine = engine(&mem);
        calls(&engine, &ask(daily(350), 0), 10).await;
        let (admitted, refusal) = calls(&engine, &ask(daily(5), 0), 3).await;
        assert_eq!(admitted, 0);
        match refusal {
            Some(Refusal::Limit { used, .. }) => assert_eq!(used, 10),
            other => panic!("expected a limit refusal, got {other:?}"),
        }
        // Raised again: the calls pass.
        assert_eq!(calls(&engine, &ask(daily(350), 0), 5).await.0, 5);
    }

    #[tokio::test]
    async fn a_raised_limit_keeps_the_capacity_held() {
        let mem = Arc::new(MemoryLedger::default());
        let engine = engine(&mem);
        calls(&engine, &ask(daily(350), 0), 10).await;
        let k = key(&engine, Metric::Requests);
        let (granted, held) = (mem.granted(&k), engine.held(&k));
        engine.take_back_lowered(|_, _, _| Some(1_000)).await;
        assert_eq!((mem.granted(&k), engine.held(&k)), (granted, held));
        assert_eq!(calls(&engine, &ask(daily(1_000), 0), 20).await.0, 20);
    }

    #[tokio::test]
    async fn every_proxy_takes_back_when_it_loads_the_lower_limit() {
        let mem = Arc::new(MemoryLedger::default());
        let (a, b) = (engine(&mem), engine(&mem));
        calls(&a, &ask(daily(350), 0), 5).await;
        calls(&b, &ask(daily(350), 0), 5).await;
        let k = key(&a, Metric::Requests);
        assert!(b.held(&k) > 0);
        // B loads the new policy with no call of the user: its chunk goes back now.
        b.take_back_lowered(|s, w, m| {
            ((s, w, m) == (Subject::User(1), Window::Day, Metric::Requests)).then_some(12)
        })
        .await;
        assert_eq!(b.held(&k), 0);
        // A's first call under 12 finds nothing held elsewhere: A and B together admit
        // the 2 left, and say the real use.
        let low = ask(daily(12), 0);
        let mut admitted = 0;
        let mut last = None;
        for i in 0..20 {
            let (n, r) = calls(if i % 2 == 0 { &a } else { &b }, &low, 1).await;
            admitted += n;
            last = r.or(last);
        }
        assert_eq!(admitted, 2);
        match last {
            Some(Refusal::Limit {
                used,
                held_elsewhere,
                ..
            }) => {
                assert_eq!(used + held_elsewhere, 12, "{used} + {held_elsewhere}");
            }
            other => panic!("expected a limit refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn what_a_call_reserved_before_a_take_back_goes_back_to_the_ledger() {
        let mem = Arc::new(MemoryLedger::default());
        let engine = engine(&mem);
        let budget = |usd| Limits {
            daily_budget_usd: Some(usd),
            ..Limits::default()
        };
        let k = key(&engine, Metric::MicroUsd);
        // A call reserves $0.40 of a $10.00 budget, then the budget falls to $0.50.
        let r = engine
            .admit(&ask(budget(10.0), 400_000), Utc::now())
            .await
            .unwrap();
        engine.take_back_lowered(|_, _, _| Some(500_000)).await;
        assert_eq!(
            mem.granted(&k),
            400_000,
            "only the reservation stays granted"
        );
        // It cost $0.01: the $0.39 it did not use is not this proxy's to spend under the
        // new budget; it goes back to the ledger with the next pass.
        engine.settle(r, 10_000);
        assert_eq!(engine.held(&k), 0);
        engine.release(engine.take_idle(IDLE, Utc::now())).await;
        assert_eq!(mem.granted(&k), 10_000);
        assert_eq!(mem.used(&k), 10_000, "the pass reports what was spent");
        // Calls now draw against $0.50 with $0.01 spent.
        let big = engine.admit(&ask(budget(0.5), 490_000), Utc::now()).await;
        assert!(big.is_ok(), "{big:?}");
        let over = engine
            .admit(&ask(budget(0.5), 1), Utc::now())
            .await
            .unwrap_err();
        assert!(over.is_exhausted(), "{over:?}");
    }

    /// Idle long enough never: only take-back leftovers and ended periods go back.
    const IDLE: std::time::Duration = std::time::Duration::from_secs(3_600);
}
