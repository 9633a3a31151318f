//! The limiter with an injected clock: calls in flight against a cap, requests per
//! minute exact over a minute, tokens reserved and settled, user and team taken
//! together or not at all.

use std::sync::Arc;

use super::refusal::RateKind;
use super::*;
use crate::config::{RateDefaults, RateLimitConfig};
use crate::domain::{Limits, RateLimit};
use crate::quota::Subject;

fn limiter(user: RateDefaults, team: RateDefaults) -> Arc<RateLimiter> {
    RateLimiter::new(RateLimitConfig {
        user,
        team,
        proxies: 1,
    })
}

fn ask<'a>(user: &'a Limits, team: &'a Limits) -> RateAsk<'a> {
    RateAsk {
        user_id: 1,
        team_id: 10,
        user_limits: user,
        team_limits: team,
    }
}

#[test]
fn calls_in_flight_are_capped_and_freed_when_a_call_ends() {
    let l = limiter(
        RateDefaults {
            max_concurrent: Some(3),
            ..Default::default()
        },
        RateDefaults::default(),
    );
    let none = Limits::default();
    let mut held: Vec<RateGuard> = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..10 {
        match l.admit_at(&ask(&none, &none), 0, 0) {
            Ok(g) => held.push(g),
            Err(t) => refused.push(t),
        }
    }
    assert_eq!(held.len(), 3);
    assert_eq!(refused.len(), 7);
    assert!(refused
        .iter()
        .all(|t| t.kind == RateKind::Concurrent && t.retry_after == Some(1)));
    assert_eq!(l.activity(Subject::User(1)).in_flight, 3);
    // Settled, cancelled, dropped: each frees its slot.
    held.pop().unwrap().settle(10);
    held.pop().unwrap().cancel();
    drop(held.pop());
    assert_eq!(l.activity(Subject::User(1)).in_flight, 0);
    assert_eq!(l.activity(Subject::Team(10)).in_flight, 0);
    assert!(l.admit_at(&ask(&none, &none), 0, 0).is_ok());
}

#[test]
fn requests_per_minute_are_exact_and_say_when_they_free() {
    let l = limiter(RateDefaults::default(), RateDefaults::default());
    let user = Limits {
        rpm: Some(RateLimit::Max(5)),
        ..Default::default()
    };
    let team = Limits::default();
    for s in [3, 3, 10, 20, 20] {
        l.admit_at(&ask(&user, &team), 0, s).unwrap().settle(0);
    }
    let t = l.admit_at(&ask(&user, &team), 0, 30).err().unwrap();
    assert_eq!(
        (t.kind, t.limit, t.retry_after),
        (RateKind::Rpm, 5, Some(34))
    );
    assert!(l.admit_at(&ask(&user, &team), 0, 63).is_err());
    // Second 3 has left the window at 64: two calls fit, then 10 must leave too.
    assert!(l.admit_at(&ask(&user, &team), 0, 64).is_ok());
    assert!(l.admit_at(&ask(&user, &team), 0, 64).is_ok());
    let t = l.admit_at(&ask(&user, &team), 0, 64).err().unwrap();
    assert_eq!(t.retry_after, Some(7));
}

#[test]
fn tokens_are_reserved_at_admission_and_settled_to_the_real_count() {
    let l = limiter(
        RateDefaults::default(),
        RateDefaults {
            tpm: Some(1000),
            ..Default::default()
        },
    );
    let none = Limits::default();
    let a = l.admit_at(&ask(&none, &none), 600, 0).unwrap();
    // 600 reserved: another 600 does not fit, 400 does.
    let t = l.admit_at(&ask(&none, &none), 600, 1).err().unwrap();
    assert_eq!((t.kind, t.subject), (RateKind::Tpm, Subject::Team(10)));
    assert_eq!(t.retry_after, Some(60));
    a.settle(150);
    assert_eq!(l.activity(Subject::Team(10)).tokens, 150);
    assert_eq!(l.activity(Subject::User(1)).tokens, 150);
    let b = l.admit_at(&ask(&none, &none), 600, 0).unwrap();
    assert_eq!(l.activity(Subject::Team(10)).tokens, 750);
    drop(b); // not settled: the worst case stays counted
    assert_eq!(l.activity(Subject::Team(10)).tokens, 750);
    // A call whose worst case alone is over the limit never fits.
    let t = l.admit_at(&ask(&none, &none), 1001, 2).err().unwrap();
    assert_eq!(t.retry_after, None);
}

#[test]
fn a_refusal_by_the_team_takes_nothing_from_the_user() {
    let l = limiter(
        RateDefaults {
            rpm: Some(100),
            ..Default::default()
        },
        RateDefaults {
            max_concurrent: Some(1),
            ..Default::default()
        },
    );
    let none = Limits::default();
    let held = l.admit_at(&ask(&none, &none), 0, 0).unwrap();
    assert!(l.admit_at(&ask(&none, &none), 0, 0).is_err());
    let a = l.activity(Subject::User(1));
    assert_eq!((a.requests, a.in_flight), (1, 1));
    held.cancel();
    assert_eq!(l.activity(Subject::User(1)), Activity::default());
}

#[test]
fn idle_subjects_are_forgotten_after_a_minute() {
    let l = limiter(RateDefaults::default(), RateDefaults::default());
    let none = Limits::default();
    l.admit_at(&ask(&none, &none), 0, 0).unwrap().settle(5);
    assert_eq!(l.inner.lock().subjects.len(), 2);
    assert_eq!(l.active().len(), 2);
    let held = l.admit_at(&ask(&none, &none), 0, 200).unwrap();
    assert_eq!(l.inner.lock().subjects.len(), 2);
    drop(held);
}
