//! Quotas: request limits and USD budgets per user and per team, per calendar day and
//! month in `quota.timezone`, enforced in memory before a call reaches Bedrock.
//!
//! - `engine`: admission (one atomic check-and-reserve across every applicable limit)
//!   and settlement, served from capacity chunks held in memory; the public face of
//!   the private files below, whose types it re-exports:
//!   - `charge`: what a call asks (`Ask`), its charges and its reservation;
//!   - `bucket`: a counter's local bucket and the size of its next chunk;
//!   - `periods`: the day and month keys a call counts against, cached per day;
//!   - `refusal`: why a call was refused and the message the client reads;
//!   - `event`: the warnings and exhaustions admission reports;
//!   - `idle`: giving unused capacity back to the ledger;
//!   - `lease`: renewing this proxy's leases, reclaiming expired ones of others;
//!   - `takeback`: giving back capacity granted under a limit since lowered;
//!   - `watch`: limits refused while other proxies still hold capacity, checked in
//!     the background until they are spent (then the automatic block follows);
//!   - `outage`: admitting calls on an allowance while the ledger does not answer
//!     (`quota.on_store_outage = "allow"`) and charging them to it afterwards.
//! - `ledger`: where chunks come from: the database's `quota_counters` rows, granted
//!   by conditional updates so that all proxies together never exceed a limit
//!   (`store_ledger`), or the same in memory.
//! - `estimate`: the worst-case cost a call reserves against budgets.
//! - `policy`: the limits, blocks and protections a proxy enforces (snapshots).
//!
//! What happens when a limit is reached or a warning threshold crossed (automatic
//! blocks, events) and the daily reset are rules of the service layer (`ops`);
//! the engine only reports [`engine::QuotaEvent`]s on a channel.
//!
//! The design, its invariants and its bounds are in `docs/QUOTA.md`.

mod bucket;
mod charge;
pub mod engine;
pub(crate) mod estimate;
mod event;
mod idle;
mod lease;
pub mod ledger;
#[cfg(any(test, feature = "test-support"))]
mod memory_ledger;
mod outage;
mod periods;
pub(crate) mod policy;
mod refusal;
mod store_ledger;
mod takeback;
mod watch;

use std::fmt;
use std::sync::Arc;

/// Who a counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// One user's own limits.
    User(i64),
    /// A team's limits, shared by its members.
    Team(i64),
}

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Calls.
    Requests,
    /// Cost in millionths of a US dollar.
    MicroUsd,
}

/// Which calendar period a limit covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Window {
    /// A local day.
    Day,
    /// A local month.
    Month,
}

/// One counter: a subject's metric in one period (`2026-11-25` or `2026-11`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    /// Whose.
    pub subject: Subject,
    /// What.
    pub metric: Metric,
    /// Which period (shared: every call of the day carries the same text).
    pub period: Arc<str>,
}

impl Subject {
    /// The stored form: `user:12`, `team:3`.
    pub(crate) fn stored(self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Team(id) => format!("team:{id}"),
        }
    }
}

impl Metric {
    /// The stored form.
    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::MicroUsd => "micro_usd",
        }
    }
}

impl Window {
    /// `daily` or `monthly`.
    pub(crate) fn adjective(self) -> &'static str {
        match self {
            Self::Day => "daily",
            Self::Month => "monthly",
        }
    }
}

/// The stored name of a limit: `daily_requests`, `monthly_budget_usd`, ...
pub(crate) fn limit_name(window: Window, metric: Metric) -> String {
    let metric = match metric {
        Metric::Requests => "requests",
        Metric::MicroUsd => "budget_usd",
    };
    format!("{}_{metric}", window.adjective())
}

impl fmt::Display for CounterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.subject.stored(),
            self.metric.stored(),
            self.period
        )
    }
}

/// Micro-dollars in a dollar.
pub(crate) const MICRO: f64 = 1_000_000.0;

/// USD to micro-USD, rounded up (reservations and limits never round in the caller's
/// favour).
pub(crate) fn to_micro(usd: f64) -> i64 {
    if !usd.is_finite() || usd <= 0.0 {
        return 0;
    }
    (usd * MICRO).ceil().min(i64::MAX as f64) as i64
}

pub use crate::domain::money::limit_micro;
