//! Who performs a change: the name written to audit rows and events.

use std::fmt;

/// The acting identity of a change: `cli:<login>`, `api:<token name>`,
/// `proxy:<host>:<pid>` (automatic blocks) or `scheduler:<host>:<pid>` (the reset).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor(String);

/// The longest name `--actor` takes.
const MAX_NAME: usize = 64;

impl Actor {
    /// The operator at the command line: `cli:<name>` with the name given by `--actor`
    /// (checked by [`Actor::check_name`]), else their login: `SUDO_USER`, `USER` or
    /// `LOGNAME` (the first that is set and not empty), else the name of the process's
    /// real user in `/etc/passwd`, else `uid:<N>`.
    pub(crate) fn cli(name: Option<&str>) -> Self {
        let login = match name {
            Some(n) => n.to_string(),
            None => login(
                |var| std::env::var(var).ok(),
                real_uid(),
                &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            ),
        };
        Self(format!("cli:{login}"))
    }

    /// Checks a name for `--actor`: 1 to 64 letters, digits, `.`, `_`, `-` or `@`,
    /// starting with a letter or digit.
    pub(crate) fn check_name(name: &str) -> Result<String, String> {
        let fine = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if fine {
            Ok(name.to_string())
        } else {
            Err(format!(
                "`{name}` is not an actor name: 1 to {MAX_NAME} letters, digits, `.`, `_`, \
                 `-` or `@`, starting with a letter or digit"
            ))
        }
    }

    /// A caller of the admin API, by the name of its admin token (`api:<name>`).
    pub fn api(token_name: &str) -> Self {
        Self(format!("api:{token_name}"))
    }

    /// A process acting by itself (`proxy:<host>:<pid>`), as named by the caller.
    pub fn system(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The text stored in `performed_by`.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The process's real user id (unix), if there is such a thing here.
fn real_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(rustix::process::getuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The operator's login: the first of `SUDO_USER`, `USER`, `LOGNAME` that `var` finds
/// set and not empty; else `uid`'s name in `passwd` (the text of `/etc/passwd`); else
/// `uid:<N>`; `unknown` only where there are no user ids.
fn login(var: impl Fn(&str) -> Option<String>, uid: Option<u32>, passwd: &str) -> String {
    let from_env = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|v| var(v))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty());
    if let Some(name) = from_env {
        return name;
    }
    let Some(uid) = uid else {
        return "unknown".into();
    };
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut fields = l.split(':');
            let name = fields.next()?;
            let id: u32 = fields.nth(1)?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .unwrap_or_else(|| format!("uid:{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n# a comment\n\
                          daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                          ops:x:1000:1000:Ops,,,:/home/ops:/bin/sh\n";

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_login_comes_from_the_environment_first() {
        let env = |v: &str| match v {
            "SUDO_USER" => Some(String::new()),
            "USER" => Some("alice".into()),
            _ => Some("bob".into()),
        };
        assert_eq!(login(env, Some(1000), PASSWD), "alice");
    }

    #[test]
    fn without_a_login_in_the_environment_the_real_user_is_named() {
        let empty = |_: &str| Some(String::new());
        assert_eq!(login(empty, Some(1000), PASSWD), "ops");
        assert_eq!(login(none, Some(0), PASSWD), "root");
        assert_eq!(login(none, Some(4242), PASSWD), "uid:4242");
        assert_eq!(login(none, Some(4242), ""), "uid:4242");
        assert_eq!(login(none, None, PASSWD), "unknown");
    }

    #[test]
    fn actor_names_are_checked() {
        for good in ["deploy-bot", "ci.pipeline_42", "alice@example.com", "a"] {
            assert_eq!(Actor::check_name(good).as_deref(), Ok(good));
        }
        let long = "a".repeat(MAX_NAME + 1);
        for bad in [
            "",
            "-x",
            "api:bot",
            "two words",
            "tab\t",
            "ünï",
            long.as_str(),
        ] {
            assert!(Actor::check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Actor::cli(Some("deploy-bot")).as_str(), "cli:deploy-bot");
    }
}
