//! Short-term limits on the request path: the user's and team's calls in flight,
//! requests per minute and tokens per minute, checked in memory after the quota
//! admitted the call and before anything goes upstream. A call over a limit gets 429
//! `ThrottlingException` with `Retry-After`; nobody is blocked for it.

use super::route::Route;
use super::ProxyState;
use crate::auth::directory::Principal;
use crate::error::GateError;
use crate::quota::estimate;
use crate::ratelimit::{RateAsk, RateGuard};

/// Takes the call's place under the short-term limits, or says why it cannot have one.
/// Calls that cost nothing (CountTokens, listing and reading async jobs) are not
/// counted. The tokens reserved are the call's worst case (prompt estimate plus maximum
/// output, as for budgets) when a tokens-per-minute limit applies, else none.
pub(crate) fn throttle(
    state: &ProxyState,
    principal: &Principal,
    route: &Route,
    body: &[u8],
) -> Result<Option<RateGuard>, GateError> {
    if route.operation.is_free() {
        return Ok(None);
    }
    let policy = state.policy.get();
    let (user_limits, team_limits) = policy.limits(principal.user_id);
    let ask = RateAsk {
        user_id: principal.user_id,
        team_id: principal.team_id,
        user_limits: &user_limits,
        team_limits: &team_limits,
    };
    let (user, team) = state.ratelimit.effective(&ask);
    let tokens = if user.tpm.is_some() || team.tpm.is_some() {
        let max_out = estimate::max_output_tokens(body)
            .map_err(|e| {
                GateError::Validation(format!(
                    "{e}: a tokens-per-minute limit applies to user {}, and the proxy \
                     reserves the largest output a call may ask for.",
                    principal.username()
                ))
            })?
            .unwrap_or(state.default_max_output_tokens);
        estimate::prompt_tokens(body).saturating_add(max_out)
    } else {
        0
    };
    state
        .ratelimit
        .admit(&ask, tokens)
        .map(Some)
        .map_err(|t| t.error(principal.username(), &principal.team))
}
