//! bedrock-gate: a reverse proxy for the AWS Bedrock runtime that verifies the caller's
//! SigV4 signature (or bearer token) exactly as AWS does, re-signs allowed calls with the
//! proxy's own AWS credentials, streams the answer back unbuffered and records the token
//! usage of every call.
//!
//! The crate is a library with a thin `main.rs`. Its modules, leaves first; each one
//! imports only from modules above it:
//! - `hash`: hex and SHA-256 helpers (a leaf).
//! - `calendar`: local days and months in `quota.timezone`, DST-aware (a leaf).
//! - [`request_id`]: the one id of a call, in its response header and its record (a leaf).
//! - `spreadsheet`: CSV cells defused against spreadsheet formulas, for every CSV
//!   written (a leaf).
//! - [`cloudtrail`]: CloudTrail records of direct Bedrock calls read from log files
//!   (a leaf).
//! - `look_now`: a call with an unknown key asks the change watcher to look at the
//!   database now (a leaf).
//! - [`error`]: the one error type of the request path and its Bedrock-shaped responses.
//! - [`snapshot`]: a shared value replaced whole by a background task, read without
//!   waiting.
//! - `lifecycle`: the task registry and shutdown order, the accept loop both listeners
//!   share, and connection draining.
//! - [`domain`]: the typed values every layer shares (language, block kind, key status,
//!   audit operation, usage source, limits, the acting identity, domain events).
//! - [`config`]: the TOML file plus environment overrides, turned into a validated config.
//! - `logging`: the log subscriber `[log]` asks for (text or JSON lines).
//! - [`metrics`]: the Prometheus metrics `/metrics` serves, and the cheap calls that
//!   update them from the request path.
//! - [`store`]: the database (SQLite or MySQL) behind one type, the outbox included.
//! - `journal`: the crash journal: every forwarded call durable on local disk before it
//!   goes upstream, replayed into records after a crash.
//! - `sigv4`: SigV4 itself, once for verifying callers and signing for upstream.
//! - [`auth`]: proxy-issued keys in memory, SigV4 verification and bearer tokens.
//! - [`quota`]: limits and budgets enforced in memory, capacity drawn from the database.
//! - [`ratelimit`]: short-term limits (requests and tokens per minute, calls in
//!   flight) per user and team, in memory.
//! - [`usage`]: token usage read from responses, prices, and the request-record writer.
//! - `events`: delivering outbox events to their subscribers, off the request path.
//! - `notify`: email and webhook subscribers, system alerts, message templates.
//! - [`ops`]: the service layer, owner of every product rule the front ends apply.
//! - `iam`: the IAM side of the CloudTrail/IAM backstop (deny policies on the IAM
//!   users of blocked users, provisioning).
//! - `identity`: OpenID Connect ID tokens exchanged for short-lived proxy keys.
//! - [`proxy`]: the listener, routing, re-signing and forwarding.
//! - [`serve`]: the running process: the application built, its tasks and listeners run
//!   and drained.
//! - `api`: the admin API (`/api/v1/` on the admin listener), a thin HTTP layer over
//!   [`ops`].
//! - `login`: the developer's side of sign-in (`login`, `credentials`, `logout`): the
//!   device grant against a trusted issuer, the refresh token kept owner-only, keys
//!   from `POST /_gate/v1/credentials`; it uses only `identity`'s URL rules.
//! - `dashboard`: the web dashboard's page and scripts on the admin listener, over the
//!   admin API.
//! - [`cli`]: the command line, a thin formatter over [`ops`] and [`serve`].
//! - `fuzzing` (hidden): thin entry points into the parsers for the fuzz targets in
//!   `fuzz/` and the corpus replay test; nothing else uses it.
#![forbid(unsafe_code)]

pub(crate) mod api;
pub mod auth;
pub(crate) mod calendar;
pub mod cli;
pub mod cloudtrail;
pub mod config;
mod dashboard;
pub mod domain;
pub mod error;
pub(crate) mod events;
#[doc(hidden)]
pub mod fuzzing;
mod hash;
pub(crate) mod iam;
pub(crate) mod identity;
pub(crate) mod journal;
pub(crate) mod lifecycle;
mod logging;
pub(crate) mod login;
pub(crate) mod look_now;
pub mod metrics;
pub(crate) mod notify;
pub mod ops;
pub mod proxy;
pub mod quota;
pub mod ratelimit;
pub mod request_id;
pub(crate) mod scim;
pub mod serve;
mod sigv4;
pub mod snapshot;
mod spreadsheet;
pub mod store;
pub mod usage;

/// The version and the git commit built from: `0.1.0 (commit 3c01f87a1b2c)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GATE_GIT_COMMIT"),
    ")"
);

/// Installs rustls' ring provider as the process default. Several crates in the tree
/// enable both ring and aws-lc-rs, so rustls cannot pick one by itself. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
