//! What can go wrong reading CloudTrail log files and EventBridge deliveries; every
//! message names the file (or the delivery) and says what is wrong with it.

use std::path::PathBuf;

/// A CloudTrail input that cannot be read (in whole or from some point on).
#[derive(Debug, thiserror::Error)]
pub enum CloudTrailError {
    /// A path that does not exist or cannot be listed or opened.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file whose content breaks off or is not a CloudTrail log; the records before
    /// the fault were read.
    #[error("{}: {what} (the {records} records before it were read)", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the position.
        what: String,
        /// Records read before the fault.
        records: u64,
    },
    /// A request body that is not an EventBridge delivery of CloudTrail events.
    #[error("{0}")]
    Delivery(String),
}

/// Says what a JSON error in a log file means.
pub(crate) fn describe(e: &serde_json::Error, gzip: bool) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Io if gzip => format!("the gzip data is corrupt or truncated ({e})"),
        Category::Io => format!("reading failed ({e})"),
        Category::Eof if gzip => {
            format!("the file is truncated: the gzip data ends inside the JSON at {at}")
        }
        Category::Eof => format!("the file is truncated: it ends inside the JSON at {at}"),
        Category::Syntax => format!("not valid JSON at {at} ({e})"),
        Category::Data => format!("not a CloudTrail log ({e})"),
    }
}
