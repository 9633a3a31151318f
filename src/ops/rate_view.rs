//! A user's short-term limits as they stand: the limits in force (own override or
//! `ratelimit.user_*` default) and what the proxies saw in the last minute (requests,
//! tokens, calls in flight), summed over the proxies that published recently.

use serde::Serialize;

use super::{Ops, OpsError};
use crate::ratelimit::publish::FRESH_MS;
use crate::store::{now_ms, User};

/// A user's short-term limits and current rate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateView {
    /// Requests per minute in force for the user (all proxies together); `null` is
    /// unlimited.
    pub rpm: Option<u64>,
    /// Input plus output tokens per minute in force; `null` is unlimited.
    pub tpm: Option<u64>,
    /// Calls in flight at once in force; `null` is unlimited.
    pub max_concurrent: Option<u64>,
    /// Requests admitted in the last minute, over all proxies.
    pub requests_last_minute: i64,
    /// Tokens in the last minute: real counts of finished calls, worst cases of calls
    /// in flight.
    pub tokens_last_minute: i64,
    /// Calls in flight now (as of the proxies' last report, at most a few seconds old).
    pub in_flight: i64,
}

impl Ops {
    /// `user`'s short-term limits in force and current rate.
    pub(crate) async fn rate_view(&self, user: &User) -> Result<RateView, OpsError> {
        let d = &self.rate_defaults;
        let pick = |o: Option<crate::domain::RateLimit>, d: Option<u64>| o.map_or(d, |o| o.max());
        let seen = self
            .store
            .rate_activity(
                &crate::quota::Subject::User(user.id).stored(),
                now_ms() - FRESH_MS,
            )
            .await?;
        Ok(RateView {
            rpm: pick(user.limits.rpm, d.rpm),
            tpm: pick(user.limits.tpm, d.tpm),
            max_concurrent: pick(user.limits.max_concurrent, d.max_concurrent),
            requests_last_minute: seen.requests,
            tokens_last_minute: seen.tokens,
            in_flight: seen.in_flight,
        })
    }
}
