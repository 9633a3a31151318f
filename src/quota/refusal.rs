//! Refusals: why admission turned a call away ([`Refusal`]: a limit without room, or
//! the ledger out of reach) and the message the client reads, naming the limit, the
//! usage and when the limit resets in `quota.timezone`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::charge::LimitRef;
use super::{Metric, Subject};

/// Why a call was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// A limit has no room for the call.
    Limit {
        /// Which limit.
        limit: LimitRef,
        /// Units granted to all proxies together (what is used or held).
        used: i64,
        /// Units the call asked for (1 request, or its worst-case cost in micro-USD).
        asked: i64,
        /// Units the call could still have had (this proxy's bucket plus what the
        /// ledger has not granted): less than `asked`, and 0 or less when the limit
        /// is spent.
        room: i64,
        /// When the period ends.
        resets_at: DateTime<Utc>,
        /// The period (`2026-11-25`, `2026-11`).
        period: String,
    },
    /// The ledger could not be reached to draw more capacity.
    Unavailable(String),
}

impl Refusal {
    /// Whether the limit is spent (nothing is left for any call), rather than too
    /// small for this call's worst case: only then is the user blocked for it.
    pub fn is_exhausted(&self) -> bool {
        match self {
            Self::Limit { room, .. } => *room <= 0,
            Self::Unavailable(_) => false,
        }
    }
}

/// The refusal message: names the limit, the usage and when it resets.
pub(crate) fn refusal_message(refusal: &Refusal, tz: Tz) -> String {
    match refusal {
        Refusal::Unavailable(m) => m.clone(),
        Refusal::Limit {
            limit,
            used,
            asked,
            room,
            resets_at,
            ..
        } => {
            let who = match limit.subject {
                Subject::User(_) => format!("user {}", limit.name),
                Subject::Team(_) => format!("team {}", limit.name),
            };
            let when = resets_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
            let used = (*used).min(limit.limit);
            if limit.metric == Metric::MicroUsd && *room > 0 {
                return format!(
                    "This call may cost up to {}, more than the {} left of the {} budget of {} for {who}; the user is not blocked, and a call with a smaller maximum output (max_tokens) may fit. The budget resets at {when}.",
                    dollars(*asked),
                    dollars(*room),
                    limit.window.adjective(),
                    dollars(limit.limit),
                );
            }
            match limit.metric {
                Metric::Requests => format!(
                    "The {} request limit of {} for {who} is reached ({used} requests used). It resets at {when}.",
                    limit.window.adjective(),
                    limit.limit
                ),
                Metric::MicroUsd => format!(
                    "The {} budget of {} for {who} is reached ({} used or reserved). It resets at {when}.",
                    limit.window.adjective(),
                    dollars(limit.limit),
                    dollars(used)
                ),
            }
        }
    }
}

/// Micro-USD as dollars: cents, or six decimals for amounts under a cent (which would
/// otherwise all read `$0.00`).
fn dollars(micro: i64) -> String {
    let usd = micro as f64 / super::MICRO;
    if micro == 0 || micro.abs() >= 10_000 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.6}")
    }
}
