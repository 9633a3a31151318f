//! Who a verified ID token names: the user name (`username_claim`, default `email`) and
//! the groups (`groups_claim`, default `groups`). A missing or empty user name, an
//! `email` the issuer says is unverified, a groups claim that is not a list of strings,
//! or a list too long to be real, are each refused with a clear message.

use serde_json::Value;

use super::IdentityError;

/// More groups than this in one token is refused rather than processed.
pub(crate) const MAX_GROUPS: usize = 1000;
/// The longest user name taken (the users table's limit).
const MAX_USERNAME: usize = 128;

/// The signed-in person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The user name (from `username_claim`).
    pub(crate) username: String,
    /// The person's name (`name`), else the user name.
    pub(crate) person_name: String,
    /// The `email` claim, when it is there and not marked unverified.
    pub(crate) email: Option<String>,
    /// The groups (from `groups_claim`); empty when the claim is missing.
    pub(crate) groups: Vec<String>,
}

/// Reads an [`Identity`] out of verified claims.
pub(crate) fn identity(
    claims: &Value,
    username_claim: &str,
    groups_claim: &str,
) -> Result<Identity, IdentityError> {
    let refused = |m: String| IdentityError::Refused(m);
    let username = claims
        .get(username_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            refused(format!(
                "The ID token carries no `{username_claim}` claim to name the user (ask for the \
                 scope that releases it)."
            ))
        })?;
    let email_verified = claims.get("email_verified").and_then(Value::as_bool);
    if username_claim == "email" && email_verified == Some(false) {
        return Err(refused(
            "The ID token's email is not verified by the issuer.".into(),
        ));
    }
    if username.len() > MAX_USERNAME
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(refused(format!(
            "The `{username_claim}` claim is not a usable user name (at most {MAX_USERNAME} \
             letters, digits, `-`, `_`, `.`, `@`)."
        )));
    }
    let groups = match claims.get(groups_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.len() > MAX_GROUPS => {
            return Err(refused(format!(
                "The `{groups_claim}` claim lists {} groups, more than the {MAX_GROUPS} taken.",
                list.len()
            )))
        }
        Some(Value::Array(list)) => list
            .iter()
            .map(|g| g.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                refused(format!(
                    "The `{groups_claim}` claim holds something other than group names."
                ))
            })?,
        Some(_) => {
            return Err(refused(format!(
                "The `{groups_claim}` claim is not a list of group names."
            )))
        }
    };
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|_| email_verified != Some(false))
        .map(str::to_string);
    let person_name = claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(username)
        .to_string();
    Ok(Identity {
        username: username.to_string(),
        person_name,
        email,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(claims: Value) -> String {
        match identity(&claims, "email", "groups") {
            Err(IdentityError::Refused(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_user_and_groups() {
        let i = identity(
            &json!({"email": "dev@corp.com", "name": "Dee Dev", "groups": ["ml", "all"]}),
            "email",
            "groups",
        )
        .unwrap();
        assert_eq!(i.username, "dev@corp.com");
        assert_eq!(i.person_name, "Dee Dev");
        assert_eq!(i.groups, vec!["ml", "all"]);
        let i = identity(&json!({"email": "dev@corp.com"}), "email", "groups").unwrap();
        assert!(i.groups.is_empty());
    }

    #[test]
    fn refuses_bad_claims() {
        assert!(refusal(json!({"sub": "1"})).contains("no `email`"));
        assert!(
            refusal(json!({"email": "a@b.c", "email_verified": false})).contains("not verified")
        );
        assert!(refusal(json!({"email": "a b@c"})).contains("usable"));
        assert!(refusal(json!({"email": "a@b.c", "groups": "ml"})).contains("not a list"));
        assert!(refusal(json!({"email": "a@b.c", "groups": [1]})).contains("other than"));
        let huge: Vec<String> = (0..=MAX_GROUPS).map(|n| n.to_string()).collect();
        assert!(refusal(json!({"email": "a@b.c", "groups": huge})).contains("more than"));
    }
}
