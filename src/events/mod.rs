//! Delivering domain events from the outbox to their subscribers, off the request path.
//!
//! The service layer writes each event (`crate::domain::DomainEvent`) into the outbox in
//! the same transaction as the change it describes. Here, every proxy runs one
//! [`dispatcher`] that claims undelivered events per [`Subscriber`] under a lease (one
//! proxy holds a delivery at a time), hands them over, and marks them delivered or
//! failed with a retry time, or gives it up after the subscriber's last try. Subscribers:
//! [`log::LogSubscriber`] (one log line per event) and, in the notify module, email and
//! webhooks; the IAM backstop plugs in as a further one.

pub(crate) mod dispatcher;
pub(crate) mod log;

use std::future::Future;
use std::pin::Pin;

use crate::domain::DomainEvent;

/// A boxed delivery future.
pub(crate) type Delivery<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Something that must hear about events: gets each event once it is claimed for it,
/// and answers `Err(why)` to have it retried later.
pub(crate) trait Subscriber: Send + Sync + 'static {
    /// A stable name: deliveries are tracked per name in the database.
    fn name(&self) -> &str;
    /// Handles one event (`id`: its outbox id).
    fn deliver<'a>(&'a self, id: i64, event: &'a DomainEvent) -> Delivery<'a>;
    /// Tries before a delivery is given up; `None` retries for ever.
    fn max_attempts(&self) -> Option<i64> {
        None
    }
    /// Hears once that the delivery of event `id` was given up after its last try.
    fn gave_up<'a>(&'a self, id: i64, event: &'a DomainEvent, why: &'a str) -> Delivery<'a> {
        let _ = (id, event, why);
        Box::pin(async { Ok(()) })
    }
}
