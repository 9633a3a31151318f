//! `[email]`: the SMTP URL (none means no email), the sender, the admins who get alerts
//! and summaries, and the default template [`Language`]. The URL and the addresses are
//! checked here with lettre, so a bad one stops `serve` at start with the key's name.

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::Tokio1Executor;

use super::raw::RawEmail;
use super::ConfigError;
pub(crate) use crate::domain::Language;

/// `[email]`
#[derive(Clone, Debug)]
pub(crate) struct EmailConfig {
    /// The SMTP server and how to reach it; `None` means no email.
    pub(crate) smtp: Option<SmtpUrl>,
    /// Sender address.
    pub(crate) from: Option<Mailbox>,
    /// Who gets blocking alerts and summaries.
    pub(crate) admins: Vec<Mailbox>,
    /// Default template language.
    pub(crate) language: Language,
}

/// A lettre SMTP URL (`smtp://`, `smtp://...?tls=required` for STARTTLS, `smtps://` for
/// implicit TLS; user and password in the URL). Its `Debug` hides the password.
#[derive(Clone)]
pub(crate) struct SmtpUrl(pub(crate) String);

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpUrl(..)")
    }
}

fn mailbox(key: &str, text: &str) -> Result<Mailbox, ConfigError> {
    text.parse()
        .map_err(|e| ConfigError::new(key, format!("`{text}` is not an email address: {e}")))
}

impl EmailConfig {
    /// Validates `[email]`: a sender with any SMTP URL, a URL lettre accepts, and
    /// addresses that parse.
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
            // The error may quote the URL: say what is wrong without it.
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
                ConfigError::new(
                    "email.smtp_url",
                    "is not a valid SMTP URL (smtp://host:port, smtps://user:password@host:465, \
                     smtp://host:587?tls=required)",
                )
            })?;
        }
        let from = e
            .from
            .as_deref()
            .map(|f| mailbox("email.from", f))
            .transpose()?;
        let admins = e
            .admins
            .unwrap_or_default()
            .iter()
            .map(|a| mailbox("email.admins", a))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            smtp: e.smtp_url.map(SmtpUrl),
            from,
            admins,
            language,
        })
    }
}
