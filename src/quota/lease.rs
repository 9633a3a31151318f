//! Lease upkeep: renewing this proxy's quota leases and reclaiming the reserves of
//! leases other proxies let expire (they died, or lost the database for longer than
//! `quota.lease_secs`). Run by the background pass that returns idle capacity.
//!
//! Renewing is only for liveness: what keeps reclaiming safe is that a reserved unit
//! is either activated by its owner or reclaimed, in one transaction on one row each
//! (`ledger`), never both. A live proxy whose lease was reclaimed (it was stalled)
//! finds its reserve gone at its next activation and draws a new chunk.

use super::engine::QuotaEngine;

impl QuotaEngine {
    /// Renews this proxy's leases and reclaims expired ones, waiting at most
    /// `quota.store_timeout_ms` for the ledger (a pass cut off is simply run again:
    /// reclaiming is idempotent).
    /// Each reclaim is logged by the ledger. Failures are logged at debug level only:
    /// they happen in a store outage, which admission logs once.
    pub async fn keep_leases(&self) {
        let deadline = self.store_timeout;
        if !self.ledger.leases() {
            return;
        }
        match tokio::time::timeout(deadline, self.ledger.keep_leases()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "renewing quota leases failed");
            }
            Err(_) => {
                tracing::debug!(
                    timeout_ms = deadline.as_millis() as u64,
                    "renewing quota leases timed out"
                );
            }
        }
    }
}
