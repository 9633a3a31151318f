//! bedrock-gate: a reverse proxy for the AWS Bedrock runtime that verifies the caller's
//! SigV4 signature (or bearer token) exactly as AWS does, re-signs allowed calls with the
//! proxy's own AWS credentials, streams the answer back unbuffered and records the token
//! usage of every call.
//!
//! The crate is a library with a thin `main.rs`. Modules are cut by domain:
//! - [`config`]: the TOML file plus environment overrides, turned into a validated config.
//! - [`store`]: the database (SQLite or MySQL) behind one type.
//! - [`auth`]: proxy-issued keys, SigV4 verification and bearer tokens.
//! - [`sigv4`]: SigV4 itself, once for verifying callers and signing for upstream.
//! - [`proxy`]: the listener, routing, re-signing and forwarding.
//! - [`usage`]: token usage read from responses, prices, and the request-record writer.
//! - [`cli`]: the command line.
//! - [`error`]: the one error type of the request path and its Bedrock-shaped responses.
//! - [`hash`] and [`request_id`]: leaves (hex and SHA-256; the id of a call).
//! - `lifecycle`: the task registry and shutdown order, the shared accept loop and
//!   connection draining.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub(crate) mod events;
mod hash;
pub(crate) mod lifecycle;
pub mod ops;
pub mod proxy;
pub mod quota;
pub mod request_id;
pub mod serve;
mod sigv4;
pub mod snapshot;
pub mod store;
pub mod usage;

/// Installs rustls' ring provider as the process default. Several crates in the tree
/// enable both ring and aws-lc-rs, so rustls cannot pick one by itself. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
