//! The text exposition of every metric: blocked users counted from the policy snapshot
//! at this moment, then the registry encoded by prometheus-client in the OpenMetrics
//! text format (which Prometheus scrapes natively), ending in `# EOF`.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use prometheus_client::encoding::text::encode;

use super::labels::LabelSet;
use super::Metrics;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
    /// The scrape: every metric as text, in [`CONTENT_TYPE`].
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let blocked = (self.blocked)();
        for (kind, n) in [("manual", blocked.manual), ("automatic", blocked.automatic)] {
            self.families
                .blocked_users
                .get_or_create(&LabelSet::of(&["kind"], &[kind]))
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::with_capacity(16 * 1024);
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Metrics {
    /// The answer to `GET /metrics`: the scrape in [`CONTENT_TYPE`], or a JSON 500 if
    /// it could not be encoded.
    pub(crate) fn scrape(&self) -> Response<Bytes> {
        let (status, content_type, body) = match self.render() {
            Ok(text) => (StatusCode::OK, CONTENT_TYPE, text),
            Err(e) => {
                tracing::error!(error = %e, "could not encode the metrics");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application/json",
                    r#"{"message": "the metrics could not be encoded"}"#.to_string(),
                )
            }
        };
        let mut r = Response::new(Bytes::from(body));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    }
}
