//! `[oidc]`: the OpenID Connect issuers whose ID tokens the proxy exchanges for
//! short-lived keys (`POST /_gate/v1/credentials`), how long those keys live, which
//! team a signed-in user lands in (`[oidc.teams]` group = team, else `default_team`),
//! the default limits a group gives the users it places
//! (`group = { team = "ml", daily_requests = 1000, ... }`), and which groups may sign in
//! to the dashboard in which role (`admin_groups`, `viewer_groups`, `team_admin_groups`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[oidc]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidc {
    pub(crate) issuer: Option<Vec<RawIssuer>>,
    pub(crate) credential_ttl: Option<String>,
    pub(crate) max_credential_ttl: Option<String>,
    pub(crate) default_team: Option<String>,
    /// Group = team name, or group = `{ team = ..., daily_requests = ..., ... }`.
    pub(crate) teams: Option<BTreeMap<String, toml::Value>>,
    pub(crate) clock_skew: Option<String>,
    pub(crate) jwks_refresh_interval: Option<String>,
    pub(crate) admin_groups: Option<Vec<String>>,
    pub(crate) viewer_groups: Option<Vec<String>>,
    pub(crate) team_admin_groups: Option<Vec<String>>,
}

/// `[[oidc.issuer]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIssuer {
    pub(crate) name: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) username_claim: Option<String>,
    pub(crate) groups_claim: Option<String>,
}

/// One trusted issuer.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct IssuerConfig {
    /// Shown to developers (`bedrock-gate login --issuer NAME`).
    pub(crate) name: String,
    /// The issuer URL, exactly as the tokens' `iss` spells it; discovery is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub(crate) issuer: String,
    /// The audience ID tokens must carry.
    pub(crate) client_id: String,
    /// For confidential clients; never shown or logged.
    pub(crate) client_secret: Option<String>,
    /// The claim naming the user (`email`).
    pub(crate) username_claim: String,
    /// The claim listing the user's groups (`groups`).
    pub(crate) groups_claim: String,
}

impl std::fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(set)"),
            )
            .field("username_claim", &self.username_claim)
            .field("groups_claim", &self.groups_claim)
            .finish()
    }
}

/// The default limits an `[oidc.teams]` group gives the users it places at sign-in;
/// `None`: the key was left out (`quota.default_*` applies).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct GroupLimits {
    /// Requests per calendar day.
    pub(crate) daily_requests: Option<i64>,
    /// Requests per calendar month.
    pub(crate) monthly_requests: Option<i64>,
    /// USD per calendar day.
    pub(crate) daily_budget_usd: Option<f64>,
    /// USD per calendar month.
    pub(crate) monthly_budget_usd: Option<f64>,
}

/// The keys of the table form of an `[oidc.teams]` entry.
const GROUP_KEYS: &str =
    "team, daily_requests, monthly_requests, daily_budget_usd, monthly_budget_usd";

/// `[oidc]`, validated. No issuers: sign-in is off.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OidcConfig {
    /// Trusted issuers, in file order.
    pub(crate) issuers: Vec<IssuerConfig>,
    /// How long an issued key lives (`credential_ttl`, default 12h).
    pub(crate) credential_ttl: Duration,
    /// The longest `credential_ttl` allowed (`max_credential_ttl`, default 12h).
    pub(crate) max_credential_ttl: Duration,
    /// The team of users whose groups map to none (`default_team`); unset: refused.
    pub(crate) default_team: Option<String>,
    /// Group → team (`[oidc.teams]`).
    pub(crate) teams: BTreeMap<String, String>,
    /// Group → the default limits of the users it places (`[oidc.teams]` entries in
    /// table form that give limits).
    pub(crate) group_limits: BTreeMap<String, GroupLimits>,
    /// How far `exp`/`nbf`/`iat` may be off (`clock_skew`, default 30s).
    pub(crate) clock_skew: Duration,
    /// The least time between two JWKS fetches for an unknown `kid`
    /// (`jwks_refresh_interval`, default 60s).
    pub(crate) jwks_refresh_interval: Duration,
    /// Dashboard single sign-on roles by group.
    pub(crate) roles: RoleGroups,
}

/// Which groups give which dashboard role (`oidc.admin_groups`, `oidc.viewer_groups`,
/// `oidc.team_admin_groups`); a person in none of them cannot sign in to the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoleGroups {
    /// Everything.
    pub(crate) admin: Vec<String>,
    /// Read only.
    pub(crate) viewer: Vec<String>,
    /// The users of the teams the person's groups map to through `[oidc.teams]`.
    pub(crate) team_admin: Vec<String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            credential_ttl: DEFAULT_TTL,
            max_credential_ttl: DEFAULT_TTL,
            default_team: None,
            teams: BTreeMap::new(),
            group_limits: BTreeMap::new(),
            clock_skew: Duration::from_secs(30),
            jwks_refresh_interval: Duration::from_secs(60),
            roles: RoleGroups::default(),
        }
    }
}

const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);

impl OidcConfig {
    /// Validates `[oidc]`: each issuer has a unique name, an `https://` issuer URL
    /// (`http://` only on a loopback host) and a client id; the credential lifetime is
    /// positive and at most the maximum; team names and group names are non-empty.
    pub(super) fn from_raw(r: RawOidc) -> Result<Self, ConfigError> {
        let d = Self::default();
        let max_credential_ttl = match &r.max_credential_ttl {
            Some(v) => duration("oidc.max_credential_ttl", v)?,
            None => d.max_credential_ttl,
        };
        let credential_ttl = match &r.credential_ttl {
            Some(v) => duration("oidc.credential_ttl", v)?,
            None => DEFAULT_TTL.min(max_credential_ttl),
        };
        if credential_ttl > max_credential_ttl {
            return Err(ConfigError::new(
                "oidc.credential_ttl",
                format!(
                    "must be at most oidc.max_credential_ttl ({}s)",
                    max_credential_ttl.as_secs()
                ),
            ));
        }
        let clock_skew = match &r.clock_skew {
            Some(v) => duration_or_zero("oidc.clock_skew", v)?,
            None => d.clock_skew,
        };
        let jwks_refresh_interval = match &r.jwks_refresh_interval {
            Some(v) => duration("oidc.jwks_refresh_interval", v)?,
            None => d.jwks_refresh_interval,
        };
        let mut issuers: Vec<IssuerConfig> = Vec::new();
        for (n, raw) in r.issuer.unwrap_or_default().into_iter().enumerate() {
            let i = issuer(n, raw)?;
            if issuers.iter().any(|o| o.name == i.name) {
                return Err(ConfigError::new(
                    format!("oidc.issuer[{n}].name"),
                    format!("`{}` names two issuers", i.name),
                ));
            }
            issuers.push(i);
        }
        let mut teams = BTreeMap::new();
        let mut group_limits = BTreeMap::new();
        for (group, value) in r.teams.unwrap_or_default() {
            if group.is_empty() {
                return Err(ConfigError::new(
                    "oidc.teams",
                    "group and team names must not be empty",
                ));
            }
            let (team, limits) = group_entry(&group, value)?;
            if let Some(l) = limits {
                group_limits.insert(group.clone(), l);
            }
            teams.insert(group, team);
        }
        if let Some(t) = &r.default_team {
            if t.trim().is_empty() {
                return Err(ConfigError::new("oidc.default_team", "must not be empty"));
            }
        }
        let roles = RoleGroups {
            admin: groups("oidc.admin_groups", r.admin_groups)?,
            viewer: groups("oidc.viewer_groups", r.viewer_groups)?,
            team_admin: groups("oidc.team_admin_groups", r.team_admin_groups)?,
        };
        Ok(Self {
            roles,
            issuers,
            credential_ttl,
            max_credential_ttl,
            default_team: r.default_team,
            teams,
            group_limits,
            clock_skew,
            jwks_refresh_interval,
        })
    }
}

/// One `[oidc.teams]` entry: `"team"`, or a table with `team` and any of the four
/// default limits (whole requests, USD amounts; 0 or more). A table that gives no limit
/// is the plain form.
fn group_entry(
    group: &str,
    value: toml::Value,
) -> Result<(String, Option<GroupLimits>), ConfigError> {
    let key = |k: Option<&str>| match k {
        None => format!("oidc.teams.\"{group}\""),
        Some(k) => format!("oidc.teams.\"{group}\".{k}"),
    };
    let team_name = |v: Option<&str>, k: Option<&str>| match v {
        Some(t) if !t.trim().is_empty() => Ok(t.to_string()),
        Some(_) => Err(ConfigError::new(key(k), "the team name must not be empty")),
        None => Err(ConfigError::new(key(k), "must be a team name (a string)")),
    };
    let table = match value {
        toml::Value::Table(t) => t,
        toml::Value::String(t) => return Ok((team_name(Some(&t), None)?, None)),
        _ => {
            return Err(ConfigError::new(
                key(None),
                "must be a team name (\"ml\") or a table ({ team = \"ml\", daily_requests = 1000, ... })",
            ))
        }
    };
    let mut team = None;
    let mut l = GroupLimits::default();
    for (k, v) in &table {
        let requests = || match v.as_integer() {
            Some(n) if (0..=crate::domain::MAX_REQUESTS).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::new(
                key(Some(k)),
                format!(
                    "`{v}` is not a whole number of requests from 0 to {}",
                    crate::domain::MAX_REQUESTS
                ),
            )),
        };
        #[allow(clippy::cast_precision_loss)]
        let usd = || {
            let n = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
            match n {
                Some(n) if n.is_finite() && (0.0..=crate::domain::MAX_BUDGET_USD).contains(&n) => {
                    Ok(Some(n))
                }
                _ => Err(ConfigError::new(
                    key(Some(k)),
                    format!(
                        "`{v}` is not an amount of USD from 0 to {}",
                        crate::domain::MAX_BUDGET_USD
                    ),
                )),
            }
        };
        match k.as_str() {
            "team" => team = Some(team_name(v.as_str(), Some(k))?),
            "daily_requests" => l.daily_requests = requests()?,
            "monthly_requests" => l.monthly_requests = requests()?,
            "daily_budget_usd" => l.daily_budget_usd = usd()?,
            "monthly_budget_usd" => l.monthly_budget_usd = usd()?,
            other => {
                return Err(ConfigError::new(
                    key(Some(other)),
                    format!("is not a key of a group's entry; the keys are {GROUP_KEYS}"),
                ))
            }
        }
    }
    let team = team.ok_or_else(|| ConfigError::new(key(Some("team")), "is required"))?;
    let limits = (l != GroupLimits::default()).then_some(l);
    Ok((team, limits))
}

/// A list of group names: none empty.
fn groups(key: &str, v: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let v = v.unwrap_or_default();
    if v.iter().any(|g| g.trim().is_empty()) {
        return Err(ConfigError::new(key, "group names must not be empty"));
    }
    Ok(v)
}

fn issuer(n: usize, raw: RawIssuer) -> Result<IssuerConfig, ConfigError> {
    let key = |k: &str| format!("oidc.issuer[{n}].{k}");
    let required = |k: &str, v: Option<String>| -> Result<String, ConfigError> {
        match v {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::new(key(k), "is required")),
        }
    };
    let name = required("name", raw.name)?;
    let issuer = required("issuer", raw.issuer)?;
    check_issuer_url(&key("issuer"), &issuer)?;
    let client_id = required("client_id", raw.client_id)?;
    let claim = |k: &str, v: Option<String>, default: &str| -> Result<String, ConfigError> {
        match v {
            None => Ok(default.to_string()),
            Some(v) if v.trim().is_empty() => Err(ConfigError::new(key(k), "must not be empty")),
            Some(v) => Ok(v),
        }
    };
    Ok(IssuerConfig {
        name,
        issuer,
        client_id,
        client_secret: raw.client_secret.filter(|s| !s.is_empty()),
        username_claim: claim("username_claim", raw.username_claim, "email")?,
        groups_claim: claim("groups_claim", raw.groups_claim, "groups")?,
    })
}

/// An issuer is `https://HOST[...]`, or `http://` on a loopback host (for local
/// providers); no query or fragment.
fn check_issuer_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError::new(key, format!("`{url}` {why}"));
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        let loopback = matches!(host, "127.0.0.1" | "localhost") || rest.starts_with("[::1]");
        if !loopback {
            return Err(bad("must use https:// (http:// only for a loopback host)"));
        }
        rest
    } else {
        return Err(bad("must be an https:// URL"));
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(bad("names no host"));
    }
    if url.contains(['?', '#']) {
        return Err(bad("must not carry a query or fragment"));
    }
    Ok(())
}

/// `N` followed by `s`, `m`, `h` or `d` (`90s`, `15m`, `12h`, `1d`), greater than zero.
pub(super) fn duration(key: &str, v: &str) -> Result<Duration, ConfigError> {
    match duration_or_zero(key, v)? {
        d if d.is_zero() => Err(ConfigError::new(key, "must be greater than zero")),
        d => Ok(d),
    }
}

fn duration_or_zero(key: &str, v: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        ConfigError::new(
            key,
            format!("`{v}` is not a duration (a number and s, m, h or d, like `12h`)"),
        )
    };
    let v = v.trim();
    let split = v.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OidcConfig, ConfigError> {
        OidcConfig::from_raw(toml::from_str::<RawOidc>(text).unwrap())
    }

    #[test]
    fn defaults_and_a_full_section() {
        let c = parse("").unwrap();
        assert!(c.issuers.is_empty());
        assert_eq!(c.credential_ttl, Duration::from_secs(43_200));
        let c = parse(
            "credential_ttl = \"2h\"\nmax_credential_ttl = \"1d\"\ndefault_team = \"eng\"\n\
             clock_skew = \"0s\"\n[teams]\n\"ml-devs\" = \"ml\"\n\
             [[issuer]]\nname = \"corp\"\nissuer = \"https://id.example.com/realms/x\"\n\
             client_id = \"gate\"\nclient_secret = \"s3cret\"\n",
        )
        .unwrap();
        assert_eq!(c.credential_ttl, Duration::from_secs(7200));
        assert_eq!(c.clock_skew, Duration::ZERO);
        assert_eq!(c.teams["ml-devs"], "ml");
        let i = &c.issuers[0];
        assert_eq!(
            (i.username_claim.as_str(), i.groups_claim.as_str()),
            ("email", "groups")
        );
        assert!(!format!("{i:?}").contains("s3cret"));
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        let e = parse("credential_ttl = \"13h\"").unwrap_err();
        assert_eq!(e.key, "oidc.credential_ttl");
        assert!(e.message.contains("at most"), "{e}");
        assert_eq!(
            parse("credential_ttl = \"12x\"").unwrap_err().key,
            "oidc.credential_ttl"
        );
        assert_eq!(
            parse("credential_ttl = \"0s\"").unwrap_err().key,
            "oidc.credential_ttl"
        );
        let e = parse(
            "[[issuer]]\nname = \"a\"\nissuer = \"http://id.example.com\"\nclient_id = \"c\"",
        )
        .unwrap_err();
        assert_eq!(e.key, "oidc.issuer[0].issuer");
        assert!(e.message.contains("https"), "{e}");
        let e = parse("[[issuer]]\nname = \"a\"\nissuer = \"https://x\"").unwrap_err();
        assert_eq!(e.key, "oidc.issuer[0].client_id");
        let two = "[[issuer]]\nname = \"a\"\nissuer = \"https://x\"\nclient_id = \"c\"\n";
        let e = parse(&format!("{two}{two}")).unwrap_err();
        assert_eq!(e.key, "oidc.issuer[1].name");
        assert!(parse(
            "[[issuer]]\nname = \"a\"\nissuer = \"http://127.0.0.1:9/x\"\nclient_id = \"c\""
        )
        .is_ok());
        assert_eq!(
            parse("default_team = \" \"").unwrap_err().key,
            "oidc.default_team"
        );
        assert_eq!(
            parse("viewer_groups = [\"ok\", \"\"]").unwrap_err().key,
            "oidc.viewer_groups"
        );
        let c = parse("admin_groups = [\"ops\"]\nteam_admin_groups = [\"leads\"]").unwrap();
        assert_eq!(c.roles.admin, ["ops"]);
        assert_eq!(c.roles.team_admin, ["leads"]);
    }

    #[test]
    fn a_group_gives_a_team_and_default_limits() {
        let c = parse(
            "[teams]\n\"data-devs\" = \"data\"\n\
             \"ml-devs\" = { team = \"ml\", daily_requests = 1000, monthly_budget_usd = 250 }\n\
             \"ops\" = { team = \"ops\", daily_budget_usd = 2.5 }\n\
             \"plain\" = { team = \"eng\" }\n",
        )
        .unwrap();
        assert_eq!(c.teams["data-devs"], "data");
        assert_eq!(c.teams["ml-devs"], "ml");
        assert_eq!(c.teams["plain"], "eng");
        assert_eq!(
            c.group_limits["ml-devs"],
            GroupLimits {
                daily_requests: Some(1000),
                monthly_budget_usd: Some(250.0),
                ..GroupLimits::default()
            }
        );
        assert_eq!(c.group_limits["ops"].daily_budget_usd, Some(2.5));
        assert!(!c.group_limits.contains_key("data-devs"));
        assert!(!c.group_limits.contains_key("plain"));
    }

    #[test]
    fn refuses_bad_group_entries_naming_the_key() {
        let bad = |entry: &str| parse(&format!("[teams]\n\"ml-devs\" = {entry}\n")).unwrap_err();
        let e = bad("{ team = \"ml\", daily_request = 5 }");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\".daily_request");
        assert!(
            e.message.contains("daily_requests, monthly_requests"),
            "{e}"
        );
        let e = bad("{ team = \"ml\", daily_requests = -1 }");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\".daily_requests");
        assert!(e.message.contains("from 0"), "{e}");
        let e = bad("{ team = \"ml\", daily_requests = 1.5 }");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\".daily_requests");
        let e = bad("{ team = \"ml\", monthly_budget_usd = -0.01 }");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\".monthly_budget_usd");
        let e = bad("{ team = \"ml\", daily_budget_usd = \"10\" }");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\".daily_budget_usd");
        let e = bad("{ team = \"ml\", daily_budget_usd = 2e6 }");
        assert!(e.message.contains("1000000"), "{e}");
        let e = bad("{ daily_requests = 5 }");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\".team");
        assert_eq!(bad("{ team = \"\" }").key, "oidc.teams.\"ml-devs\".team");
        assert_eq!(bad("\"\"").key, "oidc.teams.\"ml-devs\"");
        let e = bad("5");
        assert_eq!(e.key, "oidc.teams.\"ml-devs\"");
        assert!(e.message.contains("team name"), "{e}");
    }
}
