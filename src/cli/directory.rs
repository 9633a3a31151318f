//! `team`, `user` and `key` commands: call the service layer, print its views.

use super::args::{KeyCommand, Output, TeamCommand, UserCommand};
use super::print;
use crate::domain::{Actor, Limits};
use crate::ops::users::CreateUser;
use crate::ops::Ops;

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
            let teams = ops.teams().await?;
            let text = teams
                .iter()
                .map(|t| format!("{:<24} {}", t.name, limits_text(&t.limits)))
                .collect::<Vec<_>>()
                .join("\n");
            print(out, &teams, text);
        }
        TeamCommand::Info { team } => {
            let info = ops.team_info(&team).await?;
            let (day, month) = (&info.usage.day, &info.usage.month);
            let text = format!(
                "team {}\n  limits: {}\n  members: {}\n  today: {} requests, ${:.4}\n  this month: {} requests, ${:.4}",
                info.team.name,
                limits_text(&info.team.limits),
                info.members.join(", "),
                day.requests,
                day.cost_usd,
                month.requests,
                month.cost_usd
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

/// `user ...`
pub(crate) async fn user(ops: &Ops, out: Output, cmd: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
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
            let u = ops
                .create_user(
                    &actor,
                    &CreateUser {
                        username,
                        person_name,
                        team,
                        email,
                        language,
                        iam_user,
                        limits: limits.update(),
                    },
                )
                .await?;
            let text = format!(
                "created user {} in team {} ({})",
                u.username,
                u.team,
                limits_text(&u.limits)
            );
            print(out, &u, text);
        }
        UserCommand::CreateKey {
            username,
            tool_name,
        } => {
            let issued = ops.issue_key(&actor, &username, &tool_name).await?;
            let text = format!(
                "key for {} ({}) — shown once, store it now:\n  access_key_id:     {}\n  secret_access_key: {}\n  bearer_token:      {}",
                issued.username,
                issued.tool,
                issued.key.access_key_id,
                issued.key.secret_access_key,
                issued.key.bearer_token
            );
            print(out, &issued, text);
        }
        UserCommand::Info { username } => {
            let info = ops.user_info(&username).await?;
            let (u, day, month) = (&info.user, &info.usage.day, &info.usage.month);
            let mut text = format!(
                "{} ({}), team {}\n  limits: {}\n  today: {} requests, {} in / {} out tokens, ${:.4}\n  this month: {} requests, {} in / {} out tokens, ${:.4}",
                u.username, u.person, u.team, limits_text(&u.limits),
                day.requests, day.input_tokens, day.output_tokens, day.cost_usd,
                month.requests, month.input_tokens, month.output_tokens, month.cost_usd,
            );
            let b = &info.blocking;
            if b.blocked {
                let until = match b.blocked_until {
                    Some(_) => format!("until {}", super::blocking::local(b.blocked_until, ops)),
                    None => "indefinitely".into(),
                };
                let why = b.blocked_reason.as_deref().unwrap_or("no reason given");
                text.push_str(&format!("\n  blocked {until}: {why}"));
            }
            if b.administrative_safe {
                match b.safe_until {
                    Some(_) => text.push_str(&format!(
                        "\n  protected from limits until {}",
                        super::blocking::local(b.safe_until, ops)
                    )),
                    None => text.push_str("\n  protected from limits"),
                }
            }
            text.push_str("\n  keys:");
            for k in &info.keys {
                text.push_str(&format!(
                    "\n    {} {} ({})",
                    k.access_key_id, k.tool, k.status
                ));
            }
            print(out, &info, text);
        }
        UserCommand::List { team } => {
            let users = ops.users(team.as_deref()).await?;
            let text = users
                .iter()
                .map(|u| format!("{:<24} {:<24} {}", u.username, u.team, u.person))
                .collect::<Vec<_>>()
                .join("\n");
            print(out, &users, text);
        }
        UserCommand::SetLimits { username, limits } => {
            let u = ops
                .set_user_limits(&actor, &username, &limits.update())
                .await?;
            let text = format!("user {}: {}", u.username, limits_text(&u.limits));
            print(out, &u, text);
        }
        UserCommand::Block {
            username,
            duration,
            reason,
        } => super::blocking::block(ops, out, &username, duration, reason).await?,
        UserCommand::Unblock { username, reason } => {
            super::blocking::unblock(ops, out, &username, reason).await?
        }
        UserCommand::Protect { username } => {
            super::blocking::protect(ops, out, &username, true).await?
        }
        UserCommand::Unprotect { username } => {
            super::blocking::protect(ops, out, &username, false).await?
        }
        UserCommand::Delete { username } => {
            let d = ops.delete_user(&actor, &username).await?;
            print(out, &d, format!("deleted user {username} and their keys"));
        }
    }
    Ok(())
}

/// `key ...`
pub(crate) async fn key(ops: &Ops, out: Output, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::List { user } => {
            let keys = ops.keys(user.as_deref()).await?;
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
            print(out, &keys, text);
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
