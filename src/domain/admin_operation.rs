//! What a row of the admin audit log records (`admin_audit_log.operation`): one kind of
//! change an administrator makes through the service layer.

/// One kind of administrative change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminOperation {
    /// A team was created.
    CreateTeam,
    /// A team's limits changed.
    SetTeamLimits,
    /// A team was deleted.
    DeleteTeam,
    /// A user was created.
    CreateUser,
    /// A user's limits changed.
    SetUserLimits,
    /// A user was deleted.
    DeleteUser,
    /// A key was issued.
    IssueKey,
    /// A key was revoked.
    RevokeKey,
    /// A user was blocked.
    Block,
    /// A block was lifted.
    Unblock,
    /// Standing protection was given.
    Protect,
    /// Standing protection was taken away.
    Unprotect,
    /// A model's price was set.
    SetPrice,
    /// The daily reset was run by hand.
    Reset,
    /// An admin token was created.
    CreateToken,
    /// An admin token was revoked.
    RevokeToken,
    /// A user was moved to another team.
    MoveUser,
    /// A user was renamed.
    RenameUser,
    /// A team was renamed.
    RenameTeam,
    /// A dashboard session was opened with an admin token.
    Login,
    /// A dashboard session was ended.
    Logout,
    /// A proxy user was linked to an IAM principal.
    LinkIam,
    /// A link to an IAM principal was removed.
    UnlinkIam,
    /// The IAM backstop put its deny policy on an IAM user outside a blocking change
    /// (an IAM user linked to a blocked user, a deny removed by hand restored).
    IamDenyPut,
    /// The IAM backstop removed its deny policy from an IAM user outside a blocking
    /// change (the IAM user unlinked or its user deleted, a block run out).
    IamDenyRemoved,
    /// Someone signed in with an OpenID Connect issuer and was issued a key.
    SignIn,
    /// A user was deactivated (SCIM `active: false`): every key revoked.
    DeactivateUser,
    /// A deactivated user was made active again (no old key comes back).
    ReactivateUser,
    /// A user's name, email or external id changed (SCIM).
    UpdateUser,
    /// A SCIM group was created.
    CreateGroup,
    /// A SCIM group's name or members changed.
    UpdateGroup,
    /// A SCIM group was deleted.
    DeleteGroup,
}

super::text_enum!(AdminOperation, "admin operation", {
    CreateTeam => "create_team",
    SetTeamLimits => "set_team_limits",
    DeleteTeam => "delete_team",
    CreateUser => "create_user",
    SetUserLimits => "set_user_limits",
    DeleteUser => "delete_user",
    IssueKey => "issue_key",
    RevokeKey => "revoke_key",
    Block => "block",
    Unblock => "unblock",
    Protect => "protect",
    Unprotect => "unprotect",
    SetPrice => "set_price",
    Reset => "reset",
    CreateToken => "create_token",
    RevokeToken => "revoke_token",
    MoveUser => "move_user",
    RenameUser => "rename_user",
    RenameTeam => "rename_team",
    Login => "login",
    Logout => "logout",
    LinkIam => "link_iam",
    UnlinkIam => "unlink_iam",
    IamDenyPut => "iam_deny_put",
    IamDenyRemoved => "iam_deny_removed",
    SignIn => "sign_in",
    DeactivateUser => "deactivate_user",
    ReactivateUser => "reactivate_user",
    UpdateUser => "update_user",
    CreateGroup => "create_group",
    UpdateGroup => "update_group",
    DeleteGroup => "delete_group",
});
