//! The admin audit log: the record every administrative change writes with itself
//! (who, what, which resource, the value before and after as JSON), and reading it
//! back with filters and keyset paging.

use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Serialize;

use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation};
use crate::store::{AdminAuditFilter, AdminAuditRecord, AdminAuditRow};

/// The audit record of one change; `before` is `None` for a creation, `after` for a
/// deletion.
pub(crate) fn record(
    actor: &Actor,
    operation: AdminOperation,
    resource: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> AdminAuditRecord {
    AdminAuditRecord {
        actor: actor.to_string(),
        operation,
        resource,
        before: before.map(|v| v.to_string()),
        after: after.map(|v| v.to_string()),
    }
}

/// A value as audit JSON (views always encode; a failure is recorded as no value).
pub(crate) fn json<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Which admin audit entries to read.
#[derive(Clone, Debug, Default)]
pub(crate) struct AdminAuditQuery {
    /// Only changes by this actor (`cli:alice`, `api:ops-bot`).
    pub(crate) actor: Option<String>,
    /// Only this operation (`set_user_limits`, ...).
    pub(crate) operation: Option<String>,
    /// Only this resource (`user:alice`).
    pub(crate) resource: Option<String>,
    /// From this time (epoch ms, inclusive).
    pub(crate) from_ms: Option<i64>,
    /// Until this time (epoch ms, exclusive).
    pub(crate) to_ms: Option<i64>,
    /// Continue after this page (the previous page's `next_cursor`).
    pub(crate) cursor: Option<String>,
    /// Entries per page, 1-1000.
    pub(crate) limit: u32,
}

/// One administrative change.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct AdminAuditEntry {
    /// Entry id (increasing).
    pub(crate) id: i64,
    /// Who (`cli:<login>`, `api:<token name>`).
    pub(crate) actor: String,
    /// What.
    pub(crate) operation: AdminOperation,
    /// Which resource (`user:alice`, `team:research`, `key:BG...`, `price:<model>`,
    /// `admin_token:<name>`, `reset`).
    pub(crate) resource: String,
    /// The value before the change (JSON; null for a creation).
    #[schema(value_type = Option<Object>)]
    pub(crate) before: Option<serde_json::Value>,
    /// The value after the change (JSON; null for a deletion).
    #[schema(value_type = Option<Object>)]
    pub(crate) after: Option<serde_json::Value>,
    /// When (epoch ms).
    pub(crate) created_at: i64,
}

impl From<AdminAuditRow> for AdminAuditEntry {
    fn from(r: AdminAuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Self {
            id: r.id,
            actor: r.actor,
            operation: r.operation,
            resource: r.resource,
            before: parse(r.before_json),
            after: parse(r.after_json),
            created_at: r.created_at,
        }
    }
}

/// One page of the admin audit log.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct AdminAuditPage {
    /// Entries, newest first.
    pub(crate) entries: Vec<AdminAuditEntry>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub(crate) next_cursor: Option<String>,
}

impl AdminAuditQuery {
    fn filter(&self) -> Result<AdminAuditFilter, OpsError> {
        if !(1..=1000).contains(&self.limit) {
            return Err(OpsError::Invalid(format!(
                "limit {} must be between 1 and 1000",
                self.limit
            )));
        }
        let operation = self
            .operation
            .as_deref()
            .map(|o| {
                o.parse::<AdminOperation>()
                    .map_err(|e| OpsError::Invalid(format!("operation: {e}")))
            })
            .transpose()?;
        let before_id = self
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| OpsError::Invalid(format!("cursor `{c}` is not valid")))
            })
            .transpose()?;
        Ok(AdminAuditFilter {
            actor: self.actor.clone(),
            operation,
            resource: self.resource.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            before_id,
            limit: i64::from(self.limit),
        })
    }
}

impl Ops {
    /// One page of the admin audit log, newest first.
    pub(crate) async fn admin_audit(
        &self,
        query: &AdminAuditQuery,
    ) -> Result<AdminAuditPage, OpsError> {
        let filter = query.filter()?;
        let rows = self.store.admin_audit(&filter).await?;
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == filter.limit;
        let next_cursor = rows.last().filter(|_| full).map(|r| r.id.to_string());
        Ok(AdminAuditPage {
            entries: rows.into_iter().map(AdminAuditEntry::from).collect(),
            next_cursor,
        })
    }

    /// Every entry `query` matches, newest first, read page by page (for streamed
    /// exports: never all in memory).
    pub(crate) fn admin_audit_stream(
        self: std::sync::Arc<Self>,
        query: AdminAuditQuery,
    ) -> BoxStream<'static, Result<AdminAuditEntry, OpsError>> {
        let pages = stream::try_unfold(Some(query), move |next| {
            let ops = std::sync::Arc::clone(&self);
            async move {
                let Some(q) = next else {
                    return Ok(None);
                };
                let page = ops.admin_audit(&q).await?;
                let following = page.next_cursor.clone().map(|c| AdminAuditQuery {
                    cursor: Some(c),
                    ..q
                });
                Ok(Some((
                    stream::iter(page.entries.into_iter().map(Ok)),
                    following,
                )))
            }
        });
        pages
            .map(|r: Result<_, OpsError>| match r {
                Ok(s) => s.boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            })
            .flatten()
            .boxed()
    }
}
