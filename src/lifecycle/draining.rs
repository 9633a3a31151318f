//! The open connections of one listener on one thread, and how they end on shutdown:
//! each connection task wraps its hyper connection in a graceful watcher; draining tells
//! every connection to finish its in-flight requests (streams included) and close,
//! waits at most the grace period, then aborts what is left.

use std::future::Future;
use std::time::Duration;

use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::task::JoinSet;

/// The connection tasks of one listener on the current runtime.
pub(crate) struct ConnectionSet {
    graceful: GracefulShutdown,
    tasks: JoinSet<()>,
}

impl ConnectionSet {
    /// No connections yet.
    pub(crate) fn new() -> Self {
        Self {
            graceful: GracefulShutdown::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Spawns a connection task on the current runtime. `serve` gets the watcher its
    /// hyper connection must be wrapped in (`watcher.watch(conn)`), so draining can ask
    /// it to finish.
    pub(crate) fn spawn<F, Fut>(&mut self, serve: F)
    where
        F: FnOnce(Watcher) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(serve(self.graceful.watcher()));
        // Reap finished connection tasks so the set does not grow without bound.
        while self.tasks.try_join_next().is_some() {}
    }

    /// Connection tasks not yet reaped.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Asks every connection to finish its in-flight requests and close, waits at most
    /// `grace`, then aborts the rest. Returns whether all finished within `grace`.
    pub(crate) async fn drain(mut self, grace: Duration) -> bool {
        let finished = tokio::time::timeout(grace, self.graceful.shutdown())
            .await
            .is_ok();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        finished
    }
}

#[cfg(test)]
#[path = "draining_tests.rs"]
mod tests;
