//! The email subscribers: `email_users` mails the user an event is about (warnings,
//! blocks, unblocks) and records on the blocking audit row whether the mail went out;
//! `email_admins` mails the admins (automatic blocks, the daily summary at the reset,
//! system alerts). Two subscribers, so that each message is one delivery: a message
//! that went out is never sent again because another one for the same event failed.

use std::sync::Arc;

use super::alerts::Alerts;
use super::compose::{self, Draft};
use super::mailer::Mailer;
use super::summary;
use super::templates::Templates;
use super::Context;
use crate::domain::DomainEvent;
use crate::events::{Delivery, Subscriber};

/// Tries per message before it is given up (about 42 minutes of retries with the
/// dispatcher's backoff).
pub(crate) const MAX_ATTEMPTS: i64 = 10;

/// Who a subscriber writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The user the event is about.
    Users,
    /// `email.admins`.
    Admins,
}

/// One email subscriber.
pub(crate) struct EmailSubscriber {
    pub(crate) audience: Audience,
    pub(crate) cx: Arc<Context>,
    pub(crate) mailer: Arc<Mailer>,
    pub(crate) templates: Arc<Templates>,
    pub(crate) alerts: Arc<Alerts>,
}

/// Whether the event has a blocking audit row whose `email_sent` the user's mail sets.
fn audited(event: &DomainEvent) -> bool {
    matches!(
        event,
        DomainEvent::Blocked { .. } | DomainEvent::Unblocked { .. }
    )
}

impl EmailSubscriber {
    async fn draft(&self, event: &DomainEvent) -> Result<Option<Draft>, String> {
        match (self.audience, event) {
            (Audience::Users, _) => compose::for_user(&self.cx, event).await,
            (Audience::Admins, DomainEvent::DailySummary { day }) => {
                summary::daily(&self.cx, day).await
            }
            (
                Audience::Admins,
                DomainEvent::ResetDone {
                    by_hand: Some(reset),
                    unblocked,
                    unprotected,
                    by,
                    ..
                },
            ) => Ok(summary::by_hand(
                &self.cx,
                reset,
                unblocked,
                unprotected,
                by,
            )),
            // The scheduled reset: its day's summary is the `daily_summary` event.
            (Audience::Admins, DomainEvent::ResetDone { .. }) => Ok(None),
            (Audience::Admins, _) if self.cx.admins.is_empty() => Ok(None),
            (Audience::Admins, _) => compose::for_admins(&self.cx, event).await,
        }
    }

    /// Records the user's mail outcome on the audit row of event `id`; a failure here is
    /// logged, not retried (the mail itself must not go out twice).
    async fn record(&self, id: i64, event: &DomainEvent, sent: bool) {
        if self.audience != Audience::Users || !audited(event) {
            return;
        }
        if let Err(e) = self.cx.store.set_email_sent(id, sent).await {
            tracing::warn!(event_id = id, error = %e, "cannot record email_sent on the audit row");
        }
    }
}

impl Subscriber for EmailSubscriber {
    fn name(&self) -> &str {
        match self.audience {
            Audience::Users => "email_users",
            Audience::Admins => "email_admins",
        }
    }

    fn deliver<'a>(&'a self, id: i64, event: &'a DomainEvent) -> Delivery<'a> {
        Box::pin(async move {
            let Some(draft) = self.draft(event).await? else {
                // No address (or nobody to tell): the user was not mailed.
                self.record(id, event, false).await;
                return Ok(());
            };
            let message = self
                .templates
                .render(draft.kind, draft.language, &draft.facts)
                .map_err(|e| format!("template {}: {e:#}", draft.kind.name()))?;
            self.mailer.send(&draft.to, &message).await?;
            tracing::info!(
                subscriber = self.name(),
                event_id = id,
                kind = draft.kind.name(),
                recipients = draft.to.len(),
                "email sent"
            );
            self.record(id, event, true).await;
            Ok(())
        })
    }

    fn max_attempts(&self) -> Option<i64> {
        Some(MAX_ATTEMPTS)
    }

    fn gave_up<'a>(&'a self, id: i64, event: &'a DomainEvent, why: &'a str) -> Delivery<'a> {
        Box::pin(async move {
            self.record(id, event, false).await;
            if !matches!(event, DomainEvent::SystemAlert { .. }) {
                let detail = format!(
                    "An email about a {} event (outbox id {id}) could not be sent after \
                     {MAX_ATTEMPTS} tries: {why}",
                    event.kind()
                );
                self.alerts.raise("email_failing", detail).await;
            }
            Ok(())
        })
    }
}
