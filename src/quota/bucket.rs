//! A counter's local bucket: the units this proxy may still hand out for one counter
//! (subject, metric, period), what it last saw granted to all proxies, and the size of
//! the next chunk it draws from the ledger (doubling while draws come fast, halving
//! when idle, capped to a tenth of the limit), with what it spent since it last told the
//! ledger and how its capacity relates to the limit it was granted under.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::CounterKey;

/// Maps keyed by counters the proxy builds itself: a fast hasher is safe here.
pub(super) type KeyMap<V> = HashMap<CounterKey, V, foldhash::fast::RandomState>;

/// After a grant came back short, calls are refused from memory for this long before the
/// ledger is asked again (capacity may have been returned by another proxy).
pub const EXHAUSTED_RECHECK: Duration = Duration::from_secs(1);

/// With leases, a grant makes usable (activates) a quarter of its chunk, at least what
/// the call needs; the rest stays in the lease reserve, moved out a quarter at a time.
/// What a dead proxy strands is its usable units; its reserve is reclaimed.
const ACTIVATE_DIVISOR: i64 = 4;

/// A refill within this long of the previous one doubles the next chunk.
const FAST_REFILL: Duration = Duration::from_secs(5);
/// A refill after this long without one halves the next chunk.
const SLOW_REFILL: Duration = Duration::from_secs(30);

/// The units this proxy holds for one counter.
#[derive(Debug)]
pub(super) struct Bucket {
    /// Units that may still be debited (negative after a call cost more than reserved).
    pub(super) available: i64,
    /// Units granted to this proxy and kept in its lease reserve: not debited until
    /// activated (moved into `available` through the ledger). As last seen in the
    /// database; the database is the authority (an activation returns what it holds).
    pub(super) reserve: i64,
    /// Units debited by calls on this proxy that are not settled yet (their
    /// reservations), so that a refusal can tell what is spent from what is reserved.
    pub(super) reserved: i64,
    /// The limit the units held here were granted under (the counter's limit when it
    /// last drew). A call that sees a lower limit takes them back first (`takeback`).
    pub(super) limit: i64,
    /// Units granted to all proxies together, as of the last grant.
    pub(super) total_seen: Option<i64>,
    /// Units all proxies reported spent, as of the last ledger transaction (plus this
    /// proxy's reports since); `None` when the ledger does not keep them.
    pub(super) used_seen: Option<i64>,
    /// Units spent here (calls settled) not yet reported to the ledger.
    pub(super) unreported: i64,
    /// Take-backs so far: a reservation made before the last one gives what it did not
    /// spend back to the ledger (`giveback`), not to this bucket, since those units were
    /// granted under the old limit.
    pub(super) epoch: u32,
    /// Units to give back to the ledger at the next background pass.
    pub(super) giveback: i64,
    /// Units to ask for in the next grant.
    next_chunk: i64,
    /// When the last grant arrived.
    last_fill: Option<Instant>,
    /// When the bucket was last debited or filled.
    pub(super) last_used: Instant,
    /// When a grant last came back short (cleared by a sufficient one).
    pub(super) exhausted_at: Option<Instant>,
    /// The highest warning threshold (percent) this proxy raised for the counter; 0 is
    /// none yet.
    pub(super) warned: u8,
}

impl Bucket {
    /// An empty bucket for a counter limited to `limit`; its first chunk is 1% of it.
    pub(super) fn new(limit: i64, now: Instant) -> Self {
        Self {
            available: 0,
            reserve: 0,
            reserved: 0,
            limit,
            total_seen: None,
            used_seen: None,
            unreported: 0,
            epoch: 0,
            giveback: 0,
            next_chunk: (limit / 100).max(1),
            last_fill: None,
            last_used: now,
            exhausted_at: None,
            warned: 0,
        }
    }

    /// Whether a grant came back short less than [`EXHAUSTED_RECHECK`] ago and
    /// `missing` more units would pass the limit: refuse without asking the ledger.
    pub(super) fn refuses_from_memory(&self, missing: i64, now: Instant) -> bool {
        let seen = self.total_seen.unwrap_or(0);
        self.exhausted_at.is_some_and(|at| {
            now.duration_since(at) < EXHAUSTED_RECHECK && seen + missing > self.limit
        })
    }

    /// The units to ask for when `missing` are needed now: the next chunk, adapted to
    /// the draw rate (doubled when refilled within 5 s, halved when idle for 30 s), but
    /// at least `missing`.
    pub(super) fn chunk_for(&mut self, missing: i64, now: Instant) -> i64 {
        if let Some(last) = self.last_fill {
            let since = now.duration_since(last);
            if since < FAST_REFILL {
                self.next_chunk = (self.next_chunk * 2).min((self.limit / 10).max(1));
            } else if since > SLOW_REFILL {
                self.next_chunk = (self.next_chunk / 2).max(1);
            }
        }
        self.next_chunk.max(missing)
    }

    /// Units to make usable when `missing` are needed now: a quarter of the next chunk,
    /// at least `missing`.
    pub(super) fn activation_for(&self, missing: i64) -> i64 {
        (self.next_chunk / ACTIVATE_DIVISOR).max(missing).max(1)
    }

    /// Adds a grant of `granted` usable units after which `total` are granted to all
    /// proxies (`used` reported spent) and this proxy's lease reserve is `reserve` (when
    /// the grant kept some).
    pub(super) fn fill(
        &mut self,
        granted: i64,
        (total, used): (i64, Option<i64>),
        reserve: Option<i64>,
        now: Instant,
    ) {
        self.available += granted;
        if let Some(reserve) = reserve {
            self.reserve = reserve;
        }
        self.total_seen = Some(total);
        self.used_seen = used;
        self.last_fill = Some(now);
        self.last_used = now;
    }

    /// Empties the bucket for a take-back under the lowered `limit`: returns the usable
    /// units and the reserve to give back, and the units spent here not yet reported
    /// (reported in the same transaction). Reservations made before now put back what
    /// they do not spend to be given back too ([`Bucket::put_back`]).
    pub(super) fn begin_take_back(&mut self, limit: i64) -> (i64, i64, i64) {
        let spent = std::mem::take(&mut self.unreported);
        let usable = self.available.max(0);
        self.available -= usable;
        let reserve = std::mem::take(&mut self.reserve);
        self.epoch = self.epoch.wrapping_add(1);
        self.limit = limit;
        self.exhausted_at = None;
        self.next_chunk = self.next_chunk.min((limit / 10).max(1));
        (usable, reserve, spent)
    }

    /// Notes the counter's totals after a take-back (when the ledger keeps use).
    pub(super) fn end_take_back(&mut self, totals: Option<super::ledger::Totals>) {
        match totals {
            Some(t) => {
                self.total_seen = Some(t.granted);
                self.used_seen = Some(t.used);
            }
            None => self.total_seen = None,
        }
    }

    /// Puts `units` a call reserved and did not use back: into this bucket, or, for a
    /// reservation made before the last take-back (`epoch`), to be given back to the
    /// ledger. A negative amount (the call cost more than reserved) is a debt this
    /// bucket pays either way.
    pub(super) fn put_back(&mut self, units: i64, epoch: u32) {
        if units > 0 && epoch != self.epoch {
            self.giveback += units;
        } else {
            self.available += units;
        }
    }

    /// What this proxy's view says about the counter's use when it has `total` granted
    /// to all proxies: (units spent or reserved by calls in progress, units held by other
    /// proxies). Held elsewhere is what is granted but neither reported spent nor held
    /// or spent here: other proxies' unused capacity, their calls in progress, and what
    /// they spent since their last report. Without the ledger's `used`, everything not
    /// held here counts as used.
    pub(super) fn usage(&self, total: i64) -> (i64, i64) {
        let here = self.available + self.reserve + self.giveback;
        match self.used_seen {
            Some(used) => {
                let spent = used + self.unreported;
                let elsewhere = total - spent - self.reserved - here;
                (spent + self.reserved, elsewhere.max(0))
            }
            None => ((total - here).max(0), 0),
        }
    }
}
