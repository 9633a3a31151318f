//! The daily summary as an email to the admins: the service layer's
//! [`DailySummary`](crate::ops::daily_summary::DailySummary) of the day that just ended,
//! formatted in `email.language`, sent when the daily reset's `reset_done` event arrives.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::compose::Draft;
use super::format::Format;
use super::templates::MailKind;
use super::Context;
use crate::ops::daily_summary::{DailySummary, Sums};

/// Users listed in the summary, at most (the rest are counted).
const MAX_USERS: usize = 25;
/// Models listed.
const TOP_MODELS: usize = 5;

fn rows(f: &Format, sums: &[Sums], max: usize) -> Vec<Value> {
    let mut out: Vec<Value> = sums
        .iter()
        .take(max)
        .map(|s| {
            json!({
                "name": s.key,
                "calls": f.int(s.calls),
                "tokens": f.int(s.tokens),
                "cost": f.usd(s.cost_usd),
            })
        })
        .collect();
    if sums.len() > max {
        let rest = &sums[max..];
        let more = rest.len();
        out.push(json!({
            "name": format!("(+{more})"),
            "calls": f.int(rest.iter().map(|s| s.calls).sum()),
            "tokens": f.int(rest.iter().map(|s| s.tokens).sum()),
            "cost": f.usd(rest.iter().map(|s| s.cost_usd).sum()),
        }));
    }
    out
}

/// The facts of a summary, formatted.
pub(crate) fn facts(f: &Format, s: &DailySummary, admins: &str) -> Value {
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
        "teams": rows(f, &s.teams, usize::MAX),
        "users": rows(f, &s.users, MAX_USERS),
        "models": rows(f, &s.models, TOP_MODELS),
        "blocked": s.blocked,
        "unblocked": s.unblocked,
        "admins": admins,
    })
}

/// The summary of the day before `reset_day` (the day the reset ran for), to the admins.
pub(crate) async fn draft(cx: &Context, reset_day: &str) -> Result<Option<Draft>, String> {
    if cx.admins.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(reset_day, "%Y-%m-%d")
        .map_err(|e| format!("reset day `{reset_day}`: {e}"))?;
    let Some(ended) = day.pred_opt() else {
        return Ok(None);
    };
    let summary = cx
        .ops
        .daily_summary(ended)
        .await
        .map_err(|e| e.to_string())?;
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
    Ok(Some(Draft {
        to: cx.admins.clone(),
        kind: MailKind::Summary,
        language: cx.admin_language,
        facts: facts(&f, &summary, &admins),
    }))
}
