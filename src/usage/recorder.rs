//! The request-record writer: calls push one [`RequestRecord`] each onto an unbounded
//! channel (never blocking, never waiting on the database), and one background task
//! inserts them in batches.
//!
//! A batch that fails is kept and retried with backoff; inserts are idempotent by
//! `request_uid`, so a retry after an unknown outcome cannot double-count. Every write
//! of a batch has a deadline ([`write_deadline`]: `quota.store_timeout_ms` plus 1 ms per
//! row), so a database that stops answering (frozen, or cut off without the connection
//! being closed) cannot hold the writer: the write is abandoned and retried like a
//! failed one, and a shutdown never waits on it. The first failure of a run of them is
//! logged, and the recovery once it ends; the retries in between are not. On shutdown
//! the writer drains the channel and flushes; if the database stays away for
//! [`SHUTDOWN_RETRY`], the remaining records go to a JSON-lines spill file, which the
//! next `serve` imports before it accepts calls. Nothing is dropped.
//!
//! A record may come with its call's crash-journal [`Ticket`]: the ticket is dropped
//! once the record is durable in the database (or the spill file), which lets the
//! journal delete the segment the call began in.
//!
//! Refused calls are recorded too, through [`Recorder::record_refusal`], which bounds
//! them per user and by the queue's depth (`refusals`); real calls are never dropped.
//!
//! The queue's depth (records queued and not yet written or spilled) is the gauge
//! `bedrock_gate_record_queue_depth`; failed inserts count in
//! `bedrock_gate_database_errors_total{operation="record_insert"}`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::refusals::{stored_message, RefusalGate, Verdict, BURST, MAX_QUEUE, PER_SECOND};
use crate::journal::Ticket;
use crate::metrics::Metrics;
use crate::store::{RequestRecord, Store};

/// Rows per batch at the final flush.
pub(crate) const BATCH: usize = 500;
/// At most this many records are taken into one transaction.
pub(crate) const MAX_PENDING: usize = 20_000;
/// How long a record may wait for companions before its batch is written.
pub(crate) const LINGER: Duration = Duration::from_millis(100);
/// How long the final flush keeps retrying before it spills to a file.
pub(crate) const SHUTDOWN_RETRY: Duration = Duration::from_secs(20);
/// What each row adds to a batch's write deadline.
const DEADLINE_PER_ROW: Duration = Duration::from_millis(1);

/// How long one write of `rows` records may take before it is abandoned and retried:
/// the store deadline (`quota.store_timeout_ms`) plus [`DEADLINE_PER_ROW`] per row, so
/// that a large backlog written after an outage is not cut off for its size.
pub(crate) fn write_deadline(store_timeout: Duration, rows: usize) -> Duration {
    store_timeout + DEADLINE_PER_ROW * u32::try_from(rows).unwrap_or(u32::MAX)
}

/// The sending side, cloned into every call.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::UnboundedSender<(RequestRecord, Ticket)>,
    /// Records queued and not yet written.
    queued: Gauge,
    /// Which refusals get a row (bounded per user and by the queue).
    refusals: Arc<RefusalGate>,
    metrics: Arc<Metrics>,
}

impl Recorder {
    /// Queues a record with its call's journal ticket. Never blocks.
    pub(crate) fn record(&self, record: RequestRecord, ticket: Ticket) {
        self.queued.inc();
        if let Err(mpsc::error::SendError((r, t))) = self.tx.send((record, ticket)) {
            self.queued.dec();
            // The call's journal segment stays for the next start to replay.
            t.keep();
            // Only after the writer has stopped; keep the record visible in the log.
            tracing::error!(request_uid = %r.request_uid, user = %r.username,
                "request record arrived after the writer stopped");
        }
    }

    /// Queues the record of a refused call (its `refused` and `refusal_message` set),
    /// unless its user's refusals come faster than [`refusals`](super::refusals) lets
    /// through or the queue holds [`MAX_QUEUE`] records: then it is only counted.
    /// Returns whether it was queued. Never blocks.
    pub(crate) fn record_refusal(&self, mut record: RequestRecord) -> bool {
        let reason = record.refused.map_or("", |r| r.as_str());
        let queue_full = self.queued.get() >= MAX_QUEUE;
        match self
            .refusals
            .take(record.user_id, Instant::now(), queue_full)
        {
            Verdict::Record { skipped } => {
                if skipped > 0 {
                    tracing::info!(user = %record.username, skipped,
                        "recording this user's refusals again");
                }
                let message = record.refusal_message.as_deref().unwrap_or("");
                record.refusal_message = Some(stored_message(message, skipped));
                self.metrics.refusal_record(true, reason);
                self.record(record, Ticket::default());
                true
            }
            Verdict::Skip { first } => {
                if first {
                    tracing::warn!(user = %record.username, queue_full,
                        "this user's refusals come faster than they are recorded \
                         ({BURST} at once, then {PER_SECOND} per second); the rest are \
                         counted in bedrock_gate_refusal_records_total{{result=\"skipped\"}}");
                }
                self.metrics.refusal_record(false, reason);
                false
            }
        }
    }
}

/// Controls the writer task.
pub(crate) struct RecorderHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RecorderHandle {
    /// Drains every queued record into the database (or the spill file) and stops.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!(error = %e, "record writer failed");
        }
    }
}

/// Starts the writer; `store_timeout` (`quota.store_timeout_ms`) is the base of its
/// write deadline ([`write_deadline`]).
pub(crate) fn spawn(
    store: Arc<Store>,
    spill_file: PathBuf,
    metrics: Arc<Metrics>,
    store_timeout: Duration,
) -> (Recorder, RecorderHandle) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let queued = metrics.record_queue();
    let writer = Writer {
        store,
        metrics: Arc::clone(&metrics),
        store_timeout,
        failures: 0,
    };
    let task = tokio::spawn(run(writer, rx, stop_rx, spill_file));
    (
        Recorder {
            tx,
            queued,
            refusals: Arc::new(RefusalGate::default()),
            metrics,
        },
        RecorderHandle {
            stop: Some(stop_tx),
            task,
        },
    )
}

/// The database side of the writer: inserts with a deadline, and the log of a run of
/// failures (its first failure and its end).
struct Writer {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    store_timeout: Duration,
    /// Failed writes since the last one that succeeded.
    failures: u64,
}

impl Writer {
    /// Inserts `records` within their [`write_deadline`]. A write past it is dropped
    /// (its transaction is not committed by this attempt; if the commit had already
    /// gone out, the retry skips the rows by `request_uid`).
    async fn insert(&mut self, records: &[RequestRecord]) -> Result<(), String> {
        let deadline = write_deadline(self.store_timeout, records.len());
        let result = match tokio::time::timeout(deadline, self.store.insert_requests(records)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the database did not answer within {} ms",
                deadline.as_millis()
            )),
        };
        match &result {
            Ok(()) => {
                if self.failures > 0 {
                    tracing::info!(
                        failed_attempts = self.failures,
                        "request records are written again"
                    );
                }
                self.failures = 0;
            }
            Err(e) => {
                self.metrics.database_error("record_insert");
                if self.failures == 0 {
                    tracing::warn!(error = %e, pending = records.len(),
                        "writing request records failed; keeping them and retrying until \
                         the database answers");
                } else {
                    tracing::debug!(error = %e, pending = records.len(),
                        "writing request records failed again");
                }
                self.failures += 1;
            }
        }
        result
    }
}

async fn run(
    mut writer: Writer,
    mut rx: mpsc::UnboundedReceiver<(RequestRecord, Ticket)>,
    mut stop: oneshot::Receiver<()>,
    spill_file: PathBuf,
) {
    let queued = writer.metrics.record_queue();
    let mut batch: Vec<RequestRecord> = Vec::with_capacity(BATCH);
    // The journal tickets of `batch`'s records, dropped once they are stored.
    let mut tickets: Vec<Ticket> = Vec::with_capacity(BATCH);
    'outer: loop {
        tokio::select! {
            r = rx.recv() => match r {
                Some((r, t)) => {
                    batch.push(r);
                    tickets.push(t);
                }
                None => break 'outer,
            },
            _ = &mut stop => break 'outer,
        }
        // Let companions gather without waking for each one: sleep out the linger, then
        // take everything queued (the writer wakes about once per LINGER under load, not
        // once per call).
        tokio::select! {
            _ = tokio::time::sleep(LINGER) => {}
            // The shutdown path below takes over `batch` and the rest of the queue.
            _ = &mut stop => break 'outer,
        }
        while batch.len() < MAX_PENDING {
            match rx.try_recv() {
                Ok((r, t)) => {
                    batch.push(r);
                    tickets.push(t);
                }
                Err(_) => break,
            }
        }
        flush_until_stored(&mut writer, &mut batch, &mut stop).await;
        if batch.is_empty() {
            tickets.clear();
        } else {
            break; // stop arrived while the database was away
        }
    }
    // Shutdown: everything still queued joins the last batches.
    rx.close();
    while let Ok((r, t)) = rx.try_recv() {
        batch.push(r);
        tickets.push(t);
    }
    let deadline = Instant::now() + SHUTDOWN_RETRY;
    let mut backoff = Duration::from_millis(100);
    while !batch.is_empty() {
        let n = batch.len().min(BATCH);
        match writer.insert(&batch[..n]).await {
            Ok(()) => {
                batch.drain(..n);
                tickets.drain(..n);
                queued.dec_by(n as i64);
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(error = %e, pending = batch.len(), file = %spill_file.display(),
                    "database unavailable at shutdown; spilling records to a file");
                if let Err(e) = spill(&spill_file, &batch) {
                    tracing::error!(error = %e, "could not write the spill file");
                    // Their journal segments stay for the next start's replay.
                    tickets.drain(..).for_each(Ticket::keep);
                    for r in &batch {
                        if let Ok(line) = serde_json::to_string(r) {
                            tracing::error!(record = %line, "unsaved request record");
                        }
                    }
                }
                queued.dec_by(batch.len() as i64);
                batch.clear();
                tickets.clear();
            }
        }
    }
}

/// Writes `batch` until it is stored; returns early (with the batch kept) if `stop`
/// fires, also in the middle of a write (the shutdown path writes it again; a write cut
/// off after its commit is skipped by `request_uid`).
async fn flush_until_stored(
    writer: &mut Writer,
    batch: &mut Vec<RequestRecord>,
    stop: &mut oneshot::Receiver<()>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let written = tokio::select! {
            r = writer.insert(batch) => r,
            _ = &mut *stop => return,
        };
        if written.is_ok() {
            writer.metrics.record_queue().dec_by(batch.len() as i64);
            batch.clear();
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = &mut *stop => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn spill(path: &Path, records: &[RequestRecord]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    for r in records {
        let line = serde_json::to_string(r).map_err(std::io::Error::other)?;
        writeln!(f, "{line}")?;
    }
    f.sync_all()
}

/// Imports a spill file left by an earlier shutdown, then removes it. Lines that do not
/// parse are reported and kept in a `.rejected` file beside it.
pub(crate) async fn import_spill(
    store: &Store,
    path: &Path,
) -> Result<u64, crate::store::StoreError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(0);
    };
    let mut records = Vec::new();
    let mut rejected = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<RequestRecord>(line) {
            Ok(r) => records.push(r),
            Err(e) => {
                tracing::error!(error = %e, "unreadable line in the spill file");
                rejected.push_str(line);
                rejected.push('\n');
            }
        }
    }
    let mut inserted = 0;
    for chunk in records.chunks(BATCH) {
        inserted += store.insert_requests(chunk).await?;
    }
    if !rejected.is_empty() {
        let mut name = path.as_os_str().to_owned();
        name.push(".rejected");
        if let Err(e) = std::fs::write(PathBuf::from(name), rejected) {
            tracing::error!(error = %e, "could not keep rejected spill lines");
        }
    }
    if let Err(e) = std::fs::remove_file(path) {
        tracing::error!(error = %e, "could not remove the imported spill file");
    }
    tracing::info!(inserted, file = %path.display(), "imported spilled request records");
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MetricsConfig;
    use crate::metrics::BlockedUsers;

    fn refusal(user_id: i64) -> RequestRecord {
        crate::store::refused_record(user_id)
    }

    #[tokio::test]
    async fn refusals_are_not_queued_while_the_queue_is_full() {
        let config = MetricsConfig {
            per_user: false,
            max_users: 1,
        };
        let metrics = Arc::new(Metrics::new(&config, Box::new(BlockedUsers::default)));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let recorder = Recorder {
            tx,
            queued: metrics.record_queue(),
            refusals: Arc::new(RefusalGate::default()),
            metrics: Arc::clone(&metrics),
        };
        // The writer is behind (a database away): the queue holds MAX_QUEUE records.
        metrics.record_queue().set(MAX_QUEUE);
        assert!(!recorder.record_refusal(refusal(1)));
        assert!(!recorder.record_refusal(refusal(2)));
        assert!(rx.try_recv().is_err(), "nothing was queued");
        assert_eq!(metrics.record_queue().get(), MAX_QUEUE);
        // Once it drains, the user's next refusal is queued and says what was skipped.
        metrics.record_queue().set(0);
        assert!(recorder.record_refusal(refusal(1)));
        let (queued, _) = rx.try_recv().unwrap();
        let note = queued.refusal_message.unwrap();
        assert!(
            note.contains("1 earlier refusal of this user was not"),
            "{note}"
        );
        let text = metrics.render().unwrap();
        assert!(
            text.contains(
                r#"bedrock_gate_refusal_records_total{result="skipped",reason="blocked"} 2"#
            ),
            "{text}"
        );
    }
}
