//! Admission and settlement: one atomic check-and-reserve per call against every limit
//! that applies, served from capacity chunks this proxy holds in memory, and the
//! settling of each reservation to the call's real cost.
//!
//! Each counter (subject, metric, period) has a local bucket with the units this proxy
//! may still hand out. A call is admitted only if every bucket it touches has room;
//! then all of them are debited under one lock, so a call never holds part of a
//! reservation. A bucket that runs short draws a chunk from the [`Ledger`] (one database
//! transaction); chunks shrink as the limit nears, so little capacity sits unused in
//! other proxies' buckets. Unused chunks go back after [`IDLE_RETURN`] and on shutdown.
//!
//! Budget calls reserve their worst case and are settled to their real cost afterwards:
//! the difference returns to the local bucket without a database write. The database is
//! touched only when a bucket is short: while a chunk has room, admission is a few
//! hash-map operations under a mutex.
//!
//! Every wait for the ledger on the path of a call (for the grant lock of a counter, for
//! the grant itself) ends at the call's store deadline (`quota.store_timeout_ms`, from
//! admission): past it the call is refused as [`Refusal::Unavailable`] at once. A grant
//! still under way then finishes in the background and its units land in the bucket, so
//! a slow database strands no capacity. With `quota.on_store_outage = "allow"` such a
//! call is admitted on its user's outage allowance instead (`outage`).
//!
//! This module is the public face of the quota engine: the types of the sibling files
//! (charges, refusals, events, period keys, idle return) are re-exported here.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::bucket::{Bucket, KeyMap};
use super::ledger::Ledger;
use super::outage::Outage;
use super::periods::PeriodCache;
use super::{charge, CounterKey, Metric};
pub use crate::config::OnStoreOutage;

pub use super::bucket::EXHAUSTED_RECHECK;
pub(crate) use super::charge::charges_at;
pub use super::charge::{Ask, Charge, LimitRef, Reservation};
pub use super::event::QuotaEvent;
pub use super::idle::{Held, IDLE_RETURN};
pub use super::ledger::SHARE_DIVISOR;
pub use super::periods::period_keys;
pub use super::refusal::Refusal;
pub(crate) use super::refusal::{budget_refusal_message, refusal_message, WorstCase};

/// What a call that found its bucket short asks of the ledger.
enum Step {
    /// Give back capacity granted under a limit since lowered (`takeback`): these
    /// usable units and the reserve; and report these units spent.
    TakeBack(i64, i64, i64),
    /// Move this many units out of the lease reserve.
    Activate(i64),
    /// Draw a chunk: `need` now, `want` at most, `activate` of it usable at once.
    Grant { need: i64, want: i64, activate: i64 },
}

/// What the ledger did for a [`Step`].
enum Done {
    /// Capacity taken back; the counter's totals afterwards (when the ledger keeps use).
    TakenBack(Option<super::ledger::Totals>),
    /// Units moved out of the reserve, and the reserve left.
    Activated(i64, i64),
    /// The units needed, and the grant.
    Granted(i64, super::ledger::Grant),
}

/// How long a call waits for the ledger unless configured otherwise.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// The in-memory side of quotas for one proxy.
pub struct QuotaEngine {
    pub(super) ledger: Arc<dyn Ledger>,
    /// Warning thresholds in percent, ascending.
    warning_thresholds: Vec<u8>,
    pub(super) buckets: Arc<Mutex<KeyMap<Bucket>>>,
    pub(super) grant_locks: Mutex<KeyMap<Arc<tokio::sync::Mutex<()>>>>,
    pub(super) events: Option<mpsc::UnboundedSender<QuotaEvent>>,
    /// Counters whose limit may be spent once other proxies report (`watch`). Lock
    /// order: `buckets` before this.
    pub(super) watched: Mutex<KeyMap<super::watch::Watched>>,
    /// The local day and month last asked about, so that a call does not format dates.
    pub(super) periods: PeriodCache,
    /// How long a call may wait for the ledger.
    pub(super) store_timeout: Duration,
    /// Whether the ledger last failed or timed out (its outage and recovery are logged
    /// once each, not per call).
    pub(super) store_down: std::sync::atomic::AtomicBool,
    /// Refuse or admit calls that need the ledger while it does not answer.
    pub(super) on_outage: OnStoreOutage,
    /// What was handed out without the ledger in the current outage. Lock order:
    /// `buckets` before this.
    pub(super) outage: Mutex<Outage>,
    /// Units spent on this proxy not reported to the ledger yet, of buckets no longer
    /// held (their period ended) or whose report failed. Lock order: `buckets` first.
    pub(super) unreported: Mutex<KeyMap<i64>>,
}

impl QuotaEngine {
    /// An engine drawing from `ledger`, counting periods in `tz`.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        tz: Tz,
        warning_percent: u8,
        events: Option<mpsc::UnboundedSender<QuotaEvent>>,
    ) -> Self {
        Self {
            ledger,
            warning_thresholds: vec![warning_percent],
            buckets: Arc::new(Mutex::new(KeyMap::default())),
            grant_locks: Mutex::new(KeyMap::default()),
            events,
            watched: Mutex::new(KeyMap::default()),
            periods: PeriodCache::new(tz),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            store_down: std::sync::atomic::AtomicBool::new(false),
            on_outage: OnStoreOutage::Refuse,
            outage: Mutex::new(Outage::default()),
            unreported: Mutex::new(KeyMap::default()),
        }
    }

    /// The same engine, treating calls that need the ledger during an outage as
    /// `on_outage` says (`quota.on_store_outage`).
    #[must_use]
    pub fn with_outage_policy(mut self, on_outage: OnStoreOutage) -> Self {
        self.on_outage = on_outage;
        self
    }

    /// The same engine, waiting at most `timeout` for the ledger per call.
    #[must_use]
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Raises a warning at each of `thresholds` (percent; sorted here) instead of the
    /// single `warning_percent` given to [`QuotaEngine::new`].
    #[must_use]
    pub fn with_warning_thresholds(mut self, mut thresholds: Vec<u8>) -> Self {
        thresholds.sort_unstable();
        thresholds.dedup();
        self.warning_thresholds = thresholds;
        self
    }

    /// The charges a call makes at `now`: one per limit that is set.
    pub fn charges(&self, ask: &Ask<'_>, now: DateTime<Utc>) -> Vec<Charge> {
        charge::charges(ask, self.periods.get(now))
    }

    /// Admits a call: reserves its charges against every applicable limit, or refuses.
    pub async fn admit(&self, ask: &Ask<'_>, now: DateTime<Utc>) -> Result<Reservation, Refusal> {
        let charges = self.charges(ask, now);
        if charges.is_empty() {
            return Ok(Reservation::default());
        }
        let deadline = Instant::now() + self.store_timeout;
        // Each round admits, refuses, or tops up every short bucket. Other calls on this
        // proxy may take the new capacity first; then they made progress, and since every
        // top-up is a grant and grants are bounded by the limits, the rounds end. The cap
        // is only a safety valve.
        for _ in 0..100_000 {
            let short: Vec<&Charge> = match self.try_debit(ask, &charges) {
                Ok(r) => return Ok(r),
                Err(i) => {
                    let buckets = self.buckets.lock();
                    charges[i..]
                        .iter()
                        .filter(|c| !Self::has_room(buckets.get(&c.key), c))
                        .collect()
                }
            };
            for short in short {
                if ask.allow_grants && self.outage_known() {
                    return self.admit_on_allowance(ask, &charges, self.timed_out());
                }
                let refusal = match self.fill(short, ask.allow_grants, deadline).await {
                    Ok(()) => continue,
                    Err(refusal @ Refusal::Unavailable(_)) => {
                        return self.admit_on_allowance(ask, &charges, refusal)
                    }
                    Err(refusal) => refusal,
                };
                if !refusal.is_exhausted() {
                    // Spent once other proxies report, perhaps: the background pass
                    // checks (`watch`).
                    self.watch_refused(ask, short, &refusal);
                } else if let (Some(event), Some(events)) = (
                    super::watch::exhausted(ask.user_id, ask.username, short, &refusal),
                    &self.events,
                ) {
                    let _ = events.send(event);
                }
                return Err(refusal);
            }
        }
        Err(Refusal::Unavailable(
            "too much contention for the same limit; retry".into(),
        ))
    }

    /// Debits every charge if every bucket has room; else the index of a short one.
    /// A call that takes a limit's last unit has its counter watched (`watch`).
    fn try_debit(&self, ask: &Ask<'_>, charges: &[Charge]) -> Result<Reservation, usize> {
        let mut buckets = self.buckets.lock();
        let reservation = Self::debit(&mut buckets, charges)?;
        self.watch_drained(&buckets, ask, charges);
        Ok(reservation)
    }

    /// Whether `b` can serve `c` as it is: it holds the units, granted under a limit no
    /// higher than the one `c` is charged against (units granted under a limit since
    /// lowered are taken back first, so that the new limit is checked).
    fn has_room(b: Option<&Bucket>, c: &Charge) -> bool {
        b.is_some_and(|b| b.available >= c.amount && c.limit.limit >= b.limit)
    }

    /// [`Self::try_debit`] with the buckets' lock held.
    pub(super) fn debit(
        buckets: &mut KeyMap<Bucket>,
        charges: &[Charge],
    ) -> Result<Reservation, usize> {
        for (i, c) in charges.iter().enumerate() {
            if !Self::has_room(buckets.get(&c.key), c) {
                return Err(i);
            }
        }
        let now = Instant::now();
        let mut debits = Vec::with_capacity(charges.len());
        for c in charges {
            let mut epoch = 0;
            if let Some(b) = buckets.get_mut(&c.key) {
                b.available -= c.amount;
                b.reserved += c.amount;
                b.last_used = now;
                epoch = b.epoch;
            }
            debits.push(super::charge::Debit {
                key: c.key.clone(),
                amount: c.amount,
                epoch,
            });
        }
        Ok(Reservation { debits })
    }

    pub(super) fn grant_lock(&self, key: &CounterKey) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            self.grant_locks
                .lock()
                .entry(key.clone())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        )
    }

    /// The refusal of a call whose store deadline passed.
    fn timed_out(&self) -> Refusal {
        self.store_failed(&self.timed_out_message())
    }

    /// What a call refused at its store deadline is told.
    fn timed_out_message(&self) -> String {
        format!(
            "The quota store (database) did not answer within {} ms (quota.store_timeout_ms); \
             the call was not sent to Bedrock. Retry shortly.",
            self.store_timeout.as_millis()
        )
    }

    /// A refusal for a ledger that failed; logs the start of an outage once.
    fn store_failed(&self, message: &str) -> Refusal {
        if !self
            .store_down
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            match self.on_outage {
                OnStoreOutage::Refuse => tracing::error!(
                    error = message,
                    "quota store unavailable: calls that need a new chunk get 503 until it answers"
                ),
                OnStoreOutage::Allow { .. } => tracing::error!(
                    error = message,
                    "quota store unavailable: calls that need a new chunk are admitted on \
                     their users' outage allowance until it answers"
                ),
            }
        }
        Refusal::Unavailable(message.to_string())
    }

    /// Tops up the bucket of `charge` from the ledger, or refuses; waits for the ledger
    /// until `deadline` at most.
    async fn fill(
        &self,
        charge: &Charge,
        allow_grants: bool,
        deadline: Instant,
    ) -> Result<(), Refusal> {
        // `room`: what this call could still have had, here and in the ledger;
        // `reserved`: what calls in progress on this proxy hold; the use as this proxy
        // knows it from the ledger's totals `total`.
        let tracks = self.ledger.tracks_use();
        let refuse = |b: &Bucket, total: i64, room: i64| {
            let mut usage = b.usage(total);
            if !tracks {
                usage.1 = 0;
            }
            Refusal::limit(charge, usage, room, b.reserved)
        };
        let gate = self.grant_lock(&charge.key);
        // A call that times out here waited for another call's ledger work, not for its
        // own: it is refused the same way, but only the work's own answer (or its
        // absence) starts or ends an outage. Otherwise a grant still finishing on a
        // database that has just come back would log a second outage after the recovery.
        let held = tokio::time::timeout_at(deadline, gate.lock_owned())
            .await
            .map_err(|_| Refusal::Unavailable(self.timed_out_message()))?;
        let step = {
            let mut buckets = self.buckets.lock();
            let now = Instant::now();
            let b = buckets
                .entry(charge.key.clone())
                .or_insert_with(|| Bucket::new(charge.limit.limit, now));
            if charge.limit.limit < b.limit {
                // The limit fell since these units were granted: all of them go back
                // and the call draws anew, checked against the new limit.
                let (usable, reserve, spent) = b.begin_take_back(charge.limit.limit);
                Step::TakeBack(usable, reserve, spent)
            } else if b.available >= charge.amount {
                b.limit = charge.limit.limit;
                return Ok(()); // another call topped it up meanwhile
            } else {
                b.limit = charge.limit.limit;
                let missing = charge.amount - b.available;
                if b.reserve > 0 {
                    // Units this proxy holds in its lease reserve: made usable first.
                    Step::Activate(b.activation_for(missing))
                } else if !allow_grants {
                    let total = b.total_seen.unwrap_or(charge.limit.limit);
                    return Err(refuse(b, total, b.available));
                } else if b.refuses_from_memory(missing, now) {
                    let total = b.total_seen.unwrap_or(0);
                    let room = b.available + (b.limit - total).max(0);
                    return Err(refuse(b, total, room));
                } else {
                    // The ledger caps the chunk to a share of what is left, from the
                    // counter's current value (this proxy's view of it may be stale).
                    let want = b.chunk_for(missing, now);
                    Step::Grant {
                        need: missing,
                        want,
                        activate: b.activation_for(missing),
                    }
                }
            }
        };
        // The ledger's work runs as a task of its own that puts its units in the bucket,
        // holding the counter's grant lock until then: the call may stop waiting at its
        // deadline, the units are never lost.
        let (ledger, buckets, key, limit) = (
            Arc::clone(&self.ledger),
            Arc::clone(&self.buckets),
            charge.key.clone(),
            charge.limit.limit,
        );
        let work = tokio::spawn(async move {
            let _held = held;
            let done = match step {
                Step::TakeBack(usable, reserve, spent) => {
                    Done::TakenBack(ledger.take_back(&key, usable, reserve, spent).await?)
                }
                Step::Activate(amount) => {
                    let (moved, left) = ledger.activate(&key, amount).await?;
                    Done::Activated(moved, left)
                }
                Step::Grant {
                    need,
                    want,
                    activate,
                } => Done::Granted(
                    need,
                    ledger
                        .grant_leased(&key, need, want, limit, activate)
                        .await?,
                ),
            };
            let now = Instant::now();
            let mut buckets = buckets.lock();
            let b = buckets
                .entry(key)
                .or_insert_with(|| Bucket::new(limit, now));
            match done {
                Done::TakenBack(totals) => b.end_take_back(totals),
                Done::Activated(moved, left) => {
                    b.available += moved;
                    b.reserve = left;
                    b.last_used = now;
                }
                Done::Granted(_, grant) => b.fill(
                    grant.granted - grant.kept,
                    (grant.total, grant.used),
                    (grant.kept > 0).then_some(grant.reserve),
                    now,
                ),
            }
            Ok::<_, crate::store::StoreError>(done)
        });
        let done = match tokio::time::timeout_at(deadline, work).await {
            Err(_) => return Err(self.timed_out()),
            Ok(Err(e)) => {
                return Err(self.store_failed(&format!(
                    "quota store unavailable: the grant task ended: {e}"
                )))
            }
            Ok(Ok(Err(e))) => {
                return Err(self.store_failed(&format!("quota store unavailable: {e}")))
            }
            Ok(Ok(Ok(done))) => done,
        };
        let (need, grant) = match done {
            // Moved (or the reserve turned out reclaimed), or taken back: the admission
            // loop asks again.
            Done::Activated(..) | Done::TakenBack(_) => {
                self.store_answers();
                return Ok(());
            }
            Done::Granted(need, grant) => (need, grant),
        };
        self.store_answers();
        let mut buckets = self.buckets.lock();
        let Some(b) = buckets.get_mut(&charge.key) else {
            return Ok(());
        };
        let now = Instant::now();
        // Each threshold crossed once per proxy (a grant may cross several at once); the
        // outbox's dedupe key makes it once across proxies.
        for &percent in &self.warning_thresholds {
            if percent <= b.warned {
                continue;
            }
            if grant.total < b.limit.saturating_mul(i64::from(percent)) / 100 {
                break;
            }
            b.warned = percent;
            if let Some(events) = &self.events {
                let _ = events.send(QuotaEvent::Warning {
                    limit: charge.limit.clone(),
                    used: grant.total,
                    period: charge.key.period.to_string(),
                    threshold_percent: percent,
                    resets_at: charge.resets_at,
                });
            }
        }
        if grant.granted < need {
            b.exhausted_at = Some(now);
            // A grant that cannot cover the call gives nothing: the room is this
            // bucket and what the ledger has not granted.
            let room = b.available + b.reserve + (b.limit - grant.total).max(0);
            return Err(refuse(b, grant.total, room));
        }
        b.exhausted_at = None;
        // Other calls may have taken the new units already; the admission loop asks again.
        Ok(())
    }

    /// Notes that the ledger answered; logs the end of an outage once.
    fn store_answers(&self) {
        if self
            .store_down
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::info!("quota store answers again");
        }
    }

    /// Settles a finished call: budget reservations become the real cost (`micro_usd`);
    /// what was reserved but not used returns to the local buckets.
    pub fn settle(&self, reservation: Reservation, micro_usd: i64) {
        let mut buckets = self.buckets.lock();
        for d in reservation.debits {
            if let Some(b) = buckets.get_mut(&d.key) {
                b.reserved -= d.amount;
                if d.key.metric == Metric::MicroUsd {
                    // Negative when the call cost more than reserved: a debt the next
                    // calls pay off before they are admitted.
                    b.put_back(d.amount - micro_usd, d.epoch);
                    b.unreported += micro_usd;
                } else {
                    b.unreported += d.amount;
                }
            }
        }
    }

    /// Keeps a reservation as spent: the call's cost is unknown (it may have reached
    /// Bedrock), so its worst case counts.
    pub(crate) fn settle_worst_case(&self, reservation: Reservation) {
        let mut buckets = self.buckets.lock();
        for d in reservation.debits {
            if let Some(b) = buckets.get_mut(&d.key) {
                b.reserved -= d.amount;
                b.unreported += d.amount;
            }
        }
    }

    /// Gives a reservation back whole: the call never reached upstream.
    pub fn cancel(&self, reservation: Reservation) {
        let mut buckets = self.buckets.lock();
        for d in reservation.debits {
            if let Some(b) = buckets.get_mut(&d.key) {
                b.put_back(d.amount, d.epoch);
                b.reserved -= d.amount;
            }
        }
    }

    /// Units this proxy holds unused for `key`.
    pub fn held(&self, key: &CounterKey) -> i64 {
        self.buckets.lock().get(key).map_or(0, |b| b.available)
    }
}
