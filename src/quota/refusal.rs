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
        /// When the period ends.
        resets_at: DateTime<Utc>,
        /// The period (`2026-11-25`, `2026-11`).
        period: String,
    },
    /// The ledger could not be reached to draw more capacity.
    Unavailable(String),
}

/// The refusal message: names the limit, the usage and when it resets.
pub(crate) fn refusal_message(refusal: &Refusal, tz: Tz) -> String {
    match refusal {
        Refusal::Unavailable(m) => m.clone(),
        Refusal::Limit {
            limit,
            used,
            resets_at,
            ..
        } => {
            let who = match limit.subject {
                Subject::User(_) => format!("user {}", limit.name),
                Subject::Team(_) => format!("team {}", limit.name),
            };
            let when = resets_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
            let used = (*used).min(limit.limit);
            match limit.metric {
                Metric::Requests => format!(
                    "The {} request limit of {} for {who} is reached ({used} requests used). It resets at {when}.",
                    limit.window.adjective(),
                    limit.limit
                ),
                Metric::MicroUsd => format!(
                    "The {} budget of ${:.2} for {who} is reached (${:.2} used or reserved). It resets at {when}.",
                    limit.window.adjective(),
                    limit.limit as f64 / super::MICRO,
                    used as f64 / super::MICRO
                ),
            }
        }
    }
}
