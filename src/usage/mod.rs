//! Token usage: reading it from responses while they stream ([`tap`], over the
//! [`eventstream`] decoder), pricing it ([`pricing`]), and writing one `bedrock_requests`
//! row per call off the request path ([`recorder`]).

pub mod eventstream;
pub mod pricing;
pub mod recorder;
pub mod tap;

use rand::RngCore;

pub use pricing::PriceBook;
pub use recorder::{Recorder, RecorderHandle};
pub use tap::{ResponseKind, TokenUsage, UsageReport, UsageSource, UsageTap};

/// A fresh random id: 32 lowercase hex characters.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
