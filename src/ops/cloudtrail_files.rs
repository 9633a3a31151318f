//! Ingesting CloudTrail log files (`cloudtrail ingest`): the files are parsed on a
//! blocking thread and handed over in batches, while the batches already read are
//! counted ([`Ops::ingest_direct_calls`]), so reading and writing overlap. A file that
//! cannot be read to its end is reported by name; the records before the fault count.

use std::path::PathBuf;

use serde::Serialize;
use tokio::sync::mpsc;

use super::direct_calls::IngestCounts;
use super::{Ops, OpsError};
use crate::cloudtrail::{log_files, read_log_file, Seen};
use crate::domain::Actor;

/// Records per batch handed to the counting side.
const BATCH: usize = 10_000;

/// Where an ingest run is, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestProgress {
    /// Files found.
    pub files_total: u64,
    /// Files read to the end (or to their fault).
    pub files_done: u64,
    /// The counts so far.
    pub counts: IngestCounts,
}

/// What an ingest run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Log files read.
    pub files: u64,
    /// What the records were.
    #[serde(flatten)]
    pub counts: IngestCounts,
    /// Files that could not be read to their end, one sentence each.
    pub file_errors: Vec<String>,
}

/// What the reading thread sends.
enum Message {
    Batch(Vec<Seen>),
    FileDone(Option<String>),
}

impl Ops {
    /// Ingests the log files named by `paths` (files, or directories walked
    /// recursively); `progress` hears after every batch.
    pub async fn ingest_log_files(
        &self,
        actor: &Actor,
        paths: Vec<PathBuf>,
        progress: &mut (dyn FnMut(&IngestProgress) + Send),
    ) -> Result<IngestReport, OpsError> {
        let files = log_files(&paths).map_err(|e| OpsError::Invalid(e.to_string()))?;
        let mut state = IngestProgress {
            files_total: files.len() as u64,
            ..Default::default()
        };
        let (tx, mut rx) = mpsc::channel::<Message>(4);
        let reader = tokio::task::spawn_blocking(move || {
            for file in files {
                let mut batch = Vec::with_capacity(BATCH);
                let result = read_log_file(&file, &mut |seen| {
                    batch.push(seen);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        // A closed channel means the counting side stopped: stop too.
                        let _ = tx.blocking_send(Message::Batch(full));
                    }
                });
                if !batch.is_empty() && tx.blocking_send(Message::Batch(batch)).is_err() {
                    return;
                }
                let error = result.err().map(|e| e.to_string());
                if tx.blocking_send(Message::FileDone(error)).is_err() {
                    return;
                }
            }
        });
        let mut report = IngestReport::default();
        while let Some(message) = rx.recv().await {
            match message {
                Message::Batch(batch) => {
                    state.counts += self.ingest_direct_calls(actor, batch).await?;
                }
                Message::FileDone(error) => {
                    state.files_done += 1;
                    report.files += 1;
                    if let Some(e) = error {
                        tracing::debug!(error = %e, "a CloudTrail log file could not be read to its end");
                        report.file_errors.push(e);
                    }
                }
            }
            progress(&state);
        }
        reader
            .await
            .map_err(|e| OpsError::Invalid(format!("reading the log files stopped: {e}")))?;
        report.counts = state.counts;
        report.counts.errors += report.file_errors.len() as u64;
        Ok(report)
    }
}
