//! `[upstream]`: where allowed calls go: the Bedrock runtime region (also the region
//! callers must sign for), its endpoint URL with `{region}` substituted, and the whole-call
//! timeout.

use std::time::Duration;

use super::raw::RawUpstream;
use super::values::positive;
use super::ConfigError;

/// `[upstream]`
#[derive(Clone, Debug)]
pub(crate) struct UpstreamConfig {
    /// Region of the Bedrock runtime; also the region callers must sign for.
    pub(crate) region: String,
    /// Base URL of the Bedrock runtime, `{region}` already substituted.
    pub(crate) endpoint: http::Uri,
    /// Whole-call limit, streams included.
    pub(crate) timeout: Duration,
}

impl UpstreamConfig {
    /// Validates `[upstream]` and fills in its defaults.
    pub(super) fn from_raw(u: RawUpstream) -> Result<Self, ConfigError> {
        let region = u.region.unwrap_or_else(|| "eu-west-1".to_string());
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError::new(
                "upstream.region",
                format!("`{region}` is not an AWS region name (like eu-west-1)"),
            ));
        }
        let endpoint_text = u
            .endpoint
            .unwrap_or_else(|| "https://bedrock-runtime.{region}.amazonaws.com".to_string())
            .replace("{region}", &region);
        let endpoint = parse_endpoint(&endpoint_text)?;
        let timeout = Duration::from_secs(positive("upstream.timeout_secs", u.timeout_secs, 600)?);
        Ok(Self {
            region,
            endpoint,
            timeout,
        })
    }
}

/// An http(s) URL with a host and no path.
fn parse_endpoint(text: &str) -> Result<http::Uri, ConfigError> {
    let bad = |why: &str| ConfigError::new("upstream.endpoint", format!("`{text}` {why}"));
    let uri: http::Uri = text.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.host().is_none() {
        return Err(bad("has no host"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(bad("must not have a path"));
    }
    Ok(uri)
}
