//! `user ...` commands: call the service layer, print its views (text or JSON).

use super::args::{Output, UserCommand};
use super::directory::{keys_table, limits_text, KeyRow};
use super::print;
use super::table::{local, plural, table, usd, Align, Col};
use super::{values, UsageError};
use crate::domain::{Actor, IamPrincipalKind, LimitsSource};
use crate::ops::blocking::BlockDuration;
use crate::ops::lists::UserListQuery;
use crate::ops::rate_view::RateView;
use crate::ops::users::CreateUser;
use crate::ops::views::{DayMonth, IamLinkView, UserInfo, UserList};
use crate::ops::Ops;

/// `user ...`
pub(crate) async fn user(
    ops: &Ops,
    out: Output,
    cmd: UserCommand,
    actor: &Actor,
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
            let new = CreateUser {
                username,
                person_name,
                team,
                email,
                language,
                iam_user,
                limits: limits.update(),
                origin: crate::domain::UserOrigin::Cli,
                external_id: None,
            };
            let u = ops.create_user(actor, &new).await?;
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
            let issued = ops.issue_key(actor, &username, &tool_name).await?;
            let text = format!(
                "key for {} ({}), shown once, store it now:\n  access_key_id:     {}\n  secret_access_key: {}\n  bearer_token:      {}",
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
            let text = info_text(&info, ops);
            print(out, &info, text);
        }
        UserCommand::List {
            team,
            blocked,
            near_limit,
        } => {
            let query = UserListQuery {
                team,
                blocked,
                near_limit: near_limit.map(|p| p.unwrap_or(ops.warning_percent())),
            };
            let list = ops.user_list(&query).await?;
            let text = list_text(&list, &query);
            print(out, &list.users, text);
        }
        UserCommand::Move { username, team } => {
            let u = ops.move_user(actor, &username, &team).await?;
            let text = format!(
                "moved {} to team {}; its shared limits apply from now on",
                u.username, u.team
            );
            print(out, &u, text);
        }
        UserCommand::Rename { username, new_name } => {
            let u = ops.rename_user(actor, &username, &new_name).await?;
            let text = format!(
                "renamed user {username} to {}; keys, limits and usage follow",
                u.username
            );
            print(out, &u, text);
        }
        UserCommand::SetLimits { username, limits } => {
            let u = ops
                .set_user_limits(actor, &username, &limits.update())
                .await?;
            let text = format!("user {}: {}", u.username, limits_text(&u.limits));
            print(out, &u, text);
        }
        UserCommand::Block {
            username,
            duration,
            until,
            reason,
        } => {
            let duration = match until {
                Some(u) => {
                    let end = values::until(&u, ops.timezone()).map_err(UsageError)?;
                    values::block_until(end, chrono::Utc::now()).map_err(UsageError)?
                }
                None => duration.unwrap_or(BlockDuration::UntilReset),
            };
            super::blocking::block(ops, out, &username, duration, reason, actor).await?
        }
        UserCommand::Unblock { username, reason } => {
            super::blocking::unblock(ops, out, &username, reason, actor).await?
        }
        UserCommand::Protect { username } => {
            super::blocking::protect(ops, out, &username, true, actor).await?
        }
        UserCommand::Unprotect { username } => {
            super::blocking::protect(ops, out, &username, false, actor).await?
        }
        UserCommand::LinkIam {
            username,
            iam_user,
            role_session,
        } => {
            let links = ops
                .link_iam(actor, &username, principal_kind(role_session), &iam_user)
                .await?;
            let text = format!("linked {username} to {}", links_text(&links));
            print(out, &links, text);
        }
        UserCommand::UnlinkIam {
            username,
            iam_user,
            role_session,
        } => {
            let links = ops
                .unlink_iam(actor, &username, principal_kind(role_session), &iam_user)
                .await?;
            let text = format!(
                "unlinked {iam_user}; {username} is linked to {}",
                links_text(&links)
            );
            print(out, &links, text);
        }
        UserCommand::Delete { username } => {
            let d = ops.delete_user(actor, &username).await?;
            print(out, &d, format!("deleted user {username} and their keys"));
        }
    }
    Ok(())
}

fn principal_kind(role_session: bool) -> IamPrincipalKind {
    if role_session {
        IamPrincipalKind::RoleSession
    } else {
        IamPrincipalKind::IamUser
    }
}

/// `IAM user alice, role session alice-*` (or `no IAM principal`).
fn links_text(links: &[IamLinkView]) -> String {
    if links.is_empty() {
        return "no IAM principal".into();
    }
    links
        .iter()
        .map(|l| match l.kind {
            IamPrincipalKind::IamUser => format!("IAM user {}", l.principal),
            IamPrincipalKind::RoleSession => format!("role session {}", l.principal),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `3 requests and 1200 tokens in the last minute, 1 in flight (limits: 60
/// requests/min, unlimited tokens/min, 4 in flight)`.
pub(super) fn rate_text(r: &RateView) -> String {
    let limit = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
    format!(
        "{} and {} tokens in the last minute, {} in flight \
         (limits: {} requests/min, {} tokens/min, {} in flight)",
        plural(r.requests_last_minute, "request", "requests"),
        r.tokens_last_minute,
        r.in_flight,
        limit(r.rpm),
        limit(r.tpm),
        limit(r.max_concurrent),
    )
}

/// `requests, in / out tokens, $cost` of one period.
pub(super) fn period_text(usage: &DayMonth, month: bool) -> String {
    let t = if month { &usage.month } else { &usage.day };
    format!(
        "{}, {} in / {} out tokens, {}",
        plural(t.requests, "request", "requests"),
        t.input_tokens,
        t.output_tokens,
        usd(t.cost_usd)
    )
}

/// Who set a user's limits, for `user info`.
fn limits_source_text(source: LimitsSource) -> &'static str {
    match source {
        LimitsSource::Defaults => "the configured defaults",
        LimitsSource::Group => "their sign-in group",
        LimitsSource::Admin => "an administrator",
    }
}

fn info_text(info: &UserInfo, ops: &Ops) -> String {
    let u = &info.user;
    let tz = ops.timezone();
    let email = u.email.as_deref().unwrap_or("no email");
    let mut text = format!(
        "{} ({}, {email}), team {}\n  created by: {}{}\n  limits:     {} (set by {})\n  today:      {}\n  \
         this month: {}",
        u.username,
        u.person,
        u.team,
        u.origin,
        if u.active { "" } else { " (deactivated)" },
        limits_text(&u.limits),
        limits_source_text(u.limits_source),
        period_text(&info.usage, false),
        period_text(&info.usage, true),
    );
    let b = &info.blocking;
    let status = if b.blocked {
        let until = match b.blocked_until {
            Some(_) => format!("until {}", local(b.blocked_until, tz)),
            None => "until an administrator unblocks".into(),
        };
        let why = b.blocked_reason.as_deref().unwrap_or("no reason given");
        format!("blocked {until} ({why})")
    } else {
        "not blocked".into()
    };
    let protection = match (b.administrative_safe, b.protected_until) {
        (false, _) => "not protected".to_string(),
        (true, Some(_)) => format!(
            "protected from limits until {}",
            local(b.protected_until, tz)
        ),
        (true, None) => "protected from limits (standing)".to_string(),
    };
    text.push_str(&format!("\n  status:     {status}; {protection}"));
    text.push_str(&format!("\n  rate:       {}", rate_text(&info.rate)));
    text.push_str(&format!("\n  iam:        {}", links_text(&info.iam_links)));
    let keys = info
        .keys
        .iter()
        .map(|k| KeyRow {
            id: &k.access_key_id,
            user: None,
            tool: &k.tool,
            status: k.status,
            created: k.created_at,
            expires: k.expires_at,
            expired: k.expired,
        })
        .collect();
    let keys = keys_table(keys, tz).replace('\n', "\n    ");
    text.push_str(&format!("\n  keys:\n    {keys}"));
    text
}

fn list_text(list: &UserList, q: &UserListQuery) -> String {
    let rows: Vec<Vec<String>> = list
        .users
        .iter()
        .map(|s| {
            let status = match (s.blocked, s.administrative_safe) {
                (true, _) => "blocked",
                (false, true) => "protected",
                (false, false) => "",
            };
            vec![
                s.user.username.clone(),
                s.user.team.clone(),
                s.user.person.clone(),
                s.usage.day.requests.to_string(),
                usd(s.usage.day.cost_usd),
                s.usage.month.requests.to_string(),
                usd(s.usage.month.cost_usd),
                s.used_percent.map_or("-".into(), |p| format!("{p:.0}%")),
                status.into(),
            ]
        })
        .collect();
    let what = match (q.blocked, list.near_limit) {
        (true, _) => "blocked users".to_string(),
        (false, Some(p)) => format!("users at {p}% or more of a limit"),
        _ => "users".to_string(),
    };
    let cols = [
        Col("user", Align::Left),
        Col("team", Align::Left),
        Col("person", Align::Left),
        Col("today", Align::Right),
        Col("today usd", Align::Right),
        Col("month", Align::Right),
        Col("month usd", Align::Right),
        Col("of limit", Align::Right),
        Col("status", Align::Left),
    ];
    table(&what, &cols, rows)
}
