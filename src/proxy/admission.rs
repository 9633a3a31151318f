//! Admission of an authenticated call: administrator blocks, protection, then every
//! request limit and budget of the user and their team against the quota engine; a
//! budget refusal says what the call's worst case was and what would fit.
//!
//! When several refusals apply, the caller gets the one they can act on first: a block,
//! then a request limit or budget that is reached, then what is wrong with the call
//! itself (a model with no price under a budget, a `max_tokens` the proxy cannot read).
//! A call that cannot be priced is checked against its limits with a probe (one request
//! and one micro-dollar) that is given back at once: no refusal counts against a limit.

use super::route::Route;
use super::ProxyState;
use crate::auth::directory::Principal;
use crate::error::GateError;
use crate::quota::engine::{budget_refusal_message, Ask, Refusal, Reservation, WorstCase};
use crate::quota::estimate;
use crate::quota::policy::Standing;

/// Admission: blocks, protections, then every limit of the user and their team. Calls
/// that cost nothing (CountTokens, listing and reading async jobs) are not counted.
/// Also returns the maximum output reserved, when a budget made the proxy read it.
pub(super) async fn admit(
    state: &ProxyState,
    principal: &Principal,
    route: &Route,
    body: &[u8],
) -> Result<(Option<Reservation>, Option<u64>), GateError> {
    if route.operation.is_free() {
        return Ok((None, None));
    }
    let now = chrono::Utc::now();
    let policy = state.policy.get();
    let allow_grants = match policy.standing(principal.user_id, now.timestamp_millis()) {
        Standing::Blocked { reason, until } => {
            let until = match until.and_then(chrono::DateTime::from_timestamp_millis) {
                Some(t) => format!(
                    "until {}",
                    t.with_timezone(&state.timezone).format("%Y-%m-%d %H:%M %Z")
                ),
                None => "indefinitely".to_string(),
            };
            return Err(GateError::AccessDenied(format!(
                "User {} is blocked by an administrator {until}. Reason: {reason}",
                principal.username()
            )));
        }
        Standing::Protected => return Ok((None, None)),
        Standing::LimitReached { .. } => false,
        Standing::Clear => true,
    };
    let (user_limits, team_limits) = policy.limits(principal.user_id);
    let budgeted = [user_limits, team_limits]
        .iter()
        .any(|l| l.daily_budget_usd.is_some() || l.monthly_budget_usd.is_some());
    // The price and prompt estimate, kept to tell a refused caller what would fit.
    let mut worst_case = None;
    let mut unpriceable = None;
    let micro_usd = if budgeted {
        match budget_estimate(state, principal, route, body) {
            Ok((micro, worst)) => {
                worst_case = Some(worst);
                micro
            }
            Err(e) => {
                unpriceable = Some(e);
                1
            }
        }
    } else {
        0
    };
    let ask = Ask {
        user_id: principal.user_id,
        username: principal.username(),
        team_id: principal.team_id,
        team: &principal.team,
        user_limits,
        team_limits,
        micro_usd,
        allow_grants,
    };
    match state.quota.admit(&ask, now).await {
        Ok(r) => match unpriceable {
            // The probe found room: the call itself is what is wrong.
            Some(e) => {
                state.quota.cancel(r);
                Err(e)
            }
            None => Ok((Some(r), worst_case.map(|w| w.max_out))),
        },
        Err(r @ Refusal::Limit { .. }) => {
            let worst = match (&r, worst_case) {
                (
                    Refusal::Limit { room, .. },
                    Some(BudgetCase {
                        price,
                        prompt,
                        max_out,
                        from_request,
                    }),
                ) => {
                    let room_usd = *room as f64 / crate::quota::MICRO;
                    Some(WorstCase {
                        max_output_tokens: max_out,
                        from_request,
                        output_per_1k: price.output_per_1k,
                        fits: estimate::fitting_output_tokens(&price, prompt, room_usd),
                    })
                }
                _ => None,
            };
            Err(GateError::QuotaExceeded(budget_refusal_message(
                &r,
                state.timezone,
                worst.as_ref(),
            )))
        }
        // A call that cannot be priced is refused whatever the store says.
        Err(Refusal::Unavailable(m)) => {
            Err(unpriceable.unwrap_or(GateError::QuotaStoreUnavailable(m)))
        }
    }
}

/// What a budget call's worst case was computed from.
struct BudgetCase {
    /// The model's price.
    price: crate::store::Price,
    /// The prompt's estimated tokens.
    prompt: u64,
    /// The output reserved for.
    max_out: u64,
    /// Whether the request set its maximum output.
    from_request: bool,
}

/// A budget call's worst case: its price, prompt estimate, maximum output and whether
/// the request set it, with the worst-case cost in micro-dollars (at least 1). Fails
/// when the model has no price or the request's maximum output cannot be read.
fn budget_estimate(
    state: &ProxyState,
    principal: &Principal,
    route: &Route,
    body: &[u8],
) -> Result<(i64, BudgetCase), GateError> {
    let price = state.price(&route.model_id).ok_or_else(|| {
        GateError::NoPrice(format!(
            "No price is configured for model `{}`, and a USD budget applies to user {}. \
             An administrator can add one with `bedrock-gate pricing set`.",
            route.model_id,
            principal.username()
        ))
    })?;
    let asked = estimate::max_output_tokens(body).map_err(|e| {
        GateError::Validation(format!(
            "{e}: a USD budget applies to user {}, and the proxy reserves the \
             largest output a call may ask for.",
            principal.username()
        ))
    })?;
    let max_out = asked.unwrap_or(state.default_max_output_tokens);
    let prompt = estimate::prompt_tokens(body);
    let micro = crate::quota::to_micro(estimate::worst_case_usd(&price, prompt, max_out)).max(1);
    Ok((
        micro,
        BudgetCase {
            price,
            prompt,
            max_out,
            from_request: asked.is_some(),
        },
    ))
}
