//! Quota events: what admission reports for the rest of the system to act on (a warning
//! threshold crossed, a call refused at a limit), sent on a channel so that the request
//! path never waits for the rules that follow (automatic blocks, notifications).

use chrono::{DateTime, Utc};

use super::charge::LimitRef;

/// Something the rest of the system should act on.
#[derive(Clone, Debug, PartialEq)]
pub enum QuotaEvent {
    /// A user's or team's usage crossed the warning share of a limit.
    Warning {
        /// Which limit.
        limit: LimitRef,
        /// Units granted to all proxies together.
        used: i64,
        /// The period.
        period: String,
        /// The threshold crossed, in percent.
        threshold_percent: u8,
        /// When the period ends.
        resets_at: DateTime<Utc>,
    },
    /// A call was refused because a limit is reached.
    Exhausted {
        /// The user whose call was refused.
        user_id: i64,
        /// The user's name.
        username: String,
        /// Which limit.
        limit: LimitRef,
        /// Units granted to all proxies together.
        used: i64,
        /// Of `used`, the units reserved by calls in progress on the refusing proxy.
        reserved: i64,
        /// The period.
        period: String,
        /// When the period ends.
        resets_at: DateTime<Utc>,
    },
}
