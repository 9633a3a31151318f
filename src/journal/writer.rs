//! Group commit: calls append whole frames to one shared buffer under a short lock, and
//! the buffer is written to the current segment by whoever flushes it:
//!
//! - `fsync` mode: the journal's own thread. It writes what has gathered, makes it
//!   durable with one `fdatasync`, and publishes the sequence number it reached; every
//!   call whose begin frame was in that write is released by the same fsync, so under
//!   load many calls share one.
//! - `write` mode: the call itself, before it is forwarded (one `write` system call, no
//!   hand-off to another thread: the frames are with the operating system, which keeps
//!   them across a SIGKILL, when it returns). Between appending its frame and writing,
//!   a call re-signs its request and lets the other ready calls run once, so one write
//!   often carries the frames of several calls: whoever writes first writes everybody's
//!   frames, and the others find theirs written. The `syncer` thread makes the files
//!   durable every 20 ms.
//!
//! End frames never wake anybody: they go out with the next flush, or within
//! [`END_DELAY`] on a quiet proxy (a call whose end frame is lost is replayed at its
//! worst case, never lost).
//!
//! Segments: a segment counts the calls that began in it and whose records are not yet
//! durable in the database (their [`Ticket`]s). The current segment is sealed when it
//! passes [`SEGMENT_BYTES`] or [`SEGMENT_AGE`]; sealed segments are deleted from the
//! oldest on while their count is zero. A call's end frame is always in its begin
//! segment or a later one, so deleting a prefix of segments whose calls are all stored
//! loses nothing. A write that fails is retried, after a pause, into a new file of the
//! same segment (the old file's tail is unknown; replay reads each file up to its
//! first bad frame).
//!
//! Lock order: the file state, then the append buffer; never the other way.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// How long end frames may wait in memory for a flush on a quiet proxy.
pub(crate) const END_DELAY: Duration = Duration::from_millis(20);
/// How often an idle writer looks for segments it may delete.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// The pause after a failed write, doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

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
    /// `fsync` mode: `buf` holds a begin frame, whose call waits for the writer.
    begins: bool,
    current: Arc<Segment>,
    stop: bool,
}

/// The files, owned by whoever flushes.
struct Files {
    dir: PathBuf,
    /// The file of the current segment, its bytes, and when it was opened.
    file: Option<(Arc<File>, u64, Instant)>,
    /// The background fsync of the `write` mode (none: each write is synced).
    syncer: Option<Arc<Syncer>>,
    part: u32,
    /// Files of the current segment (more than one after a failed write).
    current_files: Vec<PathBuf>,
    /// Sealed segments, oldest first, with their files.
    sealed: VecDeque<(Arc<Segment>, Vec<PathBuf>)>,
    /// Frames taken from the buffer and not yet written (after a failed write).
    spare: Vec<u8>,
    failing: bool,
    /// After a failed write: no new try before this, and the pause after the next
    /// failure.
    next_try: Option<Instant>,
    backoff: Duration,
}

/// State shared by the callers and the writer thread.
pub(super) struct Shared {
    inner: Mutex<Inner>,
    files: Mutex<Files>,
    wake: Condvar,
    /// `write` mode: callers flush their begin frames themselves.
    direct: bool,
    /// Highest sequence number written (and in the `fsync` mode durable) on disk.
    written: AtomicU64,
    /// Frames of a failed write wait to be written again.
    retrying: AtomicBool,
    /// The same, for callers that wait for it (`fsync` mode).
    pub(super) durable: watch::Sender<u64>,
}

/// Why a flush did not write.
pub(super) struct FlushFailed;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock guards plain buffers; a panic while holding it cannot leave them in a
        // state worse than a torn write, which replay handles.
        self.inner.lock()
    }

    /// Appends one encoded frame; returns its sequence number, and a ticket on the
    /// current segment when `begin`. In the `fsync` mode a begin frame wakes the writer;
    /// in the `write` mode the caller writes it ([`Shared::flush_to`]).
    pub(super) fn append(&self, frame: &[u8], begin: bool) -> (u64, Ticket) {
        let mut g = self.lock();
        g.buf.extend_from_slice(frame);
        g.appended += 1;
        g.begins |= begin && !self.direct;
        let seq = g.appended;
        let ticket = if begin {
            g.current.pending.fetch_add(1, Ordering::Relaxed);
            Ticket(Some(Arc::clone(&g.current)))
        } else {
            Ticket::default()
        };
        drop(g);
        if begin && !self.direct {
            self.wake.notify_one();
        }
        (seq, ticket)
    }

    /// Whether callers write their own frames (`write` mode).
    pub(super) fn direct(&self) -> bool {
        self.direct
    }

    /// Whether the frame `seq` is written (durable in the `fsync` mode).
    pub(super) fn is_written(&self, seq: u64) -> bool {
        self.written.load(Ordering::Acquire) >= seq
    }

    /// `write` mode: writes the buffer unless another caller's flush already took frame
    /// `seq` out.
    pub(super) fn flush_to(&self, seq: u64) -> Result<(), FlushFailed> {
        let mut files = self.files.lock();
        if self.is_written(seq) {
            return Ok(());
        }
        self.flush(&mut files);
        if self.is_written(seq) {
            Ok(())
        } else {
            Err(FlushFailed)
        }
    }

    /// Takes what has gathered, seals the segment if it is full or old, writes, and
    /// publishes the sequence number reached. Returns whether the journal is stopping
    /// with nothing left to write.
    fn flush(&self, files: &mut Files) -> bool {
        let (seq, segment, seal, stop) = {
            let mut g = self.lock();
            // After a failed write `spare` still holds its frames: keep them first.
            files.spare.extend_from_slice(&g.buf);
            g.buf.clear();
            g.begins = false;
            let segment = Arc::clone(&g.current);
            let seal = !g.stop
                && files.file.as_ref().is_some_and(|(_, bytes, opened)| {
                    *bytes + files.spare.len() as u64 >= SEGMENT_BYTES
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
        if files.spare.is_empty() {
            self.publish(seq);
            if seal {
                files.seal(segment);
            }
            return stop;
        }
        // After a failure, calls do not all try again at once: one try per pause.
        if !stop && files.next_try.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        let spare = std::mem::take(&mut files.spare);
        match files.write(&segment, &spare) {
            Ok(()) => {
                if files.failing {
                    tracing::info!(dir = %files.dir.display(), "crash journal writable again");
                    files.failing = false;
                }
                files.next_try = None;
                files.backoff = FIRST_BACKOFF;
                files.spare = spare;
                files.spare.clear();
                self.publish(seq);
                if seal {
                    files.seal(segment);
                }
            }
            Err(e) => {
                if !files.failing {
                    tracing::error!(error = %e, dir = %files.dir.display(),
                        "cannot write the crash journal; calls are refused until it can");
                    files.failing = true;
                }
                files.spare = spare;
                files.next_try = Some(Instant::now() + files.backoff);
                files.backoff = (files.backoff * 2).min(MAX_BACKOFF);
                // The file's tail is unknown: the frames go again into a new file.
                files.leave_file();
                if seal {
                    files.seal(segment);
                }
            }
        }
        false
    }

    fn publish(&self, seq: u64) {
        if self.written.fetch_max(seq, Ordering::AcqRel) < seq && !self.direct {
            self.durable.send_replace(seq);
        }
    }

    /// Asks the writer to write what is left and stop.
    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }
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
            begins: false,
            current: Arc::new(Segment {
                id: first_id,
                pending: AtomicU64::new(0),
            }),
            stop: false,
        }),
        files: Mutex::new(Files {
            dir: dir.to_path_buf(),
            file: None,
            syncer,
            part: 0,
            current_files: Vec::new(),
            sealed: VecDeque::new(),
            spare: Vec::with_capacity(64 << 10),
            failing: false,
            next_try: None,
            backoff: FIRST_BACKOFF,
        }),
        wake: Condvar::new(),
        direct: mode == JournalMode::Write,
        written: AtomicU64::new(0),
        retrying: AtomicBool::new(false),
        durable,
    });
    let s = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || run(&s))?;
    Ok((shared, thread))
}

/// The writer thread: in the `fsync` mode it writes and syncs whenever begin frames
/// wait; in both modes it writes end frames left waiting, seals old segments and
/// deletes stored ones.
fn run(shared: &Shared) {
    loop {
        {
            let mut g = shared.lock();
            // Begin frames waiting (`fsync` mode) are written at once; end frames wait
            // up to END_DELAY, frames of a failed write a pause; an idle journal is
            // looked at every IDLE_TICK.
            if !g.begins && !g.stop {
                let retrying = shared.retrying.load(Ordering::Relaxed);
                let wait = if g.buf.is_empty() && !retrying {
                    IDLE_TICK
                } else {
                    END_DELAY
                };
                shared.wake.wait_for(&mut g, wait);
            }
        }
        let mut files = shared.files.lock();
        let stopped = shared.flush(&mut files);
        let unwritten = !files.spare.is_empty();
        shared.retrying.store(unwritten, Ordering::Relaxed);
        if stopped || (unwritten && shared.lock().stop) {
            break;
        }
        files.delete_done();
    }
    // Stopped: the current segment is sealed too; whatever is fully stored goes.
    let mut files = shared.files.lock();
    let current = Arc::clone(&shared.lock().current);
    files.seal(current);
    files.delete_done();
    if let Some(syncer) = &files.syncer {
        syncer.stop();
    }
}

impl Files {
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
