//! [`LookNow`]: a call that names a key or token this proxy does not know asks the change
//! watcher (`serve::watcher`) to look at the database now instead of at its next poll,
//! and waits for that look, briefly: a key issued a moment ago (a provisioning script
//! that creates a key and uses it at once) works on its first call instead of after up
//! to one poll interval of 403s.
//!
//! Looks are paced ([`MIN_GAP`]): a flood of calls with made-up keys costs the database
//! at most one state-version query per gap, and each such call waits at most
//! [`WAIT`] before it is refused as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// The shortest time between two looks asked for by calls.
pub(crate) const MIN_GAP: Duration = Duration::from_millis(100);
/// The longest a call waits for the look it asked for.
pub(crate) const WAIT: Duration = Duration::from_secs(1);

/// Shared by the calls that ask and the watcher that looks.
#[derive(Clone, Default)]
pub(crate) struct LookNow {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    kick: Notify,
    /// Looks begun.
    started: AtomicU64,
    /// Looks finished (whatever they found).
    finished: watch::Sender<u64>,
}

impl LookNow {
    /// Asks for a look that begins after this call and waits for it to finish, at most
    /// [`WAIT`]; `true` when it did (whatever it found).
    pub(crate) async fn look(&self) -> bool {
        let mut finished = self.inner.finished.subscribe();
        // A look already under way may have read the database before the key was
        // made: wait for one that begins after now.
        let after = self.inner.started.load(Ordering::Acquire);
        self.inner.kick.notify_one();
        tokio::time::timeout(WAIT, finished.wait_for(|n| *n > after))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The watcher: resolves when a call asked for a look.
    pub(crate) async fn asked(&self) {
        self.inner.kick.notified().await;
    }

    /// The watcher: a look begins.
    pub(crate) fn begin(&self) {
        self.inner.started.fetch_add(1, Ordering::AcqRel);
    }

    /// The watcher: the look that began last has finished.
    pub(crate) fn done(&self) {
        self.inner.finished.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_waits_for_a_look_that_begins_after_it_asked() {
        let looks = LookNow::default();
        // A look under way when the call asks does not count.
        looks.begin();
        let watcher = looks.clone();
        let asked = tokio::spawn(async move { watcher.look().await });
        tokio::task::yield_now().await;
        looks.done();
        tokio::task::yield_now().await;
        assert!(!asked.is_finished(), "the earlier look answered the call");
        looks.asked().await;
        looks.begin();
        looks.done();
        assert!(asked.await.unwrap());
    }

    #[tokio::test]
    async fn nobody_looking_ends_the_wait_at_its_deadline() {
        let looks = LookNow::default();
        let started = tokio::time::Instant::now();
        assert!(!looks.look().await);
        assert!(started.elapsed() >= WAIT);
    }
}
