//! What kind of IAM principal a proxy user is linked to for the CloudTrail backstop
//! (`iam_links.kind`).

/// One kind of linked IAM principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IamPrincipalKind {
    /// An IAM user, by name (`userIdentity.userName` of type `IAMUser`).
    IamUser,
    /// An assumed-role session name pattern (`*` matches any run of characters),
    /// matched against the session name of `AssumedRole` identities.
    RoleSession,
}

super::text_enum!(IamPrincipalKind, "IAM principal kind", {
    IamUser => "iam_user",
    RoleSession => "role_session",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_text() {
        for k in IamPrincipalKind::ALL {
            assert_eq!(k.as_str().parse::<IamPrincipalKind>().unwrap(), *k);
        }
        assert!("role".parse::<IamPrincipalKind>().is_err());
    }
}
