//! The integration tests, one binary: each module is one area of the product, driven
//! from outside (the real binary or `serve::run()` on port 0, real clients, real
//! databases). `common` holds the shared fixtures. Run one area with
//! `cargo test --test it <module>::`.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod common;
mod rollup_data;

mod admin_concurrency;
mod api;
mod api_renames;
mod api_reports;
mod api_session;
mod api_tokens;
mod auto_block_shared;
mod backstop;
mod backstop_cli;
mod backstop_links;
mod budget_refusals;
mod cli;
mod cli_actor;
mod cli_operator;
mod crash_journal;
mod daily_summary;
mod dashboard;
mod dashboard_sso;
mod db_outage_mariadb;
mod events;
mod fuzz_corpus;
mod hostile_clients;
mod js_sdk;
mod messages;
mod metrics;
mod notify;
mod oidc_credentials;
mod oidc_login;
mod oidc_policy;
mod operations;
mod packaging;
mod proxy_rejections;
mod proxy_sdk;
mod quickstart;
mod quota;
mod quota_leases;
mod quota_lowered;
mod quota_sim;
mod quota_store_outage;
mod quota_truth;
mod ratelimit;
mod ratelimit_clients;
mod real_clients;
mod refusal_records;
mod renames_history;
mod reports;
mod scim;
mod serve_logs;
mod spill_state_dir;
mod store;
mod streaming;
mod tls;
mod upstream_faults;
mod webhooks;
