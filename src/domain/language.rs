//! The language of a user's messages (`users.language`, `email.language`).

/// Template languages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Spanish.
    Es,
}

super::text_enum!(Language, "language", { En => "en", Es => "es" });

impl Language {
    /// Parses `en` or `es`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}
