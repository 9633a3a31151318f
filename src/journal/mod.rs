//! The crash journal: every call the proxy forwards is durable on local disk before it
//! goes upstream (a begin frame holding its record as a worst-case estimate) and again
//! when it ends (an end frame holding its final record), so a proxy killed by SIGKILL or
//! a power loss leaves enough behind for the next start to write one record for every
//! call that may have reached Bedrock ([`replay`]).
//!
//! Cost on the request path: two serialisations (postcard, compact binary) into a
//! per-thread buffer (the begin frame's record, the end's [`frame::Outcome`]; together
//! about 330 bytes for a typical call) and a short lock to append each;
//! then for the begin frame, in the `write` mode (the default), one `write` system call
//! made by the call itself, shared with whatever other frames are waiting ([`writer`];
//! the fsync every 20 ms is made in the background by `syncer`); in the `fsync` mode a
//! wait for the group commit that makes it durable (many calls share one
//! `fdatasync`). The wait has a deadline, [`WAIT`]; a call whose begin frame is not
//! written by then (or, in the `write` mode, whose write failed) is refused with 503
//! and is not sent (the journal's promise would not hold for it).
//!
//! Segments are deleted once every call begun in them has its record durable in the
//! database: the record writer drops the call's [`Ticket`] then.

pub(crate) mod frame;
pub(crate) mod replay;
pub(crate) mod slot;
mod syncer;
pub(crate) mod writer;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

pub(crate) use writer::Ticket;

use crate::config::JournalMode;
use crate::store::RequestRecord;
use frame::Kind;

/// How long a call waits for its begin frame to be durable before it is refused.
pub(crate) const WAIT: Duration = Duration::from_secs(2);

/// Why the journal could not take a call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    /// The journal directory or a segment could not be opened or read.
    #[error("crash journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The begin frame was not durable within [`WAIT`].
    #[error("the proxy could not write its crash journal within {0:?}; nothing was sent")]
    NotDurable(Duration),
    /// The begin frame could not be written (`write` mode).
    #[error("the proxy could not write its crash journal; nothing was sent")]
    NotWritten,
    /// A record could not be encoded.
    #[error("a request record could not be encoded: {0}")]
    Encode(#[from] postcard::Error),
}

/// The running journal: appended to by calls, written by its own thread.
pub(crate) struct Journal {
    shared: Arc<writer::Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

thread_local! {
    /// Each thread's frame buffer, reused by every call on it.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

impl Journal {
    /// Opens the journal in `dir` (created if absent) for new calls. Run [`replay`]
    /// first: segments already there are left to it, and new ones are numbered after
    /// them.
    pub(crate) fn open(dir: &Path, mode: JournalMode) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        };
        create_private_dir(dir).map_err(io)?;
        let next = replay::segment_files(dir)
            .map_err(io)?
            .iter()
            .filter_map(|p| replay::segment_id(p))
            .max()
            .map_or(0, |id| id + 1);
        let (shared, thread) = writer::start(dir, next, mode).map_err(io)?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends the begin frame of a call about to be forwarded: `estimate` is the record
    /// replay writes if the call's end never reaches the database. Returns the frame's
    /// sequence number and the call's ticket (handed to the record writer with its
    /// record). Does not wait; see [`Journal::durable`].
    pub(crate) fn begin(&self, estimate: &RequestRecord) -> Result<(u64, Ticket), JournalError> {
        self.append(Kind::Begin, estimate)
    }

    /// Waits until the frame `seq` is durable, at most [`WAIT`]; in the `write` mode,
    /// writes it (with whatever other frames are waiting) after letting the other ready
    /// calls run once. Returns at once when it is already written.
    pub(crate) async fn durable(&self, seq: u64) -> Result<(), JournalError> {
        if self.shared.is_written(seq) {
            return Ok(());
        }
        if self.shared.direct() {
            // Other calls ready to run append their frames first: one write for all.
            tokio::task::yield_now().await;
            return self
                .shared
                .flush_to(seq)
                .map_err(|writer::FlushFailed| JournalError::NotWritten);
        }
        let mut rx = self.shared.durable.subscribe();
        let reached = tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= seq))
            .await
            .is_ok_and(|r| r.is_ok());
        if reached {
            Ok(())
        } else {
            Err(JournalError::NotDurable(WAIT))
        }
    }

    /// Appends the outcome frame of a call with its final record. Does not wait: it is
    /// written with the next flush (at most `writer::END_DELAY` later).
    pub(crate) fn end(&self, record: &RequestRecord) {
        if let Err(e) = self.append(Kind::Outcome, &frame::Outcome::of(record)) {
            tracing::error!(error = %e, request_uid = %record.request_uid,
                "could not journal the end of a call");
        }
    }

    fn append<T: serde::Serialize>(
        &self,
        kind: Kind,
        payload: &T,
    ) -> Result<(u64, Ticket), JournalError> {
        SCRATCH.with(|s| {
            let mut buf = s.borrow_mut();
            frame::encode_packed(&mut buf, kind, payload)?;
            let appended = self.shared.append(&buf, kind == Kind::Begin);
            // A rare huge record must not keep its buffer for the thread's life.
            if buf.capacity() > 64 << 10 {
                *buf = Vec::with_capacity(1024);
            }
            Ok(appended)
        })
    }

    /// Writes what is buffered, deletes the segments whose calls are all stored, and
    /// stops the writer thread. Blocks; call after the record writer has stopped.
    pub(crate) fn close(&self) {
        self.shared.stop();
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("the crash journal's writer thread panicked");
            }
        }
    }
}

/// Creates `dir` (and its parents) readable by the owner only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> usize {
        replay::segment_files(dir).unwrap().len()
    }

    async fn journal_three_calls(mode: JournalMode) -> (tempfile::TempDir, Journal, Vec<Ticket>) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), mode).unwrap();
        let mut tickets = Vec::new();
        for uid in ["a", "b", "c"] {
            let (seq, ticket) = journal.begin(&frame::tests::record(uid)).unwrap();
            journal.durable(seq).await.unwrap();
            tickets.push(ticket);
        }
        journal.end(&frame::tests::record("a"));
        (dir, journal, tickets)
    }

    #[tokio::test]
    async fn segments_go_once_every_call_is_stored() {
        for mode in [JournalMode::Fsync, JournalMode::Write] {
            let (dir, journal, tickets) = journal_three_calls(mode).await;
            let (records, _) = replay::read(dir.path()).unwrap();
            assert_eq!(records.len(), 3, "{mode:?}: begun calls are on disk");
            drop(tickets);
            journal.close();
            assert_eq!(
                files(dir.path()),
                0,
                "{mode:?}: nothing left after a clean stop"
            );
        }
    }

    #[tokio::test]
    async fn a_call_not_stored_keeps_its_segment() {
        let (dir, journal, mut tickets) = journal_three_calls(JournalMode::Fsync).await;
        tickets.pop().unwrap().keep();
        drop(tickets);
        journal.close();
        let (records, report) = replay::read(dir.path()).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!((report.ended, report.estimated), (1, 2));
        // A journal opened on it numbers its segments after the kept one.
        let again = Journal::open(dir.path(), JournalMode::Fsync).unwrap();
        let (seq, _t) = again.begin(&frame::tests::record("d")).unwrap();
        again.durable(seq).await.unwrap();
        assert_eq!(files(dir.path()), 2);
    }

    /// Makes `dir` unusable for new segment files (a regular file in its place: even
    /// root cannot create files in it), or usable again.
    fn break_dir(dir: &Path, broken: bool) {
        if broken {
            std::fs::remove_dir_all(dir).unwrap();
            std::fs::write(dir, b"not a directory").unwrap();
        } else {
            std::fs::remove_file(dir).unwrap();
            create_private_dir(dir).unwrap();
        }
    }

    #[tokio::test]
    async fn a_failed_write_refuses_the_call_and_its_frames_are_written_later() {
        for mode in [JournalMode::Write, JournalMode::Fsync] {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("journal");
            let journal = Journal::open(&dir, mode).unwrap();
            break_dir(&dir, true);
            // `write`: the call's own write fails; `fsync`: the writer thread's write
            // fails, and the wait ends at WAIT.
            let (seq, _ticket) = journal.begin(&frame::tests::record("a")).unwrap();
            let refused = journal.durable(seq).await.unwrap_err();
            assert!(
                refused.to_string().contains("nothing was sent"),
                "{mode:?}: {refused}"
            );
            journal.end(&frame::tests::record("a"));
            break_dir(&dir, false);
            // Written again after the pause (a later call's write, or the writer's).
            let written = tokio::time::timeout(WAIT * 2, async {
                loop {
                    let (seq, ticket) = journal.begin(&frame::tests::record("b")).unwrap();
                    if journal.durable(seq).await.is_ok() {
                        return ticket;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .expect("the journal writes again");
            let (records, report) = replay::read(&dir).unwrap();
            let a = records.iter().find(|r| r.request_uid == "a");
            assert!(
                a.is_some(),
                "{mode:?}: the refused call's frames were kept: {records:?}"
            );
            assert!(report.ended >= 1, "{mode:?}: {report:?}");
            drop(written);
            journal.close();
        }
    }
}
