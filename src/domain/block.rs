//! How a user came to be blocked (`user_blocking_status.block_kind`).

/// How a user came to be blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// By an administrator (`user block`): 403 AccessDenied.
    Manual,
    /// By reaching a limit: the limit's 400 until the reset.
    Automatic,
}

super::text_enum!(BlockKind, "block kind", { Manual => "manual", Automatic => "automatic" });
