//! The access log: one info line per call under target `bedrock_gate::access` (switched
//! by `log.access`), written when the call ends, refused or not: who (user and the
//! key's tool), what (model, operation), the outcome (status, error type, why it never
//! reached Bedrock), tokens, cost, latency and the request id the client saw.

use std::time::Duration;

use crate::domain::NotSent;

/// The log target of access lines.
pub(crate) const TARGET: &str = "bedrock_gate::access";

/// One call, as its access line shows it.
pub(crate) struct AccessLine<'a> {
    /// The id in the call's `x-amzn-RequestId`.
    pub(crate) request_id: &'a str,
    /// The user, when the caller was authenticated.
    pub(crate) user: Option<&'a str>,
    /// The tool the caller's key was issued for.
    pub(crate) tool: Option<&'a str>,
    /// The model as the caller named it (empty when it names none).
    pub(crate) model: &'a str,
    /// The Bedrock operation.
    pub(crate) operation: &'a str,
    /// The status the caller got.
    pub(crate) status: u16,
    /// The error type, on failure.
    pub(crate) error_type: Option<&'a str>,
    /// Why the proxy failed the call before it reached Bedrock.
    pub(crate) not_sent: Option<NotSent>,
    /// Input and output tokens.
    pub(crate) tokens: (u64, u64),
    /// Cost in USD.
    pub(crate) cost_usd: f64,
    /// From arrival to the last byte.
    pub(crate) latency: Duration,
}

/// Writes the access line of a finished call.
pub(crate) fn log(line: &AccessLine<'_>) {
    // Micro-dollar precision, without float noise in the output.
    let cost_usd = (line.cost_usd * 1e6).round() / 1e6;
    tracing::info!(
        target: TARGET,
        request_id = line.request_id,
        user = line.user.unwrap_or("-"),
        tool = line.tool.unwrap_or("-"),
        model = line.model,
        operation = line.operation,
        status = line.status,
        error_type = line.error_type,
        not_sent = line.not_sent.map(NotSent::as_str),
        input_tokens = line.tokens.0,
        output_tokens = line.tokens.1,
        cost_usd,
        latency_ms = u64::try_from(line.latency.as_millis()).unwrap_or(u64::MAX),
        "call"
    );
}
