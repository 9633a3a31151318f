//! Token usage: reading it from responses while they stream ([`tap`], over the
//! [`eventstream`] decoder), pricing it ([`pricing`]), and writing one `bedrock_requests`
//! row per call off the request path ([`recorder`]).

pub mod eventstream;
pub mod pricing;
pub mod recorder;
pub mod tap;

pub use pricing::PriceBook;
pub use recorder::{Recorder, RecorderHandle};
pub use tap::{ResponseKind, TokenUsage, UsageReport, UsageSource, UsageTap};
