//! The IAM side of the CloudTrail/IAM backstop: the IAM client (aws-sdk-iam, built from
//! the shared AWS configuration, at `iam.endpoint_url` when set), the subscriber and
//! reconciler that keep the deny policy on the IAM users of blocked proxy users
//! (`backstop`), and provisioning (`provision`). Counting direct calls from CloudTrail
//! is the service layer's (`ops::direct_calls`); see docs/BACKSTOP.md.

pub(crate) mod backstop;
pub(crate) mod client;
pub(crate) mod provision;

use std::sync::Arc;

pub(crate) use backstop::IamBackstop;
pub(crate) use client::Iam;

use crate::config::IamConfig;
use crate::notify::alerts::Alerts;
use crate::store::Store;

/// The backstop for `config` (an IAM client from `sdk`), writing through `store`;
/// `by` names the process in the admin audit rows of its own changes.
pub(crate) fn backstop(
    config: &IamConfig,
    sdk: &aws_config::SdkConfig,
    store: &Arc<Store>,
    alerts: &Arc<Alerts>,
    by: &str,
) -> Arc<IamBackstop> {
    Arc::new(IamBackstop {
        iam: Iam::new(sdk, config.endpoint_url.as_deref()),
        store: Arc::clone(store),
        deny_name: config.deny_policy_name.clone(),
        alerts: Arc::clone(alerts),
        by: by.to_string(),
    })
}
