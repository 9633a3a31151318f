//! The log subscriber: one `info` line per domain event (target `bedrock_gate::events`),
//! so an operator reading the journal sees every block, unblock, warning, limit change,
//! key issue or revocation and reset, written once across all proxies.

use super::{Delivery, Subscriber};
use crate::domain::DomainEvent;

/// Logs each event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogSubscriber;

impl Subscriber for LogSubscriber {
    fn name(&self) -> &str {
        "log"
    }

    fn deliver<'a>(&'a self, _id: i64, event: &'a DomainEvent) -> Delivery<'a> {
        Box::pin(async move {
            let json = serde_json::to_string(event).map_err(|e| e.to_string())?;
            tracing::info!(
                target: "bedrock_gate::events",
                event = event.kind().as_str(),
                subject = event.subject().as_deref().unwrap_or("-"),
                detail = %json,
                "domain event"
            );
            Ok(())
        })
    }
}
