//! Group commit: calls append whole frames to one shared buffer under a short lock; one
//! thread writes what has gathered to the current segment, makes it durable with one
//! `fdatasync`, and publishes the sequence number it reached. Every call whose frame was
//! in that write is released by the same fsync, so under load many calls share one.
//!
//! Segments: a segment counts the calls that began in it and whose records are not yet
//! durable in the database (their [`Ticket`]s). The current segment is sealed when it
//! passes [`SEGMENT_BYTES`] or [`SEGMENT_AGE`]; sealed segments are deleted from the
//! oldest on while their count is zero. A call's end frame is always in its begin
//! segment or a later one, so deleting a prefix of segments whose calls are all stored
//! loses nothing. A write that fails is retried, after a pause, into a new file of the
//! same segment (the old file's tail is unknown; replay reads each file up to its
//! first bad frame).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::frame::HEADER;
use super::syncer::Syncer;
use crate::config::JournalMode;

/// A segment is sealed once this many bytes are in it.
pub(crate) const SEGMENT_BYTES: u64 = 8 << 20;
/// A segment with frames in it is sealed after this long, so a quiet proxy's journal
/// shrinks too.
pub(crate) const SEGMENT_AGE: Duration = Duration::from_secs(30);
/// How often an idle writer looks for segments it may delete.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// One segment of the journal.
#[derive(Debug)]
pub(crate) struct Segment {
    id: u64,
    /// Calls begun in this segment whose records are not yet durable in the database.
    pending: AtomicU64,
}

/// A call's hold on the segment its begin frame is in; dropped when the call's record is
/// durable in the database (or the spill file). An empty ticket holds nothing (the
/// journal is off, or the call was not journaled).
#[derive(Debug, Default)]
#[must_use]
pub(crate) struct Ticket(Option<Arc<Segment>>);

impl Ticket {
    /// Keeps the call's segment on disk for the next start's replay: its record could
    /// not be stored or spilled.
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.pending.fetch_sub(1, Ordering::Release);
        }
    }
}

/// What callers append to.
struct Inner {
    buf: Vec<u8>,
    /// Sequence number of the last frame appended.
    appended: u64,
    current: Arc<Segment>,
    stop: bool,
}

/// State shared by the callers and the writer thread.
pub(super) struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
    /// Highest sequence number durable on disk.
    pub(super) durable: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock guards plain buffers; a panic while holding it cannot leave them in a
        // state worse than a torn write, which replay handles.
        self.inner.lock()
    }

    /// Appends one encoded frame; returns its sequence number, and a ticket on the
    /// current segment when `begin`.
    pub(super) fn append(&self, frame: &[u8], begin: bool) -> (u64, Ticket) {
        let mut g = self.lock();
        g.buf.extend_from_slice(frame);
        g.appended += 1;
        let seq = g.appended;
        let ticket = if begin {
            g.current.pending.fetch_add(1, Ordering::Relaxed);
            Ticket(Some(Arc::clone(&g.current)))
        } else {
            Ticket::default()
        };
        drop(g);
        self.wake.notify_one();
        (seq, ticket)
    }

    /// Asks the writer to write what is left and stop.
    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }
}

/// The writer thread's own state.
struct Writer {
    dir: PathBuf,
    shared: Arc<Shared>,
    /// The file of the current segment, its bytes, and when it was opened.
    file: Option<(Arc<File>, u64, Instant)>,
    /// The background fsync of the `write` mode (none: each write is synced).
    syncer: Option<Arc<Syncer>>,
    part: u32,
    /// Files of the current segment (more than one after a failed write).
    current_files: Vec<PathBuf>,
    /// Sealed segments, oldest first, with their files.
    sealed: VecDeque<(Arc<Segment>, Vec<PathBuf>)>,
    failing: bool,
}

/// Starts the writer thread on `dir` (and the sync thread in the `write` mode); segment
/// numbers start at `first_id`.
pub(super) fn start(
    dir: &Path,
    first_id: u64,
    mode: JournalMode,
) -> std::io::Result<(Arc<Shared>, std::thread::JoinHandle<()>)> {
    let syncer = match mode {
        JournalMode::Write => {
            let syncer = Arc::new(Syncer::default());
            let s = Arc::clone(&syncer);
            std::thread::Builder::new()
                .name("journal-sync".into())
                .spawn(move || s.run())?;
            Some(syncer)
        }
        JournalMode::Fsync | JournalMode::Off => None,
    };
    let (durable, _) = watch::channel(0);
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            buf: Vec::with_capacity(64 << 10),
            appended: 0,
            current: Arc::new(Segment {
                id: first_id,
                pending: AtomicU64::new(0),
            }),
            stop: false,
        }),
        wake: Condvar::new(),
        durable,
    });
    let mut writer = Writer {
        dir: dir.to_path_buf(),
        shared: Arc::clone(&shared),
        file: None,
        syncer,
        part: 0,
        current_files: Vec::new(),
        sealed: VecDeque::new(),
        failing: false,
    };
    let thread = std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || writer.run())?;
    Ok((shared, thread))
}

impl Writer {
    fn run(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut spare: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut backoff = Duration::from_millis(50);
        loop {
            // Take what has gathered; seal the segment if it is full or old.
            let (seq, segment, seal, stop) = {
                let mut g = shared.lock();
                while g.buf.is_empty() && spare.is_empty() && !g.stop {
                    shared.wake.wait_for(&mut g, IDLE_TICK);
                    if g.buf.is_empty() {
                        drop(g);
                        self.delete_done();
                        g = shared.lock();
                    }
                }
                // After a failed write `spare` still holds its frames: keep them first.
                spare.extend_from_slice(&g.buf);
                g.buf.clear();
                let segment = Arc::clone(&g.current);
                let seal = !g.stop
                    && self.file.as_ref().is_some_and(|(_, bytes, opened)| {
                        *bytes + spare.len() as u64 >= SEGMENT_BYTES
                            || opened.elapsed() >= SEGMENT_AGE
                    });
                if seal {
                    g.current = Arc::new(Segment {
                        id: segment.id + 1,
                        pending: AtomicU64::new(0),
                    });
                }
                (g.appended, segment, seal, g.stop)
            };
            if spare.is_empty() && stop {
                break;
            }
            match self.write(&segment, &spare) {
                Ok(()) => {
                    if self.failing {
                        tracing::info!(dir = %self.dir.display(), "crash journal writable again");
                        self.failing = false;
                    }
                    backoff = Duration::from_millis(50);
                    spare.clear();
                    shared.durable.send_replace(seq);
                    if seal {
                        self.seal(segment);
                    }
                }
                Err(e) => {
                    if !self.failing {
                        tracing::error!(error = %e, dir = %self.dir.display(),
                            "cannot write the crash journal; calls are refused until it can");
                        self.failing = true;
                    }
                    // The file's tail is unknown: the frames go again into a new file.
                    self.leave_file();
                    if seal {
                        self.seal(segment);
                    }
                    if stop {
                        break;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
            self.delete_done();
        }
        // Stopped: the current segment is sealed too; whatever is fully stored goes.
        let current = Arc::clone(&shared.lock().current);
        self.seal(current);
        self.delete_done();
        if let Some(syncer) = &self.syncer {
            syncer.stop();
        }
    }

    /// Stops writing to the current file (the sync thread syncs it once more).
    fn leave_file(&mut self) {
        self.file = None;
        if let Some(syncer) = &self.syncer {
            syncer.retire();
        }
    }

    /// Writes `bytes` to `segment`'s file and makes them durable (or, in the `write`
    /// mode, hands them to the operating system).
    fn write(&mut self, segment: &Segment, bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            let path = self
                .dir
                .join(format!("{:016}-{:03}.seg", segment.id, self.part));
            self.part += 1;
            let mut f = std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            self.current_files.push(path);
            f.write_all(HEADER)?;
            let f = Arc::new(f);
            // The new name must survive a power loss as well as its bytes.
            match &self.syncer {
                Some(syncer) => syncer.current(Arc::clone(&f), &self.dir),
                None => File::open(&self.dir)?.sync_all()?,
            }
            self.file = Some((f, HEADER.len() as u64, Instant::now()));
        }
        let Some((f, written, _)) = self.file.as_mut() else {
            return Err(std::io::Error::other("journal file not open"));
        };
        (&**f).write_all(bytes)?;
        if self.syncer.is_none() {
            f.sync_data()?;
        }
        *written += bytes.len() as u64;
        Ok(())
    }

    /// Moves `segment` (the one just written) to the sealed list with its files.
    fn seal(&mut self, segment: Arc<Segment>) {
        self.leave_file();
        self.part = 0;
        let files = std::mem::take(&mut self.current_files);
        if !files.is_empty() {
            self.sealed.push_back((segment, files));
        }
    }

    /// Deletes sealed segments, oldest first, while every call begun in them is stored.
    fn delete_done(&mut self) {
        while let Some((segment, files)) = self.sealed.front() {
            if segment.pending.load(Ordering::Acquire) != 0 {
                break;
            }
            for f in files {
                if let Err(e) = std::fs::remove_file(f) {
                    tracing::warn!(error = %e, file = %f.display(), "cannot delete a journal segment");
                }
            }
            self.sealed.pop_front();
        }
    }
}
