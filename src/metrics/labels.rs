//! Label sets: the names and values of one series ([`LabelSet`], encoded by
//! prometheus-client; an empty value leaves its label out), the fixed values used where
//! a call has no team, model or user to name ([`NONE`], [`OTHER`]), and the bounded
//! reasons of refusals and upstream errors.
//!
//! Label values never carry text a caller chose freely: teams and users are the
//! proxy's own names, models are priced model ids (or a capped set of others), and
//! reasons come from the fixed lists below.

use std::fmt;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};

use crate::error::GateError;

/// The value of a label the call has nothing for: a refused caller's team and user
/// before its key is known, the model of an operation that names none.
pub const NONE: &str = "(none)";
/// Everything past a cap: users beyond `metrics.max_users`, unpriced models beyond
/// [`super::cap::MAX_UNPRICED_MODELS`], upstream error types not in the known list.
pub const OTHER: &str = "other";

/// Label names of `bedrock_gate_requests_total`.
pub(crate) const REQUEST_LABELS: [&str; 6] =
    ["outcome", "reason", "team", "model", "operation", "user"];
/// Label names of the token counter.
pub(crate) const TOKEN_LABELS: [&str; 4] = ["team", "model", "type", "user"];
/// Label names of the cost counter.
pub(crate) const COST_LABELS: [&str; 3] = ["team", "model", "user"];
/// Label names of the upstream latency and time-to-first-byte histograms.
pub(crate) const LATENCY_LABELS: [&str; 2] = ["model", "operation"];

/// The `type` values of the token counter, in [`super::Tokens`] order.
pub(crate) const TOKEN_TYPES: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

/// One series' labels: fixed names and their values, in order. An empty value is left
/// out of the output (in Prometheus an empty label and a missing one are the same), so
/// `user` appears only with `metrics.per_user` and `reason` only where there is one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LabelSet<const N: usize> {
    names: &'static [&'static str; N],
    values: [Arc<str>; N],
}

impl<const N: usize> LabelSet<N> {
    /// Labels `names` with `values`.
    pub(crate) fn new(names: &'static [&'static str; N], values: [Arc<str>; N]) -> Self {
        Self { names, values }
    }

    /// Labels `names` with `values`, copied.
    pub(crate) fn of(names: &'static [&'static str; N], values: &[&str; N]) -> Self {
        Self::new(names, values.map(Arc::from))
    }
}

impl<const N: usize> EncodeLabelSet for LabelSet<N> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), fmt::Error> {
        for (name, value) in self.names.iter().zip(&self.values) {
            if !value.is_empty() {
                (*name, &**value).encode(encoder.encode_label())?;
            }
        }
        Ok(())
    }
}

/// The `reason` of a call the proxy refused, one per kind of refusal.
pub(crate) fn refusal_reason(error: &GateError) -> &'static str {
    match error {
        GateError::UnrecognizedClient(_) => "unrecognized_client",
        GateError::ExpiredToken(_) => "expired_token",
        GateError::InvalidSignature(_) => "invalid_signature",
        GateError::AccessDenied(_) => "blocked",
        GateError::QuotaExceeded(_) => "quota_exceeded",
        GateError::Throttled { .. } => "throttled",
        GateError::BodyTooLarge { .. } => "body_too_large",
        GateError::Validation(_) => "validation",
        GateError::UpstreamUnavailable(_) => "unavailable",
        GateError::UpstreamTimeout(_) => "timeout",
        GateError::Overloaded { .. } => "overloaded",
        GateError::RequestTimeout(_) => "client_timeout",
        GateError::QuotaStoreUnavailable(_) => "quota_store_unavailable",
    }
}

/// The error types Bedrock's runtime answers with (and the proxy's own for an upstream
/// it could not reach or that timed out); anything else is [`OTHER`].
const UPSTREAM_ERRORS: [&str; 14] = [
    "AccessDeniedException",
    "ConflictException",
    "InternalServerException",
    "ModelErrorException",
    "ModelNotReadyException",
    "ModelStreamErrorException",
    "ModelTimeoutException",
    "ResourceNotFoundException",
    "ServiceQuotaExceededException",
    "ServiceUnavailableException",
    "ThrottlingException",
    "ValidationException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
];

/// The `reason` of an upstream error: its error type if it is one Bedrock uses, else
/// [`OTHER`] (also when the answer named none).
pub(crate) fn upstream_error_reason(error_type: Option<&str>) -> &'static str {
    error_type
        .and_then(|t| UPSTREAM_ERRORS.iter().find(|known| **known == t))
        .copied()
        .unwrap_or(OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_reasons_are_bounded() {
        assert_eq!(
            upstream_error_reason(Some("ThrottlingException")),
            "ThrottlingException"
        );
        assert_eq!(upstream_error_reason(Some("SomethingNew")), OTHER);
        assert_eq!(upstream_error_reason(None), OTHER);
    }

    #[test]
    fn every_refusal_has_its_own_reason() {
        let reasons: std::collections::HashSet<_> = [
            GateError::UnrecognizedClient(String::new()),
            GateError::InvalidSignature(String::new()),
            GateError::AccessDenied(String::new()),
            GateError::QuotaExceeded(String::new()),
            GateError::Throttled {
                message: String::new(),
                retry_after_secs: 1,
            },
            GateError::BodyTooLarge { limit: 1 },
            GateError::Validation(String::new()),
            GateError::UpstreamUnavailable(String::new()),
            GateError::UpstreamTimeout(String::new()),
            GateError::Overloaded {
                message: String::new(),
                retry_after_secs: 1,
            },
            GateError::RequestTimeout(String::new()),
            GateError::QuotaStoreUnavailable(String::new()),
        ]
        .iter()
        .map(refusal_reason)
        .collect();
        assert_eq!(reasons.len(), 12);
    }
}
