//! Whether a proxy-issued key still authenticates (`api_keys.status`).

/// A key's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Accepted by the proxy.
    Active,
    /// Refused since it was revoked.
    Revoked,
}

super::text_enum!(KeyStatus, "key status", { Active => "active", Revoked => "revoked" });
