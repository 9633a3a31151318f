//! System alerts: something is failing (the database, the upstream AWS credentials,
//! email, a webhook). Each kind goes out at most once per [`WINDOW`]: within a proxy by
//! the time it last raised that kind, across proxies by the outbox's dedupe key
//! `alert:<kind>:<window number>`. An alert is a `system_alert` domain event, so the
//! admins' email and the webhooks hear it like any other; when the database itself is
//! unreachable the event cannot be written, and the alert is mailed directly.
//!
//! [`watch`] checks the database and the upstream credentials every [`CHECK_EVERY`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::mailer::Mailer;
use super::templates::{MailKind, Templates};
use super::Context;
use crate::domain::{DomainEvent, NewEvent};
use crate::store::Store;

/// At most one alert of a kind per this long.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How often [`watch`] looks.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Direct mail for when the outbox is out of reach.
pub(crate) struct Direct {
    pub(crate) cx: Arc<Context>,
    pub(crate) mailer: Arc<Mailer>,
    pub(crate) templates: Arc<Templates>,
}

/// Raises system alerts.
pub(crate) struct Alerts {
    store: Arc<Store>,
    source: String,
    last: Mutex<HashMap<String, Instant>>,
    direct: Option<Direct>,
}

impl Alerts {
    /// Alerts from proxy `source` written to `store`, mailed directly by `direct` when
    /// the store cannot take them.
    pub(crate) fn new(store: Arc<Store>, source: String, direct: Option<Direct>) -> Self {
        Self {
            store,
            source,
            last: Mutex::new(HashMap::new()),
            direct,
        }
    }

    /// Raises `alert` unless one of its kind went out within [`WINDOW`].
    pub(crate) async fn raise(&self, alert: &str, detail: String) {
        {
            let mut last = self.last.lock();
            if last.get(alert).is_some_and(|t| t.elapsed() < WINDOW) {
                return;
            }
            last.insert(alert.to_string(), Instant::now());
        }
        let now = chrono::Utc::now().timestamp_millis();
        let window = i64::try_from(WINDOW.as_millis()).unwrap_or(i64::MAX);
        tracing::error!(alert, detail = %detail, "system alert");
        let event = DomainEvent::SystemAlert {
            alert: alert.to_string(),
            detail,
            source: self.source.clone(),
            at: now,
        };
        let key = format!("alert:{alert}:{}", now / window);
        match self
            .store
            .append_event(&NewEvent::once(event.clone(), key))
            .await
        {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the system alert to the outbox; mailing it directly");
                self.mail_directly(&event).await;
            }
        }
    }

    async fn mail_directly(&self, event: &DomainEvent) {
        let Some(d) = &self.direct else {
            return;
        };
        let draft = match super::compose::for_admins(&d.cx, event).await {
            Ok(Some(draft)) => draft,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot compose the system alert");
                return;
            }
        };
        let sent = match d
            .templates
            .render(MailKind::SystemAlert, draft.language, &draft.facts)
        {
            Ok(message) => d.mailer.send(&draft.to, &message).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot mail the system alert");
        }
    }
}

/// Something the watcher checks: `Some(detail)` while it is failing.
pub(crate) type Check = Box<dyn Fn() -> Option<String> + Send + Sync>;

/// Raises `database_unreachable` while the database does not answer and
/// `upstream_credentials` while `credentials` reports a problem, until stopped.
pub(crate) async fn watch(alerts: Arc<Alerts>, store: Arc<Store>, credentials: Check) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::time::timeout(Duration::from_secs(10), store.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                alerts
                    .raise(
                        "database_unreachable",
                        format!("The database does not answer: {e}"),
                    )
                    .await
            }
            Err(_) => {
                alerts
                    .raise(
                        "database_unreachable",
                        "The database did not answer within 10 s.".into(),
                    )
                    .await
            }
        }
        if let Some(detail) = credentials() {
            alerts.raise("upstream_credentials", detail).await;
        }
    }
}
