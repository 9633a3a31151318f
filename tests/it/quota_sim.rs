//! The quota engine as a state machine: several engines ("proxies") in one process
//! sharing one in-memory ledger, an injected calendar clock, seeded random arrivals and
//! interleavings, and injected store faults. Checks the invariants of `docs/QUOTA.md`:
//! admitted ≤ limit for any number of engines, settled cost ≤ budget when the worst case
//! is reserved, every granted unit accounted for (used, held or stranded), all-or-nothing
//! admission, refusals naming the right limit, and periods turning at local midnight.
//!
//! Everything runs on a current-thread runtime, so a seed fixes the interleaving.
//! tokio's `test-util` is not enabled for this crate, so time is not paused: tests pass
//! `Duration::ZERO` as the idle threshold instead of waiting `IDLE_RETURN`, and the one
//! test that needs `EXHAUSTED_RECHECK` to pass sleeps for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::quota::engine::{
    period_keys, Ask, Held, QuotaEngine, QuotaEvent, Refusal, Reservation, EXHAUSTED_RECHECK,
    IDLE_RETURN, SHARE_DIVISOR,
};
use bedrock_gate::quota::ledger::{Grant, Ledger, LedgerFuture, MemoryLedger};
use bedrock_gate::quota::{limit_micro, CounterKey, Metric, Subject, Window};
use bedrock_gate::store::{Limits, StoreError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::future::join_all;
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use tokio::sync::mpsc;
use tokio::task::yield_now;

const TZ: Tz = Tz::CET;
const USER: i64 = 1;
const TEAM: i64 = 7;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid RFC 3339")
        .with_timezone(&Utc)
}

/// 11:00 CET on 2026-11-25: far from any period boundary.
fn noon() -> DateTime<Utc> {
    utc("2026-11-25T10:00:00Z")
}

fn ask(user_id: i64, user_limits: Limits, team_limits: Limits, micro_usd: i64) -> Ask<'static> {
    Ask {
        user_id,
        username: "alice",
        team_id: TEAM,
        team: "research",
        user_limits,
        team_limits,
        micro_usd,
        allow_grants: true,
    }
}

fn requests(daily: i64) -> Limits {
    Limits {
        daily_requests: Some(daily),
        ..Limits::default()
    }
}

fn key(subject: Subject, metric: Metric, period: &str) -> CounterKey {
    CounterKey {
        subject,
        metric,
        period: period.into(),
    }
}

fn day_key(subject: Subject, metric: Metric, now: DateTime<Utc>) -> CounterKey {
    key(subject, metric, &period_keys(TZ, now).0)
}

fn engines(ledger: &Arc<dyn Ledger>, n: usize) -> Vec<QuotaEngine> {
    (0..n)
        .map(|_| QuotaEngine::new(Arc::clone(ledger), TZ, 80, None))
        .collect()
}

fn total_held(engines: &[QuotaEngine], key: &CounterKey) -> i64 {
    engines.iter().map(|e| e.held(key)).sum()
}

/// A tiny xorshift64 generator: the simulator's only source of randomness.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// A ledger in front of a [`MemoryLedger`] that yields a random number of times around
/// each store round trip (so other calls interleave), and optionally fails: either
/// before the grant is applied (the transaction never ran), or after (committed, but the
/// reply was lost: the units are granted and nobody holds them).
struct FaultLedger {
    inner: Arc<MemoryLedger>,
    rng: Mutex<Rng>,
    max_yields: u64,
    fail_per_mille: u64,
    lost_reply_per_mille: u64,
    lost: Mutex<HashMap<CounterKey, i64>>,
}

impl FaultLedger {
    fn new(inner: Arc<MemoryLedger>, seed: u64, max_yields: u64) -> Self {
        Self {
            inner,
            rng: Mutex::new(Rng::new(seed ^ 0x5EED)),
            max_yields,
            fail_per_mille: 0,
            lost_reply_per_mille: 0,
            lost: Mutex::new(HashMap::new()),
        }
    }

    fn faulty(mut self, fail_per_mille: u64, lost_reply_per_mille: u64) -> Self {
        self.fail_per_mille = fail_per_mille;
        self.lost_reply_per_mille = lost_reply_per_mille;
        self
    }

    fn lost(&self, key: &CounterKey) -> i64 {
        self.lost.lock().get(key).copied().unwrap_or(0)
    }

    fn roll(&self) -> (u64, u64, u64) {
        let mut rng = self.rng.lock();
        (
            rng.below(self.max_yields + 1),
            rng.below(self.max_yields + 1),
            rng.below(1000),
        )
    }
}

impl Ledger for FaultLedger {
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant> {
        Box::pin(async move {
            let (before, after, fault) = self.roll();
            for _ in 0..before {
                yield_now().await;
            }
            if fault < self.fail_per_mille {
                return Err(StoreError::Invalid("injected: store unreachable".into()));
            }
            let grant = self.inner.grant(key, need, want, limit).await?;
            for _ in 0..after {
                yield_now().await;
            }
            if fault < self.fail_per_mille + self.lost_reply_per_mille {
                *self.lost.lock().entry(key.clone()).or_insert(0) += grant.granted;
                return Err(StoreError::Invalid("injected: reply lost".into()));
            }
            Ok(grant)
        })
    }

    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()> {
        Box::pin(async move {
            let (before, _, _) = self.roll();
            for _ in 0..before {
                yield_now().await;
            }
            self.inner.release(key, amount).await
        })
    }

    fn statements(&self) -> u64 {
        self.inner.statements()
    }
}

/// Runs `plan` (one engine index per call) concurrently; each call waits a random
/// number of yields before it arrives. Returns each call's engine and outcome.
async fn run_plan(
    engines: &[QuotaEngine],
    plan: &[usize],
    ask: &Ask<'_>,
    now: DateTime<Utc>,
    rng: &mut Rng,
) -> Vec<(usize, Result<Reservation, Refusal>)> {
    let calls = plan.iter().map(|&e| {
        let delay = rng.below(20);
        let engine = &engines[e];
        async move {
            for _ in 0..delay {
                yield_now().await;
            }
            (e, engine.admit(ask, now).await)
        }
    });
    join_all(calls).await
}

// ---------------------------------------------------------------------------------------
// 1. The multi-proxy simulator
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sim_request_limit_is_never_exceeded_and_is_used_exactly() {
    for seed in 1..=60u64 {
        let mut rng = Rng::new(seed);
        let r = rng.range(1, 5) as usize;
        let limit = rng.range(1, 200);
        let mem = Arc::new(MemoryLedger::default());
        let ledger: Arc<dyn Ledger> = Arc::new(FaultLedger::new(Arc::clone(&mem), seed, 3));
        let engines = engines(&ledger, r);
        // Every engine gets at least `limit` calls, so each ends up refusing once its
        // chunk is spent and the ledger is empty.
        let mut plan: Vec<usize> = (0..r)
            .flat_map(|e| {
                let extra = rng.below(limit as u64 / 2 + 2) as usize;
                (0..limit as usize + extra).map(move |_| e)
            })
            .collect();
        rng.shuffle(&mut plan);
        let ask = ask(USER, requests(limit), Limits::default(), 0);
        let k = day_key(Subject::User(USER), Metric::Requests, noon());

        let results = run_plan(&engines, &plan, &ask, noon(), &mut rng).await;
        let mut admitted = 0;
        for (_, result) in &results {
            match result {
                Ok(_) => admitted += 1,
                Err(Refusal::Limit { limit: l, used, .. }) => {
                    assert_eq!(l.subject, Subject::User(USER));
                    assert_eq!(
                        (l.window, l.metric, l.limit),
                        (Window::Day, Metric::Requests, limit)
                    );
                    assert!(
                        *used <= limit,
                        "seed {seed}: refusal reports {used} > {limit}"
                    );
                }
                Err(other) => panic!("seed {seed}: unexpected refusal {other:?}"),
            }
        }
        let ctx = format!(
            "seed {seed}, {r} engines, limit {limit}, {} calls",
            plan.len()
        );
        assert!(admitted <= limit, "{ctx}: admitted {admitted}");
        assert!(
            mem.granted(&k) <= limit,
            "{ctx}: granted {}",
            mem.granted(&k)
        );
        // Conservation: every granted unit is either used or held by some engine.
        assert_eq!(
            admitted + total_held(&engines, &k),
            mem.granted(&k),
            "{ctx}"
        );
        // Every engine had more calls than it could hold: nothing is left unused.
        assert_eq!(admitted, limit, "{ctx}: granted capacity went unused");
        assert_eq!(total_held(&engines, &k), 0, "{ctx}");

        // Shutdown: everything held goes back; the ledger then equals what was used.
        for e in &engines {
            e.release(e.take_all()).await;
        }
        assert_eq!(mem.granted(&k), admitted, "{ctx}");
    }
}

#[tokio::test]
async fn sim_user_and_team_limits_hold_together() {
    for seed in 1..=60u64 {
        let mut rng = Rng::new(seed);
        let r = rng.range(1, 5) as usize;
        let users = rng.range(1, 4);
        let team_limit = rng.range(1, 200);
        let team_limits = Limits {
            daily_requests: Some(team_limit),
            monthly_requests: Some(rng.range(team_limit / 2 + 1, 400)),
            ..Limits::default()
        };
        let user_limits: Vec<i64> = (0..users).map(|_| rng.range(1, 80)).collect();
        let asks: Vec<Ask<'static>> = (0..users)
            .map(|u| {
                let own = requests(user_limits[u as usize]);
                ask(100 + u, own, team_limits, 0)
            })
            .collect();
        let mem = Arc::new(MemoryLedger::default());
        let ledger: Arc<dyn Ledger> = Arc::new(FaultLedger::new(Arc::clone(&mem), seed, 3));
        let engines = engines(&ledger, r);
        // Each user sends at least their own limit's worth of calls, spread randomly.
        let mut plan: Vec<(usize, usize)> = Vec::new();
        for (u, &l) in user_limits.iter().enumerate() {
            for _ in 0..(l + rng.range(0, l)) {
                plan.push((u, rng.below(r as u64) as usize));
            }
        }
        rng.shuffle(&mut plan);
        let calls = plan.iter().map(|&(u, e)| {
            let delay = rng.below(20);
            let (engine, ask) = (&engines[e], &asks[u]);
            async move {
                for _ in 0..delay {
                    yield_now().await;
                }
                (u, engine.admit(ask, noon()).await)
            }
        });
        let results = join_all(calls).await;

        let ctx = format!("seed {seed}, {r} engines, users {user_limits:?}, team {team_limits:?}");
        let mut per_user = vec![0i64; users as usize];
        for (u, result) in &results {
            match result {
                Ok(_) => per_user[*u] += 1,
                Err(Refusal::Limit { .. }) => {}
                Err(other) => panic!("{ctx}: unexpected refusal {other:?}"),
            }
        }
        let (day, month) = period_keys(TZ, noon());
        let team_total: i64 = per_user.iter().sum();
        assert!(
            team_total <= team_limit,
            "{ctx}: team admitted {team_total}"
        );
        for (u, &n) in per_user.iter().enumerate() {
            assert!(n <= user_limits[u], "{ctx}: user {u} admitted {n}");
            let k = key(Subject::User(100 + u as i64), Metric::Requests, &day);
            assert_eq!(
                n + total_held(&engines, &k),
                mem.granted(&k),
                "{ctx}: user {u}"
            );
        }
        // All-or-nothing: the team counters used exactly what the users were admitted.
        for period in [&day, &month] {
            let k = key(Subject::Team(TEAM), Metric::Requests, period);
            assert_eq!(
                team_total + total_held(&engines, &k),
                mem.granted(&k),
                "{ctx}"
            );
        }
        if r == 1 {
            // One engine strands nothing another could use: the tighter side is reached.
            let monthly = team_limits.monthly_requests.unwrap_or(i64::MAX);
            let expected = team_limit.min(monthly).min(user_limits.iter().sum());
            assert_eq!(team_total, expected, "{ctx}");
        }
    }
}

#[tokio::test]
async fn sim_engine_killed_mid_chunk_strands_capacity_but_never_overshoots() {
    let mut stranded_somewhere = false;
    for seed in 1..=40u64 {
        let mut rng = Rng::new(seed);
        let r = rng.range(2, 5) as usize;
        let limit = rng.range(10, 200);
        let mem = Arc::new(MemoryLedger::default());
        let ledger: Arc<dyn Ledger> = Arc::new(FaultLedger::new(Arc::clone(&mem), seed, 3));
        let mut all = engines(&ledger, r);
        let ask = ask(USER, requests(limit), Limits::default(), 0);
        let k = day_key(Subject::User(USER), Metric::Requests, noon());

        // The first engine serves a few calls, then dies holding the rest of its chunk.
        let before_death = rng.range(1, limit / 2);
        for _ in 0..before_death {
            all[0]
                .admit(&ask, noon())
                .await
                .expect("room before the limit");
        }
        let held_by_dead = all[0].held(&k);
        stranded_somewhere |= held_by_dead > 0;
        drop(all.remove(0));

        let plan: Vec<usize> = (0..(r - 1) * limit as usize).map(|i| i % (r - 1)).collect();
        let results = run_plan(&all, &plan, &ask, noon(), &mut rng).await;
        let survivors = results.iter().filter(|(_, res)| res.is_ok()).count() as i64;
        let ctx = format!("seed {seed}, limit {limit}, dead held {held_by_dead}");
        assert!(
            survivors <= limit - before_death - held_by_dead,
            "{ctx}: {survivors}"
        );
        // Under-use is exactly the dead engine's chunk: the survivors use everything else.
        assert_eq!(survivors, limit - before_death - held_by_dead, "{ctx}");
        assert_eq!(mem.granted(&k), limit, "{ctx}");
    }
    assert!(
        stranded_somewhere,
        "no seed killed an engine holding capacity"
    );
}

#[tokio::test]
async fn sim_store_faults_and_lost_replies_only_under_count() {
    let mut unavailable = 0;
    for seed in 1..=40u64 {
        let mut rng = Rng::new(seed);
        let r = rng.range(1, 5) as usize;
        let limit = rng.range(1, 200);
        let mem = Arc::new(MemoryLedger::default());
        let faulty = Arc::new(FaultLedger::new(Arc::clone(&mem), seed, 3).faulty(50, 50));
        let ledger: Arc<dyn Ledger> = faulty.clone();
        let engines = engines(&ledger, r);
        let plan: Vec<usize> = (0..r * limit as usize * 2).map(|i| i % r).collect();
        let ask = ask(USER, requests(limit), Limits::default(), 0);
        let k = day_key(Subject::User(USER), Metric::Requests, noon());

        let results = run_plan(&engines, &plan, &ask, noon(), &mut rng).await;
        let admitted = results.iter().filter(|(_, res)| res.is_ok()).count() as i64;
        unavailable += results
            .iter()
            .filter(|(_, res)| matches!(res, Err(Refusal::Unavailable(_))))
            .count();
        let ctx = format!("seed {seed}, {r} engines, limit {limit}");
        assert!(admitted <= limit, "{ctx}: admitted {admitted}");
        // Units whose reply was lost stay granted: the error is on the side of under-use.
        assert_eq!(
            admitted + total_held(&engines, &k) + faulty.lost(&k),
            mem.granted(&k),
            "{ctx}"
        );
        assert!(mem.granted(&k) <= limit, "{ctx}");
    }
    assert!(unavailable > 0, "no injected store fault reached a caller");
}

#[tokio::test]
async fn idle_capacity_goes_back_to_the_ledger_and_serves_another_engine() {
    let mem = Arc::new(MemoryLedger::default());
    let ledger: Arc<dyn Ledger> = mem.clone();
    let all = engines(&ledger, 2);
    let (a, b) = (&all[0], &all[1]);
    let limit = 50;
    let ask = ask(USER, requests(limit), Limits::default(), 0);
    let k = day_key(Subject::User(USER), Metric::Requests, noon());

    for _ in 0..5 {
        a.admit(&ask, noon()).await.unwrap();
    }
    let held = a.held(&k);
    assert!(held > 0, "a holds no chunk after five calls");

    // B drains everything A does not hold.
    let mut by_b = 0;
    while b.admit(&ask, noon()).await.is_ok() {
        by_b += 1;
    }
    assert_eq!(by_b, limit - 5 - held);
    assert_eq!(mem.granted(&k), limit);

    // Not idle yet by the production threshold; idle by a zero threshold.
    assert!(a.take_idle(IDLE_RETURN, noon()).is_empty());
    let idle = a.take_idle(Duration::ZERO, noon());
    assert_eq!(
        idle,
        vec![Held {
            key: k.clone(),
            usable: held,
            reserve: 0
        }]
    );
    assert_eq!(a.held(&k), 0);
    a.release(idle).await;
    assert_eq!(mem.granted(&k), limit - held);

    // B was refused a moment ago; after EXHAUSTED_RECHECK it asks the ledger again and
    // gets exactly the returned units.
    tokio::time::sleep(EXHAUSTED_RECHECK + Duration::from_millis(50)).await;
    let mut after = 0;
    while b.admit(&ask, noon()).await.is_ok() {
        after += 1;
    }
    assert_eq!(after, held);
    assert_eq!(5 + by_b + after, limit);
    assert_eq!(mem.granted(&k), limit);
}

// ---------------------------------------------------------------------------------------
// 2. Budgets: settled cost never passes the budget when the worst case is reserved
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct BudgetCase {
    engines: usize,
    user_budget_cents: u32,
    team_budget_cents: Option<u32>,
    request_limit: Option<i64>,
    /// (engine, reserved micro-USD e, actual as a per-mille of e)
    calls: Vec<(usize, i64, i64)>,
    seed: u64,
}

fn budget_case() -> impl Strategy<Value = BudgetCase> {
    (1usize..=4).prop_flat_map(|engines| {
        (
            Just(engines),
            1u32..=300,
            proptest::option::of(1u32..=300),
            proptest::option::of(1i64..=60),
            proptest::collection::vec((0..engines, 1i64..=150_000, 0i64..=1000), 1..=120),
            any::<u64>(),
        )
            .prop_map(
                |(engines, user_budget_cents, team_budget_cents, request_limit, calls, seed)| {
                    BudgetCase {
                        engines,
                        user_budget_cents,
                        team_budget_cents,
                        request_limit,
                        calls,
                        seed,
                    }
                },
            )
    })
}

async fn run_budget_case(case: &BudgetCase) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(case.seed);
    let user_usd = f64::from(case.user_budget_cents) / 100.0;
    let team_usd = case.team_budget_cents.map(|c| f64::from(c) / 100.0);
    let user_limits = Limits {
        daily_budget_usd: Some(user_usd),
        daily_requests: case.request_limit,
        ..Limits::default()
    };
    let team_limits = Limits {
        monthly_budget_usd: team_usd,
        ..Limits::default()
    };
    let mem = Arc::new(MemoryLedger::default());
    let ledger: Arc<dyn Ledger> = Arc::new(FaultLedger::new(Arc::clone(&mem), case.seed, 4));
    let engines = engines(&ledger, case.engines);
    let asks: Vec<Ask<'static>> = case
        .calls
        .iter()
        .map(|&(_, e, _)| ask(USER, user_limits, team_limits, e))
        .collect();
    let calls = case
        .calls
        .iter()
        .zip(&asks)
        .map(|(&(eng, e, per_mille), a)| {
            let (arrive, run) = (rng.below(30), rng.below(30));
            let engine = &engines[eng];
            async move {
                for _ in 0..arrive {
                    yield_now().await;
                }
                let reservation = engine.admit(a, noon()).await;
                let Ok(reservation) = reservation else {
                    return None;
                };
                // The call runs (other calls interleave), then costs at most its reservation.
                for _ in 0..run {
                    yield_now().await;
                }
                let actual = e * per_mille / 1000;
                engine.settle(reservation, actual);
                Some((eng, actual))
            }
        });
    let settled: Vec<(usize, i64)> = join_all(calls).await.into_iter().flatten().collect();

    let spent: i64 = settled.iter().map(|(_, a)| a).sum();
    let admitted = settled.len() as i64;
    let (day, month) = period_keys(TZ, noon());
    let user_budget = key(Subject::User(USER), Metric::MicroUsd, &day);
    prop_assert!(
        spent <= limit_micro(user_usd),
        "spent {spent} > user budget {}",
        limit_micro(user_usd)
    );
    // Every granted micro-dollar is spent or still held by an engine.
    prop_assert_eq!(
        spent + total_held(&engines, &user_budget),
        mem.granted(&user_budget)
    );
    if let Some(usd) = team_usd {
        let team_budget = key(Subject::Team(TEAM), Metric::MicroUsd, &month);
        prop_assert!(spent <= limit_micro(usd), "spent {spent} > team budget");
        prop_assert_eq!(
            spent + total_held(&engines, &team_budget),
            mem.granted(&team_budget)
        );
    }
    if let Some(limit) = case.request_limit {
        let k = key(Subject::User(USER), Metric::Requests, &day);
        prop_assert!(admitted <= limit, "admitted {admitted} > {limit}");
        prop_assert_eq!(admitted + total_held(&engines, &k), mem.granted(&k));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn budget_settled_cost_never_exceeds_the_budget(case in budget_case()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_budget_case(&case))?;
    }
}

#[tokio::test]
async fn a_budget_too_small_for_the_big_call_grants_nothing_and_serves_a_smaller_one() {
    let mem = Arc::new(MemoryLedger::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, Some(tx));
    let limits = Limits {
        daily_budget_usd: Some(0.01),
        ..Limits::default()
    };
    let big = ask(USER, limits, Limits::default(), 4_000);
    for _ in 0..2 {
        let r = engine.admit(&big, noon()).await.unwrap();
        engine.settle(r, 4_000);
    }
    let refusal = engine.admit(&big, noon()).await;
    let exhausted = refusal.as_ref().err().map(Refusal::is_exhausted);
    let k = day_key(Subject::User(USER), Metric::MicroUsd, noon());
    assert_eq!(mem.granted(&k), 8_000, "the refused call took nothing");
    match refusal {
        Err(Refusal::Limit {
            limit,
            used,
            asked,
            room,
            ..
        }) => {
            assert_eq!(limit.subject, Subject::User(USER));
            assert_eq!(
                (limit.window, limit.metric),
                (Window::Day, Metric::MicroUsd)
            );
            assert_eq!(limit.limit, 10_000);
            assert_eq!(used, 8_000, "what was spent, not what was granted");
            assert_eq!((asked, room), (4_000, 2_000));
            assert_eq!(exhausted, Some(false), "2,000 µUSD are left: not spent");
        }
        other => panic!("expected the budget refusal, got {other:?}"),
    }
    // A worst case that does not fit is not a spent budget: nothing to block for.
    while let Ok(event) = rx.try_recv() {
        assert!(
            !matches!(event, QuotaEvent::Exhausted { .. }),
            "no exhaustion event for a call that did not fit: {event:?}"
        );
    }
    let small = ask(USER, limits, Limits::default(), 2_000);
    let r = engine
        .admit(&small, noon())
        .await
        .expect("2,000 µUSD are left");
    engine.settle(r, 2_000);
    let spent = engine.admit(&small, noon()).await.unwrap_err();
    assert!(spent.is_exhausted(), "the whole budget is spent: {spent:?}");
    let mut exhausted = 0;
    while let Ok(event) = rx.try_recv() {
        exhausted += usize::from(matches!(event, QuotaEvent::Exhausted { .. }));
    }
    assert_eq!(exhausted, 1, "a spent budget is reported once per refusal");
}

// ---------------------------------------------------------------------------------------
// 3. Store statements per 1,000 admitted calls
// ---------------------------------------------------------------------------------------

async fn statements_per_thousand(user: Limits, team: Limits) -> u64 {
    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let ask = ask(USER, user, team, 20_000);
    for _ in 0..1_000 {
        let r = engine.admit(&ask, noon()).await.expect("generous limits");
        engine.settle(r, 12_000);
    }
    mem.statements()
}

#[tokio::test]
async fn statements_per_thousand_admitted_calls_are_few() {
    let one = statements_per_thousand(
        Limits {
            daily_requests: Some(1_000_000),
            daily_budget_usd: Some(1_000.0),
            ..Limits::default()
        },
        Limits::default(),
    )
    .await;
    let all = Limits {
        daily_requests: Some(1_000_000),
        monthly_requests: Some(10_000_000),
        daily_budget_usd: Some(1_000.0),
        monthly_budget_usd: Some(10_000.0),
        ..Default::default()
    };
    let eight = statements_per_thousand(all, all).await;
    eprintln!(
        "ledger statements per 1,000 admitted calls: {one} (daily requests + daily budget), \
         {eight} (all eight user and team limits)"
    );
    assert!(one < 100, "{one} statements");
    assert!(eight < 100, "{eight} statements");
}

// ---------------------------------------------------------------------------------------
// 4. Refusals name the right limit; blocked users; all-or-nothing
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn team_limit_reached_first_refuses_with_the_team_limit() {
    let mem = Arc::new(MemoryLedger::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, Some(tx));
    let ask = ask(USER, requests(10), requests(3), 0);
    for _ in 0..3 {
        engine.admit(&ask, noon()).await.unwrap();
    }
    let refusal = engine.admit(&ask, noon()).await.unwrap_err();
    let Refusal::Limit {
        limit,
        used,
        resets_at,
        period,
        ..
    } = refusal
    else {
        panic!("expected a limit refusal, got {refusal:?}");
    };
    assert_eq!(limit.subject, Subject::Team(TEAM));
    assert_eq!(&*limit.name, "research");
    assert_eq!(
        (limit.window, limit.metric, limit.limit),
        (Window::Day, Metric::Requests, 3)
    );
    assert_eq!(used, 3);
    assert_eq!(period, "2026-11-25");
    assert_eq!(resets_at, utc("2026-11-25T23:00:00Z"));

    let mut exhausted = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let QuotaEvent::Exhausted { user_id, limit, .. } = event {
            exhausted.push((user_id, limit.subject));
        }
    }
    assert_eq!(exhausted, vec![(USER, Subject::Team(TEAM))]);
}

#[tokio::test]
async fn blocked_user_uses_only_held_capacity_and_never_touches_the_ledger() {
    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let mut blocked = ask(USER, requests(100), Limits::default(), 0);
    blocked.allow_grants = false;
    let k = day_key(Subject::User(USER), Metric::Requests, noon());

    // Nothing held: refused from memory.
    match engine.admit(&blocked, noon()).await {
        Err(Refusal::Limit { limit, .. }) => assert_eq!(limit.subject, Subject::User(USER)),
        other => panic!("expected a limit refusal, got {other:?}"),
    }
    assert_eq!(mem.statements(), 0);
    assert_eq!(mem.granted(&k), 0);

    // Capacity already held (drawn by earlier, unblocked calls) may still be used.
    let free = ask(USER, requests(100), Limits::default(), 0);
    while engine.held(&k) == 0 {
        engine.admit(&free, noon()).await.unwrap();
    }
    let (held, statements) = (engine.held(&k), mem.statements());
    for _ in 0..held {
        engine.admit(&blocked, noon()).await.unwrap();
    }
    assert!(engine.admit(&blocked, noon()).await.is_err());
    assert_eq!(mem.statements(), statements);
    assert_eq!(engine.held(&k), 0);
}

/// Units of every counter of `ask` used so far on a single engine (granted − held), and
/// what the engine holds.
fn snapshot(
    engine: &QuotaEngine,
    mem: &MemoryLedger,
    ask: &Ask<'_>,
) -> Vec<(CounterKey, i64, i64)> {
    engine
        .charges(ask, noon())
        .into_iter()
        .map(|c| {
            let held = engine.held(&c.key);
            (c.key.clone(), mem.granted(&c.key) - held, held)
        })
        .collect()
}

#[tokio::test]
async fn a_call_refused_by_one_limit_consumes_nothing_from_the_others() {
    // The team refuses while the user's request and budget buckets have room.
    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let user = Limits {
        daily_requests: Some(100),
        daily_budget_usd: Some(10.0),
        ..Limits::default()
    };
    let call = ask(USER, user, requests(2), 1_000);
    for _ in 0..2 {
        engine.admit(&call, noon()).await.unwrap();
    }
    let before = snapshot(&engine, &mem, &call);
    for (k, _, held) in &before {
        if k.subject == Subject::User(USER) {
            let need = if k.metric == Metric::Requests {
                1
            } else {
                1_000
            };
            assert!(*held >= need, "precondition: {k} holds {held}");
        }
    }
    match engine.admit(&call, noon()).await {
        Err(Refusal::Limit { limit, .. }) => assert_eq!(limit.subject, Subject::Team(TEAM)),
        other => panic!("expected the team refusal, got {other:?}"),
    }
    assert_eq!(snapshot(&engine, &mem, &call), before);

    // The other way round: the user refuses while the team has room.
    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let team = Limits {
        daily_requests: Some(100),
        monthly_budget_usd: Some(10.0),
        ..Limits::default()
    };
    let call = ask(USER, requests(2), team, 1_000);
    for _ in 0..2 {
        engine.admit(&call, noon()).await.unwrap();
    }
    let before = snapshot(&engine, &mem, &call);
    match engine.admit(&call, noon()).await {
        Err(Refusal::Limit { limit, .. }) => assert_eq!(limit.subject, Subject::User(USER)),
        other => panic!("expected the user refusal, got {other:?}"),
    }
    assert_eq!(snapshot(&engine, &mem, &call), before);
}

#[tokio::test]
async fn cancel_gives_back_every_charge_and_settle_keeps_the_request() {
    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let user = Limits {
        daily_requests: Some(1),
        daily_budget_usd: Some(0.01),
        ..Limits::default()
    };
    let call = ask(USER, user, Limits::default(), 10_000);
    let r = engine.admit(&call, noon()).await.unwrap();
    assert!(engine.admit(&call, noon()).await.is_err());
    engine.cancel(r);
    // The cancelled call used nothing: the next one fits, and settling it at a fraction
    // of its reservation keeps the request but returns the unused budget.
    let r = engine.admit(&call, noon()).await.unwrap();
    engine.settle(r, 2_500);
    let budget = day_key(Subject::User(USER), Metric::MicroUsd, noon());
    assert_eq!(engine.held(&budget), 7_500);
    match engine
        .admit(&ask(USER, user, Limits::default(), 1), noon())
        .await
    {
        Err(Refusal::Limit { limit, .. }) => assert_eq!(limit.metric, Metric::Requests),
        other => panic!("expected the request limit, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 5. Periods turn at local midnight
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn day_counters_turn_at_local_midnight_month_counter_does_not() {
    let before = utc("2026-11-25T22:59:00Z"); // 23:59 CET, Nov 25
    let after = utc("2026-11-25T23:01:00Z"); // 00:01 CET, Nov 26 (still Nov 25 in UTC)
    assert_eq!(
        period_keys(TZ, before),
        ("2026-11-25".into(), "2026-11".into())
    );
    assert_eq!(
        period_keys(TZ, after),
        ("2026-11-26".into(), "2026-11".into())
    );

    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let limits = Limits {
        daily_requests: Some(2),
        monthly_requests: Some(10),
        ..Limits::default()
    };
    let call = ask(USER, limits, Limits::default(), 0);
    let keys = |now| -> Vec<CounterKey> {
        engine
            .charges(&call, now)
            .into_iter()
            .map(|c| c.key)
            .collect()
    };
    let (k_before, k_after) = (keys(before), keys(after));
    assert_ne!(k_before[0], k_after[0], "day counters");
    assert_eq!(k_before[1], k_after[1], "month counter");

    for now in [before, after] {
        for _ in 0..2 {
            engine.admit(&call, now).await.expect("fresh day");
        }
        match engine.admit(&call, now).await {
            Err(Refusal::Limit {
                limit, resets_at, ..
            }) => {
                assert_eq!(limit.window, Window::Day);
                let (day, _) = period_keys(TZ, now);
                let end = if day == "2026-11-25" {
                    "2026-11-25T23:00:00Z"
                } else {
                    "2026-11-26T23:00:00Z"
                };
                assert_eq!(resets_at, utc(end));
            }
            other => panic!("expected the daily limit, got {other:?}"),
        }
    }
    let month = &k_after[1];
    assert_eq!(mem.granted(month) - engine.held(month), 4);
    for k in [&k_before[0], &k_after[0]] {
        assert_eq!(mem.granted(k) - engine.held(k), 2);
    }
    // Yesterday's bucket is dropped (not returned: its period is over).
    let returned = engine.take_idle(Duration::ZERO, after);
    assert!(returned.iter().all(|h| &*h.key.period != "2026-11-25"));
    assert_eq!(engine.held(&k_before[0]), 0);
}

#[tokio::test]
async fn month_counters_turn_at_local_month_start() {
    let before = utc("2026-11-30T22:59:00Z"); // 23:59 CET, Nov 30
    let after = utc("2026-11-30T23:01:00Z"); // 00:01 CET, Dec 1 (still November in UTC)
    assert_eq!(
        period_keys(TZ, after),
        ("2026-12-01".into(), "2026-12".into())
    );
    let mem = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(mem.clone(), TZ, 80, None);
    let limits = Limits {
        monthly_requests: Some(1),
        ..Limits::default()
    };
    let call = ask(USER, limits, Limits::default(), 0);
    engine.admit(&call, before).await.unwrap();
    match engine.admit(&call, before).await {
        Err(Refusal::Limit {
            limit, resets_at, ..
        }) => {
            assert_eq!(limit.window, Window::Month);
            assert_eq!(resets_at, utc("2026-11-30T23:00:00Z"));
        }
        other => panic!("expected the monthly limit, got {other:?}"),
    }
    engine.admit(&call, after).await.expect("fresh month");
    assert!(engine.admit(&call, after).await.is_err());
}

// ---------------------------------------------------------------------------------------
// Engine bugs the simulator found (fixed; kept as regression tests)
// ---------------------------------------------------------------------------------------

/// One engine, three request counters with the same limit (user day, user month, team
/// day), twice as many concurrent calls as the limit, and a store that takes a few
/// scheduler turns per round trip. Exactly `limit` calls should be admitted and the rest
/// refused with `Refusal::Limit`.
///
/// What happens: near the limit chunks shrink to one unit, so every refill serves one
/// call; a call that refilled counter X finds counter Y empty and queues on Y's grant
/// lock, and while it waits another call takes X's unit. Each gate pass costs one of
/// `admit`'s 64 rounds, so calls run out of rounds and get `Refusal::Unavailable("too
/// much contention ...")` although capacity is still there: fewer than `limit` calls are
/// admitted, and calls over the limit get a retryable 503 instead of the quota refusal
/// (and no `QuotaEvent::Exhausted`).
#[tokio::test]
async fn contention_for_several_counters_is_refused_only_by_the_limit() {
    let mut failures = Vec::new();
    for seed in 0..20u64 {
        let mut rng = Rng::new(seed);
        let mem = Arc::new(MemoryLedger::default());
        let ledger: Arc<dyn Ledger> = Arc::new(FaultLedger::new(Arc::clone(&mem), seed, 5));
        let engine = QuotaEngine::new(ledger, TZ, 80, None);
        let limit = 100;
        let user = Limits {
            daily_requests: Some(limit),
            monthly_requests: Some(limit),
            ..Limits::default()
        };
        let call = ask(USER, user, requests(limit), 0);
        let plan = vec![0; 2 * limit as usize];
        let results = run_plan(
            std::slice::from_ref(&engine),
            &plan,
            &call,
            noon(),
            &mut rng,
        )
        .await;
        let admitted = results.iter().filter(|(_, r)| r.is_ok()).count() as i64;
        let unavailable = results
            .iter()
            .filter(|(_, r)| matches!(r, Err(Refusal::Unavailable(_))))
            .count();
        assert!(admitted <= limit);
        if admitted != limit || unavailable > 0 {
            failures.push(format!(
                "seed {seed}: admitted {admitted}/{limit}, {unavailable} refused as Unavailable"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The engine's chunk rule says a refill takes at most 1/SHARE_DIVISOR of what is left,
/// so that near the limit little capacity sits unused in one proxy while others refuse.
/// The share is computed from `total_seen`, the ledger total this engine saw at its own
/// last grant; when other engines have drawn since, the estimate is stale and one refill
/// can take everything that is left. Under-use only (never overshoot), but it defeats
/// the shrinking chunks: here engine A takes all 57 remaining units in one grant while B
/// gets nothing more.
#[tokio::test]
async fn a_refill_takes_at_most_a_share_of_what_is_left() {
    let mem = Arc::new(MemoryLedger::default());
    let ledger: Arc<dyn Ledger> = mem.clone();
    let all = engines(&ledger, 2);
    let (a, b) = (&all[0], &all[1]);
    let limit = 1_000;
    let call = ask(USER, requests(limit), Limits::default(), 0);
    let k = day_key(Subject::User(USER), Metric::Requests, noon());
    for _ in 0..40 {
        a.admit(&call, noon()).await.unwrap();
    }
    while mem.granted(&k) < limit - 60 {
        b.admit(&call, noon()).await.unwrap();
    }
    while a.held(&k) > 0 {
        a.admit(&call, noon()).await.unwrap();
    }
    let before = mem.granted(&k);
    a.admit(&call, noon()).await.unwrap();
    let left = limit - before;
    let drawn = mem.granted(&k) - before;
    let share = (left / SHARE_DIVISOR).max(1);
    assert!(
        drawn <= share,
        "engine A drew {drawn} of the {left} units left in one grant (share cap {share})"
    );
}
