//! What each event means as an email: to whom, which template, in which language, with
//! which facts (already formatted for that language). The user hears about warnings of
//! their own limits, blocks and unblocks; the admins about automatic blocks, the daily
//! reset (the summary) and system alerts.

use lettre::message::Mailbox;
use serde_json::{json, Value};

use super::format::Format;
use super::templates::MailKind;
use super::Context;
use crate::domain::{BlockKind, DomainEvent, Language, LimitSubject};
use crate::store::{StoreError, User};

/// A message to send: recipients, template, language and facts.
#[derive(Clone, Debug)]
pub(crate) struct Draft {
    pub(crate) to: Vec<Mailbox>,
    pub(crate) kind: MailKind,
    pub(crate) language: Language,
    pub(crate) facts: Value,
}

/// The user an event is about, or `None` when the user is gone or has no address.
async fn recipient(cx: &Context, username: &str) -> Result<Option<(User, Mailbox)>, String> {
    let user = match cx.store.user(username).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let Some(address) = user.email.as_deref() else {
        return Ok(None);
    };
    match address.parse::<Mailbox>() {
        Ok(mut mb) => {
            mb.name = Some(user.person_name.clone());
            Ok(Some((user, mb)))
        }
        Err(e) => {
            tracing::warn!(user = %username, error = %e, "the user's email address does not parse; no mail");
            Ok(None)
        }
    }
}

/// The admins' addresses, for "whom to ask" lines.
fn contact(cx: &Context) -> String {
    cx.admins
        .iter()
        .map(|m| m.email.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The message to the user `event` is about, if any; `Ok(None)` when there is none to
/// send (another kind of event, a team's limit, no address).
pub(crate) async fn for_user(cx: &Context, event: &DomainEvent) -> Result<Option<Draft>, String> {
    let username = match event {
        DomainEvent::Warning {
            subject: LimitSubject::User { name, .. },
            ..
        } => name,
        DomainEvent::Blocked { username, .. } | DomainEvent::Unblocked { username, .. } => username,
        _ => return Ok(None),
    };
    let Some((user, to)) = recipient(cx, username).await? else {
        return Ok(None);
    };
    let f = Format {
        language: user.language,
        tz: cx.tz,
    };
    let mut facts = match event {
        DomainEvent::Warning {
            limit,
            threshold_percent,
            used,
            limit_value,
            period,
            resets_at,
            ..
        } => warning_facts(
            &f,
            limit,
            *threshold_percent,
            *used,
            *limit_value,
            period,
            *resets_at,
        ),
        DomainEvent::Blocked {
            kind,
            reason,
            until,
            limit,
            by,
            ..
        } => json!({
            "manual": *kind == BlockKind::Manual,
            "reason": reason,
            "until": until.map(|u| f.time(u)),
            "limit": limit,
            "by": by,
        }),
        DomainEvent::Unblocked {
            reason,
            protected_until,
            by,
            ..
        } => json!({
            "by_reset": reason.as_deref() == Some("daily reset"),
            "reason": reason,
            "protected_until": protected_until.map(|u| f.time(u)),
            "by": by,
        }),
        _ => return Ok(None),
    };
    let kind = match event {
        DomainEvent::Warning { .. } => MailKind::Warning,
        DomainEvent::Blocked { .. } => MailKind::Blocked,
        _ => MailKind::Unblocked,
    };
    if let Value::Object(m) = &mut facts {
        m.insert("person".into(), user.person_name.clone().into());
        m.insert("username".into(), user.username.clone().into());
        m.insert("contact".into(), contact(cx).into());
    }
    Ok(Some(Draft {
        to: vec![to],
        kind,
        language: user.language,
        facts,
    }))
}

/// The facts of a warning.
pub(crate) fn warning_facts(
    f: &Format,
    limit: &str,
    threshold: u8,
    used: i64,
    limit_value: i64,
    period: &str,
    resets_at: i64,
) -> Value {
    let percent = if limit_value > 0 {
        used as f64 * 100.0 / limit_value as f64
    } else {
        100.0
    };
    json!({
        "limit": limit,
        "threshold": threshold,
        "used": f.amount(limit, used.min(limit_value.max(0))),
        "limit_value": f.amount(limit, limit_value),
        "remaining": f.amount(limit, (limit_value - used).max(0)),
        "percent": f.percent(percent.min(100.0)),
        "bar": percent.clamp(0.0, 100.0).round() as i64,
        "period": period,
        "resets_at": f.time(resets_at),
    })
}

/// The message to the admins about `event`, if any (the summary is built elsewhere).
pub(crate) async fn for_admins(cx: &Context, event: &DomainEvent) -> Result<Option<Draft>, String> {
    let f = Format {
        language: cx.admin_language,
        tz: cx.tz,
    };
    let (kind, mut facts) = match event {
        DomainEvent::Blocked {
            username,
            kind: BlockKind::Automatic,
            reason,
            until,
            limit,
            by,
            ..
        } => {
            let (person, team) = match cx.store.user(username).await {
                Ok(u) => (u.person_name, u.team),
                Err(StoreError::NotFound(_)) => (username.clone(), "-".into()),
                Err(e) => return Err(e.to_string()),
            };
            let facts = json!({
                "username": username,
                "person": person,
                "team": team,
                "reason": reason,
                "until": until.map(|u| f.time(u)),
                "limit": limit,
                "by": by,
            });
            (MailKind::BlockAlert, facts)
        }
        DomainEvent::SystemAlert {
            alert,
            detail,
            source,
            at,
        } => (
            MailKind::SystemAlert,
            json!({ "kind": alert, "detail": detail, "source": source, "at": f.time(*at) }),
        ),
        _ => return Ok(None),
    };
    if let Value::Object(m) = &mut facts {
        m.insert("admins".into(), contact(cx).into());
    }
    Ok(Some(Draft {
        to: cx.admins.clone(),
        kind,
        language: cx.admin_language,
        facts,
    }))
}
