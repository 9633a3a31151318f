//! [`RateGuard`]: a call admitted by the rate limiter. It holds the call's slot in
//! flight (user and team) until it is settled, cancelled or dropped, whichever comes
//! first: the end of a response, a client that went away, an upstream error.

use std::sync::Arc;

use super::limiter::RateLimiter;
use crate::quota::Subject;

/// An admitted call's hold on its subjects' short-term limits.
pub struct RateGuard {
    limiter: Arc<RateLimiter>,
    subjects: [Subject; 2],
    /// The second the call was admitted in (where its request and tokens count).
    second: u64,
    /// Tokens reserved at admission.
    reserved: u64,
    done: bool,
}

impl RateGuard {
    pub(super) fn new(
        limiter: Arc<RateLimiter>,
        subjects: [Subject; 2],
        second: u64,
        reserved: u64,
    ) -> Self {
        Self {
            limiter,
            subjects,
            second,
            reserved,
            done: false,
        }
    }

    /// The call ended having used `tokens` (input plus output): the reservation becomes
    /// the real count in the second it was admitted, and the slot in flight is free.
    pub fn settle(mut self, tokens: u64) {
        self.end(Some((1, tokens)));
    }

    /// The call never reached Bedrock: its request and tokens are given back whole.
    pub(crate) fn cancel(mut self) {
        self.end(Some((0, 0)));
    }

    /// Frees the slot in flight; with `counted = Some((requests, tokens))` the call's
    /// request and tokens become those amounts.
    fn end(&mut self, counted: Option<(u64, u64)>) {
        if self.done {
            return;
        }
        self.done = true;
        let mut inner = self.limiter.inner.lock();
        for subject in self.subjects {
            if let Some(rate) = inner.subjects.get_mut(&subject) {
                rate.in_flight = rate.in_flight.saturating_sub(1);
                if let Some((requests, tokens)) = counted {
                    rate.requests.adjust(self.second, 1, requests);
                    rate.tokens.adjust(self.second, self.reserved, tokens);
                }
            }
        }
    }
}

impl Drop for RateGuard {
    /// Ended without a count (a path that neither settled nor cancelled): the worst
    /// case stays counted, the slot in flight is freed.
    fn drop(&mut self) {
        self.end(None);
    }
}
