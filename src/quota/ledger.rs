//! The ledger: where a proxy draws capacity chunks from and returns them to.
//!
//! A grant is one transaction on the counter's row: read `granted`, give
//! `min(want, limit - granted)`, write it back. Because every proxy draws from the same
//! row and the transaction never lets `granted` pass the limit, the capacity held by all
//! proxies together never exceeds the limit, however many proxies there are. A proxy
//! that dies holding a chunk leaves it counted as granted: under-use, never overshoot.
//!
//! **Leases** (the database ledger): a grant may keep most of its chunk in the proxy's
//! lease reserve (`quota_leases`), from which the proxy moves units out as it needs
//! them ([`Ledger::activate`], an uncontended update of its own row). The proxy renews
//! its leases while it runs ([`Ledger::keep_leases`]); the reserve of a lease that
//! expired (its proxy died or lost the database for longer than `quota.lease_secs`)
//! is reclaimed by any proxy and goes back to the counter. A reserved unit is either
//! activated by its owner or reclaimed, never both (one row, one transaction each), so
//! reclaiming never lets the proxies together pass a limit.
//!
//! [`MemoryLedger`] is the same contract in memory, for the simulator and property tests.

use std::future::Future;
use std::pin::Pin;

use super::CounterKey;

/// At most this share (1/N) of the capacity left is granted in one chunk (but always at
/// least what the call needs), so near a limit chunks shrink and little capacity sits
/// unused in any one proxy.
pub const SHARE_DIVISOR: i64 = 8;

/// Units to give: `want` capped to the share of what is left (at least `need`); nothing
/// when what is left cannot cover `need` (a call that will be refused takes no capacity
/// that other calls, on this proxy or another, could use).
pub(crate) fn units_to_give(granted: i64, need: i64, want: i64, limit: i64) -> i64 {
    let left = (limit - granted).max(0);
    if left < need.max(1) {
        return 0;
    }
    want.min((left / SHARE_DIVISOR).max(need)).min(left).max(0)
}
pub(crate) use super::store_ledger::StoreLedger;
use crate::store::StoreError;

/// What a grant gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Units given to the caller now (0 when the limit is fully granted), the kept ones
    /// included.
    pub granted: i64,
    /// Units granted to all proxies together after this grant.
    pub(crate) total: i64,
    /// Units of `granted` kept in this proxy's lease reserve (not usable until
    /// activated); 0 for ledgers without leases.
    pub(crate) kept: i64,
    /// This proxy's reserve of the counter after the grant (when `kept` > 0).
    pub(crate) reserve: i64,
    /// Units all proxies together reported spent, as of this grant (ledgers that keep
    /// it: [`Ledger::tracks_use`]).
    pub(crate) used: Option<i64>,
}

/// A counter's totals after a take-back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Units granted to all proxies together.
    pub granted: i64,
    /// Units all proxies together reported spent.
    pub used: i64,
}

impl Grant {
    /// A grant of `granted` units, all usable at once, after which `total` are granted.
    pub fn new(granted: i64, total: i64) -> Self {
        Self {
            granted,
            total,
            kept: 0,
            reserve: 0,
            used: None,
        }
    }
}

/// A boxed future of the ledger.
pub type LedgerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The shared counters.
pub trait Ledger: Send + Sync + 'static {
    /// Grants units of `key`: `want`, but no more than a 1/`SHARE_DIVISOR` share of what
    /// is left (though at least `need`), and never letting the total pass `limit`. The
    /// share is computed from the counter as it is now, inside the transaction.
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant>;
    /// Returns `amount` unused units of `key`.
    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()>;
    /// Adds `amount` units of `key` that were handed out while the ledger could not be
    /// asked (a store outage under `quota.on_store_outage = "allow"`), whatever the
    /// limit: the units are spent or held already, so the counter must show them even
    /// past the limit (the overshoot the outage allowance bounds).
    fn charge<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, Grant> {
        // Asking for `amount` under a limit that cannot be reached gives exactly it.
        self.grant(key, amount, amount, i64::MAX)
    }
    /// [`Ledger::grant`], keeping all but `activate` of the units given in this proxy's
    /// lease reserve (ledgers with leases; others give everything usable).
    fn grant_leased<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
        activate: i64,
    ) -> LedgerFuture<'a, Grant> {
        let _ = activate;
        self.grant(key, need, want, limit)
    }
    /// Moves up to `amount` units of `key` out of this proxy's lease reserve. Returns
    /// (units moved, reserve left); (0, 0) when the lease was reclaimed meanwhile.
    fn activate<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, (i64, i64)> {
        let _ = (key, amount);
        Box::pin(async { Ok((0, 0)) })
    }
    /// Returns `usable` units of `key` and `reserved` units of this proxy's reserve.
    fn release_held<'a>(
        &'a self,
        key: &'a CounterKey,
        usable: i64,
        reserved: i64,
    ) -> LedgerFuture<'a, ()> {
        self.release(key, usable + reserved)
    }
    /// Takes back capacity of `key` granted under a limit that has since been lowered:
    /// this proxy's `usable` units and its `reserved` ones, and (ledgers with leases) the
    /// lease reserves other proxies hold for `key`, in one transaction that also adds
    /// `spent` (this proxy's unreported use) to the reported use. Returns the counter's
    /// totals afterwards when the ledger keeps use ([`Ledger::tracks_use`]).
    fn take_back<'a>(
        &'a self,
        key: &'a CounterKey,
        usable: i64,
        reserved: i64,
        spent: i64,
    ) -> LedgerFuture<'a, Option<Totals>> {
        Box::pin(async move {
            self.release_held(key, usable, reserved).await?;
            if spent != 0 {
                self.report_used(key, spent).await?;
            }
            Ok(None)
        })
    }
    /// Adds `units` spent on this proxy (calls settled) to `key`'s reported use.
    fn report_used<'a>(&'a self, key: &'a CounterKey, units: i64) -> LedgerFuture<'a, ()> {
        let _ = (key, units);
        Box::pin(async { Ok(()) })
    }
    /// `key`'s totals as they are now (ledgers that keep use; `None` otherwise, or when
    /// nothing of it was ever granted).
    fn totals<'a>(&'a self, key: &'a CounterKey) -> LedgerFuture<'a, Option<Totals>> {
        let _ = key;
        Box::pin(async { Ok(None) })
    }
    /// Whether the ledger keeps the units reported spent beside those granted (so a
    /// refusal can tell spending from capacity other proxies hold).
    fn tracks_use(&self) -> bool {
        false
    }
    /// Renews this proxy's leases and reclaims the reserves of expired ones.
    fn keep_leases(&self) -> LedgerFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Whether the ledger keeps reserves in leases.
    fn leases(&self) -> bool {
        false
    }
    /// Whether the ledger answers at all (a cheap round trip), to notice the end of an
    /// outage when there is nothing to charge.
    fn probe(&self) -> LedgerFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Database statements issued so far (for the statements-per-call measurement).
    fn statements(&self) -> u64;
}

#[cfg(any(test, feature = "test-support"))]
pub use super::memory_ledger::MemoryLedger;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_that_cannot_cover_the_need_gives_nothing() {
        // $1.00 budget, nothing granted: a $1.25 worst case takes nothing.
        assert_eq!(units_to_give(0, 1_250_000, 1_250_000, 1_000_000), 0);
        // What is left covers it: the need, at least, and at most a share of the rest.
        assert_eq!(units_to_give(0, 125_000, 125_000, 1_000_000), 125_000);
        assert_eq!(units_to_give(0, 1, 100, 1_000), 100);
        assert_eq!(units_to_give(990, 1, 100, 1_000), 1);
        assert_eq!(units_to_give(999, 1, 100, 1_000), 1);
        assert_eq!(units_to_give(1_000, 1, 100, 1_000), 0);
        // Past a lowered limit: nothing.
        assert_eq!(units_to_give(21, 1, 10, 12), 0);
    }
}
