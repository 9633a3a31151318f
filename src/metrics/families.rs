//! The registry and its metric families: every name, help text, label set and bucket
//! layout `/metrics` serves, in one place. Names are prefixed `bedrock_gate_`;
//! prometheus-client adds `_total` to counters and the unit to histograms.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::labels::LabelSet;

/// A counter of US dollars.
pub(crate) type UsdCounter = Counter<f64, AtomicU64>;
/// A family of histograms sharing one bucket layout.
pub(crate) type HistogramFamily<const N: usize> = Family<LabelSet<N>, Histogram, fn() -> Histogram>;

/// Upstream latency and time to first byte, in seconds: model calls take from a tenth
/// of a second to many minutes.
const CALL_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// The proxy's own time per call, in seconds: microseconds when capacity is held, a
/// database round trip when a chunk must be drawn.
const OVERHEAD_BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0,
];

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

/// Every metric `/metrics` serves. Each family is an `Arc` onto the series the registry
/// encodes, so these handles and the registry see the same numbers.
pub(crate) struct Families {
    /// Calls by outcome, reason, team, model, operation (and user).
    pub(crate) requests: Family<LabelSet<6>, Counter>,
    /// Tokens by team, model, type (and user).
    pub(crate) tokens: Family<LabelSet<4>, Counter>,
    /// Cost in USD by team and model (and user).
    pub(crate) cost: Family<LabelSet<3>, UsdCounter>,
    /// From sending a call upstream to the end of its answer, by model and operation.
    pub(crate) upstream_latency: HistogramFamily<2>,
    /// From sending a call upstream to the first byte of its answer's body.
    pub(crate) first_byte: HistogramFamily<2>,
    /// From the request body read to the call sent upstream.
    pub(crate) overhead: Histogram,
    /// Users blocked now, by kind.
    pub(crate) blocked_users: Family<LabelSet<1>, Gauge>,
    /// Capacity chunks drawn from the database, by metric and result.
    pub(crate) chunk_grants: Family<LabelSet<2>, Counter>,
    /// Database statements that failed, by operation.
    pub(crate) database_errors: Family<LabelSet<1>, Counter>,
    /// Request records queued and not yet written.
    pub(crate) record_queue: Gauge,
    /// Refusals of known users recorded as rows or skipped, by result and reason.
    pub(crate) refusal_records: Family<LabelSet<2>, Counter>,
    /// Notification deliveries that failed, by subscriber and outcome.
    pub(crate) notification_failures: Family<LabelSet<2>, Counter>,
    /// Sign-ins (ID tokens exchanged for keys), by issuer and result.
    pub(crate) sign_ins: Family<LabelSet<2>, Counter>,
}

impl Families {
    /// The families, registered in a new registry.
    pub(crate) fn register() -> (Registry, Self) {
        let mut r = Registry::with_prefix("bedrock_gate");
        let f = Self {
            requests: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            upstream_latency: Family::new_with_constructor(call_histogram as fn() -> Histogram),
            first_byte: Family::new_with_constructor(call_histogram as fn() -> Histogram),
            overhead: Histogram::new(OVERHEAD_BUCKETS),
            blocked_users: Family::default(),
            chunk_grants: Family::default(),
            database_errors: Family::default(),
            record_queue: Gauge::default(),
            refusal_records: Family::default(),
            notification_failures: Family::default(),
            sign_ins: Family::default(),
        };
        r.register(
            "requests",
            "Calls to the proxy by outcome: admitted (forwarded, Bedrock answered 2xx), \
             refused (by the proxy, reason = why) or upstream_error (reason = the error type)",
            f.requests.clone(),
        );
        r.register(
            "tokens",
            "Tokens used by calls, by type (input, output, cache_read, cache_write)",
            f.tokens.clone(),
        );
        r.register(
            "cost_usd",
            "Cost of calls in US dollars at the configured prices",
            f.cost.clone(),
        );
        r.register_with_unit(
            "upstream_latency",
            "From sending a call upstream to the end of Bedrock's answer",
            Unit::Seconds,
            f.upstream_latency.clone(),
        );
        r.register_with_unit(
            "upstream_first_byte",
            "From sending a call upstream to the first byte of the answer's body",
            Unit::Seconds,
            f.first_byte.clone(),
        );
        r.register_with_unit(
            "proxy_overhead",
            "The proxy's own time per call: authentication, admission and re-signing, \
             from the request body read to the call sent upstream",
            Unit::Seconds,
            f.overhead.clone(),
        );
        r.register(
            "blocked_users",
            "Users blocked now, as this proxy's policy snapshot sees them, by kind \
             (manual: by an administrator; automatic: a limit reached)",
            f.blocked_users.clone(),
        );
        r.register(
            "quota_chunk_grants",
            "Quota capacity chunks drawn from the database, by metric (requests, micro_usd) \
             and result (granted, or exhausted when the limit had nothing left)",
            f.chunk_grants.clone(),
        );
        r.register(
            "database_errors",
            "Database statements that failed, by operation",
            f.database_errors.clone(),
        );
        r.register(
            "record_queue_depth",
            "Request records queued for the record writer and not yet written",
            f.record_queue.clone(),
        );
        r.register(
            "refusal_records",
            "Refusals of known users by result (recorded: written as a request row; \
             skipped: not written, the user's refusals came faster than 100 at once then \
             1 per second, or the record queue was full) and reason",
            f.refusal_records.clone(),
        );
        r.register(
            "notification_failures",
            "Notification deliveries (email, webhooks, the event log) that failed, by \
             subscriber and outcome (retry: tried again later; gave_up: dropped after the \
             last try)",
            f.notification_failures.clone(),
        );
        r.register(
            "sign_ins",
            "ID tokens exchanged for keys at POST /_gate/v1/credentials, by issuer (the \
             configured name; (none) when the token names no trusted issuer) and result \
             (ok, invalid_token, no_team, invalid_user, issuer_unavailable, \
             store_unavailable)",
            f.sign_ins.clone(),
        );
        (r, f)
    }
}
