//! The email templates (files under `templates/email/`, compiled into the binary) and
//! rendering one message from them: subject, plain text and HTML, in English or
//! Spanish. Each `<lang>/<kind>.txt` defines the `subject` block and the text body;
//! `<lang>/<kind>.html` the HTML body inside `base.html`'s layout.

use minijinja::{context, Environment, Value};
use serde::Serialize;

use crate::domain::Language;

/// What a message is about (its template's name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MailKind {
    /// To a user: a warning threshold of a limit crossed.
    Warning,
    /// To a user: blocked (automatically or by an administrator).
    Blocked,
    /// To a user: the block was lifted.
    Unblocked,
    /// To the admins: a user was blocked automatically.
    BlockAlert,
    /// To the admins: the daily summary of a day that ended.
    Summary,
    /// To the admins: a reset run by hand, with the day so far.
    ResetSummary,
    /// To the admins: something is failing.
    SystemAlert,
}

impl MailKind {
    /// Every kind (for tests and samples).
    #[cfg(test)]
    pub(crate) const ALL: [MailKind; 7] = [
        Self::Warning,
        Self::Blocked,
        Self::Unblocked,
        Self::BlockAlert,
        Self::Summary,
        Self::ResetSummary,
        Self::SystemAlert,
    ];

    /// The template's file name without extension.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Blocked => "blocked",
            Self::Unblocked => "unblocked",
            Self::BlockAlert => "block_alert",
            Self::Summary => "summary",
            Self::ResetSummary => "reset_summary",
            Self::SystemAlert => "system_alert",
        }
    }
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// One line.
    pub(crate) subject: String,
    /// The text/plain part.
    pub(crate) text: String,
    /// The text/html part.
    pub(crate) html: String,
}

/// Embeds template files by their path under `templates/email/`.
macro_rules! files {
    ($($path:literal),+ $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $path)))),+]
    };
}

const FILES: &[(&str, &str)] = files!(
    "base.txt",
    "base.html",
    "summary_table.html",
    "en/macros.txt",
    "en/warning.txt",
    "en/warning.html",
    "en/blocked.txt",
    "en/blocked.html",
    "en/unblocked.txt",
    "en/unblocked.html",
    "en/block_alert.txt",
    "en/block_alert.html",
    "en/summary.txt",
    "en/summary.html",
    "en/reset_summary.txt",
    "en/reset_summary.html",
    "en/system_alert.txt",
    "en/system_alert.html",
    "es/macros.txt",
    "es/warning.txt",
    "es/warning.html",
    "es/blocked.txt",
    "es/blocked.html",
    "es/unblocked.txt",
    "es/unblocked.html",
    "es/block_alert.txt",
    "es/block_alert.html",
    "es/summary.txt",
    "es/summary.html",
    "es/reset_summary.txt",
    "es/reset_summary.html",
    "es/system_alert.txt",
    "es/system_alert.html",
);

/// The loaded templates.
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    /// Parses every template (a syntax error is a bug caught by the tests).
    pub(crate) fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, source) in FILES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders `kind` in `language` with `ctx` (HTML is escaped, text is not).
    pub(crate) fn render(
        &self,
        kind: MailKind,
        language: Language,
        ctx: &impl Serialize,
    ) -> Result<Rendered, minijinja::Error> {
        let lang = language.as_str();
        let ctx = Value::from_serialize(ctx);
        let text_template = self
            .env
            .get_template(&format!("{lang}/{}.txt", kind.name()))?;
        let mut captured = text_template.render_captured(&ctx)?;
        let subject = captured.with_state_mut(|state| state.render_block("subject"))?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = captured.into_output().trim().to_string() + "\n";
        let html = self
            .env
            .get_template(&format!("{lang}/{}.html", kind.name()))?
            .render(context! { subject => &subject, lang => lang, ..ctx })?;
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }
}
