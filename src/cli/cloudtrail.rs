//! `cloudtrail ingest`: counts the direct Bedrock calls in CloudTrail log files through
//! the service layer, with a progress line on a terminal and a summary at the end. A
//! file that cannot be read to its end is named on stderr and makes the exit code 1
//! (the records before its fault are counted).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::args::{CloudtrailCommand, Output};
use super::print;
use crate::domain::Actor;
use crate::ops::cloudtrail_files::{IngestProgress, IngestReport};
use crate::ops::Ops;

/// How often the progress line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(200);

/// A file that could not be read to its end.
#[derive(Debug, thiserror::Error)]
#[error("{count} of {files} files could not be read to the end; first: {first}")]
struct FileErrors {
    count: usize,
    files: u64,
    first: String,
}

/// `cloudtrail ...`
pub(crate) async fn cloudtrail(
    ops: &Ops,
    out: Output,
    cmd: CloudtrailCommand,
    actor: &Actor,
) -> anyhow::Result<()> {
    let CloudtrailCommand::Ingest { paths } = cmd;
    let report = ingest(ops, paths, actor).await?;
    print(out, &report, summary(&report));
    match report.file_errors.first() {
        None => Ok(()),
        Some(first) => Err(FileErrors {
            count: report.file_errors.len(),
            files: report.files,
            first: first.clone(),
        }
        .into()),
    }
}

async fn ingest(ops: &Ops, paths: Vec<PathBuf>, actor: &Actor) -> anyhow::Result<IngestReport> {
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now() - REDRAW;
    let mut progress = move |p: &IngestProgress| {
        if !tty || last.elapsed() < REDRAW {
            return;
        }
        last = Instant::now();
        let width = 30u64;
        let filled = (p.files_done * width)
            .checked_div(p.files_total)
            .unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r[{bar}] {}/{} files, {} records, {} counted, {} duplicates ",
            p.files_done, p.files_total, p.counts.records, p.counts.counted, p.counts.duplicates
        );
        let _ = err.flush();
    };
    let report = ops.ingest_log_files(actor, paths, &mut progress).await;
    if tty {
        eprint!("\r{:width$}\r", "", width = 100);
    }
    Ok(report?)
}

fn summary(r: &IngestReport) -> String {
    let c = &r.counts;
    let mut text = format!(
        "{} files, {} records: {} counted, {} failed calls recorded (not counted), \
         {} duplicates, {} ignored, {} errors",
        r.files, c.records, c.counted, c.failed_calls, c.duplicates, c.ignored, c.errors
    );
    for e in &r.file_errors {
        text.push_str(&format!("\n  {e}"));
    }
    text
}
