//! Amounts in USD as the outside sees them: JSON carries them rounded to a billionth of
//! a dollar, so sums of float prices print as `0.00925`, not `0.009250000000000001`;
//! budget limits in micro-USD, rounded down.

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
    fn float_noise_is_rounded_away() {
        assert_eq!(round_usd(0.1 + 0.2), 0.3);
        assert_eq!(round_usd(9.250000000000001e-6), 9.25e-6);
        let json = serde_json::to_string(&round_usd(0.000_003 * 3.0 + 0.000_000_25)).unwrap();
        assert_eq!(json, "9.25e-6");
    }
}
