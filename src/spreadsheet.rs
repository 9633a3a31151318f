//! CSV cells that are safe to open in a spreadsheet (a leaf). A text cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and
//! Google Sheets as a formula (CSV injection); free text the proxy exports (refusal
//! reasons, user agents, names, block reasons) can start with anything a caller or an
//! administrator typed. Such a cell gets a leading `'`, which spreadsheets show as text
//! (OWASP's advice). Every CSV the proxy writes (the command line's `usage --format
//! csv`, the admin API's and so the dashboard's exports) goes through [`defuse`].

use std::borrow::Cow;

/// `text` as a cell no spreadsheet evaluates: prefixed with `'` when it starts with a
/// formula character. Only for text: numbers are written as they are.
pub(crate) fn defuse(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn formula_starts_are_defused_and_other_text_is_kept() {
        for bad in [
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(defuse(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in ["alice", "", "claude-code/1.0 (=x)", "1-2", "'quoted"] {
            assert_eq!(defuse(fine), fine);
        }
    }
}
