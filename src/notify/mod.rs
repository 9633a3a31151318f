//! Notifications: email (lettre, templates under `templates/email/`) and webhooks, as
//! subscribers of the durable event outbox (`crate::events`), so that each message is
//! sent once across proxies and restarts and never on the request path.
//!
//! - [`email`]: `email_users` (warnings, blocks, unblocks to the user, in the user's
//!   language) and `email_admins` (automatic-block alerts, the daily summary at the
//!   reset, system alerts, in `email.language`);
//! - [`webhook`]: one subscriber per `[[webhook]]`, Slack, Teams or JSON, signed;
//! - [`alerts`]: system alerts, at most one per kind per 15 minutes, and the watcher
//!   that raises them for the database and the upstream credentials;
//! - [`compose`], [`summary`], [`payload`], [`format`], [`templates`], [`mailer`]: what a
//!   message says and how it is sent.
//!
//! docs/NOTIFICATIONS.md explains the exactly-once argument.

pub(crate) mod alerts;
pub(crate) mod compose;
pub(crate) mod email;
pub(crate) mod format;
pub(crate) mod mailer;
pub(crate) mod payload;
pub(crate) mod summary;
pub(crate) mod templates;
pub(crate) mod webhook;

use std::sync::Arc;

use chrono_tz::Tz;
use lettre::message::Mailbox;

use crate::config::Config;
use crate::domain::Language;
use crate::events::Subscriber;
use crate::ops::Ops;
use crate::store::Store;
use alerts::{Alerts, Direct};
use email::{Audience, EmailSubscriber};
use mailer::Mailer;
use templates::Templates;
use webhook::WebhookSubscriber;

/// What composing a message needs.
pub(crate) struct Context {
    /// The database (users' addresses and languages, audit rows).
    pub(crate) store: Arc<Store>,
    /// The service layer (the daily summary).
    pub(crate) ops: Arc<Ops>,
    /// `quota.timezone`.
    pub(crate) tz: Tz,
    /// `email.admins`.
    pub(crate) admins: Vec<Mailbox>,
    /// `email.language`.
    pub(crate) admin_language: Language,
}

/// The notification subscribers and the alerts they raise.
pub(crate) type Notifiers = (Vec<Arc<dyn Subscriber>>, Arc<Alerts>);

/// The notification subscribers for `config` and the alerts they (and the watcher)
/// raise. No email without `email.smtp_url`; no webhooks without `[[webhook]]`.
pub(crate) fn subscribers(
    config: &Config,
    store: &Arc<Store>,
    ops: &Arc<Ops>,
    source: &str,
) -> Result<Notifiers, String> {
    let cx = Arc::new(Context {
        store: Arc::clone(store),
        ops: Arc::clone(ops),
        tz: config.quota.timezone,
        admins: config.email.admins.clone(),
        admin_language: config.email.language,
    });
    let mut out: Vec<Arc<dyn Subscriber>> = Vec::new();
    let email = match (&config.email.smtp, &config.email.from) {
        (Some(url), Some(from)) => {
            let mailer = Arc::new(Mailer::new(&url.0, from.clone())?);
            let templates =
                Arc::new(Templates::load().map_err(|e| format!("email templates: {e:#}"))?);
            Some((mailer, templates))
        }
        _ => None,
    };
    let direct = email.as_ref().map(|(mailer, templates)| Direct {
        cx: Arc::clone(&cx),
        mailer: Arc::clone(mailer),
        templates: Arc::clone(templates),
    });
    let alerts = Arc::new(Alerts::new(Arc::clone(store), source.to_string(), direct));
    if let Some((mailer, templates)) = email {
        for audience in [Audience::Users, Audience::Admins] {
            out.push(Arc::new(EmailSubscriber {
                audience,
                cx: Arc::clone(&cx),
                mailer: Arc::clone(&mailer),
                templates: Arc::clone(&templates),
                alerts: Arc::clone(&alerts),
            }));
        }
    }
    for hook in &config.webhooks {
        out.push(Arc::new(WebhookSubscriber::new(
            hook.clone(),
            Arc::clone(store),
            Arc::clone(&alerts),
        )?));
    }
    Ok((out, alerts))
}

#[cfg(test)]
mod samples;
