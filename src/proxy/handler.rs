//! One call through the proxy: read the body, authenticate, route, re-sign, forward, and
//! stream the answer back through a [`TapBody`] that records the call when it ends.
//!
//! A call gets one request id when it arrives: every response it gets carries it in
//! `x-amzn-RequestId` (refusals, failures and Bedrock's own answers alike; Bedrock's id is
//! recorded as `upstream_request_id`) and its record stores it as `request_uid`.
//!
//! Nothing here waits on the database: keys and prices come from in-memory snapshots and
//! the record goes onto the writer's channel. With the crash journal on, a call waits
//! (at most `journal::WAIT`) for its begin frame to be durable before it is forwarded;
//! its estimate is built and appended before the request is re-signed, so the fsync and
//! the signing overlap.
//!
//! Every call is counted in the metrics once: refused where it is refused (`refusal`,
//! which also records the refusals of known users), otherwise when it finishes
//! (admitted or an upstream error, with its tokens, cost and timings).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::access::{self, AccessLine};
use super::body::{BoxError, Finish, TapBody};
use super::refusal::{call_labels, refuse_known, refuse_unknown, Arrival};
use super::route::{Operation, Route};
use super::upstream::UpstreamFailure;
use super::ProxyState;
use crate::auth::directory::Principal;
use crate::domain::{EndedEarly, NotSent};
use crate::error::GateError;
use crate::journal::{JournalError, Ticket};
use crate::metrics::{upstream_error_reason, Finished, Outcome as CallOutcome};
use crate::quota::engine::Reservation;
use crate::quota::estimate;
use crate::ratelimit::RateGuard;
use crate::request_id::new_request_id;
use crate::store::{now_ms, RequestRecord};
use crate::usage::pricing::cost_of;
use crate::usage::{UsageReport, UsageSource, UsageTap};

/// The body type of every proxy response.
pub(crate) type ProxyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Response headers that belong to one hop and are not passed on.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Handles one request. Never fails: every error becomes a Bedrock-shaped response.
///
/// `worker` is the number of the proxy worker thread running the call.
pub(crate) async fn handle(
    state: Arc<ProxyState>,
    worker: usize,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    if super::route::is_gate_endpoint(parts.uri.path()) {
        let (method, path) = (&parts.method, parts.uri.path());
        let answer = match &state.sign_in {
            Some(s) => s.respond(method, path, &parts.headers).await,
            None => crate::identity::endpoint::not_configured(method, path),
        };
        return answer.map(|b| Full::new(b).map_err(|never| match never {}).boxed_unsync());
    }

    let arrival = Arrival {
        request_id: new_request_id(),
        created_at: now_ms(),
        started,
        remote,
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| truncate_at_char(s, 512).to_string()),
    };

    // The head is checked before a byte of the body is read or held. A key or token not
    // known here may have been issued a moment ago: the database is looked at once more
    // (paced, with a deadline) before the call is refused.
    let mut identified = state.auth.identify(&parts);
    if identified
        .as_ref()
        .is_err_and(crate::auth::is_unknown_credential)
        && state.looks.look().await
    {
        identified = state.auth.identify(&parts);
    }
    let caller = match identified {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, peer = %remote, "refused: authentication");
            return refuse_unknown(&state, &e, &parts, &arrival);
        }
    };
    let (body, body_hold) = match state.intake.read(body, &parts.headers).await {
        Ok(b) => b,
        Err(e) => return refuse_unknown(&state, &e, &parts, &arrival),
    };
    let body_read = Instant::now();
    let body_sha256 = crate::hash::sha256_hex(&body);
    let principal = match state
        .auth
        .verify(caller, &parts, &body_sha256, SystemTime::now())
    {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, peer = %remote, "refused: authentication");
            return refuse_unknown(&state, &e, &parts, &arrival);
        }
    };
    let route = Route::parse(&parts.method, parts.uri.path(), &body);
    if route.operation == Operation::InvokeModelWithBidirectionalStream {
        let e = GateError::Validation(
            "InvokeModelWithBidirectionalStream is not supported by this proxy.".into(),
        );
        return refuse_known(&state, &e, &principal, &route, &arrival);
    }
    let (reservation, max_output) =
        match super::admission::admit(&state, &principal, &route, &body).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, user = %principal.username(), "refused: quota");
                return refuse_known(&state, &e, &principal, &route, &arrival);
            }
        };
    let rate = match super::throttle::throttle(&state, &principal, &route, &body) {
        Ok(g) => g,
        Err(e) => {
            if let Some(r) = reservation {
                state.quota.cancel(r);
            }
            tracing::debug!(error = %e, user = %principal.username(), "refused: rate limit");
            return refuse_known(&state, &e, &principal, &route, &arrival);
        }
    };
    let estimated_input_tokens = (body.len() as u64).div_ceil(4).max(1);
    let mut call = Call {
        state: Arc::clone(&state),
        request_id: arrival.request_id,
        principal,
        route,
        created_at: arrival.created_at,
        started,
        source_ip: remote.ip().to_string(),
        user_agent: arrival.user_agent,
        status: 0,
        upstream_request_id: None,
        error_type: None,
        reservation,
        rate,
        sent: None,
        not_sent: None,
        ticket: Ticket::default(),
    };

    let begun = match &state.journal {
        Some(journal) => {
            let prompt = estimate::prompt_tokens(&body);
            let max_out = max_output.unwrap_or(state.default_max_output_tokens);
            match journal.begin(&call.estimate(prompt, max_out)) {
                Ok((seq, ticket)) => {
                    call.ticket = ticket;
                    Some((journal, seq))
                }
                Err(e) => return call.fail(journal_failure(&e)),
            }
        }
        None => None,
    };
    let upstream_request = match state.upstream.prepare(&parts, body, &body_sha256) {
        Ok(r) => r,
        Err(f) => return call.fail(f),
    };
    if let Some((journal, seq)) = begun {
        if let Err(e) = journal.durable(seq).await {
            return call.fail(journal_failure(&e));
        }
    }
    let deadline = tokio::time::Instant::now() + state.timeout;
    let sent = Instant::now();
    state.metrics.proxy_overhead(sent - body_read);
    let response = match state
        .upstream
        .send(worker, upstream_request, state.timeout)
        .await
    {
        Ok(r) => r,
        Err(f) => return call.fail(f),
    };
    // The body has been handed upstream; the proxy's copy no longer counts.
    drop(body_hold);
    call.sent = Some(sent);

    let (mut head, incoming) = response.into_parts();
    call.status = head.status.as_u16();
    call.upstream_request_id = head
        .headers
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !head.status.is_success() {
        call.error_type = head
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_string());
    }
    let tap = UsageTap::new(
        call.route.operation.response_kind(),
        head.status,
        &head.headers,
        estimated_input_tokens,
    );
    for name in HOP_BY_HOP {
        head.headers.remove(name);
    }
    if let Ok(id) = HeaderValue::from_str(&call.request_id) {
        head.headers.insert("x-amzn-requestid", id);
    }
    let body = TapBody::new(incoming, tap, Box::new(call), deadline);
    Response::from_parts(head, ProxyBody::new(body))
}

/// A call refused because the crash journal could not take it: not sent, 503.
fn journal_failure(error: &JournalError) -> UpstreamFailure {
    tracing::debug!(error = %error, "refused: crash journal");
    UpstreamFailure {
        error: GateError::Overloaded {
            message: error.to_string(),
            retry_after_secs: 1,
        },
        not_sent: Some(NotSent::JournalUnavailable),
    }
}

/// The Bedrock-shaped response for a refusal of the call `request_id`.
pub(crate) fn refuse(error: &GateError, request_id: &str) -> Response<ProxyBody> {
    error
        .to_response(request_id)
        .map(|b| ProxyBody::new(Full::new(b).map_err(|never| match never {})))
}

/// An authenticated call on its way through the proxy.
struct Call {
    state: Arc<ProxyState>,
    /// Sent back in `x-amzn-RequestId` and recorded as `request_uid`.
    request_id: String,
    principal: Arc<Principal>,
    route: Route,
    created_at: i64,
    started: Instant,
    source_ip: String,
    user_agent: Option<String>,
    status: u16,
    upstream_request_id: Option<String>,
    error_type: Option<String>,
    reservation: Option<Reservation>,
    /// The call's place under the short-term limits, freed when the call ends.
    rate: Option<RateGuard>,
    /// When the request went upstream, once an answer's head came back.
    sent: Option<Instant>,
    /// Why the call never reached Bedrock, if the proxy failed it before.
    not_sent: Option<NotSent>,
    /// The call's hold on its crash-journal segment, given to the record writer.
    ticket: Ticket,
}

impl Call {
    /// This call's record with nothing known of its outcome yet.
    fn draft(&self) -> RequestRecord {
        let p = &self.principal;
        RequestRecord {
            request_uid: self.request_id.clone(),
            created_at: self.created_at,
            user_id: p.user_id,
            username: p.username().to_string(),
            team: p.team.to_string(),
            person: p.person().to_string(),
            tool: p.tool.to_string(),
            access_key_id: p.access_key_id().to_string(),
            model_id: self.route.model_id.clone(),
            operation: self.route.operation.name().to_string(),
            upstream_request_id: None,
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            region: self.state.region.clone(),
            status_code: 0,
            error_type: None,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.0,
            latency_ms: 0,
            usage_source: UsageSource::None,
            not_sent: None,
            ended_early: None,
            usage_clamped: false,
            refused: None,
            refusal_message: None,
        }
    }

    /// The record the crash journal writes if this call never ends: its worst case
    /// (the prompt estimate and the maximum output, at the model's price), status 0.
    /// Free operations cost nothing.
    fn estimate(&self, prompt_tokens: u64, max_output_tokens: u64) -> RequestRecord {
        let draft = self.draft();
        if self.route.operation.is_free() {
            return RequestRecord {
                usage_source: UsageSource::WorstCase,
                ended_early: Some(EndedEarly::ProxyCrashed),
                ..draft
            };
        }
        let cost = self.state.price(&self.route.model_id).map_or(0.0, |p| {
            estimate::worst_case_usd(&p, prompt_tokens, max_output_tokens)
        });
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        RequestRecord {
            input_tokens: to_i64(prompt_tokens),
            output_tokens: to_i64(max_output_tokens),
            cost_usd: cost,
            usage_source: UsageSource::WorstCase,
            ended_early: Some(EndedEarly::ProxyCrashed),
            ..draft
        }
    }

    /// The call failed before an upstream response: record it and refuse. If the
    /// request cannot have reached Bedrock its reservation is given back whole and its
    /// record carries the reason (it counts as no usage); if it may have, the worst
    /// case stays charged.
    fn fail(mut self, failure: UpstreamFailure) -> Response<ProxyBody> {
        let UpstreamFailure { error, not_sent } = failure;
        match not_sent {
            // Logged once per state change by the credential refresher, not per call.
            Some(NotSent::NoCredentials) => {
                tracing::debug!(user = %self.principal.username(), "no upstream credentials")
            }
            _ => tracing::warn!(error = %error, user = %self.principal.username(),
                "upstream call failed"),
        }
        self.status = error.status().as_u16();
        self.error_type = Some(error.error_type().to_string());
        self.not_sent = not_sent;
        if let Some(r) = self.reservation.take() {
            match not_sent {
                Some(_) => self.state.quota.cancel(r),
                None => self.state.quota.settle_worst_case(r),
            }
        }
        // Not sent: nothing counts. Maybe sent: dropped with the call, its worst case
        // stays counted.
        if let (Some(g), Some(_)) = (self.rate.take(), not_sent) {
            g.cancel();
        }
        let report = UsageReport {
            usage: Default::default(),
            source: UsageSource::None,
            stream_error: None,
            complete: false,
        };
        let response = refuse(&error, &self.request_id);
        Box::new(self).finish(report, None, None);
        response
    }
}

impl Finish for Call {
    fn finish(
        self: Box<Self>,
        report: UsageReport,
        first_byte: Option<Instant>,
        ended_early: Option<EndedEarly>,
    ) {
        let ended = Instant::now();
        let draft = self.draft();
        let mut usage = report.usage;
        let usage_clamped = usage.clamp();
        if usage_clamped {
            tracing::warn!(request_id = %self.request_id, model = %self.route.model_id,
                "upstream token counts past the per-call ceiling were clamped");
        }
        let prices = self.state.prices.get();
        let listed = prices.lookup(&self.route.model_id);
        let cost = listed
            .or(self.state.fallback_price.as_ref())
            .map_or(0.0, |p| cost_of(p, &usage));
        if let Some(r) = self.reservation {
            self.state.quota.settle(r, crate::quota::to_micro(cost));
        }
        if let Some(g) = self.rate {
            g.settle(usage.input_tokens.saturating_add(usage.output_tokens));
        }
        // The column holds 255 characters.
        let error_type = self
            .error_type
            .or(report.stream_error)
            .map(|e| truncate_at_char(&e, 255).to_string());
        let outcome = if (200..300).contains(&self.status) && error_type.is_none() {
            CallOutcome::Admitted
        } else {
            CallOutcome::UpstreamError(upstream_error_reason(error_type.as_deref()))
        };
        self.state.metrics.finished(
            &call_labels(&self.state, &self.principal, &self.route, listed.is_some()),
            &Finished {
                outcome,
                tokens: [
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                ],
                cost_usd: cost,
                upstream_latency: self.sent.map(|s| ended - s),
                first_byte: self.sent.zip(first_byte).map(|(s, f)| f - s),
            },
        );
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let record = RequestRecord {
            upstream_request_id: self.upstream_request_id.clone(),
            status_code: i64::from(self.status),
            error_type,
            input_tokens: to_i64(usage.input_tokens),
            output_tokens: to_i64(usage.output_tokens),
            cache_read_tokens: to_i64(usage.cache_read_tokens),
            cache_write_tokens: to_i64(usage.cache_write_tokens),
            cost_usd: cost,
            latency_ms: i64::try_from((ended - self.started).as_millis()).unwrap_or(i64::MAX),
            usage_source: report.source,
            not_sent: self.not_sent,
            ended_early,
            usage_clamped,
            ..draft
        };
        if self.state.access_log {
            access::log(&AccessLine {
                request_id: &record.request_uid,
                user: Some(&record.username),
                tool: Some(&record.tool),
                model: &record.model_id,
                operation: &record.operation,
                status: self.status,
                error_type: record.error_type.as_deref(),
                not_sent: record.not_sent,
                tokens: (usage.input_tokens, usage.output_tokens),
                cost_usd: cost,
                latency: ended - self.started,
            });
        }
        tracing::debug!(request_id = %record.request_uid, complete = report.complete,
            usage_source = %record.usage_source, "call finished");
        if let Some(journal) = &self.state.journal {
            journal.end(&record);
        }
        self.state.recorder.record(record, self.ticket);
    }
}

/// The first `max` bytes of `s`, cut back to a character boundary.
fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_at_char;

    #[test]
    fn user_agents_are_cut_at_a_character_boundary() {
        assert_eq!(truncate_at_char("boto3/1.43", 512), "boto3/1.43");
        assert_eq!(truncate_at_char("abcdef", 3), "abc");
        // 'é' is two bytes: a cut inside it backs off to before it.
        assert_eq!(truncate_at_char("aé", 2), "a");
        assert_eq!(truncate_at_char(&"ü".repeat(300), 512).len(), 512);
    }
}
