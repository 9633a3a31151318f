//! `team` and `key` commands: call the service layer, print its views (text or JSON).

use super::args::{KeyCommand, Output, TeamCommand};
use super::print;
use super::table::{budget, count, local, table, usd, Align, Col};
use super::users::period_text;
use crate::domain::{Actor, Limits};
use crate::ops::Ops;

/// `requests 350/day 5000/month, budget $10.00/day unlimited/month`.
pub(super) fn limits_text(l: &Limits) -> String {
    format!(
        "requests {}/day {}/month, budget {}/day {}/month",
        count(l.daily_requests),
        count(l.monthly_requests),
        budget(l.daily_budget_usd),
        budget(l.monthly_budget_usd)
    )
}

/// `team ...`
pub(crate) async fn team(ops: &Ops, out: Output, cmd: TeamCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        TeamCommand::Create { team, limits } => {
            let t = ops.create_team(&actor, &team, &limits.update()).await?;
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
            let t = ops.rename_team(&actor, &team, &new_name).await?;
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
                "team {}\n  limits:     {}\n  members:    {members}\n  today:      {}\n  this month: {}",
                info.team.name,
                limits_text(&info.team.limits),
                period_text(&info.usage, false),
                period_text(&info.usage, true),
            );
            print(out, &info, text);
        }
        TeamCommand::SetLimits { team, limits } => {
            let t = ops.set_team_limits(&actor, &team, &limits.update()).await?;
            let text = format!("team {}: {}", t.name, limits_text(&t.limits));
            print(out, &t, text);
        }
        TeamCommand::Delete { team } => {
            let d = ops.delete_team(&actor, &team).await?;
            print(out, &d, format!("deleted team {team}"));
        }
    }
    Ok(())
}

/// `key ...`
pub(crate) async fn key(ops: &Ops, out: Output, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::List { user } => {
            let keys = ops.keys(user.as_deref()).await?;
            let tz = ops.timezone();
            let rows = keys
                .iter()
                .map(|k| {
                    vec![
                        k.access_key_id.clone(),
                        k.username.clone(),
                        k.tool.clone(),
                        k.status.to_string(),
                        local(Some(k.created_at), tz),
                    ]
                })
                .collect();
            let cols = [
                Col("access key id", Align::Left),
                Col("user", Align::Left),
                Col("tool", Align::Left),
                Col("status", Align::Left),
                Col("created", Align::Left),
            ];
            print(out, &keys, table("keys", &cols, rows));
        }
        KeyCommand::Revoke { access_key_id } => {
            let r = ops.revoke_key(&Actor::cli(), &access_key_id).await?;
            let text =
                format!("revoked {access_key_id}; running proxies refuse it within 2 seconds");
            print(out, &r, text);
        }
    }
    Ok(())
}
