//! `[iam]`: whether the CloudTrail/IAM backstop runs, an optional local IAM endpoint
//! (tests), the name of the inline deny policy put on blocked IAM users, how often IAM
//! is reconciled with the blocking table, what `iam provision` allows, what a direct
//! call costs, and the proxy's own principals (whose calls are never counted).

use std::time::Duration;

use super::raw::RawIam;
use super::ConfigError;

/// `[iam]`
#[derive(Clone, Debug)]
pub(crate) struct IamConfig {
    /// Whether the CloudTrail/IAM backstop runs.
    pub(crate) enabled: bool,
    /// A local IAM emulator, for tests.
    pub(crate) endpoint_url: Option<String>,
    /// The inline deny policy put on blocked IAM users.
    pub(crate) deny_policy_name: String,
    /// How often IAM deny policies are made to match the blocking table.
    pub(crate) reconcile: Duration,
    /// What `iam provision` lets linked IAM users invoke (inference profile or model ARNs).
    pub(crate) allowed_model_arns: Vec<String>,
    /// The cost counted for one direct call (CloudTrail has no token counts).
    pub(crate) direct_call_usd: f64,
    /// The proxy's own principals (IAM user, role or assumed-role ARNs): their calls in
    /// CloudTrail are the proxy's and are ignored.
    pub(crate) proxy_principal_arns: Vec<String>,
}

impl IamConfig {
    /// Validates `[iam]` and fills in its defaults.
    pub(super) fn from_raw(i: RawIam) -> Result<Self, ConfigError> {
        let reconcile = super::values::positive("iam.reconcile_secs", i.reconcile_secs, 300)?;
        let usd = i.direct_call_usd.unwrap_or(0.0);
        if !usd.is_finite() || !(0.0..=1_000.0).contains(&usd) {
            return Err(ConfigError::new(
                "iam.direct_call_usd",
                "must be a number from 0 to 1000 (USD per direct call)",
            ));
        }
        let arns = i.allowed_model_arns.unwrap_or_default();
        if let Some(bad) = arns.iter().find(|a| !a.starts_with("arn:")) {
            return Err(ConfigError::new(
                "iam.allowed_model_arns",
                format!("`{bad}` is not an ARN (arn:aws:bedrock:REGION:ACCOUNT:...)"),
            ));
        }
        let principals = i.proxy_principal_arns.unwrap_or_default();
        if let Some(bad) = principals.iter().find(|a| !a.starts_with("arn:")) {
            return Err(ConfigError::new(
                "iam.proxy_principal_arns",
                format!("`{bad}` is not an ARN (arn:aws:iam::ACCOUNT:role/NAME, ...)"),
            ));
        }
        let name = i
            .deny_policy_name
            .unwrap_or_else(|| "BedrockGateDeny".to_string());
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
        {
            return Err(ConfigError::new(
                "iam.deny_policy_name",
                "must be 1-128 letters, digits or +=,.@-_ (an IAM policy name)",
            ));
        }
        Ok(Self {
            enabled: i.enabled.unwrap_or(false),
            endpoint_url: i.endpoint_url,
            deny_policy_name: name,
            reconcile: Duration::from_secs(reconcile),
            allowed_model_arns: arns,
            direct_call_usd: usd,
            proxy_principal_arns: principals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.iam.reconcile.as_secs(), 300);
        assert_eq!(c.iam.direct_call_usd, 0.0);
        assert!(c.iam.allowed_model_arns.is_empty() && c.iam.proxy_principal_arns.is_empty());
        let c = load(
            "[iam]\nreconcile_secs = 60\ndirect_call_usd = 0.02\n\
             allowed_model_arns = [\"arn:aws:bedrock:eu-west-1:1:inference-profile/x\"]\n\
             proxy_principal_arns = [\"arn:aws:iam::1:role/gate\"]\n",
            &[("BEDROCK_GATE_IAM__RECONCILE_SECS", "30")],
        )
        .unwrap();
        assert_eq!(c.iam.reconcile.as_secs(), 30);
        assert_eq!(c.iam.direct_call_usd, 0.02);
        assert_eq!(c.iam.allowed_model_arns.len(), 1);
        for (bad, key) in [
            ("reconcile_secs = 0", "iam.reconcile_secs"),
            ("direct_call_usd = -1", "iam.direct_call_usd"),
            (
                "allowed_model_arns = [\"claude\"]",
                "iam.allowed_model_arns",
            ),
            (
                "proxy_principal_arns = [\"gate\"]",
                "iam.proxy_principal_arns",
            ),
            ("deny_policy_name = \"no spaces\"", "iam.deny_policy_name"),
        ] {
            let e = load(&format!("[iam]\n{bad}\n"), &[]).unwrap_err();
            assert_eq!(e.key, key, "{bad}: {e}");
        }
    }
}
