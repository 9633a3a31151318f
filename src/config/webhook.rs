//! `[[webhook]]`: where events are posted (`url`), which ones (`events`, names or
//! `["*"]`), in which shape (`format` = `slack`, `teams` or `json`), and the optional
//! `secret` that signs each body (HMAC-SHA256).

use std::collections::BTreeSet;
use std::fmt;

use super::raw::RawWebhook;
use super::ConfigError;
use crate::domain::EventKind;

/// The payload shape a receiver expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WebhookFormat {
    /// A Slack incoming webhook (`text` and `blocks`).
    Slack,
    /// A Microsoft Teams incoming webhook (a MessageCard).
    Teams,
    /// The event's own fields, flattened.
    Json,
}

/// Which events a webhook gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EventFilter {
    /// `["*"]`: every event.
    All,
    /// These event types.
    Only(BTreeSet<&'static str>),
}

impl EventFilter {
    /// Whether events of `kind` go out.
    pub(crate) fn wants(&self, kind: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(kinds) => kinds.contains(kind),
        }
    }
}

/// A signing secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One `[[webhook]]`.
#[derive(Clone, Debug)]
pub(crate) struct WebhookConfig {
    /// Where to POST (http or https).
    pub(crate) url: http::Uri,
    /// Which events.
    pub(crate) events: EventFilter,
    /// The payload shape.
    pub(crate) format: WebhookFormat,
    /// Signs the body in `X-Bedrock-Gate-Signature` when set.
    pub(crate) secret: Option<Secret>,
}

impl WebhookConfig {
    /// Validates the `n`th `[[webhook]]` (keys are named `webhook[n].url`).
    pub(super) fn from_raw(n: usize, w: RawWebhook) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("webhook[{n}].{k}");
        let text = w
            .url
            .ok_or_else(|| ConfigError::new(key("url"), "required"))?;
        let url: http::Uri = text
            .parse()
            .map_err(|e| ConfigError::new(key("url"), format!("`{text}` is not a URL: {e}")))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(ConfigError::new(
                key("url"),
                format!("`{text}` is not an http:// or https:// URL with a host"),
            ));
        }
        let format = match w.format.as_deref() {
            None | Some("json") => WebhookFormat::Json,
            Some("slack") => WebhookFormat::Slack,
            Some("teams") => WebhookFormat::Teams,
            Some(other) => {
                return Err(ConfigError::new(
                    key("format"),
                    format!("`{other}` is not slack, teams or json"),
                ))
            }
        };
        let names = w.events.unwrap_or_else(|| vec!["*".to_string()]);
        let events = if names.iter().any(|e| e == "*") {
            EventFilter::All
        } else if names.is_empty() {
            return Err(ConfigError::new(key("events"), "lists no event"));
        } else {
            let mut kinds = BTreeSet::new();
            for name in &names {
                let kind = name
                    .parse::<EventKind>()
                    .map_err(|e| ConfigError::new(key("events"), e.to_string()))?;
                kinds.insert(kind.as_str());
            }
            EventFilter::Only(kinds)
        };
        let secret = match w.secret {
            Some(s) if s.is_empty() => {
                return Err(ConfigError::new(key("secret"), "must not be empty"))
            }
            s => s.map(Secret),
        };
        Ok(Self {
            url,
            events,
            format,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str, events: &[&str], format: &str) -> RawWebhook {
        RawWebhook {
            url: Some(url.into()),
            events: Some(events.iter().map(|e| e.to_string()).collect()),
            format: Some(format.into()),
            secret: Some("s3cret".into()),
        }
    }

    #[test]
    fn a_webhook_is_validated_key_by_key() {
        let w =
            WebhookConfig::from_raw(0, raw("https://h.example/x", &["blocked"], "slack")).unwrap();
        assert_eq!(w.format, WebhookFormat::Slack);
        assert!(w.events.wants("blocked") && !w.events.wants("warning"));
        assert_eq!(format!("{:?}", w.secret), "Some(Secret(..))");
        let e = WebhookConfig::from_raw(2, raw("not a url", &["*"], "json")).unwrap_err();
        assert_eq!(e.key, "webhook[2].url");
        let e = WebhookConfig::from_raw(0, raw("ftp://h/x", &["*"], "json")).unwrap_err();
        assert_eq!(e.key, "webhook[0].url");
        let e = WebhookConfig::from_raw(0, raw("http://h/x", &["blockd"], "json")).unwrap_err();
        assert_eq!(e.key, "webhook[0].events");
        let e = WebhookConfig::from_raw(0, raw("http://h/x", &["*"], "xml")).unwrap_err();
        assert_eq!(e.key, "webhook[0].format");
        let all = WebhookConfig::from_raw(0, raw("http://h/x", &["*"], "teams")).unwrap();
        assert!(all.events.wants("system_alert"));
    }
}
