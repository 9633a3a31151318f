//! `lifecycle`: how long-running work starts and stops. It owns the task registry
//! ([`tasks`]: every background task and listener registered with a name and a
//! [`Stage`], drained stage by stage with a deadline each), the accept loop both
//! listeners share ([`accept`]: backoff on accept errors, logged once per burst), and
//! the connection set both listeners drain on shutdown ([`draining`]).
//!
//! There is one shutdown signal: the future handed to `serve`. When it resolves, the
//! registry fires each stage's stop signal (a `CancellationToken`) in [`Stage`] order and waits for that
//! stage's tasks before it starts the next, so a later stage never loses work that an
//! earlier one still produces (records, quota events).

pub(crate) mod accept;
pub(crate) mod draining;
pub(crate) mod tasks;

pub(crate) use tasks::{Stage, TaskRegistry};
