//! Who last set a user's own limits (`user_limits.limits_source`): the configured
//! defaults, a sign-in group's defaults (`[oidc.teams]`), or an administrator. Sign-in
//! changes a user's limits only while no administrator has set them.

/// Where a user's own limits came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitsSource {
    /// `quota.default_*` when the user was created (no limits given).
    Defaults,
    /// The defaults of the `[oidc.teams]` group that placed the user at sign-in.
    Group,
    /// An administrator (limits given at `user create`, or `user set-limits`).
    Admin,
}

super::text_enum!(LimitsSource, "limits source", {
    Defaults => "defaults",
    Group => "group",
    Admin => "admin",
});

impl LimitsSource {
    /// Whether sign-in may replace these limits (never an administrator's).
    pub(crate) fn sign_in_may_change(self) -> bool {
        self != Self::Admin
    }
}
