//! What an admin token may be used for (`admin_tokens.scope`).

/// An admin token's scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TokenScope {
    /// The admin API (`/api/v1`) and the dashboard login; refused under `/scim/v2`.
    #[default]
    Admin,
    /// Only SCIM provisioning (`/scim/v2`); refused by the admin API and the dashboard.
    Scim,
}

super::text_enum!(TokenScope, "token scope", { Admin => "admin", Scim => "scim" });
