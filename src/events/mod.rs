//! Delivering domain events from the outbox to their subscribers, off the request path.
//!
//! The service layer writes each event (`crate::domain::DomainEvent`) into the outbox in
//! the same transaction as the change it describes. Here, every proxy runs one
//! [`dispatcher`] that claims undelivered events per [`Subscriber`] under a lease (one
//! proxy holds a delivery at a time), hands them over, and marks them delivered or
//! failed with a retry time. Subscribers built today: [`log::LogSubscriber`], one log
//! line per event. Email, webhooks and the IAM backstop plug in as further subscribers.

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
    fn name(&self) -> &'static str;
    /// Handles one event.
    fn deliver<'a>(&'a self, event: &'a DomainEvent) -> Delivery<'a>;
}
