//! Admission against a warm chunk: the in-memory check-and-reserve across a user's and a
//! team's request limits and budgets (8 counters), plus settlement. No database is
//! touched while the chunk has room; the in-memory ledger stands in for refills.
//!
//! The short-term limits' admission and settlement, with limits on and off.
//!
//! Run: `cargo bench --bench admission`.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::sync::Arc;

use bedrock_gate::quota::engine::{Ask, QuotaEngine};
use bedrock_gate::quota::ledger::{Ledger, MemoryLedger};
use bedrock_gate::store::Limits;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn admission(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(MemoryLedger::default());
    let engine = QuotaEngine::new(ledger.clone(), chrono_tz::Tz::CET, 80, None);
    let limits = Limits {
        daily_requests: Some(1_000_000_000),
        monthly_requests: Some(1_000_000_000),
        daily_budget_usd: Some(1_000_000.0),
        monthly_budget_usd: Some(1_000_000.0),
        ..Default::default()
    };
    let ask = Ask {
        user_id: 1,
        username: "alice",
        team_id: 1,
        team: "research",
        user_limits: limits,
        team_limits: limits,
        micro_usd: 2_000,
        allow_grants: true,
    };
    let now = chrono::Utc::now();
    // Warm the chunks.
    for _ in 0..1000 {
        let r = rt.block_on(engine.admit(&ask, now)).unwrap();
        engine.settle(r, 1_500);
    }
    let before = ledger.statements();
    c.bench_function("admit+settle_8_counters_warm", |b| {
        b.iter(|| {
            let r = rt.block_on(engine.admit(black_box(&ask), now)).unwrap();
            engine.settle(r, 1_500);
        })
    });
    eprintln!(
        "ledger statements during the benchmark: {}",
        ledger.statements() - before
    );
    c.bench_function("admit_no_limits", |b| {
        let free = Ask {
            user_limits: Limits::default(),
            team_limits: Limits::default(),
            ..ask.clone()
        };
        b.iter(|| black_box(rt.block_on(engine.admit(&free, now)).unwrap()))
    });
}

/// The short-term limits' admission and settlement (user and team, one mutex), with
/// every limit on, and with none (the subjects are still tracked for `user info`).
fn rate_limits(c: &mut Criterion) {
    use bedrock_gate::config::RateLimitConfig;
    use bedrock_gate::domain::RateLimit;
    use bedrock_gate::ratelimit::{RateAsk, RateLimiter};
    let limiter = RateLimiter::new(RateLimitConfig::default());
    let on = Limits {
        // Never reached in a run (tens of millions of calls a minute).
        rpm: Some(RateLimit::Max(u64::MAX / 4)),
        tpm: Some(RateLimit::Max(u64::MAX / 4)),
        max_concurrent: Some(RateLimit::Max(1_000)),
        ..Default::default()
    };
    let off = Limits::default();
    let ask = |limits: &'static Limits| RateAsk {
        user_id: 1,
        team_id: 1,
        user_limits: limits,
        team_limits: limits,
    };
    let on: &'static Limits = Box::leak(Box::new(on));
    let off: &'static Limits = Box::leak(Box::new(off));
    c.bench_function("rate_admit+settle_limits_on", |b| {
        let ask = ask(on);
        b.iter(|| limiter.admit(black_box(&ask), 2_000).unwrap().settle(1_500))
    });
    c.bench_function("rate_admit+settle_no_limits", |b| {
        let ask = ask(off);
        b.iter(|| limiter.admit(black_box(&ask), 0).unwrap().settle(1_500))
    });
}

criterion_group!(benches, admission, rate_limits);
criterion_main!(benches);
