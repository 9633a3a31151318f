//! Short-term limits per user and per team: requests per minute, input+output tokens
//! per minute, and calls in flight, enforced in memory on the request path (no
//! database round trip per call); over a limit a call gets 429 `ThrottlingException`
//! with `Retry-After` before anything goes upstream.
//!
//! - `limiter`: [`RateLimiter`], admission under one mutex and what each subject did in
//!   the last minute;
//! - `guard`: [`RateGuard`], an admitted call's hold, freed when the call ends;
//! - `window`: the last minute in one-second slots (exact: never more than the limit
//!   in any 60 s);
//! - `limits`: the limits in force (override or `ratelimit.*` default, per-proxy share);
//! - `refusal`: [`Throttle`], which limit refused and the client's error;
//! - `publish`: writes what the limiter saw to the database every few seconds, for
//!   `user info`, `team info` and the admin API.
//!
//! The design and the bound across proxies are in `docs/QUOTA.md` ("Short-term limits").

mod guard;
mod limiter;
mod limits;
pub(crate) mod publish;
mod refusal;
mod window;

pub use guard::RateGuard;
pub use limiter::{Activity, RateAsk, RateLimiter};
pub use refusal::{RateKind, Throttle};

#[cfg(test)]
mod tests;
