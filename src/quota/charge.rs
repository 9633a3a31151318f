//! What a call asks of the quotas and what it is charged: the [`Ask`] (who calls, their
//! limits, the worst-case cost), one [`Charge`] per limit that is set (the counter, the
//! units, the limit behind it, when its period ends), and the [`Reservation`] of units
//! debited, held until the call is settled.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::periods::Periods;
use super::{CounterKey, Metric, Subject, Window};
use crate::store::Limits;

/// One limit as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRef {
    /// User or team.
    pub subject: Subject,
    /// The user's or team's name.
    pub name: Arc<str>,
    /// Day or month.
    pub window: Window,
    /// Requests or micro-USD.
    pub metric: Metric,
    /// The limit, in the metric's unit.
    pub limit: i64,
}

/// One charge of a call against one limit.
#[derive(Clone, Debug)]
pub struct Charge {
    /// The counter.
    pub key: CounterKey,
    /// Units to reserve.
    pub(crate) amount: i64,
    /// The limit behind it.
    pub(crate) limit: LimitRef,
    /// When the period ends.
    pub(crate) resets_at: DateTime<Utc>,
}

/// What a call asks of the quota engine.
#[derive(Clone, Debug)]
pub struct Ask<'a> {
    /// The user.
    pub user_id: i64,
    /// The user's name.
    pub username: &'a str,
    /// The user's team.
    pub team_id: i64,
    /// The team's name.
    pub team: &'a str,
    /// The user's limits.
    pub user_limits: Limits,
    /// The team's limits.
    pub team_limits: Limits,
    /// Worst-case cost in micro-USD (0 when no budget applies).
    pub micro_usd: i64,
    /// False for a user blocked for a limit: only capacity already held may be used.
    pub allow_grants: bool,
}

/// Units reserved for one call, to be settled when it ends.
#[derive(Debug, Default)]
pub struct Reservation {
    /// The units debited from each counter.
    pub(super) debits: Vec<Debit>,
}

/// The units one call debited from one counter's bucket.
#[derive(Debug)]
pub(super) struct Debit {
    /// The counter.
    pub(super) key: CounterKey,
    /// Units.
    pub(super) amount: i64,
    /// The bucket's take-back count at the debit ([`super::bucket::Bucket::put_back`]).
    pub(super) epoch: u32,
}

/// The charges of `ask` in the local day and month (in `tz`) around `at`: for a call
/// counted after the fact (a direct call seen in CloudTrail) in its own periods.
pub(crate) fn charges_at(ask: &Ask<'_>, tz: Tz, at: DateTime<Utc>) -> Vec<Charge> {
    charges(ask, Periods::at(tz, at))
}

/// The charges of `ask` in `periods`: one per limit that is set, user limits first.
pub(super) fn charges(ask: &Ask<'_>, periods: Periods) -> Vec<Charge> {
    let Periods {
        day,
        month,
        day_end,
        month_end,
        ..
    } = periods;
    let mut out = Vec::with_capacity(8);
    let scopes = [
        (Subject::User(ask.user_id), ask.username, &ask.user_limits),
        (Subject::Team(ask.team_id), ask.team, &ask.team_limits),
    ];
    let mut names: [Option<Arc<str>>; 2] = [None, None];
    for ((subject, name, limits), shared) in scopes.into_iter().zip(&mut names) {
        let entries = [
            (Window::Day, Metric::Requests, limits.daily_requests, 1),
            (Window::Month, Metric::Requests, limits.monthly_requests, 1),
            (
                Window::Day,
                Metric::MicroUsd,
                limits.daily_budget_usd.map(super::limit_micro),
                ask.micro_usd,
            ),
            (
                Window::Month,
                Metric::MicroUsd,
                limits.monthly_budget_usd.map(super::limit_micro),
                ask.micro_usd,
            ),
        ];
        for (window, metric, limit, amount) in entries {
            let Some(limit) = limit else { continue };
            let (period, resets_at) = match window {
                Window::Day => (Arc::clone(&day), day_end),
                Window::Month => (Arc::clone(&month), month_end),
            };
            out.push(Charge {
                key: CounterKey {
                    subject,
                    metric,
                    period,
                },
                amount,
                limit: LimitRef {
                    subject,
                    name: Arc::clone(shared.get_or_insert_with(|| Arc::from(name))),
                    window,
                    metric,
                    limit,
                },
                resets_at,
            });
        }
    }
    out
}
