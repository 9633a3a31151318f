//! Replay at start: the segments a killed proxy left are read, and every call in them
//! gets exactly one record: its final record (the begin frame's record with the outcome
//! frame's fields) if its end is there, else its begin frame's worst-case estimate (`usage_source = worst_case`, `ended_early =
//! proxy_crashed`). Records are inserted like any other (rollups included) and keyed by
//! `request_uid`, so a record that reached the database before the kill is not written
//! again, and a replay cut short by another crash can simply run again. The segments
//! are deleted once their records are stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::frame::{self, Entry};
use super::JournalError;
use crate::store::{RequestRecord, Store, StoreError};

/// Rows per insert batch.
const BATCH: usize = 500;

/// What a replay found and wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Segment files read.
    pub(crate) files: usize,
    /// Calls with an end frame (their usage is known).
    pub(crate) ended: usize,
    /// Calls with only a begin frame (recorded at their worst case).
    pub(crate) estimated: usize,
    /// Records that were not in the database yet.
    pub(crate) inserted: u64,
    /// Bytes of torn frames ignored at the ends of files.
    pub(crate) torn_bytes: usize,
}

/// Why a replay failed; the segments are kept for the next start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing the records failed.
    #[error("writing journaled records: {0}")]
    Store(#[from] StoreError),
}

/// The segment files in `dir`, in order (none if `dir` does not exist).
pub(crate) fn segment_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if segment_id(&path).is_some() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The segment number in a file name `<id>-<part>.seg`.
pub(crate) fn segment_id(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?.strip_suffix(".seg")?;
    name.split_once('-')?.0.parse().ok()
}

/// Reads every segment in `dir` into one record per call.
pub(crate) fn read(dir: &Path) -> Result<(Vec<RequestRecord>, Replayed), JournalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| JournalError::Io { path, source }
    };
    let files = segment_files(dir).map_err(io(dir))?;
    let mut report = Replayed {
        files: files.len(),
        ..Replayed::default()
    };
    // Each call's record and whether its end was seen.
    let mut calls: HashMap<String, (bool, RequestRecord)> = HashMap::new();
    for path in &files {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let decoded = frame::decode(&bytes);
        if decoded.torn_bytes > 0 {
            tracing::warn!(file = %path.display(), bytes = decoded.torn_bytes,
                "ignoring the torn end of a crash journal segment");
        }
        if decoded.unreadable > 0 {
            tracing::error!(file = %path.display(), frames = decoded.unreadable,
                "crash journal frames with records that do not parse");
        }
        report.torn_bytes += decoded.torn_bytes;
        for e in decoded.entries {
            let known = calls.get_mut(e.request_uid());
            match (e, known) {
                // A call's end is final; a repeated begin (a retried write) adds nothing.
                (_, Some((true, _))) | (Entry::Begin(_), Some(_)) => {}
                (Entry::Begin(record), None) => {
                    calls.insert(record.request_uid.clone(), (false, *record));
                }
                (Entry::End(record), _) => {
                    calls.insert(record.request_uid.clone(), (true, *record));
                }
                (Entry::Outcome(outcome), Some((ended, record))) => {
                    outcome.apply(record);
                    *ended = true;
                }
                // An outcome whose begin frame is gone: the begin's segment was deleted,
                // which happens only once the call's record is stored.
                (Entry::Outcome(_), None) => {}
            }
        }
    }
    let mut records = Vec::with_capacity(calls.len());
    for (_, (ended, record)) in calls {
        if ended {
            report.ended += 1;
        } else {
            report.estimated += 1;
        }
        records.push(record);
    }
    records.sort_by_key(|r| r.created_at);
    Ok((records, report))
}

/// Replays the journal in `dir` into `store`, then deletes its segments.
pub(crate) async fn replay(store: &Store, dir: &Path) -> Result<Replayed, ReplayError> {
    let (records, mut report) = read(dir)?;
    if report.files == 0 {
        return Ok(report);
    }
    for chunk in records.chunks(BATCH) {
        report.inserted += store.insert_requests(chunk).await?;
    }
    for path in segment_files(dir).map_err(|source| JournalError::Io {
        path: dir.to_path_buf(),
        source,
    })? {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(error = %e, file = %path.display(), "cannot delete a replayed journal segment");
        }
    }
    tracing::info!(
        files = report.files,
        ended = report.ended,
        estimated = report.estimated,
        inserted = report.inserted,
        dir = %dir.display(),
        "replayed the crash journal of a proxy that did not shut down cleanly"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::frame::{encode, Kind, HEADER};

    fn record(uid: &str, source: crate::domain::UsageSource) -> RequestRecord {
        let mut r = frame::tests::record(uid);
        r.usage_source = source;
        r
    }

    fn write(dir: &Path, name: &str, frames: &[(Kind, RequestRecord)]) -> PathBuf {
        let mut bytes = HEADER.to_vec();
        for (k, r) in frames {
            encode(&mut bytes, *k, &frame::tests::payload(*k, r));
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn each_call_gets_its_end_record_or_its_estimate_once() {
        use crate::domain::UsageSource::{Reported, WorstCase};
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "0000000000000000-000.seg",
            &[
                // An earlier version's JSON frames.
                (Kind::JsonBegin, record("a", WorstCase)),
                (Kind::JsonBegin, record("b", WorstCase)),
                (Kind::JsonEnd, record("a", Reported)),
            ],
        );
        // A later segment: b's begin again (a retried write), then c's begin, torn.
        let torn = write(
            dir.path(),
            "0000000000000001-000.seg",
            &[
                (Kind::Begin, record("b", WorstCase)),
                (Kind::Begin, record("c", WorstCase)),
            ],
        );
        let len = std::fs::metadata(&torn).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a segment").unwrap();

        let (records, report) = read(dir.path()).unwrap();
        let mut got: Vec<_> = records
            .iter()
            .map(|r| (r.request_uid.as_str(), r.usage_source))
            .collect();
        got.sort_by_key(|g| g.0);
        assert_eq!(got, [("a", Reported), ("b", WorstCase)]);
        assert_eq!(report.files, 2);
        assert_eq!((report.ended, report.estimated), (1, 1));
        assert!(report.torn_bytes > 0);
    }

    #[test]
    fn outcome_frames_finish_their_calls_and_lone_outcomes_are_dropped() {
        use crate::domain::UsageSource::{Reported, WorstCase};
        let dir = tempfile::tempdir().unwrap();
        let mut done = record("a", Reported);
        done.output_tokens = 7;
        write(
            dir.path(),
            "0000000000000003-000.seg",
            &[
                // z's begin was in a segment deleted once its record was stored.
                (Kind::Outcome, record("z", Reported)),
                (Kind::Begin, record("a", WorstCase)),
                (Kind::Begin, record("b", WorstCase)),
            ],
        );
        write(
            dir.path(),
            "0000000000000004-000.seg",
            &[
                (Kind::Outcome, done.clone()),
                // A begin written again after its outcome changes nothing.
                (Kind::Begin, record("a", WorstCase)),
            ],
        );
        let (mut records, report) = read(dir.path()).unwrap();
        records.sort_by(|x, y| x.request_uid.cmp(&y.request_uid));
        assert_eq!(records, [done, record("b", WorstCase)]);
        assert_eq!((report.ended, report.estimated), (1, 1));
    }

    #[test]
    fn segment_names_give_their_numbers() {
        assert_eq!(
            segment_id(Path::new("/x/0000000000000012-001.seg")),
            Some(12)
        );
        assert_eq!(segment_id(Path::new("/x/12.seg")), None);
        assert_eq!(segment_id(Path::new("/x/0000000000000012-001.tmp")), None);
        assert!(segment_files(Path::new("/nonexistent/journal"))
            .unwrap()
            .is_empty());
    }
}
