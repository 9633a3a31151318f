//! Tests of the task registry: stages drain in order whatever the registration order, a
//! task past its deadline is aborted, and poll loops stop at their stage.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{Stage, TaskRegistry};

fn log() -> (
    mpsc::UnboundedSender<&'static str>,
    mpsc::UnboundedReceiver<&'static str>,
) {
    mpsc::unbounded_channel()
}

fn drained(rx: &mut mpsc::UnboundedReceiver<&'static str>) -> Vec<&'static str> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test]
async fn stages_drain_in_order_whatever_the_registration_order() {
    let (tx, mut rx) = log();
    let mut tasks = TaskRegistry::new(|_| Duration::from_secs(5));
    for stage in Stage::ORDER.into_iter().rev() {
        let tx = tx.clone();
        let name = match stage {
            Stage::Listeners => "listeners",
            Stage::Records => "records",
            Stage::QuotaCapacity => "capacity",
            Stage::QuotaEvents => "events",
            Stage::Background => "background",
            Stage::Database => "database",
        };
        tasks.on_shutdown(name, stage, async move {
            let _ = tx.send(name);
        });
    }
    tasks.shutdown().await;
    assert_eq!(
        drained(&mut rx),
        [
            "listeners",
            "records",
            "capacity",
            "events",
            "background",
            "database"
        ]
    );
}

#[tokio::test]
async fn a_stage_starts_after_the_slow_task_of_the_one_before() {
    let (tx, mut rx) = log();
    let mut tasks = TaskRegistry::new(|_| Duration::from_secs(5));
    let stop = tasks.stop_signal(Stage::Listeners);
    let later = tasks.stop_signal(Stage::Database);
    let listener_tx = tx.clone();
    tasks.spawn("listener", Stage::Listeners, async move {
        stop.cancelled().await;
        assert!(!later.is_cancelled(), "only the listeners' stage has begun");
        // Draining connections takes a while.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = listener_tx.send("listener drained");
    });
    tasks.on_shutdown("database", Stage::Database, async move {
        let _ = tx.send("database closed");
    });
    tasks.shutdown().await;
    assert_eq!(drained(&mut rx), ["listener drained", "database closed"]);
}

#[tokio::test]
async fn a_task_past_its_deadline_is_aborted_and_shutdown_goes_on() {
    let (tx, mut rx) = log();
    let mut tasks = TaskRegistry::new(|stage| match stage {
        Stage::QuotaEvents => Duration::from_millis(50),
        _ => Duration::from_secs(60),
    });
    let (_never_closed, mut input) = mpsc::unbounded_channel::<()>();
    let stuck_tx = tx.clone();
    tasks.spawn("stuck", Stage::QuotaEvents, async move {
        let _ = input.recv().await;
        let _ = stuck_tx.send("stuck finished");
    });
    tasks.on_shutdown("database", Stage::Database, async move {
        let _ = tx.send("database closed");
    });
    let started = tokio::time::Instant::now();
    tasks.shutdown().await;
    assert_eq!(drained(&mut rx), ["database closed"]);
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "waited the deadline"
    );
}

#[tokio::test]
async fn a_poll_loop_stops_at_its_stage() {
    let (tx, mut rx) = log();
    let mut tasks = TaskRegistry::new(|_| Duration::from_secs(60));
    tasks.spawn_until_stopped("watcher", Stage::Background, async move {
        loop {
            let _ = tx.send("tick");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(rx.recv().await, Some("tick"), "the loop runs");
    let started = tokio::time::Instant::now();
    tasks.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped, not waited out"
    );
    while rx.try_recv().is_ok() {}
    assert_eq!(
        rx.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected),
        "the loop and its sender are gone"
    );
}
