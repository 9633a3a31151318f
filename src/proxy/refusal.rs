//! Refusing a call: the Bedrock-shaped answer (from [`GateError::to_response`]), the
//! count in `bedrock_gate_requests_total{outcome="refused", reason}`, the access line,
//! and, for a known user, a request row findable by the request id the caller got.
//!
//! Who is recorded: a caller whose signature or token was verified is a known user, and
//! every refusal of theirs (blocked, limit or budget reached, rate limit, validation, no
//! price, quota store unavailable) is written as a row with its status, error type,
//! reason and message, no tokens and no cost, within the per-user bounds of
//! [`crate::usage::refusals`]. A caller refused before that (no or unknown credentials,
//! a bad signature, a body too large, too slow or over the proxy's memory) is not
//! proven to be anyone: such refusals have no row and are counted in `/metrics` only,
//! with `team="(none)"`, so nobody can write rows in another user's name.

use std::net::SocketAddr;
use std::time::Instant;

use http::Response;

use super::access::{self, AccessLine};
use super::handler::{refuse, ProxyBody};
use super::route::Route;
use super::ProxyState;
use crate::auth::directory::Principal;
use crate::domain::UsageSource;
use crate::error::GateError;
use crate::metrics::{refusal_reason, CallLabels};
use crate::store::RequestRecord;
use crate::usage::pricing::normalize_model_id;

/// What is known of a call when it arrives, before anything about its caller.
pub(super) struct Arrival {
    /// Sent back in `x-amzn-RequestId` and recorded as `request_uid`.
    pub(super) request_id: String,
    /// Epoch ms.
    pub(super) created_at: i64,
    pub(super) started: Instant,
    pub(super) remote: SocketAddr,
    /// The caller's User-Agent, cut at 512 bytes.
    pub(super) user_agent: Option<String>,
}

/// Refuses a call whose caller is not known yet: counted without team, model or user,
/// and not recorded.
pub(super) fn refuse_unknown(
    state: &ProxyState,
    error: &GateError,
    parts: &http::request::Parts,
    arrival: &Arrival,
) -> Response<ProxyBody> {
    let route = Route::parse(&parts.method, parts.uri.path(), &[]);
    let labels = state.metrics.unauthenticated(route.operation.name());
    state.metrics.refused(&labels, refusal_reason(error));
    log_refusal(state, error, None, &route, arrival);
    refuse(error, &arrival.request_id)
}

/// Refuses an authenticated call: counted with its team, model and user, and recorded.
pub(super) fn refuse_known(
    state: &ProxyState,
    error: &GateError,
    principal: &Principal,
    route: &Route,
    arrival: &Arrival,
) -> Response<ProxyBody> {
    let priced = state.prices.get().lookup(&route.model_id).is_some();
    let labels = call_labels(state, principal, route, priced);
    state.metrics.refused(&labels, refusal_reason(error));
    log_refusal(state, error, Some(principal), route, arrival);
    state
        .recorder
        .record_refusal(refusal_record(state, error, principal, route, arrival));
    refuse(error, &arrival.request_id)
}

/// The row of a refused call: its status, error type, reason and message; no tokens,
/// no cost.
fn refusal_record(
    state: &ProxyState,
    error: &GateError,
    p: &Principal,
    route: &Route,
    arrival: &Arrival,
) -> RequestRecord {
    RequestRecord {
        request_uid: arrival.request_id.clone(),
        created_at: arrival.created_at,
        user_id: p.user_id,
        username: p.username().to_string(),
        team: p.team.to_string(),
        person: p.person().to_string(),
        tool: p.tool.to_string(),
        access_key_id: p.access_key_id().to_string(),
        model_id: route.model_id.clone(),
        operation: route.operation.name().to_string(),
        upstream_request_id: None,
        source_ip: arrival.remote.ip().to_string(),
        user_agent: arrival.user_agent.clone(),
        region: state.region.clone(),
        status_code: i64::from(error.status().as_u16()),
        error_type: Some(error.error_type().to_string()),
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_usd: 0.0,
        latency_ms: i64::try_from(arrival.started.elapsed().as_millis()).unwrap_or(i64::MAX),
        usage_source: UsageSource::None,
        not_sent: None,
        ended_early: None,
        usage_clamped: false,
        refused: Some(error.refused()),
        refusal_message: Some(error.to_string()),
    }
}

/// The access line of a refused call.
fn log_refusal(
    state: &ProxyState,
    error: &GateError,
    principal: Option<&Principal>,
    route: &Route,
    arrival: &Arrival,
) {
    if state.access_log {
        access::log(&AccessLine {
            request_id: &arrival.request_id,
            user: principal.map(Principal::username),
            tool: principal.map(|p| &*p.tool),
            model: &route.model_id,
            operation: route.operation.name(),
            status: error.status().as_u16(),
            error_type: Some(error.error_type()),
            not_sent: None,
            tokens: (0, 0),
            cost_usd: 0.0,
            latency: arrival.started.elapsed(),
        });
    }
}

/// The metric labels of an authenticated call; `priced` when the price table has its
/// model.
pub(super) fn call_labels<'a>(
    state: &ProxyState,
    principal: &'a Principal,
    route: &'a Route,
    priced: bool,
) -> CallLabels<'a> {
    state.metrics.labels(
        &principal.team,
        principal.username(),
        normalize_model_id(&route.model_id),
        priced,
        route.operation.name(),
    )
}
