//! The background fsync of `proxy.journal = "write"`: calls are released once their
//! frames are written to the operating system (which keeps them across a SIGKILL of the
//! proxy), and this thread makes the journal's files durable every [`INTERVAL`], so a
//! power loss can lose at most the frames of the last interval. The writer hands it the
//! current file when it opens one, and the file it leaves when it seals a segment or
//! a write fails, so every byte written is synced once more after its last write.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How often the journal's files are made durable in the `write` mode.
pub(crate) const INTERVAL: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Targets {
    current: Option<Arc<File>>,
    retired: Vec<Arc<File>>,
    /// The directory of a file created since the last sync (its name must last too).
    dir: Option<PathBuf>,
    stop: bool,
}

/// The files to sync, shared by the writer and the sync thread.
#[derive(Default)]
pub(super) struct Syncer {
    targets: Mutex<Targets>,
    wake: Condvar,
}

impl Syncer {
    fn lock(&self) -> MutexGuard<'_, Targets> {
        self.targets.lock()
    }

    /// The writer created `file` in `dir`: it is synced from now on.
    pub(super) fn current(&self, file: Arc<File>, dir: &Path) {
        let mut t = self.lock();
        t.dir = Some(dir.to_path_buf());
        if let Some(old) = t.current.replace(file) {
            t.retired.push(old);
        }
    }

    /// The writer left its file (sealed, or a write failed): synced once more, then
    /// dropped.
    pub(super) fn retire(&self) {
        let mut t = self.lock();
        if let Some(old) = t.current.take() {
            t.retired.push(old);
        }
    }

    /// Syncs what is left and ends the thread.
    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }

    /// The sync thread's loop.
    pub(super) fn run(&self) {
        let mut failing = false;
        loop {
            let (files, dir, stop) = {
                let mut t = self.lock();
                self.wake.wait_while_for(&mut t, |t| !t.stop, INTERVAL);
                let mut files = std::mem::take(&mut t.retired);
                files.extend(t.current.clone());
                (files, t.dir.take(), t.stop)
            };
            let dir = dir.map(|d| File::open(d).and_then(|d| d.sync_all()));
            for result in files.iter().map(|f| f.sync_data()).chain(dir) {
                match result {
                    Ok(()) if failing => {
                        tracing::info!("crash journal fsync works again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        tracing::error!(error = %e, "crash journal fsync failed");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
            if stop {
                return;
            }
        }
    }
}
