//! Quotas. Today this holds the calendar that limits are counted in; admission, leases,
//! blocking and resets are described in `docs/QUOTA.md` and are not built yet.

pub mod calendar;
