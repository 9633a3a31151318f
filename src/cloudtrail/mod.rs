//! CloudTrail as the backstop reads it: records of Bedrock runtime calls made directly
//! to AWS (by people who still hold real keys), from log files (`files`: plain or gzip,
//! directories in the S3 layout, streamed so that a corrupt file keeps the records
//! before the fault) and from EventBridge deliveries (`delivery`). A record becomes a
//! [`DirectCall`] or is ignored ([`Seen`], in `record`). Counting the calls is the
//! service layer's rule (`ops::direct_calls`); this module only parses.
//!
//! CloudTrail records carry no token counts, arrive late, out of order and sometimes
//! twice; the `eventID` identifies a call.

mod delivery;
mod error;
mod files;
mod record;

pub use delivery::{parse_delivery, MAX_EVENTS};
pub use error::CloudTrailError;
pub(crate) use files::read_log;
pub use files::{log_files, read_log_file};
pub use record::{DirectCall, Principal, RawRecord, Seen};
