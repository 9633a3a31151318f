//! `[email]`: the SMTP URL (none means no email), the sender, the admins who get alerts
//! and summaries, and the default template [`Language`].

use super::raw::RawEmail;
use super::ConfigError;
pub(crate) use crate::domain::Language;

/// `[email]`
#[derive(Clone, Debug)]
pub(crate) struct EmailConfig {
    /// lettre SMTP URL; `None` means no email.
    pub(crate) smtp_url: Option<String>,
    /// Sender address.
    pub(crate) from: Option<String>,
    /// Who gets blocking alerts and summaries.
    pub(crate) admins: Vec<String>,
    /// Default template language.
    pub(crate) language: Language,
}

impl EmailConfig {
    /// Validates `[email]`: a sender with any SMTP URL, an smtp(s) scheme, and addresses
    /// that look like addresses.
    pub(super) fn from_raw(e: RawEmail) -> Result<Self, ConfigError> {
        let language = match e.language.as_deref() {
            None => Language::En,
            Some(l) => Language::parse(l).ok_or_else(|| {
                ConfigError::new("email.language", format!("`{l}` is not `en` or `es`"))
            })?,
        };
        if e.smtp_url.is_some() && e.from.is_none() {
            return Err(ConfigError::new(
                "email.from",
                "required when email.smtp_url is set",
            ));
        }
        if let Some(url) = &e.smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError::new(
                    "email.smtp_url",
                    "must start with smtp:// or smtps://",
                ));
            }
        }
        for addr in e.admins.iter().flatten().chain(e.from.iter()) {
            if !addr.contains('@') {
                return Err(ConfigError::new(
                    "email.admins",
                    format!("`{addr}` is not an email address"),
                ));
            }
        }
        Ok(Self {
            smtp_url: e.smtp_url,
            from: e.from,
            admins: e.admins.unwrap_or_default(),
            language,
        })
    }
}
