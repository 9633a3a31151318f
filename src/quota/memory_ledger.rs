//! [`MemoryLedger`]: the quota ledger's contract kept in memory, for the simulator, the
//! property tests and the benches. Built only for the crate's own tests and with the
//! `test-support` feature (the integration tests and benches turn it on through their
//! dev-dependency on this crate), never into the shipped binary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::ledger::{units_to_give, Grant, Ledger, LedgerFuture, Totals};
use super::CounterKey;

/// The ledger in memory: the same contract, for tests and the simulator.
#[derive(Default)]
pub struct MemoryLedger {
    /// Per counter: (granted, used).
    rows: Mutex<HashMap<CounterKey, (i64, i64)>>,
    statements: AtomicU64,
}

impl MemoryLedger {
    /// Units of `key` granted to all engines together.
    pub fn granted(&self, key: &CounterKey) -> i64 {
        self.rows.lock().get(key).map_or(0, |r| r.0)
    }

    /// Units of `key` engines reported spent.
    pub fn used(&self, key: &CounterKey) -> i64 {
        self.rows.lock().get(key).map_or(0, |r| r.1)
    }

    fn with_rows<T>(&self, f: impl FnOnce(&mut HashMap<CounterKey, (i64, i64)>) -> T) -> T {
        self.statements.fetch_add(1, Ordering::Relaxed);
        f(&mut self.rows.lock())
    }
}

impl Ledger for MemoryLedger {
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant> {
        let grant = self.with_rows(|rows| {
            let (granted, used) = rows.entry(key.clone()).or_insert((0, 0));
            let give = units_to_give(*granted, need, want, limit);
            *granted += give;
            Grant {
                used: Some(*used),
                ..Grant::new(give, *granted)
            }
        });
        Box::pin(async move { Ok(grant) })
    }

    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()> {
        self.with_rows(|rows| {
            if let Some((g, _)) = rows.get_mut(key) {
                *g = (*g - amount).max(0);
            }
        });
        Box::pin(async move { Ok(()) })
    }

    fn take_back<'a>(
        &'a self,
        key: &'a CounterKey,
        usable: i64,
        reserved: i64,
        spent: i64,
    ) -> LedgerFuture<'a, Option<Totals>> {
        let totals = self.with_rows(|rows| {
            let (granted, used) = rows.entry(key.clone()).or_insert((0, 0));
            *granted = (*granted - usable.max(0) - reserved.max(0)).max(0);
            *used += spent;
            Totals {
                granted: *granted,
                used: *used,
            }
        });
        Box::pin(async move { Ok(Some(totals)) })
    }

    fn report_used<'a>(&'a self, key: &'a CounterKey, units: i64) -> LedgerFuture<'a, ()> {
        self.with_rows(|rows| rows.entry(key.clone()).or_insert((0, 0)).1 += units);
        Box::pin(async move { Ok(()) })
    }

    fn totals<'a>(&'a self, key: &'a CounterKey) -> LedgerFuture<'a, Option<Totals>> {
        let totals = self.with_rows(|rows| {
            rows.get(key)
                .map(|&(granted, used)| Totals { granted, used })
        });
        Box::pin(async move { Ok(totals) })
    }

    fn tracks_use(&self) -> bool {
        true
    }

    fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}
