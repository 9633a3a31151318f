//! How numbers, money and times read in a message, per language: `1,234` and
//! `$12.34` in English, `1.234` and `12,34 US$` in Spanish; times in `quota.timezone`.

use chrono::TimeZone;
use chrono_tz::Tz;

use crate::domain::Language;

/// Formats values for one language and time zone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Format {
    pub(crate) language: Language,
    pub(crate) tz: Tz,
}

impl Format {
    /// An integer with thousands separators.
    pub(crate) fn int(&self, n: i64) -> String {
        let sep = match self.language {
            Language::En => ',',
            Language::Es => '.',
        };
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    }

    /// US dollars by the one rule for amounts (`domain::money`), in the language's
    /// notation.
    pub(crate) fn usd(&self, usd: f64) -> String {
        match self.language {
            Language::En => crate::domain::money::format_usd(usd),
            Language::Es => {
                let (negative, number) = crate::domain::money::shown_usd(usd, '.', ',');
                format!("{}{number} US$", if negative { "-" } else { "" })
            }
        }
    }

    /// A limit's amount: requests as a count, budgets (micro-USD) as dollars.
    pub(crate) fn amount(&self, limit: &str, value: i64) -> String {
        if limit.ends_with("_usd") {
            self.usd(value as f64 / 1_000_000.0)
        } else {
            self.int(value)
        }
    }

    /// An epoch-ms time in the quota time zone (`2026-11-28 00:00 CET`, in Spanish
    /// `28/11/2026 00:00 CET`).
    pub(crate) fn time(&self, ms: i64) -> String {
        let Some(t) = self.tz.timestamp_millis_opt(ms).single() else {
            return ms.to_string();
        };
        match self.language {
            Language::En => t.format("%Y-%m-%d %H:%M %Z").to_string(),
            Language::Es => t.format("%d/%m/%Y %H:%M %Z").to_string(),
        }
    }

    /// A percentage with one decimal when below 10 (`8.5`, `92`).
    pub(crate) fn percent(&self, p: f64) -> String {
        let s = if p < 10.0 {
            format!("{p:.1}")
        } else {
            format!("{p:.0}")
        };
        match self.language {
            Language::En => s,
            Language::Es => s.replace('.', ","),
        }
    }

    /// The change from `before` to `now` (`+12%`, `-3%`, `new` when there was none).
    pub(crate) fn change(&self, now: f64, before: f64) -> String {
        if before <= 0.0 {
            return match (now > 0.0, self.language) {
                (false, Language::En) => "no change".into(),
                (false, Language::Es) => "sin cambios".into(),
                (true, Language::En) => "none the day before".into(),
                (true, Language::Es) => "ninguno el día anterior".into(),
            };
        }
        let pct = (now - before) * 100.0 / before;
        let sign = if pct >= 0.0 { "+" } else { "-" };
        let pct = self.percent(pct.abs());
        match self.language {
            Language::En => format!("{sign}{pct}%"),
            Language::Es => format!("{sign}{pct} %"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_money_and_times_read_per_language() {
        let en = Format {
            language: Language::En,
            tz: chrono_tz::Tz::CET,
        };
        let es = Format {
            language: Language::Es,
            ..en
        };
        assert_eq!(en.int(1_234_567), "1,234,567");
        assert_eq!(es.int(1_234_567), "1.234.567");
        assert_eq!(en.int(-999), "-999");
        assert_eq!(en.usd(1234.5), "$1,234.50");
        assert_eq!(es.usd(0.07), "0,07 US$");
        assert_eq!(en.amount("daily_budget_usd", 2_500_000), "$2.50");
        assert_eq!(en.amount("daily_requests", 2500), "2,500");
        // 2026-11-27 23:00 UTC is midnight in CET.
        assert_eq!(en.time(1_795_820_400_000), "2026-11-28 00:00 CET");
        assert_eq!(es.time(1_795_820_400_000), "28/11/2026 00:00 CET");
        assert_eq!(en.change(110.0, 100.0), "+10%");
        assert_eq!(es.change(95.0, 100.0), "-5,0 %");
        assert_eq!(en.change(5.0, 0.0), "none the day before");
    }
}
