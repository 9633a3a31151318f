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
//!
//! Linking and unlinking (and deleting a user) raise `iam_link_changed`: the IAM user
//! gets the deny while linked to a blocked user; otherwise the deny the backstop put on
//! it goes. Every deny put is recorded first (`iam_denies`), so only those are ever
//! removed from an IAM user that is no longer linked, by the event or, if it was
//! missed, by reconciliation. Changes made outside a blocking change (for a link change
//! or by reconciliation) are written to the admin audit log (`iam_deny_put`,
//! `iam_deny_removed`, resource `iam_user:<name>`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::client::Iam;
use crate::domain::{AdminOperation, DomainEvent, IamPrincipalKind};
use crate::events::{Delivery, Subscriber};
use crate::notify::alerts::Alerts;
use crate::quota::policy::{Policy, Standing};
use crate::store::{AdminAuditRecord, IamDeny, Store};

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
    /// IAM users looked at (linked ones, and unlinked ones carrying a recorded deny).
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
    /// Who the admin audit rows of its own changes name (`proxy:<host>:<pid>`).
    pub(crate) by: String,
}

/// Whether `user_id` is blocked (by an administrator or for a limit) at `now_ms`.
fn blocked(policy: &Policy, user_id: i64, now_ms: i64) -> bool {
    matches!(
        policy.standing(user_id, now_ms),
        Standing::Blocked { .. } | Standing::LimitReached { .. }
    )
}

/// What bringing one IAM user in line did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Unchanged,
    Put,
    Removed,
}

/// Why the backstop touches an IAM user: a blocking change (recorded on its blocking
/// audit row), or by itself (recorded as an admin audit row, with the reason).
#[derive(Clone, Copy, Debug)]
enum Cause<'a> {
    Blocking,
    Own(&'a str),
}

/// How one IAM user should be: linked to `username`, blocked or not.
struct Wanted<'a> {
    iam_user: &'a str,
    username: &'a str,
    deny: bool,
    /// Whether `iam_denies` records a deny of the current name on it.
    recorded: bool,
}

impl IamBackstop {
    /// The admin audit row of a change the backstop made by itself.
    fn audit(
        &self,
        iam_user: &str,
        policy: &str,
        put: bool,
        username: &str,
        why: &str,
    ) -> AdminAuditRecord {
        let state = |on: bool| serde_json::json!({"deny_policy": policy, "present": on, "user": username, "why": why});
        AdminAuditRecord {
            actor: self.by.clone(),
            operation: if put {
                AdminOperation::IamDenyPut
            } else {
                AdminOperation::IamDenyRemoved
            },
            resource: format!("iam_user:{iam_user}"),
            before: Some(state(!put).to_string()),
            after: Some(state(put).to_string()),
        }
    }

    /// Puts the deny on a linked IAM user (recorded in `iam_denies` first) or takes it
    /// off. An IAM user that does not exist has nothing to deny.
    async fn settle_linked(&self, w: &Wanted<'_>, cause: Cause<'_>) -> Result<Change, String> {
        let name = self.deny_name.as_str();
        if w.deny {
            self.store
                .record_iam_deny(w.iam_user, name, w.username)
                .await
                .map_err(|e| e.to_string())?;
        }
        let Some(policies) = self
            .iam
            .user_policies(w.iam_user)
            .await
            .map_err(|e| e.to_string())?
        else {
            tracing::warn!(
                iam_user = w.iam_user,
                "a linked IAM user does not exist; nothing to deny"
            );
            if w.deny || w.recorded {
                self.store
                    .forget_iam_deny(w.iam_user, name, None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            return Ok(Change::Unchanged);
        };
        let has = policies.iter().any(|p| p == name);
        let own = |put: bool| match cause {
            Cause::Blocking => None,
            Cause::Own(why) => Some(self.audit(w.iam_user, name, put, w.username, why)),
        };
        match (w.deny, has) {
            (true, false) => {
                self.iam
                    .put_user_policy(w.iam_user, name, &deny_document())
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(audit) = own(true) {
                    self.store
                        .admin_audit_row(&audit)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                tracing::info!(iam_user = w.iam_user, "IAM deny policy put on");
                Ok(Change::Put)
            }
            (false, true) => {
                self.iam
                    .delete_user_policy(w.iam_user, name)
                    .await
                    .map_err(|e| e.to_string())?;
                self.store
                    .forget_iam_deny(w.iam_user, name, own(false).as_ref())
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(iam_user = w.iam_user, "IAM deny policy removed");
                Ok(Change::Removed)
            }
            (false, false) if w.recorded => {
                self.store
                    .forget_iam_deny(w.iam_user, name, None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Change::Unchanged)
            }
            _ => Ok(Change::Unchanged),
        }
    }

    /// Removes a deny the backstop put on an IAM user that no longer needs it (no longer
    /// linked to a blocked user, or a policy name no longer configured), and forgets it.
    /// A deny the backstop did not put is never touched: only recorded ones come here.
    async fn remove_recorded(&self, deny: &IamDeny, why: &str) -> Result<Change, String> {
        let (user, name) = (deny.iam_user.as_str(), deny.policy_name.as_str());
        let policies = self
            .iam
            .user_policies(user)
            .await
            .map_err(|e| e.to_string())?;
        let has = policies.is_some_and(|p| p.iter().any(|p| p == name));
        if has {
            self.iam
                .delete_user_policy(user, name)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(
                iam_user = user,
                "IAM deny policy of an unlinked IAM user removed"
            );
        }
        let audit = has.then(|| self.audit(user, name, false, &deny.username, why));
        self.store
            .forget_iam_deny(user, name, audit.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        Ok(if has {
            Change::Removed
        } else {
            Change::Unchanged
        })
    }

    /// Whether `user_id` is blocked now, from the blocking table.
    async fn is_blocked(&self, user_id: i64) -> Result<bool, String> {
        let rows = self
            .store
            .block_status(user_id)
            .await
            .map_err(|e| e.to_string())?;
        let policy = Policy::new(vec![], vec![], rows.into_iter().collect());
        Ok(blocked(
            &policy,
            user_id,
            chrono::Utc::now().timestamp_millis(),
        ))
    }

    /// Brings the IAM users linked to `user_id` in line with the blocking table;
    /// `None` when the user has no linked IAM user.
    pub(crate) async fn sync_user(&self, user_id: i64) -> Result<Option<u64>, String> {
        let links = self
            .store
            .iam_links(Some(user_id))
            .await
            .map_err(|e| e.to_string())?;
        let links: Vec<_> = links
            .into_iter()
            .filter(|l| l.kind == IamPrincipalKind::IamUser)
            .collect();
        if links.is_empty() {
            return Ok(None);
        }
        let deny = self.is_blocked(user_id).await?;
        let mut changed = 0;
        for l in &links {
            let recorded = self.recorded(&l.principal).await?;
            let w = Wanted {
                iam_user: &l.principal,
                username: &l.username,
                deny,
                recorded,
            };
            changed +=
                u64::from(self.settle_linked(&w, Cause::Blocking).await? != Change::Unchanged);
        }
        Ok(Some(changed))
    }

    /// Whether `iam_denies` records the deny on `iam_user`.
    async fn recorded(&self, iam_user: &str) -> Result<bool, String> {
        let deny = self.store.iam_deny(iam_user, &self.deny_name).await;
        deny.map(|d| d.is_some()).map_err(|e| e.to_string())
    }

    /// Brings IAM user `iam_user`, whose link changed, in line: denied while linked to a
    /// blocked user; otherwise the deny the backstop put (if any) goes.
    async fn sync_iam_user(&self, iam_user: &str, why: &str) -> Result<Change, String> {
        let owner = self
            .store
            .iam_user_owner(iam_user)
            .await
            .map_err(|e| e.to_string())?;
        match owner {
            Some((user_id, username)) => {
                let deny = self.is_blocked(user_id).await?;
                let recorded = self.recorded(iam_user).await?;
                let w = Wanted {
                    iam_user,
                    username: &username,
                    deny,
                    recorded,
                };
                self.settle_linked(&w, Cause::Own(why)).await
            }
            None => {
                let deny = self
                    .store
                    .iam_deny(iam_user, &self.deny_name)
                    .await
                    .map_err(|e| e.to_string())?;
                match deny {
                    Some(d) => self.remove_recorded(&d, why).await,
                    None => Ok(Change::Unchanged),
                }
            }
        }
    }

    /// Makes IAM match the blocking table for every linked IAM user, and removes the
    /// denies the backstop put on IAM users no longer linked to anyone.
    pub(crate) async fn reconcile(&self) -> Result<Reconciled, String> {
        let rows = self.store.block_rows().await.map_err(|e| e.to_string())?;
        let links = self
            .store
            .iam_links(None)
            .await
            .map_err(|e| e.to_string())?;
        let denies = self.store.iam_denies().await.map_err(|e| e.to_string())?;
        let policy = Policy::new(vec![], vec![], rows);
        let now = chrono::Utc::now().timestamp_millis();
        let linked: HashSet<&str> = links
            .iter()
            .filter(|l| l.kind == IamPrincipalKind::IamUser)
            .map(|l| l.principal.as_str())
            .collect();
        let recorded: HashSet<&str> = denies
            .iter()
            .filter(|d| d.policy_name == self.deny_name)
            .map(|d| d.iam_user.as_str())
            .collect();
        let mut done = Reconciled::default();
        let mut first_error = None;
        let mut tally = |r: Result<Change, String>, done: &mut Reconciled| {
            done.checked += 1;
            match r {
                Ok(Change::Put) => done.put += 1,
                Ok(Change::Removed) => done.removed += 1,
                Ok(Change::Unchanged) => {}
                Err(e) => {
                    done.failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        };
        for l in links.iter().filter(|l| l.kind == IamPrincipalKind::IamUser) {
            let w = Wanted {
                iam_user: &l.principal,
                username: &l.username,
                deny: blocked(&policy, l.user_id, now),
                recorded: recorded.contains(l.principal.as_str()),
            };
            tally(
                self.settle_linked(&w, Cause::Own(RECONCILED)).await,
                &mut done,
            );
        }
        let stale = denies
            .iter()
            .filter(|d| !linked.contains(d.iam_user.as_str()) || d.policy_name != self.deny_name);
        for d in stale {
            tally(self.remove_recorded(d, RECONCILED).await, &mut done);
        }
        match first_error {
            Some(e) => Err(format!(
                "{} of {} IAM users could not be reconciled: {e}",
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

/// The reason admin audit rows of reconciliation give.
const RECONCILED: &str = "reconciliation with the blocking table and the IAM links";

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
            if let DomainEvent::IamLinkChanged {
                username,
                iam_user,
                linked,
                by,
                ..
            } = event
            {
                let why = format!(
                    "{} {username} by {by}",
                    if *linked {
                        "linked to"
                    } else {
                        "unlinked from"
                    }
                );
                return match self.sync_iam_user(iam_user, &why).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        self.alerts.raise(ALERT, e.clone()).await;
                        Err(e)
                    }
                };
            }
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
