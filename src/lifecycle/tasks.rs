//! The task registry: every background task, listener and shutdown step is registered
//! with a name and a [`Stage`]; [`TaskRegistry::shutdown`] drains the stages in order,
//! each within its deadline, and names every task that did not finish in time (that
//! task is then aborted, so shutdown always ends).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// When a task stops, in shutdown order. Each stage starts only after every task of the
/// stage before it has finished (or run out of its deadline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// The listeners stop accepting, then let in-flight calls (streams included) finish
    /// within `proxy.shutdown_grace`, then close what is left.
    Listeners,
    /// The record writer flushes every queued request record (or spills it to a file).
    Records,
    /// Quota capacity this proxy reserved and did not use goes back to the database.
    QuotaCapacity,
    /// Quota events already raised (warnings, automatic blocks) are written.
    QuotaEvents,
    /// The change watcher, the reset scheduler, the credential refresher and the idle
    /// capacity returner stop.
    Background,
    /// The database closes.
    Database,
}

impl Stage {
    /// Every stage, in shutdown order.
    pub(crate) const ORDER: [Stage; 6] = [
        Stage::Listeners,
        Stage::Records,
        Stage::QuotaCapacity,
        Stage::QuotaEvents,
        Stage::Background,
        Stage::Database,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

type Step = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What runs for an entry at its stage.
enum Work {
    /// A spawned task, joined at its stage (aborted if it misses the deadline).
    Task(JoinHandle<()>),
    /// A step that runs only at shutdown (flush, close).
    Step(Step),
}

struct Entry {
    name: &'static str,
    stage: Stage,
    work: Work,
}

/// The registered tasks and shutdown steps, with one stop signal per stage.
pub(crate) struct TaskRegistry {
    stops: [CancellationToken; Stage::ORDER.len()],
    deadlines: [Duration; Stage::ORDER.len()],
    entries: Vec<Entry>,
}

impl TaskRegistry {
    /// An empty registry; `deadline` gives each stage's deadline.
    pub(crate) fn new(deadline: impl Fn(Stage) -> Duration) -> Self {
        Self {
            stops: Default::default(),
            deadlines: Stage::ORDER.map(deadline),
            entries: Vec::new(),
        }
    }

    /// The signal that fires when `stage` begins: a task that watches it stops on its own
    /// (a listener stops accepting and drains its connections).
    pub(crate) fn stop_signal(&self, stage: Stage) -> CancellationToken {
        self.stops[stage.index()].clone()
    }

    /// Spawns a task that ends by itself at its stage: it watches
    /// [`TaskRegistry::stop_signal`], or its input closes once earlier stages are done.
    pub(crate) fn spawn(
        &mut self,
        name: &'static str,
        stage: Stage,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let work = Work::Task(tokio::spawn(task));
        self.entries.push(Entry { name, stage, work });
    }

    /// Spawns a task that would run forever (a poll loop): at its stage it is dropped at
    /// its next await point.
    pub(crate) fn spawn_until_stopped(
        &mut self,
        name: &'static str,
        stage: Stage,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let stop = self.stop_signal(stage);
        self.spawn(name, stage, async move {
            tokio::select! {
                biased;
                _ = stop.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Registers a step that runs only at shutdown, at its stage (flush the records,
    /// close the database).
    pub(crate) fn on_shutdown(
        &mut self,
        name: &'static str,
        stage: Stage,
        step: impl Future<Output = ()> + Send + 'static,
    ) {
        let work = Work::Step(Box::pin(step));
        self.entries.push(Entry { name, stage, work });
    }

    /// Drains every stage in [`Stage`] order: fires the stage's stop signal, then waits
    /// for its tasks and steps together, at most the stage's deadline. What misses the
    /// deadline is logged by name and aborted (a step is dropped).
    pub(crate) async fn shutdown(self) {
        let Self {
            stops,
            deadlines,
            mut entries,
        } = self;
        for stage in Stage::ORDER {
            let (now, later): (Vec<Entry>, Vec<Entry>) =
                entries.into_iter().partition(|e| e.stage == stage);
            entries = later;
            stops[stage.index()].cancel();
            let deadline = deadlines[stage.index()];
            join_all(now.into_iter().map(|entry| finish(entry, deadline))).await;
            tracing::debug!(?stage, "shutdown stage done");
        }
    }
}

/// Waits for one entry up to `deadline`; logs and aborts it if it does not finish.
async fn finish(entry: Entry, deadline: Duration) {
    let Entry { name, stage, work } = entry;
    let finished = match work {
        Work::Task(mut handle) => match tokio::time::timeout(deadline, &mut handle).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                if e.is_panic() {
                    tracing::error!(task = name, ?stage, "task panicked");
                }
                true
            }
            Err(_) => {
                handle.abort();
                false
            }
        },
        Work::Step(step) => tokio::time::timeout(deadline, step).await.is_ok(),
    };
    if !finished {
        tracing::warn!(
            task = name,
            ?stage,
            deadline_ms = deadline.as_millis() as u64,
            "did not finish within its shutdown deadline; stopped"
        );
    }
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
