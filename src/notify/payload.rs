//! What a webhook receives for an event: the `json` shape (the event's key facts,
//! flattened, plus the event itself), Slack's (`text` and `blocks`) and Teams' (a
//! MessageCard). The one-line text of Slack and Teams messages is English.

use serde_json::{json, Value};

use crate::config::WebhookFormat;
use crate::domain::{BlockKind, DomainEvent, LimitSubject};

/// The facts a payload carries besides the event.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Facts {
    /// The user the event is about.
    pub(crate) user: Option<String>,
    /// That user's team, or the team the event is about.
    pub(crate) team: Option<String>,
    /// When it was sent (RFC 3339, UTC).
    pub(crate) time: String,
}

/// The limit facts of an event: limit, used, limit value, percent used, period.
fn limit_facts(event: &DomainEvent) -> (Option<&str>, Option<i64>, Option<i64>, Option<&str>) {
    match event {
        DomainEvent::Warning {
            limit,
            used,
            limit_value,
            period,
            ..
        }
        | DomainEvent::TeamLimitReached {
            limit,
            used,
            limit_value,
            period,
            ..
        } => (Some(limit), Some(*used), Some(*limit_value), Some(period)),
        DomainEvent::Blocked { limit, .. } => (limit.as_deref(), None, None, None),
        _ => (None, None, None, None),
    }
}

fn who(subject: &LimitSubject) -> String {
    match subject {
        LimitSubject::User { name, .. } => name.clone(),
        LimitSubject::Team { name, .. } => format!("team {name}"),
    }
}

/// One line saying what happened.
pub(crate) fn headline(event: &DomainEvent) -> String {
    match event {
        DomainEvent::Warning {
            subject,
            limit,
            threshold_percent,
            used,
            limit_value,
            period,
            ..
        } => format!(
            "{} reached {threshold_percent}% of the {limit} limit ({used} of {limit_value}, period {period})",
            who(subject)
        ),
        DomainEvent::TeamLimitReached {
            subject,
            limit,
            period,
            ..
        } => format!(
            "{} reached its {limit} limit (period {period}); its members' calls are refused",
            who(subject)
        ),
        DomainEvent::Blocked {
            username,
            kind: BlockKind::Automatic,
            reason,
            ..
        } => format!("{username} was blocked automatically: {reason}"),
        DomainEvent::Blocked {
            username,
            reason,
            by,
            ..
        } => format!("{username} was blocked by {by}: {reason}"),
        DomainEvent::Unblocked {
            username,
            reason,
            by,
            ..
        } => format!(
            "{username} was unblocked by {by}{}",
            reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
        DomainEvent::ProtectionChanged {
            username,
            protected,
            by,
            ..
        } => format!(
            "{username} is {} by {by}",
            if *protected {
                "now protected from limits"
            } else {
                "no longer protected from limits"
            }
        ),
        DomainEvent::LimitsChanged { subject, by, .. } => {
            format!("the limits of {} were changed by {by}", who(subject))
        }
        DomainEvent::KeyIssued {
            username, tool, by, ..
        } => format!("a key for {username} ({tool}) was issued by {by}"),
        DomainEvent::KeyRevoked {
            username,
            access_key_id,
            by,
        } => format!("key {access_key_id} of {username} was revoked by {by}"),
        DomainEvent::ResetDone {
            day,
            unblocked,
            by_hand: None,
            ..
        } => format!(
            "the daily reset for {day} ran; {} user(s) unblocked",
            unblocked.len()
        ),
        DomainEvent::ResetDone {
            day,
            unblocked,
            by,
            by_hand: Some(reset),
            ..
        } => format!(
            "{by} ran the daily reset for {day} by hand after {} call(s) today; {} user(s) unblocked",
            reset.so_far.totals.calls,
            unblocked.len()
        ),
        DomainEvent::DailySummary { day } => {
            format!("{day} has ended; its daily summary is due")
        }
        DomainEvent::SystemAlert {
            alert,
            detail,
            source,
            ..
        } => format!("system alert {alert} on {source}: {detail}"),
        DomainEvent::UserMoved {
            username,
            from_team,
            to_team,
            by,
            ..
        } => format!("{username} was moved from team {from_team} to {to_team} by {by}"),
        DomainEvent::Renamed { subject, from, by } => {
            format!("{from} was renamed to {} by {by}", who(subject))
        }
        DomainEvent::IamLinkChanged {
            username,
            iam_user,
            linked,
            by,
            ..
        } => format!(
            "IAM user {iam_user} was {} {username} by {by}",
            if *linked { "linked to" } else { "unlinked from" }
        ),
    }
}

/// The body for `format`.
pub(crate) fn body(format: WebhookFormat, event: &DomainEvent, facts: &Facts) -> Value {
    let (limit, used, limit_value, period) = limit_facts(event);
    let percent = match (used, limit_value) {
        (Some(u), Some(l)) if l > 0 => Some(((u as f64 * 1000.0 / l as f64).round()) / 10.0),
        _ => None,
    };
    let kind = event.kind().as_str();
    let line = headline(event);
    match format {
        WebhookFormat::Json => json!({
            "type": kind,
            "user": facts.user,
            "team": facts.team,
            "limit": limit,
            "used": used,
            "limit_value": limit_value,
            "percent_used": percent,
            "period": period,
            "time": facts.time,
            "message": line,
            "event": event,
        }),
        WebhookFormat::Slack => {
            let mut context = format!("bedrock-gate · `{kind}` · {}", facts.time);
            if let Some(team) = &facts.team {
                context.push_str(&format!(" · team {team}"));
            }
            json!({
                "text": format!("bedrock-gate: {line}"),
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*\n{line}", title(event))}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
                ],
            })
        }
        WebhookFormat::Teams => {
            let mut facts_list = vec![json!({"name": "Event", "value": kind})];
            for (name, value) in [
                ("User", facts.user.clone()),
                ("Team", facts.team.clone()),
                ("Limit", limit.map(str::to_string)),
                ("Used", used.map(|u| u.to_string())),
                ("Limit value", limit_value.map(|l| l.to_string())),
                ("Percent used", percent.map(|p| format!("{p}%"))),
                ("Period", period.map(str::to_string)),
                ("Time", Some(facts.time.clone())),
            ] {
                if let Some(value) = value {
                    facts_list.push(json!({"name": name, "value": value}));
                }
            }
            json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": line,
                "themeColor": colour(event),
                "title": format!("bedrock-gate: {}", title(event)),
                "text": line,
                "sections": [{"facts": facts_list}],
            })
        }
    }
}

fn title(event: &DomainEvent) -> &'static str {
    match event {
        DomainEvent::Warning { .. } => "Usage warning",
        DomainEvent::TeamLimitReached { .. } => "Team limit reached",
        DomainEvent::Blocked { .. } => "User blocked",
        DomainEvent::Unblocked { .. } => "User unblocked",
        DomainEvent::ProtectionChanged { .. } => "Protection changed",
        DomainEvent::LimitsChanged { .. } => "Limits changed",
        DomainEvent::KeyIssued { .. } => "Key issued",
        DomainEvent::KeyRevoked { .. } => "Key revoked",
        DomainEvent::ResetDone { by_hand: None, .. } => "Daily reset",
        DomainEvent::ResetDone { .. } => "Manual reset",
        DomainEvent::DailySummary { .. } => "Daily summary",
        DomainEvent::SystemAlert { .. } => "System alert",
        DomainEvent::UserMoved { .. } => "User moved",
        DomainEvent::Renamed { .. } => "Renamed",
        DomainEvent::IamLinkChanged { .. } => "IAM link changed",
    }
}

fn colour(event: &DomainEvent) -> &'static str {
    match event {
        DomainEvent::Warning { .. } => "B45309",
        DomainEvent::TeamLimitReached { .. }
        | DomainEvent::Blocked { .. }
        | DomainEvent::SystemAlert { .. } => "B91C1C",
        DomainEvent::Unblocked { .. } => "15803D",
        _ => "1D4ED8",
    }
}
