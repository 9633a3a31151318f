//! The capped copy of a non-streaming (`Converse` / `InvokeModel`) JSON body, and its one
//! parse at the end: reported usage through `usage_members.rs` first, else the text
//! measure an estimate is based on.

use serde_json::Value;

use super::estimate::string_chars;
use super::report::TokenUsage;
use super::spellings::reported_body_usage;
use super::usage_members::UsageMembers;

/// Largest response body (non-streaming kinds) copied for parsing at the end. Past this the copy
/// is dropped and usage comes from the headers or the estimate.
pub(crate) const MAX_BODY_COPY: usize = 4 * 1024 * 1024;

/// Copy of a non-streaming body, dropped once it would exceed [`MAX_BODY_COPY`].
#[derive(Debug, Default)]
pub(super) struct BodyCopy {
    /// The bytes so far (released on overflow).
    pub(super) buf: Vec<u8>,
    /// Bytes seen, copied or not.
    pub(super) total: u64,
    /// The body outgrew [`MAX_BODY_COPY`]; nothing more is copied.
    pub(super) overflowed: bool,
}

impl BodyCopy {
    /// Appends `chunk` unless the copy would pass [`MAX_BODY_COPY`], in which case the copy
    /// is released and only the byte count kept.
    pub(super) fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len() as u64);
        if self.overflowed {
            return;
        }
        if self.buf.len().saturating_add(chunk.len()) > MAX_BODY_COPY {
            self.overflowed = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Parses the copied body: reported usage if present, and the number of characters to
    /// base an output estimate on (text in the JSON, or every byte when it does not parse).
    pub(super) fn evaluate(&self) -> (Option<TokenUsage>, u64) {
        if self.overflowed {
            // Too big to be text we could count sensibly (images, embeddings); estimate
            // falls back to the never-zero floor.
            return (None, 0);
        }
        // Usually the body reports its usage: parse only the members that can hold it and
        // skip the rest (the generated text) without building a tree.
        if let Ok(UsageMembers(members)) = serde_json::from_slice(&self.buf) {
            if let Some(usage) = reported_body_usage(&Value::Object(members)) {
                return (Some(usage), 0);
            }
        }
        match serde_json::from_slice::<Value>(&self.buf) {
            Ok(body) => (reported_body_usage(&body), string_chars(&body, 0)),
            Err(_) => (None, self.total),
        }
    }
}
