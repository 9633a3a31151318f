//! Admission: one atomic check-and-reserve per call against every limit that applies,
//! served from capacity chunks this proxy holds in memory.
//!
//! Each counter (subject, metric, period) has a local [`Bucket`] with the units this
//! proxy may still hand out. A call is admitted only if every bucket it touches has room;
//! then all of them are debited under one lock, so a call never holds part of a
//! reservation. A bucket that runs short draws a chunk from the [`Ledger`] (one database
//! transaction); chunks shrink as the limit nears, so little capacity sits unused in
//! other proxies' buckets. Unused chunks go back after [`IDLE_RETURN`] and on shutdown.
//!
//! Budget calls reserve their worst case and are settled to their real cost afterwards:
//! the difference returns to the local bucket without a database write. The database is
//! touched only when a bucket is short: while a chunk has room, admission is a few
//! hash-map operations under a mutex.

use std::collections::HashMap;

/// Maps keyed by counters the proxy builds itself: a fast hasher is safe here.
type KeyMap<V> = HashMap<CounterKey, V, foldhash::fast::RandomState>;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ledger::Ledger;
use super::{calendar, CounterKey, Metric, Subject, Window};
use crate::store::Limits;

/// Unused capacity held this long without a debit goes back to the ledger.
pub const IDLE_RETURN: Duration = Duration::from_secs(10);
/// After a grant came back short, calls are refused from memory for this long before the
/// ledger is asked again (capacity may have been returned by another proxy).
pub const EXHAUSTED_RECHECK: Duration = Duration::from_secs(1);
pub use super::ledger::SHARE_DIVISOR;

/// One limit as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRef {
    /// User or team.
    pub subject: Subject,
    /// The user's or team's name.
    pub name: Arc<str>,
    /// Day or month.
    pub window: Window,
    /// Requests or micro-USD.
    pub metric: Metric,
    /// The limit, in the metric's unit.
    pub limit: i64,
}

/// One charge of a call against one limit.
#[derive(Clone, Debug)]
pub struct Charge {
    /// The counter.
    pub key: CounterKey,
    /// Units to reserve.
    pub amount: i64,
    /// The limit behind it.
    pub limit: LimitRef,
    /// When the period ends.
    pub resets_at: DateTime<Utc>,
}

/// Why a call was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// A limit has no room for the call.
    Limit {
        /// Which limit.
        limit: LimitRef,
        /// Units granted to all proxies together (what is used or held).
        used: i64,
        /// When the period ends.
        resets_at: DateTime<Utc>,
        /// The period (`2026-11-25`, `2026-11`).
        period: String,
    },
    /// The ledger could not be reached to draw more capacity.
    Unavailable(String),
}

/// Something the rest of the system should act on.
#[derive(Clone, Debug, PartialEq)]
pub enum QuotaEvent {
    /// A user's or team's usage crossed the warning share of a limit.
    Warning {
        /// Which limit.
        limit: LimitRef,
        /// Units granted to all proxies together.
        used: i64,
        /// The period.
        period: String,
        /// The threshold crossed, in percent.
        threshold_percent: u8,
        /// When the period ends.
        resets_at: DateTime<Utc>,
    },
    /// A call was refused because a limit is reached.
    Exhausted {
        /// The user whose call was refused.
        user_id: i64,
        /// The user's name.
        username: String,
        /// Which limit.
        limit: LimitRef,
        /// Units granted to all proxies together.
        used: i64,
        /// The period.
        period: String,
        /// When the period ends.
        resets_at: DateTime<Utc>,
    },
}

/// What a call asks of the quota engine.
#[derive(Clone, Debug)]
pub struct Ask<'a> {
    /// The user.
    pub user_id: i64,
    /// The user's name.
    pub username: &'a str,
    /// The user's team.
    pub team_id: i64,
    /// The team's name.
    pub team: &'a str,
    /// The user's limits.
    pub user_limits: Limits,
    /// The team's limits.
    pub team_limits: Limits,
    /// Worst-case cost in micro-USD (0 when no budget applies).
    pub micro_usd: i64,
    /// False for a user blocked for a limit: only capacity already held may be used.
    pub allow_grants: bool,
}

/// Units reserved for one call, to be settled when it ends.
#[derive(Debug, Default)]
pub struct Reservation {
    debits: Vec<(CounterKey, i64)>,
}

impl Reservation {
    /// Whether nothing was reserved (no limit applies).
    pub fn is_empty(&self) -> bool {
        self.debits.is_empty()
    }
}

#[derive(Debug)]
struct Bucket {
    available: i64,
    limit: i64,
    total_seen: Option<i64>,
    next_chunk: i64,
    last_fill: Option<Instant>,
    last_used: Instant,
    exhausted_at: Option<Instant>,
    warned: bool,
}

/// The in-memory side of quotas for one proxy.
pub struct QuotaEngine {
    ledger: Arc<dyn Ledger>,
    tz: Tz,
    warning_percent: u8,
    buckets: Mutex<KeyMap<Bucket>>,
    grant_locks: Mutex<KeyMap<Arc<tokio::sync::Mutex<()>>>>,
    events: Option<mpsc::UnboundedSender<QuotaEvent>>,
    /// The local day and month last asked about, so that a call does not format dates.
    periods: Mutex<Option<Periods>>,
}

/// The day and month periods around one instant, valid for the whole local day.
#[derive(Clone, Debug)]
struct Periods {
    day: Arc<str>,
    month: Arc<str>,
    day_start_ms: i64,
    day_end_ms: i64,
    month_end_ms: i64,
}

impl Periods {
    fn at(tz: Tz, now: DateTime<Utc>) -> Self {
        let (day, month) = period_keys(tz, now);
        let today = calendar::day(tz, now);
        Self {
            day: day.into(),
            month: month.into(),
            day_start_ms: today.start_ms,
            day_end_ms: today.end_ms,
            month_end_ms: calendar::month(tz, now).end_ms,
        }
    }

    fn contains(&self, now: DateTime<Utc>) -> bool {
        (self.day_start_ms..self.day_end_ms).contains(&now.timestamp_millis())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The period keys of `now`: the local day and the local month.
pub fn period_keys(tz: Tz, now: DateTime<Utc>) -> (String, String) {
    let local = now.with_timezone(&tz);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%Y-%m").to_string(),
    )
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
            tz,
            warning_percent,
            buckets: Mutex::new(KeyMap::default()),
            grant_locks: Mutex::new(KeyMap::default()),
            events,
            periods: Mutex::new(None),
        }
    }

    /// The ledger (for measurements).
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// The day and month around `now`, from the cache while `now` is in the cached day.
    fn periods(&self, now: DateTime<Utc>) -> Periods {
        let mut cached = lock(&self.periods);
        match cached.as_ref() {
            Some(p) if p.contains(now) => p.clone(),
            _ => cached.insert(Periods::at(self.tz, now)).clone(),
        }
    }

    /// The charges a call makes at `now`: one per limit that is set.
    pub fn charges(&self, ask: &Ask<'_>, now: DateTime<Utc>) -> Vec<Charge> {
        let Periods {
            day,
            month,
            day_end_ms,
            month_end_ms,
            ..
        } = self.periods(now);
        let (day_end, month_end) = (utc_ms(day_end_ms), utc_ms(month_end_ms));
        let mut out = Vec::with_capacity(8);
        let scopes = [
            (Subject::User(ask.user_id), ask.username, &ask.user_limits),
            (Subject::Team(ask.team_id), ask.team, &ask.team_limits),
        ];
        let mut names: [Option<Arc<str>>; 2] = [None, None];
        for ((subject, name, limits), shared) in scopes.into_iter().zip(&mut names) {
            let entries = [
                (Window::Day, Metric::Requests, limits.daily_requests, 1),
                (Window::Month, Metric::Requests, limits.monthly_requests, 1),
                (
                    Window::Day,
                    Metric::MicroUsd,
                    limits.daily_budget_usd.map(super::limit_micro),
                    ask.micro_usd,
                ),
                (
                    Window::Month,
                    Metric::MicroUsd,
                    limits.monthly_budget_usd.map(super::limit_micro),
                    ask.micro_usd,
                ),
            ];
            for (window, metric, limit, amount) in entries {
                let Some(limit) = limit else { continue };
                let (period, resets_at) = match window {
                    Window::Day => (Arc::clone(&day), day_end),
                    Window::Month => (Arc::clone(&month), month_end),
                };
                out.push(Charge {
                    key: CounterKey {
                        subject,
                        metric,
                        period,
                    },
                    amount,
                    limit: LimitRef {
                        subject,
                        name: Arc::clone(shared.get_or_insert_with(|| Arc::from(name))),
                        window,
                        metric,
                        limit,
                    },
                    resets_at,
                });
            }
        }
        out
    }

    /// Admits a call: reserves its charges against every applicable limit, or refuses.
    pub async fn admit(&self, ask: &Ask<'_>, now: DateTime<Utc>) -> Result<Reservation, Refusal> {
        let charges = self.charges(ask, now);
        if charges.is_empty() {
            return Ok(Reservation::default());
        }
        // Each round admits, refuses, or tops up every short bucket. Other calls on this
        // proxy may take the new capacity first; then they made progress, and since every
        // top-up is a grant and grants are bounded by the limits, the rounds end. The cap
        // is only a safety valve.
        for _ in 0..100_000 {
            let short: Vec<&Charge> = match self.try_debit(&charges) {
                Ok(r) => return Ok(r),
                Err(i) => charges[i..]
                    .iter()
                    .filter(|c| self.held(&c.key) < c.amount)
                    .collect(),
            };
            for short in short {
                let Err(refusal) = self.fill(short, ask.allow_grants).await else {
                    continue;
                };
                if let (Refusal::Limit { used, period, .. }, Some(events)) =
                    (&refusal, &self.events)
                {
                    let _ = events.send(QuotaEvent::Exhausted {
                        user_id: ask.user_id,
                        username: ask.username.to_string(),
                        limit: short.limit.clone(),
                        used: *used,
                        period: period.clone(),
                        resets_at: short.resets_at,
                    });
                }
                return Err(refusal);
            }
        }
        Err(Refusal::Unavailable(
            "too much contention for the same limit; retry".into(),
        ))
    }

    /// Debits every charge if every bucket has room; else the index of a short one.
    fn try_debit(&self, charges: &[Charge]) -> Result<Reservation, usize> {
        let mut buckets = lock(&self.buckets);
        for (i, c) in charges.iter().enumerate() {
            let room = buckets.get(&c.key).map_or(0, |b| b.available);
            if room < c.amount {
                return Err(i);
            }
        }
        let now = Instant::now();
        let mut debits = Vec::with_capacity(charges.len());
        for c in charges {
            if let Some(b) = buckets.get_mut(&c.key) {
                b.available -= c.amount;
                b.last_used = now;
            }
            debits.push((c.key.clone(), c.amount));
        }
        Ok(Reservation { debits })
    }

    fn grant_lock(&self, key: &CounterKey) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            lock(&self.grant_locks)
                .entry(key.clone())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        )
    }

    /// Tops up the bucket of `charge` from the ledger, or refuses.
    async fn fill(&self, charge: &Charge, allow_grants: bool) -> Result<(), Refusal> {
        let refuse = |used: i64| Refusal::Limit {
            limit: charge.limit.clone(),
            used,
            resets_at: charge.resets_at,
            period: charge.key.period.to_string(),
        };
        let gate = self.grant_lock(&charge.key);
        let _held = gate.lock().await;
        let want = {
            let mut buckets = lock(&self.buckets);
            let now = Instant::now();
            let b = buckets.entry(charge.key.clone()).or_insert_with(|| Bucket {
                available: 0,
                limit: charge.limit.limit,
                total_seen: None,
                next_chunk: (charge.limit.limit / 100).max(1),
                last_fill: None,
                last_used: now,
                exhausted_at: None,
                warned: false,
            });
            b.limit = charge.limit.limit;
            if b.available >= charge.amount {
                return Ok(()); // another call topped it up meanwhile
            }
            let missing = charge.amount - b.available;
            let seen = b.total_seen.unwrap_or(0);
            if !allow_grants {
                return Err(refuse(b.total_seen.unwrap_or(charge.limit.limit)));
            }
            if let Some(at) = b.exhausted_at {
                if now.duration_since(at) < EXHAUSTED_RECHECK && seen + missing > b.limit {
                    return Err(refuse(seen));
                }
            }
            // Adapt the chunk to the draw rate: double when refilled within 5 s, halve
            // when idle for 30 s.
            if let Some(last) = b.last_fill {
                let since = now.duration_since(last);
                if since < Duration::from_secs(5) {
                    b.next_chunk = (b.next_chunk * 2).min((b.limit / 10).max(1));
                } else if since > Duration::from_secs(30) {
                    b.next_chunk = (b.next_chunk / 2).max(1);
                }
            }
            // The ledger caps the chunk to a share of what is left, from the counter's
            // current value (this proxy's view of it may be stale).
            (missing, b.next_chunk.max(missing))
        };
        let (need, want) = want;
        let grant = self
            .ledger
            .grant(&charge.key, need, want, charge.limit.limit)
            .await
            .map_err(|e| Refusal::Unavailable(format!("quota store unavailable: {e}")))?;
        let mut buckets = lock(&self.buckets);
        let Some(b) = buckets.get_mut(&charge.key) else {
            return Ok(());
        };
        let now = Instant::now();
        b.available += grant.granted;
        b.total_seen = Some(grant.total);
        b.last_fill = Some(now);
        b.last_used = now;
        let threshold = b.limit.saturating_mul(i64::from(self.warning_percent)) / 100;
        if !b.warned && grant.total >= threshold {
            b.warned = true;
            if let Some(events) = &self.events {
                let _ = events.send(QuotaEvent::Warning {
                    limit: charge.limit.clone(),
                    used: grant.total,
                    period: charge.key.period.to_string(),
                    threshold_percent: self.warning_percent,
                    resets_at: charge.resets_at,
                });
            }
        }
        if b.available < charge.amount {
            b.exhausted_at = Some(now);
            return Err(refuse(grant.total));
        }
        b.exhausted_at = None;
        Ok(())
    }

    /// Settles a finished call: budget reservations become the real cost (`micro_usd`);
    /// what was reserved but not used returns to the local buckets.
    pub fn settle(&self, reservation: Reservation, micro_usd: i64) {
        let mut buckets = lock(&self.buckets);
        for (key, reserved) in reservation.debits {
            if key.metric != Metric::MicroUsd {
                continue;
            }
            if let Some(b) = buckets.get_mut(&key) {
                // Negative when the call cost more than reserved: a debt the next
                // calls pay off before they are admitted.
                b.available += reserved - micro_usd;
            }
        }
    }

    /// Keeps a reservation as spent: the call's cost is unknown (it may have reached
    /// Bedrock), so its worst case counts.
    pub fn settle_worst_case(&self, reservation: Reservation) {
        drop(reservation);
    }

    /// Gives a reservation back whole: the call never reached upstream.
    pub fn cancel(&self, reservation: Reservation) {
        let mut buckets = lock(&self.buckets);
        for (key, reserved) in reservation.debits {
            if let Some(b) = buckets.get_mut(&key) {
                b.available += reserved;
            }
        }
    }

    /// Takes the capacity to give back: idle buckets (no debit for `idle`), and buckets
    /// of periods that have ended (dropped; their capacity no longer matters).
    pub fn take_idle(&self, idle: Duration, now: DateTime<Utc>) -> Vec<(CounterKey, i64)> {
        let Periods { day, month, .. } = self.periods(now);
        let instant = Instant::now();
        let mut out = Vec::new();
        let mut buckets = lock(&self.buckets);
        buckets.retain(|key, b| {
            let current = *key.period == *day || *key.period == *month;
            if current && b.available > 0 && instant.duration_since(b.last_used) >= idle {
                out.push((key.clone(), b.available));
                b.available = 0;
            }
            current
        });
        // Grant locks of dropped buckets that nobody waits on go too.
        lock(&self.grant_locks)
            .retain(|key, l| buckets.contains_key(key) || Arc::strong_count(l) > 1);
        out
    }

    /// Takes all held capacity (shutdown).
    pub fn take_all(&self) -> Vec<(CounterKey, i64)> {
        let mut buckets = lock(&self.buckets);
        buckets
            .iter_mut()
            .filter(|(_, b)| b.available > 0)
            .map(|(k, b)| {
                let n = b.available;
                b.available = 0;
                (k.clone(), n)
            })
            .collect()
    }

    /// Returns capacity to the ledger; failures are logged (the units stay counted as
    /// granted: under-use, never overshoot).
    pub async fn release(&self, units: Vec<(CounterKey, i64)>) {
        for (key, amount) in units {
            if let Err(e) = self.ledger.release(&key, amount).await {
                tracing::warn!(counter = %key, amount, error = %e, "returning quota capacity failed");
            }
        }
    }

    /// Units this proxy holds unused for `key`.
    pub fn held(&self, key: &CounterKey) -> i64 {
        lock(&self.buckets).get(key).map_or(0, |b| b.available)
    }
}

fn utc_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The refusal message: names the limit, the usage and when it resets.
pub fn refusal_message(refusal: &Refusal, tz: Tz) -> String {
    match refusal {
        Refusal::Unavailable(m) => m.clone(),
        Refusal::Limit {
            limit,
            used,
            resets_at,
            ..
        } => {
            let who = match limit.subject {
                Subject::User(_) => format!("user {}", limit.name),
                Subject::Team(_) => format!("team {}", limit.name),
            };
            let when = resets_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
            let used = (*used).min(limit.limit);
            match limit.metric {
                Metric::Requests => format!(
                    "The {} request limit of {} for {who} is reached ({used} requests used). It resets at {when}.",
                    limit.window.adjective(),
                    limit.limit
                ),
                Metric::MicroUsd => format!(
                    "The {} budget of ${:.2} for {who} is reached (${:.2} used or reserved). It resets at {when}.",
                    limit.window.adjective(),
                    limit.limit as f64 / super::MICRO,
                    used as f64 / super::MICRO
                ),
            }
        }
    }
}
