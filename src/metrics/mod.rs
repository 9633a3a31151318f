//! `/metrics`: Prometheus metrics built with prometheus-client, served on the admin
//! listener. One [`Metrics`] per process (an `Arc` made in `serve`'s `App::build`) is
//! handed to where things happen: the proxy records each call as it is refused or
//! finishes, the quota ledger its chunk grants and database errors, the record writer
//! its queue depth; blocked users are counted from the policy snapshot at scrape time.
//!
//! - `families`: the registry, every metric's name, help, labels and buckets;
//! - `labels`: label sets, fixed values, the bounded refusal and error reasons;
//! - `cap`: the per-user cap (`metrics.max_users`), also used for unpriced models;
//! - `series`: the handles of a label combination, found without allocating;
//! - `render`: the text exposition and its content type;
//! - `sign_ins`: sign-ins with an OpenID Connect issuer, by issuer and result.
//!
//! Cardinality: series carry team, model and operation; `user` only with
//! `metrics.per_user`, capped. The model label is the bare id of the priced model the
//! call's id matched (profile ids and ARNs reduced to it), else the bare id itself for
//! at most [`cap::MAX_UNPRICED_MODELS`] unpriced ids, then `other`.

mod cap;
mod families;
mod labels;
mod render;
mod series;
mod sign_ins;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::MetricsConfig;
use cap::Cap;
use families::{Families, UsdCounter};
use labels::{LabelSet, COST_LABELS, LATENCY_LABELS, REQUEST_LABELS, TOKEN_LABELS, TOKEN_TYPES};
use series::SeriesCache;

pub use cap::MAX_UNPRICED_MODELS;
pub(crate) use labels::{refusal_reason, upstream_error_reason};
pub use labels::{NONE, OTHER};
pub use render::CONTENT_TYPE;
pub(crate) use sign_ins::SignInResult;

/// Users blocked now, as counted at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockedUsers {
    /// Blocked by an administrator.
    pub manual: u64,
    /// Blocked automatically for reaching a limit.
    pub automatic: u64,
}

/// Counts blocked users when `/metrics` is scraped.
pub type BlockedSource = Box<dyn Fn() -> BlockedUsers + Send + Sync>;

/// Tokens of a call: input, output, cache read, cache write.
pub type Tokens = [u64; 4];

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded, and Bedrock answered with success.
    Admitted,
    /// Forwarded, and Bedrock answered with an error (or failed, or could not be
    /// reached); the error type.
    UpstreamError(&'static str),
}

/// A call that reached upstream (or tried to), as it finished.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    /// How it ended.
    pub outcome: Outcome,
    /// Tokens used.
    pub tokens: Tokens,
    /// Cost in USD.
    pub cost_usd: f64,
    /// From sending upstream to the end of the answer, when an answer came.
    pub upstream_latency: Option<Duration>,
    /// From sending upstream to the first byte of the answer's body, when one came.
    pub first_byte: Option<Duration>,
}

/// The labels of one call, bounded (see the module notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLabels<'a> {
    team: &'a str,
    model: &'a str,
    operation: &'static str,
    /// Empty unless `metrics.per_user`.
    user: &'a str,
}

/// The handles a finished call updates, for one team, model, operation and user.
struct CallSeries {
    admitted: Counter,
    tokens: [Counter; 4],
    cost: UsdCounter,
    upstream_latency: Histogram,
    first_byte: Histogram,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    families: Families,
    /// `None` unless `metrics.per_user`.
    users: Option<Cap>,
    /// Unpriced model ids with a label of their own.
    unpriced_models: Cap,
    calls: SeriesCache<4, CallSeries>,
    /// Refusals and upstream errors: outcome, reason, team, model, operation, user.
    outcomes: SeriesCache<6, Counter>,
    blocked: BlockedSource,
}

impl Metrics {
    /// Metrics labelled as `config` says; `blocked` counts blocked users at scrape time.
    pub fn new(config: &MetricsConfig, blocked: BlockedSource) -> Self {
        let (registry, families) = Families::register();
        Self {
            registry,
            families,
            users: config.per_user.then(|| Cap::new(config.max_users)),
            unpriced_models: Cap::new(MAX_UNPRICED_MODELS),
            calls: SeriesCache::default(),
            outcomes: SeriesCache::default(),
            blocked,
        }
    }

    /// The labels of an authenticated call: its team, its user (with `per_user`,
    /// capped), its model (`model_id` as the price table keys it, i.e. bare; `priced`
    /// when the table has it) and its operation.
    pub fn labels<'a>(
        &self,
        team: &'a str,
        user: &'a str,
        model_id: &'a str,
        priced: bool,
        operation: &'static str,
    ) -> CallLabels<'a> {
        let model = match model_id {
            "" => NONE,
            id if priced => id,
            id => self.unpriced_models.label(id),
        };
        CallLabels {
            team,
            model,
            operation,
            user: self.users.as_ref().map_or("", |cap| cap.label(user)),
        }
    }

    /// The labels of a call refused before its key was known: no team, model or user.
    pub fn unauthenticated(&self, operation: &'static str) -> CallLabels<'static> {
        CallLabels {
            team: NONE,
            model: NONE,
            operation,
            user: if self.users.is_some() { NONE } else { "" },
        }
    }

    /// Counts a call the proxy refused.
    pub fn refused(&self, labels: &CallLabels<'_>, reason: &'static str) {
        self.count_outcome(labels, "refused", reason);
    }

    /// Records a call that went upstream (or tried to): its outcome, tokens, cost and
    /// timings.
    pub fn finished(&self, labels: &CallLabels<'_>, call: &Finished) {
        let admitted = call.outcome == Outcome::Admitted;
        let used = call.tokens.iter().any(|t| *t > 0) || call.cost_usd > 0.0;
        if admitted || used || call.upstream_latency.is_some() {
            let key = [labels.team, labels.model, labels.operation, labels.user];
            self.calls.with(
                &key,
                |k| self.call_series(k),
                |s| {
                    if admitted {
                        s.admitted.inc();
                    }
                    for (counter, n) in s.tokens.iter().zip(call.tokens) {
                        if n > 0 {
                            counter.inc_by(n);
                        }
                    }
                    if call.cost_usd > 0.0 {
                        s.cost.inc_by(call.cost_usd);
                    }
                    if let Some(d) = call.upstream_latency {
                        s.upstream_latency.observe(d.as_secs_f64());
                    }
                    if let Some(d) = call.first_byte {
                        s.first_byte.observe(d.as_secs_f64());
                    }
                },
            );
        }
        match call.outcome {
            Outcome::Admitted => {}
            Outcome::UpstreamError(reason) => {
                self.count_outcome(labels, "upstream_error", reason);
            }
        }
    }

    /// Records the proxy's own time for one call.
    pub fn proxy_overhead(&self, took: Duration) {
        self.families.overhead.observe(took.as_secs_f64());
    }

    /// Counts one capacity chunk drawn from the database for `metric` (`requests`,
    /// `micro_usd`); `granted` is false when the limit had nothing left.
    pub(crate) fn chunk_grant(&self, metric: &'static str, granted: bool) {
        let result = if granted { "granted" } else { "exhausted" };
        self.families
            .chunk_grants
            .get_or_create(&LabelSet::of(&["metric", "result"], &[metric, result]))
            .inc();
    }

    /// Counts one failed database statement of `operation`.
    pub(crate) fn database_error(&self, operation: &'static str) {
        self.families
            .database_errors
            .get_or_create(&LabelSet::of(&["operation"], &[operation]))
            .inc();
    }

    /// Counts one failed delivery to `subscriber` (`email`, `webhook_0`, ...); `gave_up`
    /// when it was the last try.
    pub(crate) fn notification_failed(&self, subscriber: &str, gave_up: bool) {
        let outcome = if gave_up { "gave_up" } else { "retry" };
        self.families
            .notification_failures
            .get_or_create(&LabelSet::of(
                &["subscriber", "outcome"],
                &[subscriber, outcome],
            ))
            .inc();
    }

    /// The record writer's queue depth: raised when a record is queued, lowered when it
    /// is written (or spilled).
    pub(crate) fn record_queue(&self) -> Gauge {
        self.families.record_queue.clone()
    }

    /// Counts one refusal of a known user: `recorded` as a request row, or skipped.
    pub(crate) fn refusal_record(&self, recorded: bool, reason: &'static str) {
        let result = if recorded { "recorded" } else { "skipped" };
        self.families
            .refusal_records
            .get_or_create(&LabelSet::of(&["result", "reason"], &[result, reason]))
            .inc();
    }

    fn count_outcome(&self, l: &CallLabels<'_>, outcome: &'static str, reason: &'static str) {
        let key = [outcome, reason, l.team, l.model, l.operation, l.user];
        self.outcomes.with(
            &key,
            |k| {
                self.families
                    .requests
                    .get_or_create(&LabelSet::new(&REQUEST_LABELS, k.clone()))
                    .clone()
            },
            Counter::inc,
        );
    }

    fn call_series(&self, k: &[Arc<str>; 4]) -> CallSeries {
        let [team, model, operation, user] = k.clone();
        let f = &self.families;
        let admitted = LabelSet::new(
            &REQUEST_LABELS,
            [
                "admitted".into(),
                "".into(),
                team.clone(),
                model.clone(),
                operation.clone(),
                user.clone(),
            ],
        );
        let tokens = TOKEN_TYPES.map(|t| {
            let labels = LabelSet::new(
                &TOKEN_LABELS,
                [team.clone(), model.clone(), t.into(), user.clone()],
            );
            f.tokens.get_or_create(&labels).clone()
        });
        let cost = LabelSet::new(&COST_LABELS, [team, model.clone(), user]);
        let latency = LabelSet::new(&LATENCY_LABELS, [model, operation]);
        CallSeries {
            admitted: f.requests.get_or_create(&admitted).clone(),
            tokens,
            cost: f.cost.get_or_create(&cost).clone(),
            upstream_latency: f.upstream_latency.get_or_create(&latency).clone(),
            first_byte: f.first_byte.get_or_create(&latency).clone(),
        }
    }
}

#[cfg(test)]
mod tests;
