//! What a row of the blocking audit trail records (`blocking_audit_log.operation`).

/// One kind of change to a user's blocking status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOperation {
    /// An administrator blocked the user.
    Block,
    /// An administrator lifted a block.
    Unblock,
    /// The user reached one of their limits and was blocked until it resets.
    AutoBlock,
    /// An administrator gave standing protection from limits.
    Protect,
    /// An administrator removed the protection.
    Unprotect,
    /// The daily reset lifted a block that had run its course.
    ResetUnblock,
    /// The daily reset ended a day-long protection.
    ResetUnprotect,
}

super::text_enum!(AuditOperation, "audit operation", {
    Block => "block",
    Unblock => "unblock",
    AutoBlock => "auto_block",
    Protect => "protect",
    Unprotect => "unprotect",
    ResetUnblock => "reset_unblock",
    ResetUnprotect => "reset_unprotect",
});
