//! Riding out a quota-store outage (`quota.on_store_outage = "allow"`): a call whose
//! counters need a chunk the ledger cannot give (it failed, or did not answer within
//! `quota.store_timeout_ms`) is admitted on its user's outage allowance instead of
//! getting 503, and the units handed out that way are charged to the ledger when it
//! answers again.
//!
//! - **Allowance**: per user and per outage on this proxy, at most
//!   `quota.outage_allowance_requests` calls and `quota.outage_allowance_usd` of
//!   worst-case cost. A call admitted on it credits each of its short buckets with
//!   exactly the units it misses and notes them as owed; its reservation then settles
//!   like any other.
//! - **Bound**: the units owed to a user's counter never pass the user's allowance, so
//!   a user limit is overshot by at most one allowance per proxy and outage; a team's
//!   counter by at most one allowance per member who called (the allowance is per user,
//!   not per team, so that one member cannot spend the whole team's). A counter this
//!   proxy already saw spent stays refused.
//! - **Not waiting**: once an outage is known and units are owed, calls that need the
//!   ledger do not wait for it; the background pass ([`QuotaEngine::reconcile_outage`])
//!   finds out when it answers again.
//! - **Reconciling**: that pass charges every owed unit to the ledger (past the limit if
//!   need be: those calls ran), and when nothing is owed any more and the ledger
//!   answers, the outage is over: it is logged once with what was admitted, and the
//!   allowances start afresh. Owed units are never returned as idle capacity before
//!   they are charged (the ledger never granted them).
//! - **Records** are not this module's concern: the record writer keeps them until the
//!   database takes them, as in any outage.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::bucket::{Bucket, KeyMap};
use super::charge::{Ask, Charge, Reservation};
use super::engine::QuotaEngine;
use super::refusal::Refusal;
use super::{CounterKey, Metric};
use crate::config::OnStoreOutage;

/// What this proxy handed out without the ledger in the current outage.
#[derive(Debug, Default)]
pub(super) struct Outage {
    /// Per user: calls and micro-USD of worst-case cost admitted on the allowance.
    spent: HashMap<i64, (i64, i64)>,
    /// Per counter: units credited to the local bucket that the ledger has not been
    /// charged for yet.
    owed: KeyMap<i64>,
    /// Calls admitted on allowances since the outage began (for the recovery line).
    admitted: u64,
    /// Units charged to the ledger since the outage began (for the recovery line).
    charged: i64,
    /// Whether a pass is charging the ledger now.
    charging: bool,
}

impl Outage {
    /// Whether `key` holds units the ledger has not been charged for.
    pub(super) fn owes(&self, key: &CounterKey) -> bool {
        self.owed.contains_key(key)
    }
}

impl QuotaEngine {
    /// Whether a call that needs the ledger should go straight to the allowance: the
    /// mode allows it, an outage is known and units are owed already (the background
    /// pass, not the call, finds out when the store is back).
    pub(super) fn outage_known(&self) -> bool {
        matches!(self.on_outage, OnStoreOutage::Allow { .. })
            && self.store_down.load(Ordering::Relaxed)
            && !self.outage.lock().owed.is_empty()
    }

    /// Admits `charges` on the user's outage allowance, or refuses: with `refusal` (the
    /// store's) when the mode is `refuse` or the allowance is spent, with a limit
    /// refusal when a counter is known to be spent.
    pub(super) fn admit_on_allowance(
        &self,
        ask: &Ask<'_>,
        charges: &[Charge],
        refusal: Refusal,
    ) -> Result<Reservation, Refusal> {
        let OnStoreOutage::Allow {
            requests: allowed_requests,
            micro_usd: allowed_micro_usd,
        } = self.on_outage
        else {
            return Err(refusal);
        };
        let requests = i64::from(charges.iter().any(|c| c.key.metric == Metric::Requests));
        let micro_usd = charges
            .iter()
            .filter(|c| c.key.metric == Metric::MicroUsd)
            .map(|c| c.amount)
            .max()
            .unwrap_or(0);
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        // A counter this proxy saw spent stays refused, outage or not.
        for c in charges {
            if let Some(b) = buckets.get(&c.key) {
                if b.available < c.amount && b.refuses_from_memory(c.amount - b.available, now) {
                    let total = b.total_seen.unwrap_or(c.limit.limit);
                    let room = b.available + b.reserve + (b.limit - total).max(0);
                    let mut usage = b.usage(total);
                    if !self.ledger.tracks_use() {
                        usage.1 = 0;
                    }
                    return Err(Refusal::limit(c, usage, room, b.reserved));
                }
            }
        }
        let mut outage = self.outage.lock();
        let spent = outage.spent.entry(ask.user_id).or_default();
        if spent.0 + requests > allowed_requests || spent.1 + micro_usd > allowed_micro_usd {
            let Refusal::Unavailable(why) = refusal else {
                return Err(refusal);
            };
            return Err(Refusal::Unavailable(format!(
                "{why} Calls are admitted during the outage on an allowance \
                 (quota.on_store_outage = \"allow\"), and user `{}` has used theirs \
                 ({} calls, ${:.2} of worst-case cost).",
                ask.username,
                spent.0,
                spent.1 as f64 / super::MICRO
            )));
        }
        spent.0 += requests;
        spent.1 += micro_usd;
        outage.admitted += 1;
        for c in charges {
            let b = buckets
                .entry(c.key.clone())
                .or_insert_with(|| Bucket::new(c.limit.limit, now));
            let missing = c.amount - b.available;
            if missing > 0 {
                b.available += missing;
                *outage.owed.entry(c.key.clone()).or_default() += missing;
            }
        }
        drop(outage);
        Self::debit(&mut buckets, charges)
            .map_err(|_| Refusal::Unavailable("the outage credit did not cover the call".into()))
    }

    /// Charges what is owed to the ledger and ends an outage that is over: run by the
    /// background pass that returns idle capacity, and at shutdown; one pass at a time.
    ///
    /// A charge is not cut off at a deadline: on the database it runs as a task of its
    /// own, so a charge given up on could still land and a retry would count it twice.
    /// The units stay owed until their charge returns (so calls keep using the
    /// allowance without waiting meanwhile), and what fails stays owed for the next
    /// pass. Only the probe that looks for the end of an outage with nothing owed waits
    /// `quota.store_timeout_ms` at most.
    pub async fn reconcile_outage(&self) {
        let owed: Vec<(CounterKey, i64)> = {
            let mut outage = self.outage.lock();
            if outage.charging
                || (outage.owed.is_empty() && !self.store_down.load(Ordering::Relaxed))
            {
                return;
            }
            outage.charging = true;
            outage.owed.iter().map(|(k, n)| (k.clone(), *n)).collect()
        };
        let mut charged = 0_i64;
        let mut answered = true;
        for (key, amount) in &owed {
            if self.ledger.charge(key, *amount).await.is_err() {
                answered = false;
                break;
            }
            charged += amount;
            let mut outage = self.outage.lock();
            if let Some(left) = outage.owed.get_mut(key) {
                *left -= amount;
                if *left <= 0 {
                    outage.owed.remove(key);
                }
            }
        }
        if answered && owed.is_empty() {
            answered = matches!(
                tokio::time::timeout(self.store_timeout, self.ledger.probe()).await,
                Ok(Ok(()))
            );
        }
        let mut outage = self.outage.lock();
        outage.charging = false;
        outage.charged += charged;
        if !answered || !outage.owed.is_empty() {
            return;
        }
        let admitted = std::mem::take(&mut outage.admitted);
        let charged = std::mem::take(&mut outage.charged);
        let users = outage.spent.len();
        outage.spent.clear();
        drop(outage);
        if self.store_down.swap(false, Ordering::Relaxed) || admitted > 0 {
            tracing::info!(
                admitted_on_allowance = admitted,
                users,
                units_charged = charged,
                "quota store answers again; calls admitted during the outage are charged to it"
            );
        }
    }
}
