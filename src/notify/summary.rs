//! The administrators' summaries as emails, in `email.language`:
//!
//! - the daily summary ([`daily`]), answering the `daily_summary` event of a day that
//!   ended: the service layer's [`DaySummary`] of that day, read when the mail is
//!   composed (the day is over and its records are in);
//! - the summary of a reset run by hand ([`by_hand`]), answering a `reset_done` event
//!   that carries the day so far: the calls of the day the reset cleared, who was
//!   blocked, and whom the reset unblocked, as they were when it ran.
//!
//! A scheduled `reset_done` mails nobody: its day's summary is the `daily_summary`.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::compose::Draft;
use super::format::Format;
use super::templates::MailKind;
use super::Context;
use crate::domain::{DaySummary, ResetByHand, UsageSums};

fn rows(f: &Format, sums: &[UsageSums]) -> Vec<Value> {
    sums.iter()
        .map(|s| {
            json!({
                "name": s.key,
                "calls": f.int(s.calls),
                "tokens": f.int(s.tokens),
                "cost": f.usd(s.cost_usd),
            })
        })
        .collect()
}

/// The facts of a summary, formatted.
pub(crate) fn facts(f: &Format, s: &DaySummary, admins: &str) -> Value {
    let (t, p) = (&s.totals, &s.previous);
    json!({
        "day": s.day,
        "previous_day": s.previous_day,
        "totals": {
            "calls": f.int(t.calls),
            "tokens": f.int(t.tokens),
            "cost": f.usd(t.cost_usd),
        },
        "change": {
            "calls": f.change(t.calls as f64, p.calls as f64),
            "tokens": f.change(t.tokens as f64, p.tokens as f64),
            "cost": f.change(t.cost_usd, p.cost_usd),
        },
        "teams": rows(f, &s.teams),
        "users": rows(f, &s.users),
        "models": rows(f, &s.models),
        "blocked": s.blocked,
        "unblocked": s.unblocked,
        "admins": admins,
    })
}

/// The facts of a reset run by hand: the day so far, when and by whom, and whom it
/// unblocked and whose protection it ended.
pub(crate) fn by_hand_facts(
    f: &Format,
    reset: &ResetByHand,
    unblocked: &[String],
    unprotected: &[String],
    by: &str,
    admins: &str,
) -> Value {
    let mut v = facts(f, &reset.so_far, admins);
    if let Value::Object(m) = &mut v {
        m.insert("at".into(), f.time(reset.at).into());
        m.insert("by".into(), by.into());
        m.insert("reset_unblocked".into(), unblocked.into());
        m.insert("reset_unprotected".into(), unprotected.into());
    }
    v
}

fn admin_format(cx: &Context) -> (Format, String) {
    let f = Format {
        language: cx.admin_language,
        tz: cx.tz,
    };
    let admins = cx
        .admins
        .iter()
        .map(|m| m.email.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    (f, admins)
}

/// The summary of local day `day` (`YYYY-MM-DD`), which has ended, to the admins.
pub(crate) async fn daily(cx: &Context, day: &str) -> Result<Option<Draft>, String> {
    if cx.admins.is_empty() {
        return Ok(None);
    }
    let date =
        NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|e| format!("day `{day}`: {e}"))?;
    let summary = cx
        .ops
        .daily_summary(date)
        .await
        .map_err(|e| e.to_string())?;
    let (f, admins) = admin_format(cx);
    Ok(Some(Draft {
        to: cx.admins.clone(),
        kind: MailKind::Summary,
        language: cx.admin_language,
        facts: facts(&f, &summary, &admins),
    }))
}

/// The summary of a reset run by hand, to the admins (from the event alone).
pub(crate) fn by_hand(
    cx: &Context,
    reset: &ResetByHand,
    unblocked: &[String],
    unprotected: &[String],
    by: &str,
) -> Option<Draft> {
    if cx.admins.is_empty() {
        return None;
    }
    let (f, admins) = admin_format(cx);
    Some(Draft {
        to: cx.admins.clone(),
        kind: MailKind::ResetSummary,
        language: cx.admin_language,
        facts: by_hand_facts(&f, reset, unblocked, unprotected, by, &admins),
    })
}
