//! Counting direct Bedrock calls seen in CloudTrail (the backstop): a runtime call by a
//! linked IAM principal becomes a request record of that user (`usage_source =
//! cloudtrail`, priced at `iam.direct_call_usd`, in the day and month of its
//! `eventTime` in `quota.timezone`) and a debit of the same quota counters the proxy
//! draws from, so request limits and budgets hold across proxy calls and direct calls
//! together. Each `eventID` counts once (the record's uid is derived from it); a failed
//! call (`errorCode`) is recorded but not counted; calls by the proxy's own principals
//! (`iam.proxy_principal_arns`) and by unlinked principals are ignored.
//!
//! A counter that reaches its limit in the current period raises the same quota event
//! as a refused proxy call ([`Ops::quota_event`]): an automatic block through the
//! blocking service, once per limit and period; thresholds crossed raise warnings.

use std::collections::HashMap;

use serde::Serialize;

use super::{Ops, OpsError};
use crate::cloudtrail::{DirectCall, Principal, Seen};
use crate::domain::{Actor, IamPrincipalKind, UsageSource};
use crate::quota::engine::{charges_at, Ask, Charge, QuotaEvent};
use crate::quota::policy::{Policy, Standing};
use crate::store::{Debit, IamLink, RequestRecord, User};

/// What ingesting a set of records did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IngestCounts {
    /// Records read.
    pub records: u64,
    /// Direct calls counted against their user's limits now.
    pub counted: u64,
    /// Failed direct calls (`errorCode`): recorded, not counted.
    pub failed_calls: u64,
    /// Calls whose `eventID` was already stored: nothing counted again.
    pub duplicates: u64,
    /// Records that are not Bedrock runtime calls, or calls by unlinked principals or
    /// the proxy itself.
    pub ignored: u64,
    /// Records that could not be used (no `eventID`, a bad `eventTime`).
    pub errors: u64,
}

impl std::ops::AddAssign for IngestCounts {
    fn add_assign(&mut self, o: Self) {
        self.records += o.records;
        self.counted += o.counted;
        self.failed_calls += o.failed_calls;
        self.duplicates += o.duplicates;
        self.ignored += o.ignored;
        self.errors += o.errors;
    }
}

/// The stored uid of a direct call: 32 hex digits derived from its `eventID`.
pub(crate) fn direct_call_uid(event_id: &str) -> String {
    let mut hex = crate::hash::sha256_hex(format!("cloudtrail:{event_id}").as_bytes());
    hex.truncate(32);
    hex
}

/// The HTTP status a failed call's `errorCode` stands for (400 when unknown).
fn error_status(code: &str) -> i64 {
    match code.trim_end_matches("Exception") {
        "AccessDenied" | "UnrecognizedClient" => 403,
        "ResourceNotFound" => 404,
        "ModelTimeout" => 408,
        "Throttling" | "ModelNotReady" => 429,
        "ModelError" => 424,
        "InternalServer" => 500,
        "ServiceUnavailable" => 503,
        _ => 400,
    }
}

/// `*` matches any run of characters; everything else itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The links, ready to match principals.
struct LinkIndex {
    users: HashMap<String, i64>,
    sessions: Vec<(String, i64)>,
}

impl LinkIndex {
    fn new(links: Vec<IamLink>) -> Self {
        let mut index = Self {
            users: HashMap::new(),
            sessions: Vec::new(),
        };
        for l in links {
            match l.kind {
                IamPrincipalKind::IamUser => {
                    index.users.insert(l.principal, l.user_id);
                }
                IamPrincipalKind::RoleSession => index.sessions.push((l.principal, l.user_id)),
            }
        }
        index
    }

    fn user_of(&self, principal: &Principal) -> Option<i64> {
        match principal {
            Principal::IamUser(name) => self.users.get(name).copied(),
            Principal::RoleSession(session) => self
                .sessions
                .iter()
                .find(|(pattern, _)| glob(pattern, session))
                .map(|(_, id)| *id),
            Principal::Other => None,
        }
    }
}

/// A counter a batch debited, and the charge behind it.
struct Touched {
    charge: Charge,
    user_id: i64,
    username: String,
}

impl Ops {
    fn is_proxy_principal(&self, call: &DirectCall) -> bool {
        [&call.arn, &call.issuer_arn]
            .into_iter()
            .flatten()
            .any(|arn| self.backstop.proxy_principal_arns.iter().any(|p| p == arn))
    }

    fn direct_record(&self, call: &DirectCall, user: &User) -> RequestRecord {
        let counted = call.error_code.is_none();
        RequestRecord {
            request_uid: direct_call_uid(&call.event_id),
            created_at: call.at_ms,
            user_id: user.id,
            username: user.username.clone(),
            team: user.team.clone(),
            person: user.person_name.clone(),
            tool: if call.bearer {
                "cloudtrail:bearer"
            } else {
                "cloudtrail"
            }
            .into(),
            access_key_id: call.access_key_id.chars().take(32).collect(),
            model_id: call.model_id.clone(),
            operation: call.operation.clone(),
            upstream_request_id: call.request_id.clone(),
            source_ip: call.source_ip.chars().take(64).collect(),
            user_agent: call
                .user_agent
                .as_ref()
                .map(|a| a.chars().take(512).collect()),
            region: call.region.chars().take(32).collect(),
            status_code: call.error_code.as_deref().map_or(200, error_status),
            error_type: call.error_code.clone(),
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: if counted {
                self.backstop.direct_call_usd
            } else {
                0.0
            },
            latency_ms: 0,
            usage_source: UsageSource::Cloudtrail,
            not_sent: None,
            ended_early: None,
            usage_clamped: false,
            refused: None,
            refusal_message: None,
        }
    }

    /// Counts the direct calls among `seen` (see the module documentation).
    pub async fn ingest_direct_calls(
        &self,
        actor: &Actor,
        seen: Vec<Seen>,
    ) -> Result<IngestCounts, OpsError> {
        let mut counts = IngestCounts {
            records: seen.len() as u64,
            ..Default::default()
        };
        let calls: Vec<Box<DirectCall>> = seen
            .into_iter()
            .filter_map(|s| match s {
                Seen::Call(c) => Some(c),
                Seen::Other => {
                    counts.ignored += 1;
                    None
                }
                Seen::Invalid(why) => {
                    tracing::debug!(why, "unusable CloudTrail record");
                    counts.errors += 1;
                    None
                }
            })
            .collect();
        if calls.is_empty() {
            return Ok(counts);
        }
        let links = LinkIndex::new(self.store.iam_links(None).await?);
        let users: HashMap<i64, User> = self
            .store
            .users(None)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let (user_limits, team_limits) = self.store.all_limits().await?;
        let policy = Policy::new(user_limits, team_limits, self.store.block_rows().await?);
        let micro_usd = crate::quota::to_micro(self.backstop.direct_call_usd);

        let mut records = Vec::with_capacity(calls.len());
        let mut failed = Vec::with_capacity(calls.len());
        let mut debits = Vec::new();
        let mut touched: HashMap<(String, &'static str, String), Touched> = HashMap::new();
        for call in &calls {
            let user = links
                .user_of(&call.principal)
                .filter(|_| !self.is_proxy_principal(call))
                .and_then(|id| users.get(&id));
            let Some(user) = user else {
                counts.ignored += 1;
                continue;
            };
            let index = records.len();
            records.push(self.direct_record(call, user));
            failed.push(call.error_code.is_some());
            if call.error_code.is_some()
                || policy.standing(user.id, call.at_ms) == Standing::Protected
            {
                continue;
            }
            let (own, team) = policy.limits(user.id);
            let ask = Ask {
                user_id: user.id,
                username: &user.username,
                team_id: user.team_id,
                team: &user.team,
                user_limits: own,
                team_limits: team,
                micro_usd,
                allow_grants: true,
            };
            let at = chrono::DateTime::from_timestamp_millis(call.at_ms).unwrap_or_default();
            for charge in charges_at(&ask, self.tz, at) {
                if charge.amount <= 0 {
                    continue;
                }
                let key = (
                    charge.key.subject.stored(),
                    charge.key.metric.stored(),
                    charge.key.period.to_string(),
                );
                debits.push(Debit {
                    record: index,
                    subject: key.0.clone(),
                    metric: key.1,
                    period: key.2.clone(),
                    amount: charge.amount,
                });
                touched.entry(key).or_insert_with(|| Touched {
                    charge,
                    user_id: user.id,
                    username: user.username.clone(),
                });
            }
        }
        if records.is_empty() {
            return Ok(counts);
        }
        let outcome = self.store.insert_direct_calls(&records, &debits).await?;
        for (new, failed) in outcome.new.iter().zip(&failed) {
            match (new, failed) {
                (false, _) => counts.duplicates += 1,
                (true, true) => counts.failed_calls += 1,
                (true, false) => counts.counted += 1,
            }
        }
        let now = self.now();
        for (key, (before, after)) in outcome.counters {
            let Some(t) = touched.remove(&key) else {
                continue;
            };
            if t.charge.resets_at <= now {
                continue; // a past period: history is right, nobody to block or warn
            }
            self.direct_call_events(actor, &t, before, after).await?;
        }
        Ok(counts)
    }

    /// The warnings and the exhaustion a counter's move from `before` to `after` raises.
    async fn direct_call_events(
        &self,
        actor: &Actor,
        t: &Touched,
        before: i64,
        after: i64,
    ) -> Result<(), OpsError> {
        let limit = t.charge.limit.limit;
        let period = t.charge.key.period.to_string();
        for &percent in &self.backstop.warning_thresholds {
            let mark = limit.saturating_mul(i64::from(percent)) / 100;
            if before < mark && after >= mark {
                let warning = QuotaEvent::Warning {
                    limit: t.charge.limit.clone(),
                    used: after,
                    period: period.clone(),
                    threshold_percent: percent,
                    resets_at: t.charge.resets_at,
                };
                self.quota_event(actor, &warning).await?;
            }
        }
        if after >= limit {
            let exhausted = QuotaEvent::Exhausted {
                user_id: t.user_id,
                username: t.username.clone(),
                limit: t.charge.limit.clone(),
                used: after,
                // A direct call already happened: nothing of it is reserved.
                reserved: 0,
                period,
                resets_at: t.charge.resets_at,
            };
            self.quota_event(actor, &exhausted).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_patterns_match_like_globs() {
        assert!(glob("alice", "alice"));
        assert!(!glob("alice", "alice2"));
        assert!(glob("alice-*", "alice-laptop"));
        assert!(glob("*@corp.example", "bob@corp.example"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c"));
        assert!(glob("*", ""));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn uids_are_stable_hex_and_error_codes_map_to_statuses() {
        let uid = direct_call_uid("e-1");
        assert_eq!(uid.len(), 32);
        assert_eq!(uid, direct_call_uid("e-1"));
        assert_ne!(uid, direct_call_uid("e-2"));
        assert_eq!(error_status("AccessDenied"), 403);
        assert_eq!(error_status("ThrottlingException"), 429);
        assert_eq!(error_status("Whatever"), 400);
    }
}
