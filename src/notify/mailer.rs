//! Sending one rendered message over SMTP with lettre (plain, STARTTLS or implicit TLS
//! with rustls, authentication from the URL), as a multipart/alternative message with
//! a text and an HTML part, within a deadline.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::templates::Rendered;

/// The longest one SMTP conversation may take.
const SEND_DEADLINE: Duration = Duration::from_secs(30);

/// An SMTP client for one server and sender.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A client for `url` (already validated by the configuration).
    pub(crate) fn new(url: &str, from: Mailbox) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| "email.smtp_url is not a valid SMTP URL".to_string())?
            .timeout(Some(SEND_DEADLINE))
            .build();
        Ok(Self { transport, from })
    }

    /// Sends `message` to `to`; `Err` says why (never the password).
    pub(crate) async fn send(&self, to: &[Mailbox], message: &Rendered) -> Result<(), String> {
        if to.is_empty() {
            return Ok(());
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(message.subject.clone());
        for addr in to {
            builder = builder.to(addr.clone());
        }
        let email = builder
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| format!("the message does not build: {e}"))?;
        match tokio::time::timeout(SEND_DEADLINE, self.transport.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("SMTP: {e}")),
            Err(_) => Err(format!("SMTP: no answer within {SEND_DEADLINE:?}")),
        }
    }
}
