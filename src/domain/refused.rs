//! Why the proxy refused a call (`bedrock_requests.refused`, and the `reason` label of
//! `bedrock_gate_requests_total{outcome="refused"}`): one vocabulary for the record,
//! the metric and the access log. A refused call never reached Bedrock, cost nothing
//! and counts in no usage sum, limit or budget.

/// Why the proxy refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refused {
    /// No credentials, an unknown key or a revoked key.
    UnrecognizedClient,
    /// A key issued for a limited time (sign-in with an identity provider) has expired.
    ExpiredToken,
    /// The signature did not match, or its date was outside the allowed skew.
    InvalidSignature,
    /// The user is blocked by an administrator.
    Blocked,
    /// A request limit or a USD budget is reached.
    QuotaExceeded,
    /// A short-term rate limit (requests or tokens per minute, calls in flight).
    Throttled,
    /// The request body was larger than `proxy.max_body_bytes`.
    BodyTooLarge,
    /// The request was malformed in a way the proxy detects itself.
    Validation,
    /// A USD budget applies and the model has no price.
    NoPrice,
    /// The upstream could not be reached (not a refusal of the caller, counted alike).
    Unavailable,
    /// The upstream did not answer in time.
    Timeout,
    /// The proxy was at a limit it protects (memory for request bodies).
    Overloaded,
    /// The client sent its body too slowly.
    ClientTimeout,
    /// The quota store did not answer in time.
    QuotaStoreUnavailable,
}

super::text_enum!(Refused, "refusal reason", {
    UnrecognizedClient => "unrecognized_client",
    ExpiredToken => "expired_token",
    InvalidSignature => "invalid_signature",
    Blocked => "blocked",
    QuotaExceeded => "quota_exceeded",
    Throttled => "throttled",
    BodyTooLarge => "body_too_large",
    Validation => "validation",
    NoPrice => "no_price",
    Unavailable => "unavailable",
    Timeout => "timeout",
    Overloaded => "overloaded",
    ClientTimeout => "client_timeout",
    QuotaStoreUnavailable => "quota_store_unavailable",
});
