//! Blocking in IAM: while `iam.enabled`, the IAM users linked to a blocked proxy user
//! carry the inline deny policy `iam.deny_policy_name`; when the block ends (unblock,
//! the reset, a protection lifting an automatic block, a duration run out) it goes.
//!
//! Driven by the domain events (the `iam` subscriber of the outbox: blocks, unblocks
//! and protection changes, from every writer of blocks alike), each bringing the user's
//! IAM users in line with the blocking table as it is at delivery, and recording on the
//! event's blocking audit row that it did (`iam_policy_updated`). A failed IAM call is
//! retried by the dispatcher with backoff and raises the `iam_failing` system alert; it
//! never touches the request path. A reconciliation pass, at start and every
//! `iam.reconcile_secs`, makes IAM match the blocking table for every linked IAM user
//! (a deny removed by hand comes back, a block whose time ran out loses its deny).

use std::sync::Arc;
use std::time::Duration;

use super::client::{Iam, IamError};
use crate::domain::{DomainEvent, IamPrincipalKind};
use crate::events::{Delivery, Subscriber};
use crate::notify::alerts::Alerts;
use crate::quota::policy::{Policy, Standing};
use crate::store::Store;

/// The alert raised when IAM calls fail.
pub(crate) const ALERT: &str = "iam_failing";

/// Tries per event before it is given up (the reconciliation pass still fixes IAM).
const MAX_ATTEMPTS: i64 = 10;

/// The inline deny policy document.
pub(crate) fn deny_document() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BedrockGateBlocked",
            "Effect": "Deny",
            "Action": [
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream",
                "bedrock:Converse*",
                "bedrock:CallWithBearerToken"
            ],
            "Resource": "*"
        }]
    })
    .to_string()
}

/// What one reconciliation pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reconciled {
    /// Linked IAM users looked at.
    pub(crate) checked: u64,
    /// Deny policies put on.
    pub(crate) put: u64,
    /// Deny policies removed.
    pub(crate) removed: u64,
    /// IAM users that could not be brought in line.
    pub(crate) failed: u64,
}

/// The IAM side of blocking.
pub(crate) struct IamBackstop {
    pub(crate) iam: Iam,
    pub(crate) store: Arc<Store>,
    pub(crate) deny_name: String,
    pub(crate) alerts: Arc<Alerts>,
}

/// Whether `user_id` is blocked (by an administrator or for a limit) at `now_ms`.
fn blocked(policy: &Policy, user_id: i64, now_ms: i64) -> bool {
    matches!(
        policy.standing(user_id, now_ms),
        Standing::Blocked { .. } | Standing::LimitReached { .. }
    )
}

impl IamBackstop {
    /// Puts the deny on `iam_user` (`deny`) or takes it off; `true` when IAM changed.
    /// An IAM user that does not exist has nothing to deny.
    async fn apply(&self, iam_user: &str, deny: bool) -> Result<bool, IamError> {
        let Some(policies) = self.iam.user_policies(iam_user).await? else {
            tracing::warn!(
                iam_user,
                "a linked IAM user does not exist; nothing to deny"
            );
            return Ok(false);
        };
        let has = policies.iter().any(|p| p == &self.deny_name);
        match (deny, has) {
            (true, false) => {
                self.iam
                    .put_user_policy(iam_user, &self.deny_name, &deny_document())
                    .await?;
                tracing::info!(iam_user, "IAM deny policy put on");
                Ok(true)
            }
            (false, true) => {
                self.iam
                    .delete_user_policy(iam_user, &self.deny_name)
                    .await?;
                tracing::info!(iam_user, "IAM deny policy removed");
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Brings the IAM users linked to `user_id` in line with the blocking table;
    /// `None` when the user has no linked IAM user.
    pub(crate) async fn sync_user(&self, user_id: i64) -> Result<Option<u64>, String> {
        let links = self
            .store
            .iam_links(Some(user_id))
            .await
            .map_err(|e| e.to_string())?;
        let iam_users: Vec<String> = links
            .into_iter()
            .filter(|l| l.kind == IamPrincipalKind::IamUser)
            .map(|l| l.principal)
            .collect();
        if iam_users.is_empty() {
            return Ok(None);
        }
        let rows = self
            .store
            .block_status(user_id)
            .await
            .map_err(|e| e.to_string())?;
        let policy = Policy::new(vec![], vec![], rows.into_iter().collect());
        let deny = blocked(&policy, user_id, chrono::Utc::now().timestamp_millis());
        let mut changed = 0;
        for u in &iam_users {
            changed += u64::from(self.apply(u, deny).await.map_err(|e| e.to_string())?);
        }
        Ok(Some(changed))
    }

    /// Makes IAM match the blocking table for every linked IAM user.
    pub(crate) async fn reconcile(&self) -> Result<Reconciled, String> {
        let rows = self.store.block_rows().await.map_err(|e| e.to_string())?;
        let links = self
            .store
            .iam_links(None)
            .await
            .map_err(|e| e.to_string())?;
        let policy = Policy::new(vec![], vec![], rows);
        let now = chrono::Utc::now().timestamp_millis();
        let mut done = Reconciled::default();
        let mut first_error = None;
        for l in links.iter().filter(|l| l.kind == IamPrincipalKind::IamUser) {
            done.checked += 1;
            let deny = blocked(&policy, l.user_id, now);
            match self.apply(&l.principal, deny).await {
                Ok(true) if deny => done.put += 1,
                Ok(true) => done.removed += 1,
                Ok(false) => {}
                Err(e) => {
                    done.failed += 1;
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        match first_error {
            Some(e) => Err(format!(
                "{} of {} linked IAM users could not be reconciled: {e}",
                done.failed, done.checked
            )),
            None => Ok(done),
        }
    }

    /// Reconciles now and every `every`, until the task is stopped; failures raise the
    /// alert and are tried again at the next pass.
    pub(crate) async fn run_reconciler(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.reconcile().await {
                Ok(r) if r.put + r.removed > 0 => tracing::info!(
                    checked = r.checked,
                    put = r.put,
                    removed = r.removed,
                    "IAM deny policies reconciled with the blocking table"
                ),
                Ok(_) => {}
                Err(e) => self.alerts.raise(ALERT, e).await,
            }
        }
    }
}

/// The user an event changes the blocking status of.
fn user_of(event: &DomainEvent) -> Option<i64> {
    match event {
        DomainEvent::Blocked { user_id, .. }
        | DomainEvent::Unblocked { user_id, .. }
        | DomainEvent::ProtectionChanged { user_id, .. } => Some(*user_id),
        _ => None,
    }
}

impl Subscriber for IamBackstop {
    fn name(&self) -> &str {
        "iam"
    }

    fn deliver<'a>(&'a self, id: i64, event: &'a DomainEvent) -> Delivery<'a> {
        Box::pin(async move {
            let Some(user_id) = user_of(event) else {
                return Ok(());
            };
            match self.sync_user(user_id).await {
                Ok(None) => Ok(()),
                Ok(Some(_)) => {
                    if let Err(e) = self.store.set_iam_policy_updated(id, true).await {
                        tracing::warn!(event_id = id, error = %e, "cannot record iam_policy_updated on the audit row");
                    }
                    Ok(())
                }
                Err(e) => {
                    self.alerts.raise(ALERT, e.clone()).await;
                    Err(e)
                }
            }
        })
    }

    fn max_attempts(&self) -> Option<i64> {
        Some(MAX_ATTEMPTS)
    }

    fn gave_up<'a>(&'a self, id: i64, _event: &'a DomainEvent, _why: &'a str) -> Delivery<'a> {
        Box::pin(async move {
            self.store
                .set_iam_policy_updated(id, false)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deny_covers_every_runtime_action() {
        let doc: serde_json::Value = serde_json::from_str(&deny_document()).unwrap();
        let actions = doc["Statement"][0]["Action"].as_array().unwrap();
        for a in [
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream",
            "bedrock:Converse*",
            "bedrock:CallWithBearerToken",
        ] {
            assert!(actions.iter().any(|x| x == a), "{a}");
        }
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    }
}
