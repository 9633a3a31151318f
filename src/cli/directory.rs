//! `team` and `key` commands: call the service layer, print its views (text or JSON).

use super::args::{KeyCommand, Output, TeamCommand};
use super::print;
use super::table::{budget, count, local, table, usd, Align, Col};
use super::users::{period_text, rate_text};
use crate::domain::KeyStatus;
use crate::domain::{Actor, Limits};
use crate::ops::Ops;

/// `requests 350/day 5000/month, budget $10.00/day unlimited/month`.
pub(super) fn limits_text(l: &Limits) -> String {
    let mut text = format!(
        "requests {}/day {}/month, budget {}/day {}/month",
        count(l.daily_requests),
        count(l.monthly_requests),
        budget(l.daily_budget_usd),
        budget(l.monthly_budget_usd)
    );
    // Short-term limits only where overridden (the rest follow `ratelimit.*`).
    for (v, unit) in [
        (l.rpm, "requests/min"),
        (l.tpm, "tokens/min"),
        (l.max_concurrent, "in flight"),
    ] {
        if let Some(v) = v {
            text.push_str(&format!(", {v} {unit}"));
        }
    }
    text
}

/// `team ...`
pub(crate) async fn team(
    ops: &Ops,
    out: Output,
    cmd: TeamCommand,
    actor: &Actor,
) -> anyhow::Result<()> {
    match cmd {
        TeamCommand::Create { team, limits } => {
            let t = ops.create_team(actor, &team, &limits.update()).await?;
            let text = format!("created team {} ({})", t.name, limits_text(&t.limits));
            print(out, &t, text);
        }
        TeamCommand::List => {
            let teams = ops.team_list().await?;
            let rows = teams
                .iter()
                .map(|t| {
                    let l = &t.team.limits;
                    vec![
                        t.team.name.clone(),
                        t.members.to_string(),
                        usd(t.usage.day.cost_usd),
                        usd(t.usage.month.cost_usd),
                        format!("{}/{}", count(l.daily_requests), count(l.monthly_requests)),
                        format!(
                            "{}/{}",
                            budget(l.daily_budget_usd),
                            budget(l.monthly_budget_usd)
                        ),
                    ]
                })
                .collect();
            let cols = [
                Col("team", Align::Left),
                Col("members", Align::Right),
                Col("today usd", Align::Right),
                Col("month usd", Align::Right),
                Col("requests day/month", Align::Right),
                Col("budget day/month", Align::Right),
            ];
            print(out, &teams, table("teams", &cols, rows));
        }
        TeamCommand::Rename { team, new_name } => {
            let t = ops.rename_team(actor, &team, &new_name).await?;
            let text = format!(
                "renamed team {team} to {}; members, limits and usage follow",
                t.name
            );
            print(out, &t, text);
        }
        TeamCommand::Info { team } => {
            let info = ops.team_info(&team).await?;
            let members = if info.members.is_empty() {
                "none".to_string()
            } else {
                info.members.join(", ")
            };
            let text = format!(
                "team {}\n  limits:     {}\n  members:    {members}\n  today:      {}\n  this month: {}\n  rate:       {}",
                info.team.name,
                limits_text(&info.team.limits),
                period_text(&info.usage, false),
                period_text(&info.usage, true),
                rate_text(&info.rate),
            );
            print(out, &info, text);
        }
        TeamCommand::SetLimits { team, limits } => {
            let t = ops.set_team_limits(actor, &team, &limits.update()).await?;
            let text = format!("team {}: {}", t.name, limits_text(&t.limits));
            print(out, &t, text);
        }
        TeamCommand::Delete { team } => {
            let d = ops.delete_team(actor, &team).await?;
            print(out, &d, format!("deleted team {team}"));
        }
    }
    Ok(())
}

/// `key ...`
pub(crate) async fn key(
    ops: &Ops,
    out: Output,
    cmd: KeyCommand,
    actor: &Actor,
) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::List { user } => {
            let keys = ops.keys(user.as_deref()).await?;
            let rows = keys
                .iter()
                .map(|k| KeyRow {
                    id: &k.access_key_id,
                    user: Some(&k.username),
                    tool: &k.tool,
                    status: k.status,
                    created: k.created_at,
                    expires: k.expires_at,
                    expired: k.expired,
                })
                .collect();
            print(out, &keys, keys_table(rows, ops.timezone()));
        }
        KeyCommand::Revoke { access_key_id } => {
            let r = ops.revoke_key(actor, &access_key_id).await?;
            let text =
                format!("revoked {access_key_id}; running proxies refuse it within 2 seconds");
            print(out, &r, text);
        }
    }
    Ok(())
}

/// One key as a table row.
pub(super) struct KeyRow<'a> {
    /// Access key id.
    pub(super) id: &'a str,
    /// Owner (left out in a user's own view).
    pub(super) user: Option<&'a str>,
    /// Tool.
    pub(super) tool: &'a str,
    /// Active or revoked.
    pub(super) status: KeyStatus,
    /// Creation time (epoch ms).
    pub(super) created: i64,
    /// Expiry (epoch ms); `None`: until revoked.
    pub(super) expires: Option<i64>,
    /// Past its expiry now.
    pub(super) expired: bool,
}

/// Keys as a table (`no keys` when there are none): the status is `expired` for an
/// active key past its expiry, and `expires` is `never` for keys issued by an
/// administrator.
pub(super) fn keys_table(keys: Vec<KeyRow<'_>>, tz: chrono_tz::Tz) -> String {
    let with_user = keys.iter().any(|k| k.user.is_some());
    let rows = keys
        .into_iter()
        .map(|k| {
            let mut row = vec![k.id.to_string()];
            row.extend(k.user.map(str::to_string));
            let status = match k.status {
                KeyStatus::Active if k.expired => "expired".to_string(),
                s => s.to_string(),
            };
            let expires = match k.expires {
                Some(_) => local(k.expires, tz),
                None => "never".into(),
            };
            row.extend([
                k.tool.to_string(),
                status,
                local(Some(k.created), tz),
                expires,
            ]);
            row
        })
        .collect();
    let mut cols = vec![Col("access key id", Align::Left)];
    if with_user {
        cols.push(Col("user", Align::Left));
    }
    cols.extend([
        Col("tool", Align::Left),
        Col("status", Align::Left),
        Col("created", Align::Left),
        Col("expires", Align::Left),
    ]);
    table("keys", &cols, rows)
}
