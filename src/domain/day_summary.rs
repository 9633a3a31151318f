//! One local day's usage at a glance, as the administrators read it: calls, tokens and
//! cost in total, per team, per user (the top ones, the rest summed in one row) and per
//! model, and who was blocked and unblocked that day. The scheduled daily summary is
//! one of these for the day that ended; a reset run by hand carries one for the day so
//! far in its `reset_done` event (the day it cleared, as it was at that moment).

use serde::{Deserialize, Serialize};

/// Sums of one group (or of the whole day).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSums {
    /// Team, username or model id (empty for totals; `(+N)` for the rest of a list).
    pub(crate) key: String,
    /// Calls.
    pub(crate) calls: i64,
    /// Input plus output tokens (cache tokens included).
    pub(crate) tokens: i64,
    /// USD.
    pub(crate) cost_usd: f64,
}

impl UsageSums {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &UsageSums) {
        self.calls += other.calls;
        self.tokens += other.tokens;
        self.cost_usd += other.cost_usd;
    }
}

/// One local day's summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DaySummary {
    /// The local day, `YYYY-MM-DD`.
    pub(crate) day: String,
    /// The day before.
    pub(crate) previous_day: String,
    /// The day's totals.
    pub(crate) totals: UsageSums,
    /// The day before's totals.
    pub(crate) previous: UsageSums,
    /// Per team, by cost (highest first).
    pub(crate) teams: Vec<UsageSums>,
    /// Per user, by cost; the users past the first few summed in a last `(+N)` row.
    pub(crate) users: Vec<UsageSums>,
    /// Per model, by cost; the rest summed in a last `(+N)` row.
    pub(crate) models: Vec<UsageSums>,
    /// Users blocked that day (automatically or by hand), in order.
    pub(crate) blocked: Vec<String>,
    /// Users unblocked that day.
    pub(crate) unblocked: Vec<String>,
}

/// A reset run by hand (`bedrock-gate reset`): when, and the day it cleared as it was
/// just before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResetByHand {
    /// When it ran (epoch ms).
    pub(crate) at: i64,
    /// The day so far, read just before the reset changed anything (its `unblocked` are
    /// those unblocked earlier that day; the reset's own are in the event).
    pub(crate) so_far: DaySummary,
}
