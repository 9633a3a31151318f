//! Token usage: reading it from responses while they stream (`tap`, over the
//! [`eventstream`] decoder), pricing it (`pricing`), and writing one `bedrock_requests`
//! row per call off the request path (`recorder`), refused calls included within the
//! bounds of `refusals`.

pub mod eventstream;
pub(crate) mod pricing;
pub(crate) mod recorder;
pub(crate) mod refusals;
pub(crate) mod tap;

pub(crate) use pricing::PriceBook;
pub(crate) use recorder::Recorder;
pub(crate) use tap::UsageSource;
pub use tap::{ResponseKind, TokenUsage, UsageReport, UsageTap};
