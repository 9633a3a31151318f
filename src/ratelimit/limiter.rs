//! [`RateLimiter`]: the short-term limits of one proxy, in memory. Admission checks the
//! user's and the team's calls in flight, requests in the last minute and tokens in the
//! last minute under one mutex, and takes all of them or none; the [`RateGuard`] it
//! hands out gives the call slot back when the call ends and settles the tokens.
//!
//! Every subject seen in the last minute is tracked, limited or not, so that the
//! current rate and calls in flight can be shown (`user info`, `team info`). Subjects
//! idle for a minute with nothing in flight are dropped once a minute.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::guard::RateGuard;
use super::limits::Effective;
use super::refusal::{RateKind, Throttle, CONCURRENT_RETRY_AFTER};
use super::window::MinuteWindow;
use crate::config::RateLimitConfig;
use crate::domain::Limits;
use crate::quota::Subject;

/// One subject's last minute and calls in flight.
#[derive(Clone, Debug, Default)]
pub(super) struct SubjectRate {
    pub(super) requests: MinuteWindow,
    pub(super) tokens: MinuteWindow,
    pub(super) in_flight: u64,
}

/// What a subject did in the last minute on this proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Activity {
    /// Requests admitted in the last minute.
    pub requests: u64,
    /// Tokens in the last minute: real counts of finished calls, worst cases of calls
    /// in flight.
    pub tokens: u64,
    /// Calls in flight.
    pub in_flight: u64,
}

/// What admission asks of the limiter for one call.
#[derive(Clone, Copy, Debug)]
pub struct RateAsk<'a> {
    /// The caller.
    pub user_id: i64,
    /// The caller's team.
    pub team_id: i64,
    /// The user's own limits (overrides).
    pub user_limits: &'a Limits,
    /// The team's limits (overrides).
    pub team_limits: &'a Limits,
}

/// Mutable state behind the mutex.
#[derive(Default)]
pub(super) struct Inner {
    pub(super) subjects: HashMap<Subject, SubjectRate, foldhash::fast::RandomState>,
    last_sweep: u64,
}

/// The short-term limits of one proxy.
pub struct RateLimiter {
    started: Instant,
    config: RateLimitConfig,
    pub(super) inner: Mutex<Inner>,
}

impl RateLimiter {
    /// A limiter with the configured defaults and share.
    pub fn new(config: RateLimitConfig) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            config,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Seconds since the limiter started: the clock of every window.
    pub(crate) fn second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The limits in force for the user and the team of `ask` on this proxy.
    pub(crate) fn effective(&self, ask: &RateAsk<'_>) -> (Effective, Effective) {
        let p = self.config.proxies;
        (
            Effective::of(ask.user_limits, &self.config.user, p),
            Effective::of(ask.team_limits, &self.config.team, p),
        )
    }

    /// Admits a call now, reserving `tokens` (its worst case; 0 when no tokens limit
    /// applies) against both subjects.
    pub fn admit(self: &Arc<Self>, ask: &RateAsk<'_>, tokens: u64) -> Result<RateGuard, Throttle> {
        self.admit_at(ask, tokens, self.second())
    }

    /// [`Self::admit`] at second `now` (since the limiter started).
    pub(crate) fn admit_at(
        self: &Arc<Self>,
        ask: &RateAsk<'_>,
        tokens: u64,
        now: u64,
    ) -> Result<RateGuard, Throttle> {
        let (user_limits, team_limits) = self.effective(ask);
        let subjects = [
            (Subject::User(ask.user_id), user_limits),
            (Subject::Team(ask.team_id), team_limits),
        ];
        let mut inner = self.inner.lock();
        inner.sweep(now);
        let mut refusal: Option<Throttle> = None;
        for (subject, limits) in subjects {
            let found = match inner.subjects.get(&subject) {
                Some(rate) => check(rate, subject, &limits, tokens, now),
                // New this minute: only a limit of 0 or a call bigger than the limit.
                None => check(&SubjectRate::default(), subject, &limits, tokens, now),
            };
            if let Some(t) = found {
                refusal = Some(worse(refusal, t));
            }
        }
        if let Some(t) = refusal {
            return Err(t);
        }
        for (subject, _) in subjects {
            let rate = inner.subjects.entry(subject).or_default();
            rate.in_flight += 1;
            rate.requests.add(now, 1);
            rate.tokens.add(now, tokens);
        }
        drop(inner);
        Ok(RateGuard::new(
            Arc::clone(self),
            [subjects[0].0, subjects[1].0],
            now,
            tokens,
        ))
    }

    /// What `subject` did in the last minute on this proxy.
    pub fn activity(&self, subject: Subject) -> Activity {
        let now = self.second();
        self.inner
            .lock()
            .subjects
            .get(&subject)
            .map_or_else(Activity::default, |r| activity(r, now))
    }

    /// Every subject with something in the last minute or in flight.
    pub(crate) fn active(&self) -> Vec<(Subject, Activity)> {
        let now = self.second();
        let inner = self.inner.lock();
        inner
            .subjects
            .iter()
            .map(|(s, r)| (*s, activity(r, now)))
            .filter(|(_, a)| *a != Activity::default())
            .collect()
    }
}

fn activity(r: &SubjectRate, now: u64) -> Activity {
    Activity {
        requests: r.requests.sum(now),
        tokens: r.tokens.sum(now),
        in_flight: r.in_flight,
    }
}

/// The first limit of `limits` that `rate` has no room for.
fn check(
    rate: &SubjectRate,
    subject: Subject,
    limits: &Effective,
    tokens: u64,
    now: u64,
) -> Option<Throttle> {
    let throttle = |kind, limit, asked, retry_after| Throttle {
        subject,
        kind,
        limit,
        asked,
        retry_after,
    };
    if let Some(limit) = limits.max_concurrent {
        if rate.in_flight >= limit {
            let retry = (limit > 0).then_some(CONCURRENT_RETRY_AFTER);
            return Some(throttle(RateKind::Concurrent, limit, 1, retry));
        }
    }
    if let Some(limit) = limits.rpm {
        if let Err(retry) = rate.requests.fits(now, 1, limit) {
            return Some(throttle(RateKind::Rpm, limit, 1, retry));
        }
    }
    if let Some(limit) = limits.tpm {
        if let Err(retry) = rate.tokens.fits(now, tokens, limit) {
            return Some(throttle(RateKind::Tpm, limit, tokens, retry));
        }
    }
    None
}

/// Of two refusals, the one that makes the call wait longer (never-fitting first).
fn worse(a: Option<Throttle>, b: Throttle) -> Throttle {
    match a {
        None => b,
        Some(a) => match (a.retry_after, b.retry_after) {
            (None, _) => a,
            (_, None) => b,
            (Some(x), Some(y)) if y > x => b,
            _ => a,
        },
    }
}

impl Inner {
    /// Once a minute: drops subjects with nothing in the last minute and nothing in
    /// flight.
    fn sweep(&mut self, now: u64) {
        if now < self.last_sweep + super::window::SLOTS {
            return;
        }
        self.last_sweep = now;
        self.subjects
            .retain(|_, r| r.in_flight > 0 || !r.requests.is_idle(now) || !r.tokens.is_idle(now));
    }
}
