//! Which journal directory a proxy owns. Several proxies may run on one host against one
//! database (and so share a state directory); each needs a journal of its own, and a
//! starting proxy must replay only journals no running proxy is writing.
//!
//! A journal directory is `<base>` or `<base>.<n>`; its owner holds an exclusive lock on
//! its `lock` file for as long as it runs (released by the kernel when the process
//! ends, however it ends). At start a proxy claims the first directory it can lock, and
//! also locks, for the time of the replay, every other one left by a proxy that is gone.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::create_private_dir;

/// A journal directory and the lock that makes it this proxy's.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// Held while the slot is owned; dropping it releases the directory.
    _lock: File,
}

/// Claims the first journal directory under `base` that no running proxy holds, and
/// the other existing ones no running proxy holds (left by proxies that stopped or
/// were killed), to replay: the first is this proxy's for as long as it runs, the
/// others until they are dropped.
pub(crate) fn claim(base: &Path) -> std::io::Result<(Slot, Vec<Slot>)> {
    let mut orphans = Vec::new();
    for dir in existing(base)? {
        if let Some(slot) = try_lock(&dir)? {
            orphans.push(slot);
        }
    }
    // Ours: the first orphan (its leftovers are replayed before calls start), else the
    // first free name.
    if !orphans.is_empty() {
        let own = orphans.remove(0);
        return Ok((own, orphans));
    }
    for n in 0..MAX_SLOTS {
        let dir = numbered(base, n);
        if dir.exists() {
            continue; // held by a running proxy (else it would be an orphan)
        }
        if let Some(slot) = try_lock(&dir)? {
            return Ok((slot, orphans));
        }
    }
    Err(std::io::Error::other(format!(
        "{MAX_SLOTS} proxies already hold journals beside {}",
        base.display()
    )))
}

/// More proxies than this on one host and database is a mistake, not a deployment.
const MAX_SLOTS: u32 = 1024;

/// `<base>` for 0, else `<base>.<n>`.
fn numbered(base: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The journal directories under `base` that exist, `<base>` first, then by number.
fn existing(base: &Path) -> std::io::Result<Vec<PathBuf>> {
    let (Some(parent), Some(stem)) = (base.parent(), base.file_name().and_then(|n| n.to_str()))
    else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    }) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let n = if name == stem {
            Some(0)
        } else {
            name.strip_prefix(stem)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
        };
        if let (Some(n), true) = (n, entry.file_type()?.is_dir()) {
            found.push((n, numbered(base, n)));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Locks `dir` (created if absent, owner-only), or `None` when another process holds it.
fn try_lock(dir: &Path) -> std::io::Result<Option<Slot>> {
    create_private_dir(dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Slot {
            dir: dir.to_path_buf(),
            _lock: file,
        })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_journal_is_neither_claimed_nor_replayed_and_a_released_one_is() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("sqlite-gate.db.journal");
        let (first, orphans) = claim(&base).unwrap();
        assert_eq!(first.dir, base);
        assert!(orphans.is_empty());
        // A second proxy beside the first gets a directory of its own.
        let (second, orphans) = claim(&base).unwrap();
        assert_eq!(second.dir, tmp.path().join("sqlite-gate.db.journal.1"));
        assert!(orphans.is_empty());
        // Both stop (or die): the next start owns the first and replays the second.
        drop(first);
        drop(second);
        let (third, orphans) = claim(&base).unwrap();
        assert_eq!(third.dir, base);
        let names: Vec<_> = orphans.iter().map(|s| s.dir.clone()).collect();
        assert_eq!(names, vec![tmp.path().join("sqlite-gate.db.journal.1")]);
        drop(orphans);
        // A name that merely starts like a journal is not one.
        std::fs::create_dir(tmp.path().join("sqlite-gate.db.journal.old")).unwrap();
        drop(third);
        let (_fourth, orphans) = claim(&base).unwrap();
        assert_eq!(orphans.len(), 1);
    }
}
