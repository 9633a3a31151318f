//! A user's or a team's short-term limits as they stand: the limits in force (own
//! override or the `ratelimit.user_*` / `ratelimit.team_*` default) and what the proxies
//! saw in the last minute (requests, tokens, calls in flight), summed over the proxies
//! that published recently.

use serde::Serialize;

use super::{Ops, OpsError};
use crate::config::RateDefaults;
use crate::domain::{Limits, RateLimit};
use crate::quota::Subject;
use crate::ratelimit::publish::FRESH_MS;
use crate::store::{now_ms, Team, User};

/// A user's or a team's short-term limits and current rate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateView {
    /// Requests per minute in force for the user or team (all proxies together);
    /// `null` is unlimited.
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
    pub(crate) async fn user_rate_view(&self, user: &User) -> Result<RateView, OpsError> {
        let defaults = self.rate_defaults.user;
        self.rate_view(Subject::User(user.id), &user.limits, &defaults)
            .await
    }

    /// `team`'s short-term limits in force and current rate (all its members together).
    pub(crate) async fn team_rate_view(&self, team: &Team) -> Result<RateView, OpsError> {
        let defaults = self.rate_defaults.team;
        self.rate_view(Subject::Team(team.id), &team.limits, &defaults)
            .await
    }

    /// `subject`'s limits in force (its overrides in `limits`, else `defaults`) and what
    /// the proxies saw of it in the last minute.
    async fn rate_view(
        &self,
        subject: Subject,
        limits: &Limits,
        defaults: &RateDefaults,
    ) -> Result<RateView, OpsError> {
        let pick = |o: Option<RateLimit>, d: Option<u64>| o.map_or(d, RateLimit::max);
        let seen = self
            .store
            .rate_activity(&subject.stored(), now_ms() - FRESH_MS)
            .await?;
        Ok(RateView {
            rpm: pick(limits.rpm, defaults.rpm),
            tpm: pick(limits.tpm, defaults.tpm),
            max_concurrent: pick(limits.max_concurrent, defaults.max_concurrent),
            requests_last_minute: seen.requests,
            tokens_last_minute: seen.tokens,
            in_flight: seen.in_flight,
        })
    }
}
