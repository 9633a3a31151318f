//! `team`, `user` and `key` commands.

use anyhow::Context;
use serde_json::json;

use super::args::{KeyCommand, LanguageArg, LimitArgs, Output, TeamCommand, UserCommand};
use super::print;
use crate::auth::crypto::{bearer_hash, IssuedKey, MasterKey};
use crate::config::Config;
use crate::quota::calendar;
use crate::store::{
    Limits, LimitsUpdate, NewKey, NewTeam, NewUser, Store, Team, UsageFilter, User,
};

impl LimitArgs {
    fn update(&self) -> LimitsUpdate {
        LimitsUpdate {
            daily_requests: self.daily_requests.map(|l| l.stored()),
            monthly_requests: self.monthly_requests.map(|l| l.stored()),
            daily_budget_usd: self.daily_budget_usd.map(|l| l.stored()),
            monthly_budget_usd: self.monthly_budget_usd.map(|l| l.stored()),
        }
    }

    /// The update, refusing an empty one (set-limits without any limit flag).
    fn required(&self) -> anyhow::Result<LimitsUpdate> {
        let u = self.update();
        if u == LimitsUpdate::default() {
            anyhow::bail!(
                "give at least one of --daily-requests, --monthly-requests, \
                 --daily-budget-usd, --monthly-budget-usd"
            );
        }
        Ok(u)
    }
}

/// Usage today and this month (calendar periods in `quota.timezone`) for `base`.
async fn day_and_month(
    store: &Store,
    config: &Config,
    base: UsageFilter,
) -> anyhow::Result<(crate::store::UsageTotals, crate::store::UsageTotals)> {
    let now = chrono::Utc::now();
    let within = |p: calendar::Period| UsageFilter {
        from_ms: Some(p.start_ms),
        to_ms: Some(p.end_ms),
        ..base.clone()
    };
    let day = store
        .usage_totals(&within(calendar::day(config.quota.timezone, now)))
        .await?;
    let month = store
        .usage_totals(&within(calendar::month(config.quota.timezone, now)))
        .await?;
    Ok((day, month))
}

fn limits_json(l: &Limits) -> serde_json::Value {
    json!({
        "daily_requests": l.daily_requests,
        "monthly_requests": l.monthly_requests,
        "daily_budget_usd": l.daily_budget_usd,
        "monthly_budget_usd": l.monthly_budget_usd,
    })
}

fn limits_text(l: &Limits) -> String {
    let n = |v: Option<i64>| v.map_or("unlimited".to_string(), |v| v.to_string());
    let usd = |v: Option<f64>| v.map_or("unlimited".to_string(), |v| format!("${v:.2}"));
    format!(
        "requests {}/day {}/month, budget {}/day {}/month",
        n(l.daily_requests),
        n(l.monthly_requests),
        usd(l.daily_budget_usd),
        usd(l.monthly_budget_usd)
    )
}

fn team_json(t: &Team) -> serde_json::Value {
    json!({"name": t.name, "limits": limits_json(&t.limits), "created_at": t.created_at})
}

/// `team ...`
pub async fn team(
    store: &Store,
    config: &Config,
    out: Output,
    cmd: TeamCommand,
) -> anyhow::Result<()> {
    match cmd {
        TeamCommand::Create { team, limits } => {
            check_name("team", &team)?;
            let t = store
                .create_team(&NewTeam {
                    name: team,
                    limits: limits.update().apply(Limits::default()),
                })
                .await?;
            print(
                out,
                team_json(&t),
                format!("created team {} ({})", t.name, limits_text(&t.limits)),
            );
        }
        TeamCommand::List => {
            let teams = store.teams().await?;
            let text = teams
                .iter()
                .map(|t| format!("{:<24} {}", t.name, limits_text(&t.limits)))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                out,
                json!(teams.iter().map(team_json).collect::<Vec<_>>()),
                text,
            );
        }
        TeamCommand::Info { team } => {
            let t = store.team(&team).await?;
            let members = store.users(Some(&team)).await?;
            let base = UsageFilter {
                team: Some(team.clone()),
                ..Default::default()
            };
            let (day, month) = day_and_month(store, config, base).await?;
            let mut doc = team_json(&t);
            doc["members"] = json!(members.iter().map(|u| &u.username).collect::<Vec<_>>());
            doc["usage"] = json!({"day": day, "month": month});
            let text = format!(
                "team {}\n  limits: {}\n  members: {}\n  today: {} requests, ${:.4}\n  this month: {} requests, ${:.4}",
                t.name,
                limits_text(&t.limits),
                members.iter().map(|u| u.username.as_str()).collect::<Vec<_>>().join(", "),
                day.requests,
                day.cost_usd,
                month.requests,
                month.cost_usd
            );
            print(out, doc, text);
        }
        TeamCommand::SetLimits { team, limits } => {
            let t = store.set_team_limits(&team, &limits.required()?).await?;
            print(
                out,
                team_json(&t),
                format!("team {}: {}", t.name, limits_text(&t.limits)),
            );
        }
        TeamCommand::Delete { team } => {
            store.delete_team(&team).await?;
            print(
                out,
                json!({"deleted": team}),
                format!("deleted team {team}"),
            );
        }
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        anyhow::bail!("{what} name `{name}` must be 1-128 characters of letters, digits, '-', '_', '.' or '@'")
    }
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "username": u.username,
        "person": u.person_name,
        "team": u.team,
        "email": u.email,
        "language": u.language,
        "iam_user": u.iam_user,
        "limits": limits_json(&u.limits),
        "created_at": u.created_at,
    })
}

/// `user ...`
pub async fn user(
    store: &Store,
    config: &Config,
    out: Output,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            person_name,
            team,
            email,
            language,
            iam_user,
            limits,
        } => {
            check_name("user", &username)?;
            if let Some(e) = &email {
                if !e.contains('@') {
                    anyhow::bail!("`{e}` is not an email address");
                }
            }
            let defaults = Limits {
                daily_requests: config
                    .quota
                    .default_daily_requests
                    .and_then(|v| i64::try_from(v).ok()),
                monthly_requests: config
                    .quota
                    .default_monthly_requests
                    .and_then(|v| i64::try_from(v).ok()),
                daily_budget_usd: None,
                monthly_budget_usd: None,
            };
            let language = match language {
                Some(LanguageArg::Es) => "es",
                Some(LanguageArg::En) => "en",
                None => config.email.language.code(),
            };
            let u = store
                .create_user(&NewUser {
                    username,
                    person_name,
                    team,
                    email,
                    language: language.to_string(),
                    iam_user,
                    limits: limits.update().apply(defaults),
                })
                .await?;
            print(
                out,
                user_json(&u),
                format!(
                    "created user {} in team {} ({})",
                    u.username,
                    u.team,
                    limits_text(&u.limits)
                ),
            );
        }
        UserCommand::CreateKey {
            username,
            tool_name,
        } => {
            check_name("tool", &tool_name)?;
            let master = MasterKey::load(&config.database.master_key)
                .context("cannot load the master key")?;
            let issued = IssuedKey::generate();
            let key = NewKey {
                access_key_id: issued.access_key_id.clone(),
                tool: tool_name,
                secret_enc: master.encrypt(&issued.access_key_id, &issued.secret_access_key)?,
                bearer_hash: bearer_hash(&issued.bearer_token),
            };
            let info = store.create_key(&username, &key).await?;
            let text = format!(
                "key for {} ({}) — shown once, store it now:\n  access_key_id:     {}\n  secret_access_key: {}\n  bearer_token:      {}",
                info.username, info.tool, issued.access_key_id, issued.secret_access_key, issued.bearer_token
            );
            let mut doc = json!(issued);
            doc["username"] = json!(info.username);
            doc["tool"] = json!(info.tool);
            print(out, doc, text);
        }
        UserCommand::Info { username } => {
            let u = store.user(&username).await?;
            let base = UsageFilter {
                username: Some(username.clone()),
                ..Default::default()
            };
            let (day, month) = day_and_month(store, config, base).await?;
            let keys = store.keys(Some(&username)).await?;
            let block = store.blocking_status(u.id).await?;
            let usage = |t: &crate::store::UsageTotals| {
                json!({"requests": t.requests, "input_tokens": t.input_tokens,
                       "output_tokens": t.output_tokens, "cache_read_tokens": t.cache_read_tokens,
                       "cache_write_tokens": t.cache_write_tokens, "cost_usd": t.cost_usd})
            };
            let doc = json!({
                "username": u.username,
                "person": u.person_name,
                "team": u.team,
                "email": u.email,
                "language": u.language,
                "iam_user": u.iam_user,
                "limits": limits_json(&u.limits),
                "usage": {"day": usage(&day), "month": usage(&month)},
                "blocked": block.blocked,
                "blocked_reason": block.blocked_reason,
                "blocked_until": block.blocked_until,
                "administrative_safe": block.administrative_safe,
                "keys": keys.iter().map(|k| json!({
                    "access_key_id": k.access_key_id, "tool": k.tool, "status": k.status,
                    "created_at": k.created_at})).collect::<Vec<_>>(),
            });
            let mut text = format!(
                "{} ({}), team {}\n  limits: {}\n  today: {} requests, {} in / {} out tokens, ${:.4}\n  this month: {} requests, {} in / {} out tokens, ${:.4}\n  keys:",
                u.username, u.person_name, u.team, limits_text(&u.limits),
                day.requests, day.input_tokens, day.output_tokens, day.cost_usd,
                month.requests, month.input_tokens, month.output_tokens, month.cost_usd,
            );
            for k in &keys {
                text.push_str(&format!(
                    "\n    {} {} ({})",
                    k.access_key_id, k.tool, k.status
                ));
            }
            print(out, doc, text);
        }
        UserCommand::List { team } => {
            let users = store.users(team.as_deref()).await?;
            let text = users
                .iter()
                .map(|u| format!("{:<24} {:<24} {}", u.username, u.team, u.person_name))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                out,
                json!(users.iter().map(user_json).collect::<Vec<_>>()),
                text,
            );
        }
        UserCommand::SetLimits { username, limits } => {
            let u = store
                .set_user_limits(&username, &limits.required()?)
                .await?;
            print(
                out,
                user_json(&u),
                format!("user {}: {}", u.username, limits_text(&u.limits)),
            );
        }
        UserCommand::Block {
            username,
            duration,
            reason,
        } => {
            super::blocking::block(store, config, out, &username, duration, reason).await?;
        }
        UserCommand::Unblock { username, reason } => {
            super::blocking::unblock(store, config, out, &username, reason).await?;
        }
        UserCommand::Protect { username } => {
            super::blocking::protect(store, out, &username, true).await?;
        }
        UserCommand::Unprotect { username } => {
            super::blocking::protect(store, out, &username, false).await?;
        }
        UserCommand::Delete { username } => {
            store.delete_user(&username).await?;
            print(
                out,
                json!({"deleted": username}),
                format!("deleted user {username} and their keys"),
            );
        }
    }
    Ok(())
}

/// `key ...`
pub async fn key(store: &Store, out: Output, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::List { user } => {
            let keys = store.keys(user.as_deref()).await?;
            let text = keys
                .iter()
                .map(|k| {
                    format!(
                        "{:<22} {:<20} {:<16} {}",
                        k.access_key_id, k.username, k.tool, k.status
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(out, json!(keys), text);
        }
        KeyCommand::Revoke { access_key_id } => {
            store.revoke_key(&access_key_id).await?;
            print(
                out,
                json!({"revoked": access_key_id}),
                format!("revoked {access_key_id}; running proxies refuse it within 2 seconds"),
            );
        }
    }
    Ok(())
}
