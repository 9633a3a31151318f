//! The short-term limits that apply to one call: each subject's override or the
//! configured default ([`Effective`]), cut to this proxy's share when several proxies
//! serve from one database.

use crate::config::RateDefaults;
use crate::domain::{Limits, RateLimit};

/// Requests per minute, tokens per minute and calls in flight one subject may have on
/// this proxy; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effective {
    /// Requests per minute.
    pub(crate) rpm: Option<u64>,
    /// Input plus output tokens per minute.
    pub(crate) tpm: Option<u64>,
    /// Calls in flight.
    pub(crate) max_concurrent: Option<u64>,
}

impl Effective {
    /// The limits in force for a subject: its override where it has one, else the
    /// default; each cut to `share(limit, proxies)`.
    pub(crate) fn of(limits: &Limits, defaults: &RateDefaults, proxies: u64) -> Self {
        let pick = |o: Option<RateLimit>, d: Option<u64>| {
            o.map_or(d, RateLimit::max).map(|l| share(l, proxies))
        };
        Self {
            rpm: pick(limits.rpm, defaults.rpm),
            tpm: pick(limits.tpm, defaults.tpm),
            max_concurrent: pick(limits.max_concurrent, defaults.max_concurrent),
        }
    }
}

/// One proxy's share of `limit` when `proxies` proxies serve from one database:
/// `max(1, limit / proxies)`, so the proxies together admit at most `limit` (when
/// `limit >= proxies`; otherwise one each). A limit of 0 stays 0.
pub(crate) fn share(limit: u64, proxies: u64) -> u64 {
    if limit == 0 || proxies <= 1 {
        return limit;
    }
    (limit / proxies).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_defaults_and_shares_never_add_up_past_the_limit() {
        let defaults = RateDefaults {
            rpm: Some(60),
            tpm: Some(10_000),
            max_concurrent: None,
        };
        let limits = Limits {
            rpm: Some(RateLimit::Max(10)),
            tpm: Some(RateLimit::Unlimited),
            max_concurrent: Some(RateLimit::Max(4)),
            ..Default::default()
        };
        let e = Effective::of(&limits, &defaults, 1);
        assert_eq!((e.rpm, e.tpm, e.max_concurrent), (Some(10), None, Some(4)));
        let e = Effective::of(&Limits::default(), &defaults, 3);
        assert_eq!(
            (e.rpm, e.tpm, e.max_concurrent),
            (Some(20), Some(3333), None)
        );
        for limit in [0, 1, 2, 7, 60, 1001] {
            for proxies in 1..6 {
                let total = share(limit, proxies) * proxies;
                assert!(total <= limit.max(proxies), "{limit}/{proxies}");
                if limit >= proxies {
                    assert!(total <= limit);
                }
            }
        }
        assert_eq!(share(0, 3), 0);
        assert_eq!(share(2, 3), 1);
    }
}
