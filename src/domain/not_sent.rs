//! Why a call never reached Bedrock (`bedrock_requests.not_sent`): the proxy itself
//! failed it before any byte went upstream. Such calls give their quota reservation
//! back and are left out of every usage sum; their records keep the reason.

/// Why the proxy failed a call before sending it upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotSent {
    /// The proxy had no AWS credentials for the upstream.
    NoCredentials,
    /// The upstream request could not be built or signed.
    SigningFailed,
    /// No connection to the upstream endpoint (refused, unresolvable, TLS failure).
    UpstreamUnreachable,
    /// Connecting to the upstream endpoint took too long.
    ConnectTimeout,
    /// The call's start could not be made durable in the crash journal in time.
    JournalUnavailable,
}

super::text_enum!(NotSent, "not-sent reason", {
    NoCredentials => "no_credentials",
    SigningFailed => "signing_failed",
    UpstreamUnreachable => "upstream_unreachable",
    ConnectTimeout => "connect_timeout",
    JournalUnavailable => "journal_unavailable",
});
