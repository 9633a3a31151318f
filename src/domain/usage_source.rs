//! Where a call's token counts came from (`bedrock_requests.usage_source`).

/// Where the usage of a call came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UsageSource {
    /// Read from the upstream's response (headers, body or stream metadata).
    Reported,
    /// Estimated conservatively from what was sent and streamed.
    Estimated,
    /// Nothing to count (the call was refused or did not produce output).
    None,
    /// A direct call to Bedrock seen in CloudTrail (no token counts; priced at
    /// `iam.direct_call_usd`).
    Cloudtrail,
    /// The proxy died with the call in flight: the call's worst case (its reservation,
    /// or the prompt and the default maximum output), written from the crash journal.
    WorstCase,
}

super::text_enum!(UsageSource, "usage source", {
    Reported => "reported",
    Estimated => "estimated",
    None => "none",
    Cloudtrail => "cloudtrail",
    WorstCase => "worst_case",
});
