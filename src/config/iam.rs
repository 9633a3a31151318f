//! `[iam]`: whether the CloudTrail/IAM backstop runs, an optional local IAM endpoint
//! (tests), and the name of the inline deny policy put on blocked IAM users.

use super::raw::RawIam;

/// `[iam]`
#[derive(Clone, Debug)]
pub(crate) struct IamConfig {
    /// Whether the CloudTrail/IAM backstop runs.
    pub(crate) enabled: bool,
    /// A local IAM emulator, for tests.
    pub(crate) endpoint_url: Option<String>,
    /// The inline deny policy put on blocked IAM users.
    pub(crate) deny_policy_name: String,
}

impl IamConfig {
    /// Fills in `[iam]`'s defaults; every value is accepted.
    pub(super) fn from_raw(i: RawIam) -> Self {
        Self {
            enabled: i.enabled.unwrap_or(false),
            endpoint_url: i.endpoint_url,
            deny_policy_name: i
                .deny_policy_name
                .unwrap_or_else(|| "BedrockGateDeny".to_string()),
        }
    }
}
