//! Amounts in USD as the outside sees them: JSON carries them rounded to a billionth of
//! a dollar, so sums of float prices print as `0.00925`, not `0.009250000000000001`;
//! budget limits in micro-USD, rounded down; and the one rule for showing an amount to
//! people, which the command line, mails, refusal messages and the dashboard
//! (`fmtUsd` in `dashboard/assets/ui.js`) all follow: two decimals from $1 (and for
//! zero); below $1, up to six decimals, the micro-dollars budgets are kept in, with
//! trailing zeros trimmed to two (`$0.50`, `$0.0002`, `$0.000522`).

/// `usd` rounded to 1e-9 USD (nano-dollars); non-finite values pass unchanged.
pub(crate) fn round_usd(usd: f64) -> f64 {
    if usd.is_finite() {
        (usd * 1e9).round() / 1e9
    } else {
        usd
    }
}

/// `serialize_with` for an amount in USD.
pub(crate) fn serialize_usd<S: serde::Serializer>(usd: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_usd(*usd))
}

/// How many decimals an amount is shown with, before trailing zeros beyond the second
/// are trimmed (the rule above).
fn shown_decimals(usd: f64) -> usize {
    let a = usd.abs();
    if a == 0.0 || !a.is_finite() || (a * 100.0).round() >= 100.0 {
        2
    } else {
        6
    }
}

/// An amount as people read it, without the currency: whether it is negative, then the
/// digits with `group` between thousands and `point` before the decimals (`1,234.50`,
/// `0.0002`).
pub(crate) fn shown_usd(usd: f64, group: char, point: char) -> (bool, String) {
    let decimals = shown_decimals(usd);
    let fixed = format!("{:.*}", decimals, usd.abs());
    let (whole, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut frac = frac.to_string();
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let negative = usd < 0.0 && fixed.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    (negative, format!("{grouped}{point}{frac}"))
}

/// `$1,234.50`, `-$3.50`, `$0.0002`: an amount in English notation.
pub(crate) fn format_usd(usd: f64) -> String {
    let (negative, number) = shown_usd(usd, ',', '.');
    format!("{}${number}", if negative { "-" } else { "" })
}

/// A budget limit in micro-USD (millionths of a dollar), rounded down: a limit never
/// rounds in the caller's favour.
pub fn limit_micro(usd: f64) -> i64 {
    if !usd.is_finite() || usd <= 0.0 {
        return 0;
    }
    (usd * 1_000_000.0).floor().min(i64::MAX as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_cents_from_a_dollar_and_more_decimals_below() {
        assert_eq!(format_usd(0.0), "$0.00");
        assert_eq!(format_usd(0.0002), "$0.0002");
        assert_eq!(format_usd(0.5), "$0.50");
        assert_eq!(format_usd(0.12345), "$0.12345");
        assert_eq!(format_usd(0.000522), "$0.000522");
        assert_eq!(format_usd(0.1234567), "$0.123457");
        assert_eq!(format_usd(9.250000000000001e-6), "$0.000009");
        assert_eq!(format_usd(12.345), "$12.35");
        assert_eq!(format_usd(0.99999), "$1.00");
        assert_eq!(format_usd(1_234_567.891), "$1,234,567.89");
        assert_eq!(format_usd(-3.5), "-$3.50");
        assert_eq!(shown_usd(1234.5, '.', ','), (false, "1.234,50".to_string()));
    }

    #[test]
    fn float_noise_is_rounded_away() {
        assert_eq!(round_usd(0.1 + 0.2), 0.3);
        assert_eq!(round_usd(9.250000000000001e-6), 9.25e-6);
        let json = serde_json::to_string(&round_usd(0.000_003 * 3.0 + 0.000_000_25)).unwrap();
        assert_eq!(json, "9.25e-6");
    }
}
