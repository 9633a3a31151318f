//! Why a response did not reach its normal end (`bedrock_requests.ended_early`): the
//! caller left, the upstream's connection broke or ran past `upstream.timeout_secs`, or
//! the upstream's event stream was cut or malformed. `NULL` for a response that ended
//! normally (an exception frame Bedrock sent is a normal end; its type is the record's
//! `error_type`).

/// Why a response body ended before its normal end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndedEarly {
    /// The caller went away before the end (or the proxy was shutting down).
    ClientClosed,
    /// The upstream connection failed mid-body (reset, protocol error).
    UpstreamReset,
    /// The body ran past `upstream.timeout_secs`.
    UpstreamTimeout,
    /// The upstream closed cleanly in the middle of an event-stream frame, or before the
    /// stream's closing usage event.
    Truncated,
    /// The upstream sent bytes that are not a valid event stream.
    Malformed,
    /// The proxy was killed (or lost power) while the call was in flight; the record
    /// was written from the crash journal at the next start, at the call's worst case.
    ProxyCrashed,
}

super::text_enum!(EndedEarly, "early end", {
    ClientClosed => "client_closed",
    UpstreamReset => "upstream_reset",
    UpstreamTimeout => "upstream_timeout",
    Truncated => "truncated",
    Malformed => "malformed",
    ProxyCrashed => "proxy_crashed",
});
