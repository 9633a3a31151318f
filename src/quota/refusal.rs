//! Refusals: why admission turned a call away ([`Refusal`]: a limit without room, or
//! the ledger out of reach) and the message the client reads, naming the limit, the
//! usage and when the limit resets in `quota.timezone`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::charge::LimitRef;
use super::{Metric, Subject};

/// Why a call was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// A limit has no room for the call.
    Limit {
        /// Which limit.
        limit: LimitRef,
        /// Units spent, or reserved by calls in progress on this proxy: what all proxies
        /// reported spent to the ledger, plus what this proxy spent since its last
        /// report, plus `reserved`. Not capacity held unused anywhere.
        used: i64,
        /// Of `used`, the units reserved by calls in progress on this proxy (their worst
        /// case, until they are settled).
        reserved: i64,
        /// Units granted to other proxies that they hold unused, reserve for calls in
        /// progress there, or spent since their last report (0 when the ledger does not
        /// keep reported use): not spent as far as this proxy knows, and not available
        /// to it until they come back.
        held_elsewhere: i64,
        /// Units the call asked for (1 request, or its worst-case cost in micro-USD).
        asked: i64,
        /// Units the call could still have had (this proxy's bucket plus what the
        /// ledger has not granted): less than `asked`, and 0 or less when the limit
        /// is spent.
        room: i64,
        /// When the period ends.
        resets_at: DateTime<Utc>,
        /// The period (`2026-11-25`, `2026-11`).
        period: String,
    },
    /// The ledger could not be reached to draw more capacity.
    Unavailable(String),
}

impl Refusal {
    /// `charge`'s limit has no room: `used` units spent or reserved and `held_elsewhere`
    /// held by other proxies (a bucket's [`super::bucket::Bucket::usage`]), `room` left
    /// for this call, `reserved` held by this proxy's calls in progress.
    pub(crate) fn limit(
        charge: &super::charge::Charge,
        (used, held_elsewhere): (i64, i64),
        room: i64,
        reserved: i64,
    ) -> Self {
        Self::Limit {
            limit: charge.limit.clone(),
            used,
            reserved,
            held_elsewhere,
            asked: charge.amount,
            room,
            resets_at: charge.resets_at,
            period: charge.key.period.to_string(),
        }
    }

    /// Whether the limit is spent (nothing is left for any call, and no other proxy
    /// holds capacity of it), rather than too small for this call's worst case or held
    /// elsewhere for now: only then is the user blocked for it.
    pub fn is_exhausted(&self) -> bool {
        match self {
            Self::Limit {
                room,
                held_elsewhere,
                ..
            } => *room <= 0 && *held_elsewhere <= 0,
            Self::Unavailable(_) => false,
        }
    }
}

/// What a refused budget call asked for, to explain a worst case that does not fit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorstCase {
    /// The call's maximum output (its `max_tokens`, or the configured default).
    pub(crate) max_output_tokens: u64,
    /// Whether `max_output_tokens` came from the request (else the default).
    pub(crate) from_request: bool,
    /// The model's output price, USD per 1,000 tokens.
    pub(crate) output_per_1k: f64,
    /// The largest maximum output that would fit with this prompt, if any.
    pub(crate) fits: Option<u64>,
}

/// The refusal message: names the limit, the usage and when it resets.
pub(crate) fn refusal_message(refusal: &Refusal, tz: Tz) -> String {
    budget_refusal_message(refusal, tz, None)
}

/// [`refusal_message`], explaining a budget call's worst case with what it asked for.
pub(crate) fn budget_refusal_message(
    refusal: &Refusal,
    tz: Tz,
    worst: Option<&WorstCase>,
) -> String {
    let (limit, used, reserved, elsewhere, asked, room, resets_at) = match refusal {
        Refusal::Unavailable(m) => return m.clone(),
        Refusal::Limit {
            limit,
            used,
            reserved,
            held_elsewhere,
            asked,
            room,
            resets_at,
            ..
        } => (
            limit,
            used,
            reserved,
            held_elsewhere,
            asked,
            room,
            resets_at,
        ),
    };
    let who = match limit.subject {
        Subject::User(_) => format!("user {}", limit.name),
        Subject::Team(_) => format!("team {}", limit.name),
    };
    let when = resets_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
    let window = limit.window.adjective();
    // The real use (possibly past a limit lowered below it), never what is merely
    // granted: capacity other proxies hold is named as such.
    if limit.metric == Metric::Requests {
        let elsewhere = match *elsewhere {
            n if n > 0 => format!(
                "; {n} more held by other proxies, unused or for calls in progress or just made"
            ),
            _ => String::new(),
        };
        return format!(
            "The {window} request limit of {} for {who} is reached ({} requests used{elsewhere}). It resets at {when}.",
            limit.limit,
            (*used).max(0)
        );
    }
    let reserved = (*reserved).max(0);
    let spent = (*used - reserved).max(0);
    let mut usage = format!(
        "{} used, {} reserved by calls in progress",
        dollars(spent),
        dollars(reserved)
    );
    if *elsewhere > 0 {
        usage.push_str(&format!(
            ", {} held by other proxies (unused, or for calls in progress or just made there)",
            dollars(*elsewhere)
        ));
    }
    if *room <= 0 {
        return format!(
            "The {window} budget of {} for {who} is reached ({usage}). It resets at {when}.",
            dollars(limit.limit),
        );
    }
    let asked_for = match worst {
        Some(w) => format!(
            ": its maximum output of {} tokens ({}) at ${}/1,000 output tokens, plus the prompt",
            w.max_output_tokens,
            if w.from_request {
                "max_tokens"
            } else {
                "no max_tokens given: quota.default_max_output_tokens"
            },
            w.output_per_1k
        ),
        None => String::new(),
    };
    let fits = match worst.map(|w| w.fits) {
        Some(Some(n)) => {
            format!(" With this prompt, a maximum output of {n} tokens or fewer would fit.")
        }
        Some(None) => " Not even this prompt without output fits what is left.".to_string(),
        None => " A call with a smaller maximum output (max_tokens) may fit.".to_string(),
    };
    format!(
        "This call may cost up to {}{asked_for}. That is more than the {} left of the {window} budget of {} for {who} ({usage}). The user is not blocked.{fits} The budget resets at {when}.",
        dollars(*asked),
        dollars(*room),
        dollars(limit.limit),
    )
}

/// Micro-USD as dollars, by the one rule for amounts (`domain::money`).
fn dollars(micro: i64) -> String {
    crate::domain::money::format_usd(micro as f64 / super::MICRO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Window;

    fn budget_refusal(used: i64, reserved: i64, room: i64) -> Refusal {
        budget_refusal_elsewhere(used, reserved, room, 0)
    }

    fn budget_refusal_elsewhere(used: i64, reserved: i64, room: i64, elsewhere: i64) -> Refusal {
        Refusal::Limit {
            limit: LimitRef {
                subject: Subject::User(1),
                name: "erin".into(),
                window: Window::Day,
                metric: Metric::MicroUsd,
                limit: 1_000_000,
            },
            used,
            reserved,
            held_elsewhere: elsewhere,
            asked: 1_250_000,
            room,
            resets_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            period: "2027-01-15".into(),
        }
    }

    #[test]
    fn a_spent_budget_gives_used_and_reserved_apart() {
        // $0.70 settled, $0.30 held by calls in progress: nothing left.
        let m = refusal_message(&budget_refusal(1_000_000, 300_000, 0), chrono_tz::CET);
        assert!(
            m.contains("daily budget of $1.00 for user erin is reached ($0.70 used, $0.30 reserved by calls in progress)"),
            "{m}"
        );
    }

    #[test]
    fn a_worst_case_that_does_not_fit_says_what_it_asked_for_and_what_fits() {
        let worst = WorstCase {
            max_output_tokens: 1_000_000,
            from_request: true,
            output_per_1k: 0.00125,
            fits: Some(559_000),
        };
        // $0.30 spent, $0.00 reserved, $0.70 left.
        let r = budget_refusal(300_000, 0, 700_000);
        assert!(!r.is_exhausted());
        let m = budget_refusal_message(&r, chrono_tz::CET, Some(&worst));
        for part in [
            "may cost up to $1.25: its maximum output of 1000000 tokens (max_tokens) at $0.00125/1,000 output tokens",
            "more than the $0.70 left of the daily budget of $1.00 for user erin ($0.30 used, $0.00 reserved",
            "The user is not blocked. With this prompt, a maximum output of 559000 tokens or fewer would fit.",
        ] {
            assert!(m.contains(part), "`{part}` not in {m}");
        }
        let none_fits = WorstCase {
            fits: None,
            ..worst
        };
        let m = budget_refusal_message(&r, chrono_tz::CET, Some(&none_fits));
        assert!(m.contains("Not even this prompt"), "{m}");
    }

    #[test]
    fn capacity_held_by_other_proxies_is_named_and_is_not_spent() {
        // The case: $0.000009 spent, the rest of the budget granted to another
        // proxy that has not given it back yet.
        let r = budget_refusal_elsewhere(9, 0, 0, 999_991);
        assert!(
            !r.is_exhausted(),
            "capacity held elsewhere is not a spent budget"
        );
        let m = refusal_message(&r, chrono_tz::CET);
        assert!(
            m.contains(
                "($0.000009 used, $0.00 reserved by calls in progress, $1.00 held by other proxies"
            ),
            "{m}"
        );
        assert!(!m.contains("$0.99 used"), "{m}");
        // Nothing held anywhere: spent.
        assert!(budget_refusal_elsewhere(1_000_000, 0, 0, 0).is_exhausted());
    }

    #[test]
    fn a_request_refusal_says_the_real_use_even_past_a_lowered_limit() {
        let refusal = |used, elsewhere| Refusal::Limit {
            limit: LimitRef {
                subject: Subject::User(1),
                name: "carol".into(),
                window: Window::Day,
                metric: Metric::Requests,
                limit: 12,
            },
            used,
            reserved: 0,
            held_elsewhere: elsewhere,
            asked: 1,
            room: 12 - used - elsewhere,
            resets_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            period: "2027-01-15".into(),
        };
        let m = refusal_message(&refusal(21, 0), chrono_tz::CET);
        assert!(
            m.contains("request limit of 12 for user carol is reached (21 requests used)"),
            "{m}"
        );
        let m = refusal_message(&refusal(10, 2), chrono_tz::CET);
        assert!(
            m.contains("(10 requests used; 2 more held by other proxies, unused or for calls in progress or just made)"),
            "{m}"
        );
        assert!(!refusal(10, 2).is_exhausted());
        assert!(refusal(12, 0).is_exhausted());
    }
}
